"""From a task.json to the pod that runs it: the one launch pipeline.

task.json (templated with the run context and the deployment's ``template_env``) → user
input → processing-container.json (image metadata) → ``from`` links to upstream outputs →
merge, with default outputs in the run's data directory → namespace → ScaleRules on the real
input sizes → pod. The executor, ``kaapana-task render`` and ``kaapana-task run`` (both
modes) all call :func:`resolve`; what differs between them is injected: the
:class:`~.policy.LaunchPolicy` (data layout, namespaces, pod settings, template variables),
where processing-container.json files come from, and what is known about upstream tasks.
The only I/O is in those two callables and in reading input sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from kubernetes import client

from kaapana_executor.contract import documents, merge, templating, user_input
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.launch.pod import build_pod
from kaapana_executor.launch.policy import LaunchPolicy
from kaapana_executor.models import ProcessingContainer, Task, VolumeSource
from kaapana_executor.resources.plan import plan_memory
from kaapana_executor.resources.scale import ScaleResult


@dataclass(frozen=True)
class ImageAccess:
    """What the task's pod will pull its image with: its namespace and pull secrets (the
    deployment's and the task's own). The executor reads processing-container.json with the
    same credentials, so a task's own pull secret works and another namespace's does not."""

    namespace: str
    pull_secrets: tuple[str, ...] = ()


#: (image reference, who reads it) → the image's validated processing-container.json.
ProcessingContainerSource = Callable[[str, ImageAccess], ProcessingContainer]


@dataclass(frozen=True)
class Upstream:
    """What the pipeline knows of the task a ``from`` link names.

    ``task_text`` is its task.json when it is a processing-container task (its explicit output
    volumes are then honoured); ``is_upstream`` says whether it runs before the linking task
    in the DAG (a link to any other task would mount outputs still being written).
    """

    is_upstream: bool = True
    task_text: str | None = None
    source: str = "task.json"


#: upstream task id → what is known of it; None when the run has no such task.
UpstreamLookup = Callable[[str], Upstream | None]


def default_upstream(task_id: str) -> Upstream:
    """For callers without a DAG (the CLI): every link goes to the upstream's default output."""
    return Upstream()


@dataclass(frozen=True)
class LaunchRequest:
    """One task instance try to resolve."""

    task_text: str
    source: str
    run: templating.RunContext
    ti_id: str | None = None
    conf: Mapping[str, Any] = field(default_factory=dict)  # dag_run.conf: user input
    custom: Mapping[str, Any] = field(default_factory=dict)  # the CLI's custom.* variables
    execution_timeout: float | None = None  # seconds: the pod's activeDeadlineSeconds


@dataclass(frozen=True)
class Launch:
    """Everything needed to start the task: the resolved instance and its pod."""

    instance: TaskInstance
    pod: client.V1Pod
    outputs: list[PurePosixPath] = field(default_factory=list)  # node paths to clean first
    scale: list[ScaleResult] = field(default_factory=list)


def resolve(
    request: LaunchRequest,
    policy: LaunchPolicy,
    images: ProcessingContainerSource,
    upstream: UpstreamLookup = default_upstream,
) -> Launch:
    """The resolved task and its pod; ContractError or SpecError say why not."""
    run = request.run
    task = _load(request.task_text, request.source, run, policy, request.custom)
    task = user_input.apply(task, dict(request.conf), run.task_id)
    pc = (
        images(task.image, _access(task, request, policy))
        if isinstance(task.taskTemplate, str)
        else None
    )
    template = merge.select_template(task, pc, request.source)
    user_input.check_env(template, request.conf, run.task_id)  # adjustable, type, choices
    task = _link(task, request, policy, upstream)

    def default_output(channel: str) -> VolumeSource:
        return policy.layout.channel(run, run.task_id, channel)

    instance = merge.merge(task, template, request.source, default_output=default_output)
    namespace = policy.namespaces.choose(instance.config.namespace, request.conf)
    instance, scale = plan_memory(instance, policy.layout.local_path)
    identity = pod_identity(run, instance.template, ti_id=request.ti_id)
    deadline = math.ceil(request.execution_timeout) if request.execution_timeout else None
    pod = build_pod(instance, identity, policy.pod, namespace, deadline)
    outputs = [
        PurePosixPath(o.volume.host_path)
        for o in instance.outputs
        if o.volume and o.volume.host_path
    ]
    return Launch(instance=instance, pod=pod, outputs=outputs, scale=scale)


def _access(task: Task, request: LaunchRequest, policy: LaunchPolicy) -> ImageAccess:
    config = task.config
    namespace = policy.namespaces.choose(config.namespace if config else None, request.conf)
    own = tuple(config.imagePullSecrets or ()) if config else ()
    secrets = tuple(dict.fromkeys((*policy.pod.image_pull_secrets, *own)))
    return ImageAccess(namespace, secrets)


def _load(
    text: str,
    source: str,
    run: templating.RunContext,
    policy: LaunchPolicy,
    custom: Mapping[str, Any],
) -> Task:
    variables = templating.Variables(env=policy.template_env, custom=custom, run=run)
    parsed = documents.parse(text, source, kind=Kind.TASK, variables=variables)
    assert isinstance(parsed.model, Task)
    return parsed.model


def _link(task: Task, request: LaunchRequest, policy: LaunchPolicy, lookup: UpstreamLookup) -> Task:
    """Replace ``from`` links by the upstream output's volume (explicit, or its default)."""
    inputs = []
    for index, channel in enumerate(task.inputs):
        if channel.from_ is None:
            inputs.append(channel)
            continue
        link = channel.from_
        volume = _linked_volume(index, link.task, link.channel, request, policy, lookup)
        inputs.append(channel.model_copy(update={"from_": None, "volume_source": volume}))
    return task.model_copy(update={"inputs": inputs})


def _linked_volume(
    index: int,
    task_id: str,
    channel: str,
    request: LaunchRequest,
    policy: LaunchPolicy,
    lookup: UpstreamLookup,
) -> VolumeSource:
    run, where = request.run, ("inputs", index, "from")
    found = lookup(task_id)
    if found is None:
        reason = f"upstream task {task_id!r} does not exist in run {run.run_id!r}"
        raise ContractError.single(request.source, reason, (*where, "task"))
    if not found.is_upstream:
        reason = (
            f"task {task_id!r} is not upstream of {run.task_id!r} in DAG {run.dag_id!r}: its "
            "outputs may still be written or cleaned while this task reads them"
        )
        raise ContractError.single(request.source, reason, (*where, "task"))
    if found.task_text is not None:
        upstream_run = templating.RunContext(run.dag_id, run.run_id, task_id, 1, run.map_index)
        upstream = _load(found.task_text, found.source, upstream_run, policy, request.custom)
        outputs = {o.name: o for o in upstream.outputs}
        if outputs and channel not in outputs:
            reason = (
                f"upstream task {task_id!r} binds no output channel {channel!r} "
                f"(it binds: {', '.join(outputs)})"
            )
            raise ContractError.single(request.source, reason, where)
        explicit = outputs[channel].volume_source if channel in outputs else None
        if explicit is not None:
            return explicit
    return policy.layout.channel(run, task_id, channel)
