"""Kaapana's operator signature: the task.json it builds, what it refuses, the link policy."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from airflow.exceptions import AirflowClusterPolicyViolation
from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator as Native
from kaapana_executor.errors import ContractError
from kaapana_executor.kaapana import IOMapping, KaapanaTaskOperator, pc_models
from kaapana_executor.policy import dag_policy
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY


def stored(op: Any) -> dict[str, Any]:
    entry: dict[str, Any] = op.executor_config[EXECUTOR_CONFIG_KEY]
    return entry


def test_kaapana_arguments_become_the_native_task_json() -> None:
    with DAG("k", schedule=None):
        up = KaapanaTaskOperator(task_id="upstream", image="reg/dummy:1", taskTemplate="upstream")
        down = KaapanaTaskOperator(
            task_id="downstream",
            image="reg/dummy:1",
            taskTemplate="downstream",
            env=[pc_models.BaseEnv(name="MODE", value="fast"), {"name": "X", "value": "1"}],
            resources=pc_models.Resources(limits={"memory": "1Gi"}),
            iochannel_maps=[
                IOMapping(
                    upstream_operator=up, upstream_output_channel="channel1", input_channel="in1"
                )
            ],
            labels={"team": "a"},
            retries=2,
        )
        up >> down
    task = json.loads(stored(down)["task"])
    assert task == {
        "name": "downstream",
        "image": "reg/dummy:1",
        "taskTemplate": "downstream",
        "env": [{"name": "MODE", "value": "fast"}, {"name": "X", "value": "1"}],
        "inputs": [{"name": "in1", "from": {"task": "upstream", "channel": "channel1"}}],
        "config": {"labels": {"team": "a"}, "annotations": {}},
        "resources": {"limits": {"memory": "1Gi"}},
    }
    assert stored(down)["execution_timeout"] == 90 * 60  # Kaapana's default
    assert stored(down)["startup_timeout"] == 3600
    assert isinstance(down, Native) and down.retries == 2
    assert down.retry_delay == timedelta(seconds=10)


def test_the_native_operator_carries_airflows_execution_timeout() -> None:
    op = Native(
        task_id="t",
        task_json={"name": "t", "image": "i", "taskTemplate": "x"},
        execution_timeout=timedelta(seconds=5),
    )
    assert stored(op)["execution_timeout"] == 5
    assert "startup_timeout" not in stored(op)


def test_an_inline_registry_password_is_refused_here_too() -> None:
    with pytest.raises(ContractError, match=r"config\.registryPassword: an inline registry"):
        KaapanaTaskOperator(
            task_id="t", image="i", taskTemplate="x", registryUsername="u", registryPassword="p"
        )


def test_dev_server_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="dev_server is not supported on KaapanaExecutor"):
        KaapanaTaskOperator(task_id="t", image="i", taskTemplate="x", dev_server=True)


def test_a_link_to_a_task_that_is_not_upstream_is_a_dag_error() -> None:
    with DAG("k", schedule=None) as dag:
        up = KaapanaTaskOperator(task_id="upstream", image="i", taskTemplate="upstream")
        KaapanaTaskOperator(
            task_id="downstream",
            image="i",
            taskTemplate="downstream",
            iochannel_maps=[
                IOMapping(upstream_operator=up, upstream_output_channel="c", input_channel="c")
            ],
        )  # no up >> downstream
    with pytest.raises(AirflowClusterPolicyViolation) as refused:
        dag_policy(dag)
    assert str(refused.value) == (
        "DAG k: downstream: input channel 'c' links to task 'upstream', which is not upstream "
        "of it (add upstream >> downstream)"
    )


def test_a_link_through_a_longer_path_is_upstream_enough() -> None:
    with DAG("k", schedule=None) as dag:
        a = Native(task_id="a", task_json={"name": "a", "image": "i", "taskTemplate": "x"})
        b = Native(task_id="b", task_json={"name": "b", "image": "i", "taskTemplate": "x"})
        c = Native(
            task_id="c",
            task_json={
                "name": "c",
                "image": "i",
                "taskTemplate": "x",
                "inputs": [{"name": "in", "from": {"task": "a", "channel": "out"}}],
            },
        )
        a >> b >> c
    dag_policy(dag)  # no error
