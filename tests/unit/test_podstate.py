"""Pod status → task-level phase, and phase → final Airflow state, on real V1Pod objects."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from kaapana_executor.k8s.podstate import PodPhase, PodStatus, classify
from kaapana_executor.runtime.final import final_state
from kaapana_executor.runtime.refs import FinalState


def pod(
    phase: str,
    *,
    terminated: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
    conditions: list[client.V1PodCondition] | None = None,
) -> client.V1Pod:
    state = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(**terminated) if terminated else None,
        waiting=client.V1ContainerStateWaiting(**waiting) if waiting else None,
        running=client.V1ContainerStateRunning() if phase == "Running" else None,
    )
    status = client.V1ContainerStatus(
        name="main", image="i", image_id="", ready=phase == "Running", restart_count=0, state=state
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main")], node_name="node-a"),
        status=client.V1PodStatus(phase=phase, container_statuses=[status], conditions=conditions),
    )


UNSCHEDULABLE = [
    client.V1PodCondition(
        type="PodScheduled",
        status="False",
        reason="Unschedulable",
        message="0/3 nodes are available: Insufficient cpu.",
    )
]

CASES = [
    ("pending", pod("Pending"), PodPhase.PENDING, None),
    ("running", pod("Running"), PodPhase.RUNNING, None),
    (
        "succeeded",
        pod("Succeeded", terminated={"exit_code": 0, "reason": "Completed"}),
        PodPhase.SUCCEEDED,
        0,
    ),
    (
        "failed exit 3",
        pod("Failed", terminated={"exit_code": 3, "reason": "Error"}),
        PodPhase.FAILED,
        3,
    ),
    (
        "oom",
        pod("Failed", terminated={"exit_code": 137, "reason": "OOMKilled"}),
        PodPhase.OOM_KILLED,
        137,
    ),
    (
        "skip 126",
        pod("Failed", terminated={"exit_code": 126, "reason": "Error"}),
        PodPhase.SKIPPED,
        126,
    ),
    (
        "pull backoff",
        pod("Pending", waiting={"reason": "ImagePullBackOff", "message": "back-off"}),
        PodPhase.IMAGE_PULL_ERROR,
        None,
    ),
    (
        "err image pull",
        pod("Pending", waiting={"reason": "ErrImagePull"}),
        PodPhase.IMAGE_PULL_ERROR,
        None,
    ),
    (
        "config error",
        pod("Pending", waiting={"reason": "CreateContainerConfigError", "message": "secret x"}),
        PodPhase.CONFIG_ERROR,
        None,
    ),
    ("creating", pod("Pending", waiting={"reason": "ContainerCreating"}), PodPhase.PENDING, None),
    ("unschedulable", pod("Pending", conditions=UNSCHEDULABLE), PodPhase.UNSCHEDULABLE, None),
    (
        "failed without status",
        client.V1Pod(status=client.V1PodStatus(phase="Failed", reason="Evicted")),
        PodPhase.FAILED,
        None,
    ),
    ("no status yet", client.V1Pod(), PodPhase.PENDING, None),
]


@pytest.mark.parametrize(("case", "obj", "phase", "exit_code"), CASES, ids=[c[0] for c in CASES])
def test_classify(case: str, obj: client.V1Pod, phase: PodPhase, exit_code: int | None) -> None:
    status = classify(obj)
    assert (status.phase, status.exit_code) == (phase, exit_code), case


def test_unschedulable_keeps_scheduler_message() -> None:
    assert classify(pod("Pending", conditions=UNSCHEDULABLE)).reason.endswith("Insufficient cpu.")


DECISIONS = [
    (PodStatus(PodPhase.SUCCEEDED, exit_code=0), True, FinalState.SUCCESS, "exited with code 0"),
    (PodStatus(PodPhase.SKIPPED, exit_code=126), True, FinalState.SKIPPED, "code 126"),
    (PodStatus(PodPhase.FAILED, "Error", 3), True, FinalState.UP_FOR_RETRY, "exit code 3 (Error)"),
    (PodStatus(PodPhase.FAILED, "Error", 3), False, FinalState.FAILED, "exit code 3 (Error)"),
    (
        PodStatus(PodPhase.OOM_KILLED, "OOMKilled", 137),
        False,
        FinalState.FAILED,
        "OOMKilled at its memory limit 64Mi",
    ),
    (PodStatus(PodPhase.GONE, "pod deleted"), True, FinalState.UP_FOR_RETRY, "deleted"),
    (
        PodStatus(PodPhase.GONE, "pod deleted", node="kwok-cpu-2"),
        True,
        FinalState.UP_FOR_RETRY,
        "deleted before its container finished on node kwok-cpu-2",
    ),
    (
        PodStatus(PodPhase.FAILED, "pod failed", None, "kwok-cpu-2"),
        False,
        FinalState.FAILED,
        "failed with no exit code (pod failed) on node kwok-cpu-2",
    ),
    (
        PodStatus(PodPhase.IMAGE_PULL_ERROR, "ImagePullBackOff: x"),
        False,
        FinalState.FAILED,
        "could not start",
    ),
    (
        PodStatus(PodPhase.UNSCHEDULABLE, "0/3 nodes"),
        False,
        FinalState.FAILED,
        "unschedulable, 0/3 nodes",
    ),
]


@pytest.mark.parametrize(("status", "retry", "state", "text"), DECISIONS)
def test_decide(status: PodStatus, retry: bool, state: FinalState, text: str) -> None:
    decided, sentence = final_state(status, retry, memory_limit="64Mi")
    assert decided is state
    assert text in sentence


def test_decide_rejects_non_final() -> None:
    with pytest.raises(ValueError, match="not a final pod state"):
        final_state(PodStatus(PodPhase.RUNNING), True)


def test_a_pod_past_its_deadline_is_timed_out_not_failed() -> None:
    """The kubelet kills the container (it shows exit 137); the pod's reason says why."""
    deadline = pod("Failed", terminated={"exit_code": 137, "reason": "Error"})
    deadline.status.reason = "DeadlineExceeded"
    deadline.status.message = "Pod was active on the node longer than the specified deadline"
    status = classify(deadline)
    assert status.phase is PodPhase.TIMED_OUT
    assert final_state(status, should_retry=True, execution_timeout=5) == (
        FinalState.UP_FOR_RETRY,
        "timed out after 5 s (execution_timeout): Pod was active on the node longer than the "
        "specified deadline",
    )


def test_a_pod_that_never_started_names_the_startup_timeout() -> None:
    status = PodStatus(PodPhase.NOT_STARTED, "not running 60 s after it was created")
    assert final_state(status, should_retry=False) == (
        FinalState.FAILED,
        "pod did not start: not running 60 s after it was created",
    )


def test_an_oom_kill_behind_exit_code_0_is_a_failure() -> None:
    """A shell whose child the kernel killed can exit 0; the reason still says OOMKilled."""
    oom = pod("Succeeded", terminated={"exit_code": 0, "reason": "OOMKilled"})
    status = classify(oom)
    assert status.phase is PodPhase.OOM_KILLED
    assert final_state(status, should_retry=False, memory_limit="128Mi") == (
        FinalState.FAILED,
        "container was OOMKilled at its memory limit 128Mi (exit code 0)",
    )


def test_a_pod_being_deleted_says_so_until_it_ends() -> None:
    deleting = pod("Running")
    deleting.metadata.deletion_timestamp = "2026-01-01T00:00:00Z"
    assert classify(deleting).deleting
    assert classify(deleting).phase is PodPhase.RUNNING
    ended = pod("Succeeded", terminated={"exit_code": 0})
    ended.metadata.deletion_timestamp = "2026-01-01T00:00:00Z"
    assert not classify(ended).deleting  # terminal: nothing more to wait for
