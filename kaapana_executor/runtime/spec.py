"""From a queued task instance to the pod that runs it: the executor's pure-ish pipeline.

task.json (from executor_config, templated with the run context) → user input →
processing-container.json (image metadata, cached) → channel links to upstream outputs →
merge with default outputs in the run's data directory → namespace → ScaleRules on the real
input sizes → pod. The only I/O: the image metadata source, the upstream lookup and reading
input sizes, all injected. Cleaning outputs is a separate step (:mod:`.outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kubernetes import client

from kaapana_executor import datadir
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents, merge, templating, user_input
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.launch.pod import PodSettings, build_pod
from kaapana_executor.models import ProcessingContainer, Task, VolumeSource
from kaapana_executor.resources.plan import plan_memory
from kaapana_executor.resources.scale import ScaleResult
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY, TaskRef

#: image reference → its validated processing-container.json.
ProcessingContainerSource = Callable[[str], ProcessingContainer]
#: (dag_id, run_id, task_id, map_index) → that task instance's executor_config, if known.
UpstreamLookup = Callable[[str, str, str, int], dict[str, Any] | None]


class SpecError(KaapanaError):
    """The task cannot be turned into a pod; the message goes to the task log."""


@dataclass(frozen=True)
class Launch:
    """Everything needed to start the task: the resolved instance and its pod."""

    instance: TaskInstance
    pod: client.V1Pod
    outputs: list[PurePosixPath] = field(default_factory=list)  # node paths to clean first
    scale: list[ScaleResult] = field(default_factory=list)


def task_text(executor_config: dict[str, Any]) -> tuple[str, str]:
    """The task.json text and its file name, as the DAG stored them."""
    entry = executor_config.get(EXECUTOR_CONFIG_KEY)
    if not isinstance(entry, dict) or not isinstance(entry.get("task"), str):
        raise SpecError(
            f"executor_config has no {EXECUTOR_CONFIG_KEY!r} task: "
            "define the task with kaapana_executor.authoring.KaapanaTaskOperator"
        )
    return entry["task"], str(entry.get("source", "task.json"))


def _load_task(
    executor_config: dict[str, Any], run: templating.RunContext, settings: ExecutorSettings
) -> tuple[Task, str]:
    text, source = task_text(executor_config)
    variables = templating.Variables(env=settings.template_env, run=run)
    parsed = documents.parse(text, source, kind=Kind.TASK, variables=variables)
    assert isinstance(parsed.model, Task)
    return parsed.model, source


def _link_targets(
    task: Task, run: templating.RunContext, settings: ExecutorSettings, lookup: UpstreamLookup
) -> Task:
    """Replace ``from`` links by the upstream output's volume (explicit, or its default)."""
    inputs = []
    for index, channel in enumerate(task.inputs):
        link = channel.from_
        if link is None:
            inputs.append(channel)
            continue
        volume: VolumeSource | None = None
        config = lookup(run.dag_id, run.run_id, link.task, run.map_index)
        if config is None:
            raise ContractError.single(
                "task.json",
                f"upstream task {link.task!r} does not exist in run {run.run_id!r}",
                ("inputs", index, "from", "task"),
            )
        if EXECUTOR_CONFIG_KEY in config:
            upstream_run = templating.RunContext(
                run.dag_id, run.run_id, link.task, 1, run.map_index
            )
            upstream, _ = _load_task(config, upstream_run, settings)
            outputs = {o.name: o for o in upstream.outputs}
            if outputs and link.channel not in outputs:
                raise ContractError.single(
                    "task.json",
                    f"upstream task {link.task!r} binds no output channel {link.channel!r} "
                    f"(it binds: {', '.join(outputs)})",
                    ("inputs", index, "from"),
                )
            if link.channel in outputs:
                volume = outputs[link.channel].volume_source
        if volume is None:
            path = datadir.channel_dir(
                settings.data_root, run.dag_id, run.run_id, link.task, link.channel, run.map_index
            )
            volume = VolumeSource(host_path=str(path))
        inputs.append(channel.model_copy(update={"from_": None, "volume_source": volume}))
    return task.model_copy(update={"inputs": inputs})


def _namespace(instance: TaskInstance, settings: ExecutorSettings) -> str:
    wanted = instance.config.namespace or settings.namespace
    if wanted != settings.namespace and wanted not in settings.allowed_namespaces:
        allowed = ", ".join([settings.namespace, *settings.allowed_namespaces])
        raise SpecError(f"namespace {wanted!r} is not allowed (allowed: {allowed})")
    return wanted


def local_path(settings: ExecutorSettings) -> Callable[[VolumeSource], Path | None]:
    """Map a node host path below data_root to where this process sees it."""
    root = PurePosixPath(settings.data_root)

    def resolve(volume: VolumeSource) -> Path | None:
        if not volume.host_path:
            return None
        path = PurePosixPath(volume.host_path)
        try:
            relative = path.relative_to(root)
        except ValueError:
            return None
        return Path(settings.local_data_root).joinpath(*relative.parts)

    return resolve


def build_launch(
    ref: TaskRef,
    conf: dict[str, Any],
    settings: ExecutorSettings,
    images: ProcessingContainerSource,
    upstream: UpstreamLookup,
) -> Launch:
    """The resolved task and its pod; ContractError/SpecError say why not."""
    run = ref.run
    task, source = _load_task(ref.executor_config, run, settings)
    task = user_input.apply(task, conf, run.task_id)
    pc = None if not isinstance(task.taskTemplate, str) else images(task.image)
    template = merge.select_template(task, pc, source)
    task = _link_targets(task, run, settings, upstream)

    def default_output(channel: str) -> VolumeSource:
        path = datadir.channel_dir(
            settings.data_root, run.dag_id, run.run_id, run.task_id, channel, run.map_index
        )
        return VolumeSource(host_path=str(path))

    instance = merge.merge(task, template, source, default_output=default_output)
    namespace = _namespace(instance, settings)
    instance, scale = plan_memory(instance, local_path(settings))
    identity = pod_identity(run, instance.template, ti_id=ref.ti_id)
    pod_settings = PodSettings(
        namespace=namespace,
        service_account_name=settings.service_account,
        image_pull_secrets=tuple(settings.image_pull_secrets),
        security_context=settings.security_context,
    )
    pod = build_pod(instance, identity, pod_settings)
    outputs = [
        PurePosixPath(o.volume.host_path)
        for o in instance.outputs
        if o.volume and o.volume.host_path
    ]
    return Launch(instance=instance, pod=pod, outputs=outputs, scale=scale)
