"""Sandboxed, strict Jinja templating of contract files."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kaapana_executor.contract.templating import RunContext, Variables, render, render_lenient
from kaapana_executor.errors import ContractError

RUN = RunContext(
    "dag",
    "manual__1",
    "seg",
    try_number=2,
    map_index=3,
    logical_date=datetime(2026, 1, 2, tzinfo=timezone.utc),
)


def test_env_custom_and_run_context() -> None:
    text = (
        "{{ env.HOST }}|{{ custom.x }}|{{ run.dag_id }}/{{ run.run_id }}/{{ run.task_id }}/"
        "{{ run.try_number }}/{{ run.map_index }}/{{ run.logical_date }}"
    )
    out = render(text, "t.json", Variables(env={"HOST": "h"}, custom={"x": 1}, run=RUN))
    assert out == "h|1|dag/manual__1/seg/2/3/2026-01-02T00:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n"a": "{{ env.MISSING }}"}',
            "t.json: template error at line 2: undefined variable 'env.MISSING'",
        ),
        ("{{ custom.nope }}", "t.json: template error at line 1: undefined variable 'custom.nope'"),
        ("{{ nothing }}", "t.json: template error at line 1: undefined variable 'nothing'"),
        ("{{ run.dag_id }}", "t.json: template error at line 1: undefined variable 'run'"),
    ],
)
def test_unknown_variables_are_named(text: str, message: str) -> None:
    variables = Variables(env={}, custom={}, run=None)
    with pytest.raises(ContractError) as caught:
        render(text, "t.json", variables)
    assert str(caught.value) == message


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(ContractError, match="template error"):
        render(
            "{{ custom.__class__.__mro__[1].__subclasses__() }}",
            "t.json",
            Variables(env={}, custom={}),
        )


def test_syntax_error_names_line() -> None:
    with pytest.raises(ContractError, match=r"t\.json: template syntax error at line 2"):
        render("ok\n{{ broken", "t.json", Variables(env={}))


def test_lenient_render_records_missing_names() -> None:
    text, missing = render_lenient(
        '"{{ env.A }}-{{ env.B }}-{{ custom.c.d }}"', "t", Variables(env={"A": "a"})
    )
    assert text == '"a--"'
    assert missing == ["custom.c", "env.B"]
