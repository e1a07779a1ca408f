"""User input from ``dag_run.conf["task_form"][task_id]``, applied to a Task.

Kaapana lets user input override any field of a Task (image, command, volumes). We allow env
overrides by default and other fields only where the task.json's ``user_input.allow`` lists
them. Input for other tasks is ignored by this one; values are validated like the file itself
(env choices are enforced later by the merge, with the same message).
"""

from __future__ import annotations

from typing import Any

from kaapana_executor.contract import schema
from kaapana_executor.contract.documents import build
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError, Problem
from kaapana_executor.models import Task

FORM_KEY = "task_form"
SOURCE = "dag_run.conf"
DEFAULT_ALLOWED = ("env",)


def form_for(conf: dict[str, Any], task_id: str) -> dict[str, Any] | None:
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


def _env_list(value: Any, path: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Accept ``{"NAME": "value"}`` (convenient in forms) or the task.json list form."""
    if isinstance(value, dict):
        return [{"name": k, "value": v} for k, v in value.items()]
    if isinstance(value, list):
        return value
    raise ContractError.single(SOURCE, "env must be an object or a list of {name, value}", path)


def _named(entries: list[Any], path: tuple[str | int, ...]) -> dict[str, dict[str, Any]]:
    """Env overrides by name; an entry that is not an object with a name is an error (it
    used to be dropped silently, so the user's value never arrived and nothing said so)."""
    problems = [
        Problem((*path, index), "an env entry must be an object with a 'name' (and a 'value')")
        for index, e in enumerate(entries)
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"]
    ]
    if problems:
        raise ContractError(SOURCE, problems)
    return {e["name"]: e for e in entries}


def apply(task: Task, conf: dict[str, Any], task_id: str) -> Task:
    """``task`` with this task's user input applied; ContractError naming the field otherwise."""
    entry = form_for(conf, task_id)
    if not entry:
        return task
    allowed = tuple(task.user_input.allow) if task.user_input else DEFAULT_ALLOWED
    base = (FORM_KEY, task_id)
    problems = [
        Problem(
            (*base, field),
            f"user input may not set {field!r} (this task allows: {', '.join(allowed)})",
        )
        for field in entry
        if field not in allowed
    ]
    if problems:
        raise ContractError(SOURCE, problems)
    document = task.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for field, value in entry.items():
        if field == "env":
            overrides = _named(_env_list(value, (*base, "env")), (*base, "env"))
            merged = {e["name"]: e for e in document.get("env") or []}
            merged.update(overrides)
            document["env"] = list(merged.values())
        else:
            document[field] = value
    found = schema.validate(Kind.TASK, document)
    if found:
        raise ContractError(SOURCE, [Problem((*base, *p.path), p.reason) for p in found])
    model = build(Kind.TASK, document, SOURCE)
    assert isinstance(model, Task)
    return model
