"""User input from ``dag_run.conf["task_form"][task_id]``, applied to a Task.

Kaapana lets user input override any field of a Task (image, command, volumes). We allow env
overrides by default and other fields only where the task.json's ``user_input.allow`` lists
them. Input for other tasks is ignored by this one.

A task's entry comes in one of two forms, told apart by its keys alone:

* the field form, every key a field of a Task (``env``, ``image``, ...). Its ``env`` is a list
  of ``{"name": ..., "value": ...}`` (what Kaapana's code sends) or an object
  ``{"NAME": "value"}``;
* the flat form of Kaapana's developer guide, ``{"NAME": "value"}``: no key is a Task field, so
  every key is an env variable.

An entry with keys of both kinds is an error: reading it either way would drop part of it. A
variable named like a Task field (``image``) can only be given in the field form.

Env values are checked against the template by :func:`check_env` once the template is known
(user input may choose the image or template, so only after it is applied): the older env
form's ``adjustable: false`` refuses user input for a variable, ``type`` checks the value, and
``choices`` is checked there too, so that each message names the field the user wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from kaapana_executor.contract import schema
from kaapana_executor.contract.checks import value_problems
from kaapana_executor.contract.documents import build
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError, PathPart, Problem
from kaapana_executor.models import Task, TaskTemplate

FORM_KEY = "task_form"
SOURCE = "dag_run.conf"
DEFAULT_ALLOWED = ("env",)
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class EnvInput:
    """One env value the user gave, with where it sits in the conf (for messages)."""

    name: str
    value: str
    path: Path


@dataclass(frozen=True)
class Entry:
    """A task's user input: Task fields other than env, and env values (None: no env given)."""

    fields: dict[str, Any]
    env: list[EnvInput] | None
    env_path: Path  # where env was given: the entry itself in the flat form


def form_for(conf: Mapping[str, Any], task_id: str) -> dict[str, Any] | None:
    """This task's entry in the run's conf, or None; a malformed form is an error."""
    form = conf.get(FORM_KEY)
    if form is None:
        return None
    if not isinstance(form, dict):
        raise ContractError.single(SOURCE, "must be an object keyed by task id", (FORM_KEY,))
    entry = form.get(task_id)
    if entry is not None and not isinstance(entry, dict):
        raise ContractError.single(SOURCE, "must be an object", (FORM_KEY, task_id))
    return entry


@cache
def task_fields() -> frozenset[str]:
    """The fields of a Task, from its schema: the keys that make an entry the field form."""
    return frozenset(schema.schema(Kind.TASK)["properties"])


def read_entry(conf: Mapping[str, Any], task_id: str) -> Entry | None:
    """This task's user input in one shape whichever form it came in; None when there is none."""
    entry = form_for(conf, task_id)
    if not entry:
        return None
    base: Path = (FORM_KEY, task_id)
    names = [key for key in entry if key not in task_fields()]
    if len(names) == len(entry):
        return Entry({}, _checked(_flat(entry, base)), base)
    if names:
        fields = ", ".join(sorted(set(entry) - set(names)))
        raise ContractError(
            SOURCE,
            [
                Problem(
                    (*base, name),
                    f"{name!r} is not a Task field, but this entry also sets Task fields "
                    f'({fields}): give env variables either flat ({{"NAME": "value"}}) or '
                    'under "env", not both',
                )
                for name in names
            ],
        )
    env_path: Path = (*base, "env")
    env = _checked(_env(entry["env"], env_path)) if "env" in entry else None
    return Entry({k: v for k, v in entry.items() if k != "env"}, env, env_path)


def _flat(entry: dict[str, Any], base: Path) -> list[tuple[str, Any, Path]]:
    return [(name, value, (*base, name)) for name, value in entry.items()]


def _env(value: Any, path: Path) -> list[tuple[str, Any, Path]]:
    """``{"NAME": "value"}`` or the task.json list form, as (name, value, path) triples."""
    if isinstance(value, dict):
        return [(name, v, (*path, name)) for name, v in value.items()]
    if not isinstance(value, list):
        raise ContractError.single(SOURCE, "env must be an object or a list of {name, value}", path)
    problems = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            # It used to be dropped silently, so the user's value never arrived.
            reason = "an env entry must be an object with a 'name' (and a 'value')"
            problems.append(Problem((*path, index), reason))
        elif "value" not in item:
            problems.append(Problem((*path, index), "'value' is required"))
        elif unknown := sorted(set(item) - {"name", "value"}):
            fields = ", ".join(map(repr, unknown))
            problems.append(
                Problem((*path, index), f"unknown field {fields} (allowed: name, value)")
            )
    if problems:
        raise ContractError(SOURCE, problems)
    return [
        (item["name"], item["value"], (*path, index, "value")) for index, item in enumerate(value)
    ]


def _checked(triples: list[tuple[str, Any, Path]]) -> list[EnvInput]:
    """Env values are text, as in a pod spec; a number or boolean is an error, not converted."""
    problems = [
        Problem(path, _not_text(value)) for _, value, path in triples if not isinstance(value, str)
    ]
    if problems:
        raise ContractError(SOURCE, problems)
    return [EnvInput(name, value, path) for name, value, path in triples]


def _not_text(value: Any) -> str:
    """The reason, in JSON terms (the user wrote JSON): ``true is not a string (... "true")``."""
    written = json.dumps(value)
    if isinstance(value, bool | int | float):
        return f"{written} is not a string (env values are text: write {json.dumps(written)})"
    return f"{written} is not a string (env values are text)"


def apply(task: Task, conf: Mapping[str, Any], task_id: str) -> Task:
    """``task`` with this task's user input applied; ContractError naming the field otherwise."""
    entry = read_entry(conf, task_id)
    if entry is None:
        return task
    allowed = tuple(task.user_input.allow) if task.user_input else DEFAULT_ALLOWED
    given: list[tuple[str, Path]] = [(field, (FORM_KEY, task_id, field)) for field in entry.fields]
    if entry.env is not None:
        given.append(("env", entry.env_path))
    problems = [
        Problem(path, f"user input may not set {field!r} (this task allows: {', '.join(allowed)})")
        for field, path in given
        if field not in allowed
    ]
    if problems:
        raise ContractError(SOURCE, problems)
    document = task.model_dump(mode="json", by_alias=True, exclude_unset=True)
    document.update(entry.fields)
    if entry.env is not None:
        merged = {e["name"]: e for e in document.get("env") or []}
        merged.update({e.name: {"name": e.name, "value": e.value} for e in entry.env})
        document["env"] = list(merged.values())
    found = schema.validate(Kind.TASK, document)
    if found:
        base = (FORM_KEY, task_id)
        raise ContractError(SOURCE, [Problem((*base, *p.path), p.reason) for p in found])
    model = build(Kind.TASK, document, SOURCE)
    assert isinstance(model, Task)
    return model


def check_env(template: TaskTemplate, conf: Mapping[str, Any], task_id: str) -> None:
    """Refuse user env values the task's template does not allow; ContractError says which.

    ``adjustable: false`` (the older env form) means user input may not set the variable at
    all, whatever the value: the template's author fixed it, and only the Task file (the DAG
    author's) may change it. A value outside ``choices`` or not of the declared ``type`` is
    refused too. Variables the template does not declare are the Task's own: not checked.
    """
    entry = read_entry(conf, task_id)
    if entry is None or not entry.env:
        return
    declared = {e.name: e for e in template.env}
    problems = []
    for given in entry.env:
        variable = declared.get(given.name)
        if variable is None:
            continue
        if variable.adjustable is False:
            problems.append(
                Problem(
                    given.path,
                    f"user input may not set {given.name}: template {template.identifier!r} "
                    'declares it "adjustable": false',
                )
            )
            continue
        problems += [
            Problem(given.path, reason) for reason in value_problems(variable, given.value)
        ]
    if problems:
        raise ContractError(SOURCE, problems)
