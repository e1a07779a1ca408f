"""Older forms of processing-container.json Kaapana shipped, and what they mean here.

Kaapana's schema gave env entries ``type`` and ``adjustable`` until November 2025, and images
built then carry them. The files here are our own, in the shapes of those files: ``type`` is one
of boolean, string and int; ``adjustable`` is a boolean. They validate, and the fields are not
dropped: ``type`` checks the default, a Task's value and user input; ``adjustable: false``
refuses user input. Kaapana's newer pathology containers carry a top-level ``version``.

User input is applied the way the launch pipeline does it: :func:`user_input.apply`, then the
template is selected, then :func:`user_input.check_env`, then the merge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaapana_executor.cli import main
from kaapana_executor.contract import documents, merge, user_input
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError
from kaapana_executor.models import ProcessingContainer, Task

OLDER_FORM: dict[str, Any] = {
    "name": "sleeper",
    "description": "an older-form processing container of our own",
    "templates": [
        {
            "identifier": "sleep",
            "description": "sleeps, then writes a marker",
            "env": [
                {
                    "name": "ROUNDS",
                    "value": "3",
                    "type": "int",
                    "choices": [],
                    "description": "how many rounds to sleep",
                    "adjustable": True,
                },
                {"name": "VERBOSE", "value": "False", "type": "boolean", "adjustable": True},
                {"name": "LABEL", "value": "", "type": "string"},
                {"name": "SERVICE_URL", "value": "http://svc:8080", "adjustable": False},
            ],
            "inputs": [],
            "outputs": [{"name": "marker", "mounted_path": "/out/marker"}],
            "command": ["python3", "-u", "sleep.py"],
        }
    ],
}


def _pc(document: dict[str, Any]) -> ProcessingContainer:
    model = documents.build(Kind.PROCESSING_CONTAINER, document, "processing-container.json")
    assert isinstance(model, ProcessingContainer)
    return model


PC = _pc(OLDER_FORM)


def _task(**fields: Any) -> Task:
    document = {"name": "t", "image": "reg/sleeper:1", "taskTemplate": "sleep", **fields}
    document.setdefault("outputs", [{"name": "marker", "volume_source": {"host_path": "/d/m"}}])
    model = documents.build(Kind.TASK, document, "task.json")
    assert isinstance(model, Task)
    return model


def resolve(task: Task, conf: dict[str, Any], task_id: str = "t") -> TaskInstance:
    """User input, template, template checks of the input, merge: the pipeline's order."""
    task = user_input.apply(task, conf, task_id)
    template = merge.select_template(task, PC, "task.json")
    user_input.check_env(template, conf, task_id)
    return merge.merge(task, template, "task.json")


def refused(task: Task, conf: dict[str, Any]) -> list[str]:
    with pytest.raises(ContractError) as caught:
        resolve(task, conf)
    return caught.value.lines()


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "processing-container.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_an_older_form_file_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(_write(tmp_path, OLDER_FORM))]) == 0
    assert capsys.readouterr().out.startswith("processing-container.json: valid ")
    declared = {e.name: (e.type, e.adjustable) for e in PC.templates[0].env}
    assert declared == {
        "ROUNDS": ("int", True),
        "VERBOSE": ("boolean", True),
        "LABEL": ("string", None),
        "SERVICE_URL": (None, False),
    }


def test_a_containers_own_version_is_accepted_and_a_typo_still_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_write(tmp_path, {**OLDER_FORM, "version": "0.1.0"}))]) == 0
    assert main(["validate", str(_write(tmp_path, {**OLDER_FORM, "versoin": "0.1.0"}))]) == 1
    assert "unknown field 'versoin'" in capsys.readouterr().err


def _with_env(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(OLDER_FORM))
    document["templates"][0]["env"][0].update(changes)
    return document


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"value": "three"},
            "processing-container.json: templates[0].env[0].value: default 'three' is not an "
            'integer (digits, optionally signed): ROUNDS is declared "type": "int"',
        ),
        (
            {"type": "float"},
            "processing-container.json: templates[0].env[0].type: 'float' is not one of "
            "['boolean', 'string', 'int']",
        ),
        (
            {"adjustable": "no"},
            "processing-container.json: templates[0].env[0].adjustable: 'no' is not of type "
            "'boolean'",
        ),
    ],
    ids=["default not of its type", "unknown type", "adjustable not a boolean"],
)
def test_older_form_mistakes_are_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], expected: str
) -> None:
    assert main(["validate", str(_write(tmp_path, _with_env(**changes)))]) == 1
    assert capsys.readouterr().err.splitlines() == [expected]


def test_values_of_the_declared_type_pass_from_the_file_and_from_user_input() -> None:
    task = _task(env=[{"name": "ROUNDS", "value": "-2"}])
    conf = {"task_form": {"t": {"env": {"VERBOSE": "TRUE", "LABEL": "anything at all"}}}}
    env = resolve(task, conf).env_dict()
    assert (env["ROUNDS"], env["VERBOSE"], env["LABEL"]) == ("-2", "TRUE", "anything at all")


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"ROUNDS": "many"}, "task_form.t.ROUNDS"),
        ({"env": {"ROUNDS": "many"}}, "task_form.t.env.ROUNDS"),
        ({"env": [{"name": "ROUNDS", "value": "many"}]}, "task_form.t.env[0].value"),
    ],
    ids=["flat", "env object", "env list"],
)
def test_user_input_of_the_wrong_type_is_refused_where_it_was_written(
    entry: dict[str, Any], where: str
) -> None:
    assert refused(_task(), {"task_form": {"t": entry}}) == [
        f"dag_run.conf: {where}: 'many' is not an integer (digits, optionally signed): "
        'ROUNDS is declared "type": "int"'
    ]


def test_a_boolean_is_true_or_false_and_nothing_else() -> None:
    assert refused(_task(), {"task_form": {"t": {"VERBOSE": "yes"}}}) == [
        "dag_run.conf: task_form.t.VERBOSE: 'yes' is not a boolean (true or false): "
        'VERBOSE is declared "type": "boolean"'
    ]


def test_a_task_files_value_of_the_wrong_type_is_refused_in_the_task_file() -> None:
    assert refused(_task(env=[{"name": "ROUNDS", "value": "1.5"}]), {}) == [
        "task.json: env[0].value: '1.5' is not an integer (digits, optionally signed): "
        'ROUNDS is declared "type": "int"'
    ]


def test_a_non_adjustable_variable_is_refused_from_user_input_whatever_the_value() -> None:
    for value in ("http://elsewhere:1", "http://svc:8080"):
        conf = {"task_form": {"t": {"SERVICE_URL": value}}}
        assert refused(_task(), conf) == [
            "dag_run.conf: task_form.t.SERVICE_URL: user input may not set SERVICE_URL: "
            "template 'sleep' declares it \"adjustable\": false"
        ]


def test_the_task_file_may_set_a_non_adjustable_variable() -> None:
    task = _task(env=[{"name": "SERVICE_URL", "value": "http://other:9"}])
    assert resolve(task, {}).env_dict()["SERVICE_URL"] == "http://other:9"


def test_every_refused_value_is_reported_at_once() -> None:
    conf = {"task_form": {"t": {"env": {"ROUNDS": "x", "VERBOSE": "x", "SERVICE_URL": "x"}}}}
    assert [line.split(": ")[1] for line in refused(_task(), conf)] == [
        "task_form.t.env.ROUNDS",
        "task_form.t.env.VERBOSE",
        "task_form.t.env.SERVICE_URL",
    ]


def test_choices_from_user_input_name_the_users_field() -> None:
    pc = _pc(_with_env(choices=["1", "2"], value="1"))
    task = user_input.apply(_task(), {"task_form": {"t": {"ROUNDS": "3"}}}, "t")
    with pytest.raises(ContractError) as caught:
        user_input.check_env(pc.templates[0], {"task_form": {"t": {"ROUNDS": "3"}}}, "t")
    assert caught.value.lines() == [
        "dag_run.conf: task_form.t.ROUNDS: '3' is not a valid choice for ROUNDS (choices: 1, 2)"
    ]
    assert task.env is not None and task.env[-1].value == "3"


def test_variables_the_template_does_not_declare_are_not_checked() -> None:
    conf = {"task_form": {"t": {"EXTRA": "whatever"}}}
    assert resolve(_task(), conf).env_dict()["EXTRA"] == "whatever"


def test_the_current_schema_form_has_no_type_and_stays_unchecked() -> None:
    """Without ``type`` or ``adjustable`` (Kaapana's form since November 2025) nothing changes."""
    current = _pc(
        {
            "name": "c",
            "description": "",
            "templates": [
                {"identifier": "sleep", "description": "", "env": [{"name": "N", "value": "x"}]}
            ],
        }
    )
    conf = {"task_form": {"t": {"N": "anything"}}}
    user_input.check_env(current.templates[0], conf, "t")
    assert user_input.apply(_task(), conf, "t").env is not None


def _pc_with_rule(rule: dict[str, object]) -> dict[str, object]:
    return {
        "name": "c",
        "description": "",
        "templates": [
            {
                "identifier": "t",
                "description": "",
                "inputs": [{"name": "in", "mounted_path": "/in", "scale_rule": rule}],
            }
        ],
    }


def test_kaapanas_linear_complexity_is_the_older_scale_factor(tmp_path: Path) -> None:
    """Kaapana's ScaleRule once said ``"complexity": "50*n**1"`` instead of a factor."""
    from kaapana_executor.models import ProcessingContainer
    from kaapana_executor.resources.scale import factor

    rule: dict[str, object] = {"complexity": "50*n**1", "type": "limit", "mode": "sum"}
    parsed = documents.build(Kind.PROCESSING_CONTAINER, _pc_with_rule(rule), "pc.json")
    assert isinstance(parsed, ProcessingContainer)
    scale_rule = parsed.templates[0].inputs[0].scale_rule
    assert scale_rule is not None and factor(scale_rule) == 50


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (
            {"complexity": "2*n**2", "type": "limit", "mode": "sum"},
            "templates[0].inputs[0].scale_rule.complexity: complexity '2*n**2' is not linear",
        ),
        (
            {"complexity": "2*n", "scale_factor": 2, "type": "limit", "mode": "sum"},
            "templates[0].inputs[0].scale_rule: give either 'scale_factor' or 'complexity'",
        ),
        (
            {"type": "limit", "mode": "sum"},
            "templates[0].inputs[0].scale_rule: give either 'scale_factor' or 'complexity'",
        ),
    ],
)
def test_a_scale_rule_needs_exactly_one_linear_factor(rule: dict[str, object], reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        documents.build(Kind.PROCESSING_CONTAINER, _pc_with_rule(rule), "pc.json")
    assert reason in refused.value.render()
