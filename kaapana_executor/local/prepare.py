"""From a task.json file to the pod a local run creates: the launch pipeline with CLI policy.

Both local modes resolve the task with :func:`kaapana_executor.launch.pipeline.resolve`, the
executor's own pipeline; only the policy differs: the data layout is ``--data-dir`` (as this
machine sees it, which is also the node in docker mode), any namespace may be asked for (the
CLI acts with its user's own permissions), templates see the user's environment, and ``from``
links go to the upstream's default output of the same run. Docker mode then translates the
pod (:mod:`.docker_spec`); k8s mode creates it.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.errors import ContractError
from kaapana_executor.launch.pipeline import LaunchRequest, ProcessingContainerSource, resolve
from kaapana_executor.launch.pod import PodSettings
from kaapana_executor.launch.policy import DataLayout, LaunchPolicy, NamespacePolicy
from kaapana_executor.resources.scale import ScaleResult

__all__ = [
    "Prepared",
    "ProcessingContainerSource",
    "add_conf_argument",
    "local_policy",
    "local_run_id",
    "prepare",
    "read_conf",
]


def local_run_id(now: datetime | None = None) -> str:
    """A fresh run id per invocation, so a rerun never collides with the last container/pod."""
    moment = now or datetime.now(timezone.utc)
    return f"local-{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Prepared:
    """A task ready to run: the resolved instance, its ScaleRule results and its pod."""

    run: RunContext
    instance: TaskInstance
    pod: client.V1Pod
    scale: list[ScaleResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The pod name: also the container name in docker mode."""
        return str(self.pod.metadata.name)


def add_conf_argument(parser: argparse.ArgumentParser) -> None:
    """``--conf``: user input as a run's ``dag_run.conf`` would carry it."""
    parser.add_argument(
        "--conf",
        metavar="JSON|@FILE",
        help='user input as in dag_run.conf, e.g. \'{"task_form": {"TASK": {"env": {...}}}}\'',
    )


def read_conf(value: str | None) -> dict[str, Any]:
    """The ``--conf`` value (inline JSON, or ``@file``); a bad one names itself."""
    if not value:
        return {}
    source, text = ("--conf", value)
    if value.startswith("@"):
        source, text = value[1:], documents.read_text(Path(value[1:]))
    loaded = documents.parse_json(text, source)
    if not isinstance(loaded, dict):
        raise ContractError.single(source, "must be a JSON object (a dag_run.conf)")
    return loaded


def local_policy(
    data_dir: Path | str, env: Mapping[str, str], namespace: str | None
) -> LaunchPolicy:
    """The CLI's policy: its data directory, any namespace, the executor's default pod settings."""
    defaults = ExecutorSettings()
    return LaunchPolicy(
        layout=DataLayout(str(data_dir), node_is_here=True),
        namespaces=NamespacePolicy(namespace or "default", allowed=None, override=bool(namespace)),
        pod=PodSettings(security_context=dict(defaults.security_context)),
        template_env=dict(env),
    )


def prepare(
    task_path: Path,
    variables: Variables,
    data_dir: Path,
    images: ProcessingContainerSource,
    *,
    namespace: str | None = None,
    ti_id: str | None = None,
    conf: Mapping[str, Any] | None = None,
) -> Prepared:
    """Resolve ``task_path`` and build its pod; ContractError/KaapanaError say why not.

    ``ti_id`` becomes the pod's ``kaapana.org/ti-id`` annotation, as the executor sets it:
    a fresh one per run marks earlier pods of the same name as stale. ``conf`` is user input,
    as a run's ``dag_run.conf`` would carry it.
    """
    run = variables.run
    if run is None:
        raise ValueError("prepare needs the run context in variables.run")
    request = LaunchRequest(
        documents.read_text(task_path),
        task_path.name,
        run,
        ti_id=ti_id or secrets.token_hex(8),
        conf=conf or {},
        custom=variables.custom,
    )
    policy = local_policy(data_dir, variables.env, namespace)
    launch = resolve(request, policy, images)
    return Prepared(run, launch.instance, launch.pod, launch.scale)
