"""Semantic checks the JSON Schemas cannot express (uniqueness, regexes, relative paths).

Kaapana accepts these mistakes silently and fails later, inside a running pod or not at all;
we reject them when the file is read, with the field path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import PurePosixPath

from kaapana_executor.errors import PathPart, Problem
from kaapana_executor.k8s import labels
from kaapana_executor.models import (
    ProcessingContainer,
    ScaleRule,
    Task,
    TaskTemplate,
    TaskTemplateEnv,
)

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_KINDS = {"int": "an integer (digits, optionally signed)", "boolean": "a boolean (true or false)"}


def _duplicates(
    names: Iterable[str], path: Sequence[PathPart], field: str, what: str
) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(Problem((*path, index, field), f"duplicate {what} {name!r}"))
        seen.add(name)
    return problems


def relative_path_problem(value: str) -> str | None:
    """Why ``value`` is not a safe relative path (absolute, or climbing out with ``..``)."""
    path = PurePosixPath(value)
    if path.is_absolute():
        return f"{value!r} must be a relative path"
    if ".." in path.parts:
        return f"{value!r} must not contain '..'"
    return None


def type_problem(declared: TaskTemplateEnv, value: str) -> str | None:
    """Why ``value`` is not of the kind the variable's ``type`` names, or None.

    ``type`` is the older env form (Kaapana's schema until November 2025). Kaapana's images
    read these variables with ``int(...)`` or as ``true``/``false``, so a wrong value fails
    inside the running container; we say so before a pod exists.
    """
    kind = declared.type
    wrong = (kind == "int" and not _INTEGER.fullmatch(value)) or (
        kind == "boolean" and value.lower() not in ("true", "false")
    )
    if not wrong or kind is None:
        return None
    return f'{value!r} is not {_KINDS[kind]}: {declared.name} is declared "type": "{kind}"'


def value_problems(declared: TaskTemplateEnv, value: str) -> list[str]:
    """Why ``value`` may not be given to the template variable ``declared``: choices, type."""
    reasons = []
    if declared.choices and value not in declared.choices:
        reasons.append(
            f"{value!r} is not a valid choice for {declared.name} "
            f"(choices: {', '.join(declared.choices)})"
        )
    wrong_kind = type_problem(declared, value)
    if wrong_kind:
        reasons.append(wrong_kind)
    return reasons


_COMPLEXITY = re.compile(r"^([-+]?\d*(?:\.\d+)?)\*?n(?:\*\*(\d+))?$")


def complexity_factor(complexity: str) -> Decimal | None:
    """The factor of Kaapana's older ``complexity`` (``"50*n"``, ``"50*n**1"``, ``"n"``);
    None when it is not linear (only ``K*n`` has a meaning as memory per input byte)."""
    match = _COMPLEXITY.match(complexity.strip())
    if match is None or (match.group(2) not in (None, "1")):
        return None
    digits = match.group(1)
    return Decimal(digits) if digits not in ("", "+", "-") else Decimal(f"{digits}1")


def _factor_problems(rule: ScaleRule, path: Sequence[PathPart]) -> list[Problem]:
    """Exactly one of ``scale_factor`` and the older ``complexity``, which must be linear."""
    if (rule.scale_factor is None) == (rule.complexity is None):
        return [Problem(tuple(path), "give either 'scale_factor' or 'complexity', not both")]
    if rule.complexity is not None and complexity_factor(rule.complexity) is None:
        reason = (
            f"complexity {rule.complexity!r} is not linear: only K*n (memory per input byte) "
            "can be applied; give scale_factor: K"
        )
        return [Problem((*path, "complexity"), reason)]
    if rule.complexity is not None and complexity_factor(rule.complexity) == 0:
        return [Problem((*path, "complexity"), "complexity must have a positive factor")]
    return []


def check_scale_rule(rule: ScaleRule, path: Sequence[PathPart]) -> list[Problem]:
    """A scale rule has one factor, its regex compiles, its target_dir stays in the channel."""
    problems = _factor_problems(rule, path)
    if rule.target_regex is not None:
        try:
            re.compile(rule.target_regex)
        except re.error as exc:
            problems.append(Problem((*path, "target_regex"), f"invalid regular expression: {exc}"))
    if rule.target_dir:
        reason = relative_path_problem(rule.target_dir)
        if reason:
            problems.append(Problem((*path, "target_dir"), reason))
    if rule.target_glob is not None and relative_path_problem(rule.target_glob or "*"):
        problems.append(Problem((*path, "target_glob"), "glob must be relative"))
    return problems


def check_template(template: TaskTemplate, path: Sequence[PathPart]) -> list[Problem]:
    """Unique env and channel names, unique mount paths, defaults inside their choices."""
    problems = _duplicates((e.name for e in template.env), (*path, "env"), "name", "env")
    for io in ("inputs", "outputs"):
        mounts = getattr(template, io)
        problems += _duplicates((m.name for m in mounts), (*path, io), "name", "channel")
        for index, mount in enumerate(mounts):
            if mount.scale_rule is not None:
                problems += check_scale_rule(mount.scale_rule, (*path, io, index, "scale_rule"))
    all_mounts = [
        (io, i, m) for io in ("inputs", "outputs") for i, m in enumerate(getattr(template, io))
    ]
    seen: dict[str, str] = {}
    for io, index, mount in all_mounts:
        normal = str(PurePosixPath(mount.mounted_path))
        if normal in seen:
            problems.append(
                Problem(
                    (*path, io, index, "mounted_path"),
                    f"{mount.mounted_path!r} is already the mount path of channel {seen[normal]!r}",
                )
            )
        seen.setdefault(normal, mount.name)
    for index, env in enumerate(template.env):
        if env.choices and env.value not in env.choices:
            problems.append(
                Problem(
                    (*path, "env", index, "value"),
                    f"default {env.value!r} is not one of its choices {env.choices}",
                )
            )
        reason = type_problem(env, env.value)
        if reason:
            problems.append(Problem((*path, "env", index, "value"), f"default {reason}"))
    return problems


def check_processing_container(pc: ProcessingContainer) -> list[Problem]:
    """All semantic problems of a processing-container document."""
    problems = _duplicates(
        (t.identifier for t in pc.templates), ("templates",), "identifier", "template identifier"
    )
    for index, template in enumerate(pc.templates):
        problems += check_template(template, ("templates", index))
    return problems


def _reserved_metadata(task: Task) -> list[Problem]:
    """Labels and annotations the executor owns (it selects and adopts its pods by them)."""
    config = task.config
    problems = []
    for field in ("labels", "annotations"):
        for key in (getattr(config, field, None) or {}) if config else {}:
            if labels.is_reserved(key):
                problems.append(
                    Problem(
                        ("config", field, key),
                        f"{key!r} is set by the executor itself (it finds its pods by it) "
                        "and cannot be set by a task",
                    )
                )
    return problems


def check_task(task: Task) -> list[Problem]:
    """All semantic problems of a task document (its inline template included)."""
    problems = _duplicates((e.name for e in task.env or []), ("env",), "name", "env")
    problems += _duplicates((c.name for c in task.inputs), ("inputs",), "name", "channel")
    problems += _duplicates((c.name for c in task.outputs), ("outputs",), "name", "channel")
    for io in ("inputs", "outputs"):
        for index, channel in enumerate(getattr(task, io)):
            if channel.scale_rule is not None:
                problems += check_scale_rule(channel.scale_rule, (io, index, "scale_rule"))
            pvc = channel.volume_source.pvc if channel.volume_source else None
            if pvc is not None and pvc.sub_path:
                reason = relative_path_problem(pvc.sub_path)
                if reason:
                    problems.append(
                        Problem((io, index, "volume_source", "pvc", "sub_path"), reason)
                    )
    problems += _reserved_metadata(task)
    for index, secret in enumerate((task.config.imagePullSecrets if task.config else None) or []):
        if not _DNS_SUBDOMAIN.fullmatch(secret):
            problems.append(
                Problem(
                    ("config", "imagePullSecrets", index), f"{secret!r} is not a valid secret name"
                )
            )
    if isinstance(task.taskTemplate, TaskTemplate):
        problems += check_template(task.taskTemplate, ("taskTemplate",))
    return problems
