"""A finished pod, read with the executor's ``classify``, in the local runner's terms."""

from __future__ import annotations

import pytest
from kubernetes import client

from kaapana_executor.k8s.podstate import PodPhase, PodStatus, classify
from kaapana_executor.local.k8s_runner import PodRunError, termination
from kaapana_executor.local.report import Reason, Termination


def finished(exit_code: int, reason: str) -> client.V1Pod:
    state = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(exit_code=exit_code, reason=reason)
    )
    status = client.V1ContainerStatus(
        name="main", image="i", image_id="", ready=False, restart_count=0, state=state
    )
    phase = "Succeeded" if exit_code == 0 else "Failed"
    return client.V1Pod(
        spec=client.V1PodSpec(containers=[], node_name="n1"),
        status=client.V1PodStatus(phase=phase, container_statuses=[status]),
    )


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (finished(0, "Completed"), Termination(0, Reason.COMPLETED)),
        (finished(3, "Error"), Termination(3, Reason.ERROR)),
        (
            finished(137, "OOMKilled"),
            Termination(137, Reason.OOM_KILLED, "the container runtime reports OOMKilled"),
        ),
        (
            finished(126, "Error"),
            Termination(126, Reason.ERROR, "exit code 126 asks Airflow to skip the task"),
        ),
    ],
)
def test_terminated_pods(pod: client.V1Pod, expected: Termination) -> None:
    assert termination(classify(pod), "p") == expected


def test_a_pod_without_an_exit_code_is_an_error() -> None:
    with pytest.raises(PodRunError, match="pod p ended without an exit code: gone, deleted"):
        termination(PodStatus(PodPhase.GONE, "deleted"), "p")
