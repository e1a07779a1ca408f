"""Someone else deletes a running task's pod, or its node: the task fails with a reason that
says what happened (and where), nothing stays stuck, nothing is rerun behind the user's back."""

from __future__ import annotations

import secrets

import pytest
from kubernetes.client.exceptions import ApiException

from tests.faults.conftest import Faulty
from tests.faults.dags.faults_dags import DOOMED_RESOURCE
from tests.support.nodes import NodeAdmin, node_manifest
from tests.support.podrecord import recording

pytestmark = [pytest.mark.cluster, pytest.mark.faults]


def final_reason(log: str) -> str:
    """The task log's line that states the final state (``...: reporting failed``)."""
    lines = [line for line in log.splitlines() if "reporting " in line]
    return lines[-1] if lines else f"(no final reason in the log; its end: {log[-1500:]})"


def test_external_pod_deletion_fails_the_task_with_a_clear_reason(env: Faulty) -> None:
    dag, run = "faults_forever", f"deleted-pod-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(dag)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(dag, run)
        check = env.check(dag, run)
        (pod,) = check.wait_running(1)
        env.core.delete_namespaced_pod(pod.metadata.name, env.namespace, grace_period_seconds=0)
        state = env.rest.wait_run(dag, run, timeout=120)
        check.settle()
        verdict = check.verdict(recorder, expect="failed")
    assert state == "failed"
    assert verdict.clean, verdict.summary()
    assert verdict.states == {"forever": ("failed", 1)}
    assert "deleted" in final_reason(env.rest.log(dag, run, "forever", 1))


def test_node_deletion_fails_the_task_naming_the_node(env: Faulty) -> None:
    dag, run = "faults_doomed_node", f"deleted-node-{secrets.token_hex(3)}"
    name = f"kaapana-doomed-{secrets.token_hex(3)}"
    node = node_manifest(name)
    node.status.capacity[DOOMED_RESOURCE] = "1"
    node.status.allocatable[DOOMED_RESOURCE] = "1"
    admin = NodeAdmin(env.core)
    admin.create(node)
    try:
        env.rest.wait_for_dag(dag)
        with recording(env.core, env.namespace) as recorder:
            env.rest.trigger(dag, run)
            check = env.check(dag, run)
            (pod,) = check.wait_running(1)
            assert pod.spec.node_name == name
            admin.delete(name)
            # The pod garbage collector fails and deletes pods of a vanished node after 40 s.
            state = env.rest.wait_run(dag, run, timeout=240)
            check.settle()
            verdict = check.verdict(recorder, expect="failed")
    finally:
        try:
            env.core.delete_node(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    assert state == "failed"
    assert verdict.clean, verdict.summary()
    assert verdict.states == {"doomed": ("failed", 1)}
    assert name in final_reason(env.rest.log(dag, run, "doomed", 1))
