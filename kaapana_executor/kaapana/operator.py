"""Kaapana's operator signature on KaapanaExecutor: a Kaapana workflow file runs unchanged
but for its imports.

``KaapanaTaskOperator(image=..., taskTemplate=..., env=[pc_models.BaseEnv(...)],
iochannel_maps=[IOMapping(...)], ...)`` takes Kaapana's arguments and turns them into the
task.json the native operator (:class:`kaapana_executor.authoring.KaapanaTaskOperator`)
takes, so there is one path into the executor: an ``IOMapping`` becomes a ``from`` link,
every template output is bound to the run's data directory, the timeouts travel with the
task. What Kaapana's operator did itself is the deployment's business here: the platform
environment and labels (``pod_env``, ``pod_labels``), the project namespace (taken from the
run's conf, ``namespace_conf_path``) and the registry's pull secret (``image_pull_secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from kaapana_executor.authoring import KaapanaTaskOperator as NativeOperator
from kaapana_executor.kaapana.pc_models import BaseEnv, Resources


@dataclass(frozen=True, kw_only=True)
class IOMapping:
    """An output channel of an upstream task, mounted as one of this task's input channels.

    The upstream task must also be upstream in the DAG (``upstream >> task``); a DAG where it
    is not is refused when it is parsed (kaapana_executor.policy).
    """

    upstream_operator: BaseOperator
    upstream_output_channel: str
    input_channel: str


class KaapanaTaskOperator(NativeOperator):
    """A processing-container task defined with Kaapana's arguments."""

    def __init__(
        self,
        image: str,
        taskTemplate: str,  # noqa: N803  (Kaapana's argument name)
        env: Sequence[BaseEnv | Mapping[str, str]] = (),
        command: Sequence[str] | None = None,
        resources: Resources | Mapping[str, Any] | None = None,
        registryUrl: str | None = None,  # noqa: N803
        registryUsername: str | None = None,  # noqa: N803
        registryPassword: str | None = None,  # noqa: N803
        iochannel_maps: Sequence[IOMapping] = (),
        startup_timeout_seconds: float = 3600,
        execution_timeout: timedelta | None = timedelta(minutes=90),
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        dev_server: bool = False,
        display_name: str = "-",
        **kwargs: Any,
    ) -> None:
        if dev_server:
            raise ValueError(
                f"{kwargs.get('task_id')}: dev_server is not supported on KaapanaExecutor "
                "(it deploys Kaapana's dev-server chart through Kaapana's helm API)"
            )
        config: dict[str, Any] = {
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        }
        for name, value in (
            ("registryUrl", registryUrl),
            ("registryUsername", registryUsername),
            ("registryPassword", registryPassword),  # refused by the native operator if set
        ):
            if value is not None:
                config[name] = value
        document: dict[str, Any] = {
            "name": str(kwargs.get("task_id", taskTemplate)),
            "image": image,
            "taskTemplate": taskTemplate,
            "env": [_env(e) for e in env],
            "inputs": [_link(m) for m in iochannel_maps],
            "config": config,
        }
        if command is not None:
            document["command"] = list(command)
        if resources is not None:
            document["resources"] = _resources(resources)
        kwargs.setdefault("retry_delay", timedelta(seconds=10))  # Kaapana's default
        super().__init__(
            task_json=document,
            startup_timeout=startup_timeout_seconds,
            execution_timeout=execution_timeout,
            **kwargs,
        )
        self.image, self.taskTemplate, self.display_name = image, taskTemplate, display_name


def _env(entry: BaseEnv | Mapping[str, str]) -> dict[str, str]:
    env = entry if isinstance(entry, BaseEnv) else BaseEnv.model_validate(dict(entry))
    return {"name": env.name, "value": env.value}


def _link(mapping: IOMapping) -> dict[str, Any]:
    upstream = {
        "task": mapping.upstream_operator.task_id,
        "channel": mapping.upstream_output_channel,
    }
    return {"name": mapping.input_channel, "from": upstream}


def _resources(resources: Resources | Mapping[str, Any]) -> dict[str, Any]:
    model = (
        resources if isinstance(resources, Resources) else Resources.model_validate(dict(resources))
    )
    return model.model_dump(exclude_none=True)
