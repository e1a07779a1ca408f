"""Merging a Task with its template: Kaapana's rules, and strictness where Kaapana is silent."""

from __future__ import annotations

import json

import pytest

from kaapana_executor.contract import documents, merge
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError
from kaapana_executor.models import VolumeSource
from tests.unit.builders import host, mount, processing_container, task, template, template_model


def test_task_overrides_template_and_env_merges_by_name() -> None:
    tmpl = template_model(
        command=["run"],
        env=[
            {"name": "A", "value": "1"},
            {"name": "MODE", "value": "fast", "choices": ["fast", "slow"]},
        ],
        inputs=[mount("in")],
        outputs=[mount("out")],
        resources={"requests": {"memory": "100Mi", "cpu": "1"}, "limits": {"memory": "1Gi"}},
    )
    t = task(
        command=["run", "--verbose"],
        env=[{"name": "MODE", "value": "slow"}, {"name": "EXTRA", "value": "x"}],
        inputs=[host("in", "/data/in")],
        outputs=[host("out", "/data/out")],
        resources={"limits": {"memory": "2Gi"}},
    )
    instance = merge.merge(t, tmpl, "task.json")
    assert instance.command == ["run", "--verbose"]
    assert instance.env_dict() == {"A": "1", "MODE": "slow", "EXTRA": "x"}
    assert [(c.name, c.mounted_path, c.volume) for c in instance.inputs] == [
        ("in", "/mnt/in", VolumeSource(host_path="/data/in"))
    ]
    assert instance.resources.requests == {"memory": "100Mi", "cpu": "1"}
    assert instance.resources.limits == {"memory": "2Gi"}


def test_template_command_kept_when_task_has_none() -> None:
    instance = merge.merge(task(), template_model(command=["x"]), "task.json")
    assert instance.command == ["x"]


def test_all_strictness_problems_reported_at_once() -> None:
    tmpl = template_model(
        env=[{"name": "MODE", "value": "a", "choices": ["a", "b"]}],
        inputs=[mount("in"), mount("opt", optional=True)],
        outputs=[mount("out")],
    )
    t = task(env=[{"name": "MODE", "value": "c"}], inputs=[host("typo", "/x")])
    with pytest.raises(ContractError) as caught:
        merge.merge(t, tmpl, "task.json")
    assert caught.value.lines() == [
        "task.json: env[0].value: 'c' is not a valid choice for MODE (choices: a, b)",
        "task.json: inputs[0].name: template 'main' declares no input channel 'typo' "
        "(declared: in, opt)",
        "task.json: inputs: template 'main' requires input channel 'in', which is not bound",
        "task.json: outputs: template 'main' requires output channel 'out', which is not bound",
    ]


def test_empty_choices_allow_any_value() -> None:
    tmpl = template_model(env=[{"name": "DATASET", "value": "", "choices": []}])
    instance = merge.merge(task(env=[{"name": "DATASET", "value": "anything"}]), tmpl, "t.json")
    assert instance.env_dict() == {"DATASET": "anything"}


def test_unbound_output_takes_default_destination() -> None:
    tmpl = template_model(outputs=[mount("out")])
    instance = merge.merge(
        task(), tmpl, "t.json", default_output=lambda ch: VolumeSource(host_path=f"/runs/r1/t/{ch}")
    )
    assert instance.outputs[0].volume == VolumeSource(host_path="/runs/r1/t/out")


def test_linked_input_stays_a_link_until_the_executor_resolves_it() -> None:
    tmpl = template_model(inputs=[mount("in")])
    instance = merge.merge(
        task(inputs=[{"name": "in", "from": {"task": "up", "channel": "out"}}]), tmpl, "t"
    )
    assert instance.inputs[0].volume is None
    assert instance.inputs[0].link is not None
    assert (instance.inputs[0].link.task, instance.inputs[0].link.channel) == ("up", "out")


def test_task_scale_rule_overrides_template_rule() -> None:
    rule_t = {"scale_factor": 2, "type": "limit", "mode": "sum"}
    rule_k = {"scale_factor": 5, "type": "request", "mode": "max_file_size"}
    tmpl = template_model(inputs=[mount("in", scale_rule=rule_t)])
    instance = merge.merge(task(inputs=[host("in", "/x", scale_rule=rule_k)]), tmpl, "t")
    assert instance.inputs[0].scale_rule is not None
    assert instance.inputs[0].scale_rule.mode == "max_file_size"


def test_inline_credentials_are_dropped() -> None:
    config = {
        "type": "k8s",
        "registryUsername": "u",
        "registryPassword": "secret",
        "imagePullSecrets": ["reg"],
    }
    instance = merge.merge(task(config=config), template_model(), "t")
    assert "secret" not in instance.model_dump_json()
    assert instance.config.imagePullSecrets == ["reg"]


def test_select_template_by_identifier_or_inline() -> None:
    pc = processing_container(template("a"), template("b"))
    assert merge.select_template(task("b"), pc, "t").identifier == "b"
    inline = task(template("inline"))
    assert merge.select_template(inline, None, "t").identifier == "inline"
    with pytest.raises(
        ContractError,
        match=r"'c' is not a template of processing container 'pc' \(templates: a, b\)",
    ):
        merge.select_template(task("c"), pc, "t")


def test_request_above_merged_limit_is_an_error() -> None:
    tmpl = template_model(resources={"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}})
    with pytest.raises(ContractError) as caught:
        merge.merge(task(resources={"requests": {"memory": "1Gi"}}), tmpl, "task.json")
    assert caught.value.lines() == [
        "task.json: resources.requests.memory: 1Gi is above the limit 128Mi "
        "(after merging with the template)"
    ]


def test_a_task_may_not_set_the_executors_labels_or_annotations() -> None:
    document = {
        "name": "t",
        "image": "i",
        "taskTemplate": "x",
        "config": {
            "labels": {"app.kubernetes.io/managed-by": "someone-else", "team": "ok"},
            "annotations": {"kaapana.org/ti-id": "forged"},
        },
    }
    with pytest.raises(ContractError) as refused:
        documents.parse(json.dumps(document), "task.json", kind=Kind.TASK)
    assert refused.value.lines() == [
        'task.json: config.labels["app.kubernetes.io/managed-by"]: '
        "'app.kubernetes.io/managed-by' is set by the executor itself (it finds its pods by it) "
        "and cannot be set by a task",
        'task.json: config.annotations["kaapana.org/ti-id"]: '
        "'kaapana.org/ti-id' is set by the executor itself (it finds its pods by it) "
        "and cannot be set by a task",
    ]
