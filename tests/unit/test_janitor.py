"""Which leftover pods the janitor deletes: ended, their task instance done, policy allowing."""

from __future__ import annotations

import pytest
from kubernetes import client

from kaapana_executor.config import PodDeletion
from kaapana_executor.k8s import labels
from kaapana_executor.runtime.janitor import leftovers


def pod(name: str, phase: str, exit_code: int | None = None) -> client.V1Pod:
    state = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(exit_code=exit_code)
        if exit_code is not None
        else None,
        running=client.V1ContainerStateRunning() if exit_code is None else None,
    )
    status = client.V1ContainerStatus(
        name="main", image="i", image_id="", ready=False, restart_count=0, state=state
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations={labels.ANN_TI_ID: f"ti-{name}"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main")]),
        status=client.V1PodStatus(phase=phase, container_statuses=[status]),
    )


PODS = [
    pod("succeeded-done", "Succeeded", 0),  # crashed between recording and deleting
    pod("failed-done", "Failed", 3),
    pod("succeeded-running-ti", "Succeeded", 0),  # its scheduler finishes it right now
    pod("running", "Running"),
    pod("cleared", "Succeeded", 0),  # the task instance id is gone (cleared)
]
STATES: dict[str, str | None] = {
    "ti-succeeded-done": "success",
    "ti-failed-done": "failed",
    "ti-succeeded-running-ti": "running",
    "ti-running": "success",
    "ti-cleared": None,
}


@pytest.mark.parametrize(
    ("policy", "deleted"),
    [
        (PodDeletion.ALWAYS, ["succeeded-done", "failed-done", "cleared"]),
        (PodDeletion.ON_SUCCESS, ["succeeded-done", "cleared"]),
        (PodDeletion.NEVER, []),
    ],
)
def test_only_ended_pods_of_finished_task_instances_go(
    policy: PodDeletion, deleted: list[str]
) -> None:
    assert [p.metadata.name for p in leftovers(PODS, STATES, policy)] == deleted
