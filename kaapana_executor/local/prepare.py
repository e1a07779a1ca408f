"""From a task.json to the pod the executor would create: shared by both local modes.

The same steps as the executor's pipeline (:mod:`kaapana_executor.runtime.spec`): template
the file with the run context, read the image's processing-container.json when the task
names a template, link ``from`` inputs to the upstream outputs of the same run, bind unbound
outputs to ``{data_dir}/{dag_id}/{run_id}/{task_id}/{channel}``, apply the ScaleRules to the input
sizes found here, and build the pod with ``pod_identity`` + ``build_pod``. Docker mode then
translates that pod (:mod:`.docker_spec`); k8s mode creates it. So the two modes cannot
drift apart, and neither can drift from the executor.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kubernetes import client

from kaapana_executor import datadir
from kaapana_executor.contract import documents, merge
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.launch.pod import PodSettings, build_pod
from kaapana_executor.models import ProcessingContainer, Task, VolumeSource
from kaapana_executor.resources.plan import plan_memory
from kaapana_executor.resources.scale import ScaleResult

#: image reference → its validated processing-container.json (read only when needed).
ProcessingContainerSource = Callable[[str], ProcessingContainer]


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


def link_inputs(task: Task, data_dir: Path, run: RunContext) -> Task:
    """Bind ``from`` inputs to the upstream task's default output directory of the same run."""
    inputs = []
    for channel in task.inputs:
        link = channel.from_
        if link is None:
            inputs.append(channel)
            continue
        path = datadir.channel_dir(
            str(data_dir), run.dag_id, run.run_id, link.task, link.channel, run.map_index
        )
        volume = VolumeSource(host_path=str(path))
        inputs.append(channel.model_copy(update={"from_": None, "volume_source": volume}))
    return task.model_copy(update={"inputs": inputs})


def prepare(
    task_path: Path,
    variables: Variables,
    data_dir: Path,
    images: ProcessingContainerSource,
    *,
    namespace: str | None = None,
    ti_id: str | None = None,
) -> Prepared:
    """Resolve ``task_path`` and build its pod; ContractError/KaapanaError say why not.

    ``ti_id`` becomes the pod's ``kaapana.org/ti-id`` annotation, as the executor sets it:
    a fresh one per run marks earlier pods of the same name as stale.
    """
    run = variables.run
    if run is None:
        raise ValueError("prepare needs the run context in variables.run")
    source = task_path.name
    task = documents.load_task(task_path, variables)
    pc = images(task.image) if isinstance(task.taskTemplate, str) else None
    template = merge.select_template(task, pc, source)
    task = link_inputs(task, data_dir, run)

    def default_output(channel: str) -> VolumeSource:
        path = datadir.channel_dir(
            str(data_dir), run.dag_id, run.run_id, run.task_id, channel, run.map_index
        )
        return VolumeSource(host_path=str(path))

    instance = merge.merge(task, template, source, default_output=default_output)
    instance, scale = plan_memory(instance)
    identity = pod_identity(run, instance.template, ti_id=ti_id or secrets.token_hex(8))
    settings = PodSettings(namespace=namespace or instance.config.namespace or "default")
    return Prepared(run, instance, build_pod(instance, identity, settings), scale)
