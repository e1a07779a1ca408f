"""The forms of ``dag_run.conf["task_form"][task_id]``: flat, env object, env list.

Kaapana's developer guide writes ``{"TASK": {"NAME": "value"}}``; Kaapana's code sends
``{"TASK": {"env": [{"name": ..., "value": ...}]}}``. Both work, and so does our
``{"TASK": {"env": {"NAME": "value"}}}``. The rule: an entry none of whose keys is a Task field
is the flat form; one whose keys are all Task fields is the field form; a mix is an error.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaapana_executor.contract import user_input
from kaapana_executor.errors import ContractError
from tests.unit.builders import task

FORMS = {
    "flat (Kaapana's developer guide)": {"MODE": "fast", "ROUNDS": "2"},
    "env list (Kaapana's code)": {
        "env": [{"name": "MODE", "value": "fast"}, {"name": "ROUNDS", "value": "2"}]
    },
    "env object": {"env": {"MODE": "fast", "ROUNDS": "2"}},
}


def _env(entry: dict[str, Any], **fields: Any) -> dict[str, str]:
    applied = user_input.apply(task(**fields), {"task_form": {"t": entry}}, "t")
    return {e.name: e.value for e in applied.env or []}


def _refused(entry: dict[str, Any], **fields: Any) -> list[str]:
    with pytest.raises(ContractError) as caught:
        user_input.apply(task(**fields), {"task_form": {"t": entry}}, "t")
    return caught.value.lines()


@pytest.mark.parametrize("entry", FORMS.values(), ids=FORMS.keys())
def test_every_form_sets_the_same_env(entry: dict[str, Any]) -> None:
    kept = [{"name": "KEEP", "value": "1"}, {"name": "MODE", "value": "slow"}]
    assert _env(entry, env=kept) == {"KEEP": "1", "MODE": "fast", "ROUNDS": "2"}


def test_input_for_other_tasks_is_not_this_tasks() -> None:
    conf = {"task_form": {"other": {"MODE": "fast"}}}
    assert user_input.apply(task(), conf, "t").env is None
    assert user_input.read_entry(conf, "t") is None


def test_a_mix_of_task_fields_and_env_names_is_refused() -> None:
    assert _refused({"env": {"A": "1"}, "MODE": "fast", "ROUNDS": "2"}) == [
        f"dag_run.conf: task_form.t.{name}: {name!r} is not a Task field, but this entry also "
        'sets Task fields (env): give env variables either flat ({"NAME": "value"}) or under '
        '"env", not both'
        for name in ("MODE", "ROUNDS")
    ]


def test_a_key_named_like_a_task_field_is_that_field() -> None:
    """``image`` makes the entry the field form, where it is refused unless allowed."""
    assert _refused({"image": "evil/image:1"}) == [
        "dag_run.conf: task_form.t.image: user input may not set 'image' (this task allows: env)"
    ]


def test_flat_env_needs_env_to_be_allowed() -> None:
    assert _refused({"MODE": "fast"}, user_input={"allow": ["command"]}) == [
        "dag_run.conf: task_form.t: user input may not set 'env' (this task allows: command)"
    ]
    assert _refused({"env": {"MODE": "fast"}}, user_input={"allow": ["command"]}) == [
        "dag_run.conf: task_form.t.env: user input may not set 'env' (this task allows: command)"
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"ROUNDS": 2},
            'task_form.t.ROUNDS: 2 is not a string (env values are text: write "2")',
        ),
        (
            {"env": {"DEBUG": True}},
            'task_form.t.env.DEBUG: true is not a string (env values are text: write "true")',
        ),
        (
            {"env": [{"name": "ROUNDS", "value": 2}]},
            'task_form.t.env[0].value: 2 is not a string (env values are text: write "2")',
        ),
        ({"ROUNDS": None}, "task_form.t.ROUNDS: null is not a string (env values are text)"),
        ({"env": [{"name": "ROUNDS"}]}, "task_form.t.env[0]: 'value' is required"),
        (
            {"env": [{"name": "R", "value": "1", "choices": []}]},
            "task_form.t.env[0]: unknown field 'choices' (allowed: name, value)",
        ),
        (
            {"env": [{"value": "9"}]},
            "task_form.t.env[0]: an env entry must be an object with a 'name' (and a 'value')",
        ),
        ({"env": "MODE=fast"}, "task_form.t.env: env must be an object or a list of {name, value}"),
    ],
    ids=[
        "flat number",
        "object boolean",
        "list number",
        "null",
        "no value",
        "extra field",
        "no name",
        "a string",
    ],
)
def test_malformed_env_input_is_refused_where_it_was_written(
    entry: dict[str, Any], expected: str
) -> None:
    assert _refused(entry) == [f"dag_run.conf: {expected}"]


def test_an_empty_entry_changes_nothing() -> None:
    assert user_input.apply(task(), {"task_form": {"t": {}}}, "t") == task()
