"""Merging a Task with its task template into a :class:`TaskInstance`.

Kaapana's semantics: the Task overrides the template; env is merged by name (template order
first, then variables only the Task sets); channels are joined by name. Resources are merged per
resource name within ``requests`` and ``limits``. Where Kaapana is silent we are strict, and all
problems are reported at once:

* a Task channel the template does not declare is an error (Kaapana drops it silently);
* a template channel left unbound is an error unless it is ``optional`` — except outputs, which
  a caller may bind to a default destination (the executor's run data directory);
* an env value outside the template's non-empty ``choices``, or not of its ``type`` (the older
  env form), is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kaapana_executor import quantity
from kaapana_executor.contract.checks import value_problems
from kaapana_executor.contract.instance import ResolvedChannel, ResolvedEnv, TaskInstance
from kaapana_executor.errors import ContractError, PathPart, Problem
from kaapana_executor.models import (
    InputChannel,
    IOMount,
    OutputChannel,
    ProcessingContainer,
    Resources,
    RunnerConfig,
    Task,
    TaskEnv,
    TaskTemplate,
    TaskTemplateEnv,
    VolumeSource,
)

#: Gives the default destination of an output channel the Task leaves unbound, or None.
DefaultOutput = Callable[[str], VolumeSource | None]


def select_template(task: Task, pc: ProcessingContainer | None, source: str) -> TaskTemplate:
    """The template a Task names: inline, or by identifier in the processing container."""
    if isinstance(task.taskTemplate, TaskTemplate):
        return task.taskTemplate
    if pc is None:
        raise ContractError.single(
            source,
            f"template {task.taskTemplate!r} needs the image's processing-container.json",
            ("taskTemplate",),
        )
    for template in pc.templates:
        if template.identifier == task.taskTemplate:
            return template
    known = ", ".join(t.identifier for t in pc.templates) or "none"
    raise ContractError.single(
        source,
        f"{task.taskTemplate!r} is not a template of processing container {pc.name!r} "
        f"(templates: {known})",
        ("taskTemplate",),
    )


def merge_env(
    template_env: Sequence[TaskTemplateEnv], task_env: Sequence[TaskEnv], path: tuple[PathPart, ...]
) -> tuple[list[ResolvedEnv], list[Problem]]:
    """Template env overridden by name, task-only variables appended; choices and type enforced."""
    overrides = {e.name: (i, e.value) for i, e in enumerate(task_env)}
    merged: list[ResolvedEnv] = []
    problems: list[Problem] = []
    for declared in template_env:
        value = declared.value
        if declared.name in overrides:
            index, value = overrides[declared.name]
            problems += [
                Problem((*path, index, "value"), reason)
                for reason in value_problems(declared, value)
            ]
        merged.append(
            ResolvedEnv(
                name=declared.name,
                value=value,
                choices=declared.choices,
                description=declared.description,
            )
        )
    declared_names = {e.name for e in template_env}
    merged += [
        ResolvedEnv(name=e.name, value=e.value) for e in task_env if e.name not in declared_names
    ]
    return merged, problems


def _merge_channels(
    io: str,
    template: TaskTemplate,
    bound: Sequence[InputChannel | OutputChannel],
    default: DefaultOutput | None,
) -> tuple[list[ResolvedChannel], list[Problem]]:
    mounts: dict[str, IOMount] = {m.name: m for m in getattr(template, io)}
    problems: list[Problem] = []
    by_name: dict[str, InputChannel | OutputChannel] = {}
    for index, given in enumerate(bound):
        if given.name not in mounts:
            declared = ", ".join(mounts) or "none"
            problems.append(
                Problem(
                    (io, index, "name"),
                    f"template {template.identifier!r} declares no {io[:-1]} channel "
                    f"{given.name!r} (declared: {declared})",
                )
            )
        by_name[given.name] = given
    resolved = []
    for name, mount in mounts.items():
        channel = by_name.get(name)
        volume = channel.volume_source if channel else None
        link = getattr(channel, "from_", None) if channel else None
        if volume is None and link is None and default is not None:
            volume = default(name)
        if volume is None and link is None:
            if not mount.optional:
                problems.append(
                    Problem(
                        (io,),
                        f"template {template.identifier!r} requires {io[:-1]} channel {name!r}, "
                        "which is not bound",
                    )
                )
            continue
        resolved.append(
            ResolvedChannel(
                name=name,
                mounted_path=mount.mounted_path,
                volume=volume,
                link=link,
                scale_rule=(
                    channel.scale_rule if channel and channel.scale_rule else mount.scale_rule
                ),
                description=mount.description,
            )
        )
    return resolved, problems


def merge_resources(template: Resources | None, task: Resources | None) -> Resources:
    """Per resource name: the Task's quantity wins over the template's."""
    merged: dict[str, dict[str, str | float]] = {"requests": {}, "limits": {}}
    for part in (template, task):
        if part is None:
            continue
        for kind in ("requests", "limits"):
            merged[kind].update(getattr(part, kind) or {})
    return Resources(requests=merged["requests"] or None, limits=merged["limits"] or None)


def requests_within_limits(resources: Resources) -> list[Problem]:
    """A request above its limit: the API server would reject the pod, so say it here.

    Checked on the merged resources, since a Task may raise a request above the template's
    limit without touching the limit.
    """
    limits = resources.limits or {}
    problems = []
    for name, requested in (resources.requests or {}).items():
        if name in limits and quantity.parse(requested) > quantity.parse(limits[name]):
            problems.append(
                Problem(
                    ("resources", "requests", name),
                    f"{requested} is above the limit {limits[name]} (after merging with the "
                    "template)",
                )
            )
    return problems


def merge(
    task: Task,
    template: TaskTemplate,
    source: str,
    *,
    default_output: DefaultOutput | None = None,
) -> TaskInstance:
    """Resolve ``task`` against ``template``; raises ContractError listing every problem."""
    env, problems = merge_env(template.env, task.env or [], ("env",))
    inputs, input_problems = _merge_channels("inputs", template, task.inputs, None)
    outputs, output_problems = _merge_channels("outputs", template, task.outputs, default_output)
    problems += input_problems + output_problems
    resources = merge_resources(template.resources, task.resources)
    problems += requests_within_limits(resources)
    if problems:
        raise ContractError(source, problems)
    return TaskInstance(
        name=task.name,
        image=task.image,
        template=template.identifier,
        command=task.command if task.command is not None else template.command,
        env=env,
        inputs=inputs,
        outputs=outputs,
        resources=resources,
        config=strip_credentials(task.config or RunnerConfig()),
    )


def strip_credentials(config: RunnerConfig) -> RunnerConfig:
    """Drop Kaapana's inline registry credentials: we only pull through pull secrets.

    They are accepted in files for compatibility, but never used, stored or logged.
    """
    return config.model_copy(update={"registryUsername": None, "registryPassword": None})
