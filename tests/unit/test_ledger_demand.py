"""Demand.from_pod: effective requests as kube-scheduler counts them, and the placement."""

from __future__ import annotations

import pytest
from kubernetes import client

from kaapana_executor.ledger.demand import Demand, Requirement, Term, Toleration
from kaapana_executor.ledger.vector import ResourceVector
from tests.support.ledger_builders import GPU_TOLERATION, container, pod, term

GI = 2**30
V = ResourceVector.of


@pytest.mark.parametrize(
    ("spec_pod", "requests"),
    [
        (pod(requests={"cpu": "1", "memory": "2Gi"}), V(cpu=1000, memory=2 * GI, pods=1)),
        (pod(), V(pods=1)),  # best effort: only the pod slot
        # A limit without a request is requested at the limit (API defaulting).
        (
            pod(limits={"nvidia.com/gpu": "1", "cpu": "2"}),
            V({"nvidia.com/gpu": 1}, cpu=2000, pods=1),
        ),
        (
            pod(requests={"cpu": "500m"}, limits={"cpu": "2", "memory": "1Gi"}),
            V(cpu=500, memory=GI, pods=1),
        ),
        # Containers add up.
        (
            pod(containers=[container("a", {"cpu": "1"}), container("b", {"cpu": "1500m"})]),
            V(cpu=2500, pods=1),
        ),
        # The largest init container wins when it is larger than the containers' sum...
        (
            pod(
                containers=[container("a", {"cpu": "1", "memory": "1Gi"})],
                init_containers=[container("i1", {"cpu": "4"}), container("i2", {"memory": "8Gi"})],
            ),
            V(cpu=4000, memory=8 * GI, pods=1),
        ),
        # ...and loses when it is smaller.
        (
            pod(
                containers=[container("a", {"cpu": "2"})],
                init_containers=[container("i", {"cpu": "1"})],
            ),
            V(cpu=2000, pods=1),
        ),
        # Sidecars (restartPolicy Always) run alongside everything after them.
        (
            pod(
                containers=[container("a", {"cpu": "1"})],
                init_containers=[
                    container("side", {"cpu": "1"}, restart_policy="Always"),
                    container("i", {"cpu": "3"}),
                ],
            ),
            V(cpu=4000, pods=1),
        ),
        (
            pod(
                containers=[container("a", {"cpu": "3"})],
                init_containers=[container("side", {"cpu": "1"}, restart_policy="Always")],
            ),
            V(cpu=4000, pods=1),
        ),
        # Overhead (RuntimeClass) comes on top.
        (
            pod(requests={"cpu": "1"}, overhead={"cpu": "250m", "memory": "120Mi"}),
            V(cpu=1250, memory=120 * 2**20, pods=1),
        ),
    ],
)
def test_effective_requests(spec_pod: client.V1Pod, requests: ResourceVector) -> None:
    assert Demand.from_pod(spec_pod).requests == requests


def test_placement_and_identity_are_parsed() -> None:
    built = pod(
        "p",
        "team-a",
        requests={"cpu": "1"},
        limits={"cpu": "2"},
        tolerations=[GPU_TOLERATION],
        node_selector={"pool": "gpu"},
        affinity=[term(("disk", "In", ["ssd"]), name_in=["gpu-1"])],
    )

    demand = Demand.from_pod(built, priority=5, arrival=12.5)

    assert (demand.namespace, demand.priority, demand.arrival) == ("team-a", 5, 12.5)
    assert demand.tolerations == (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),)
    assert demand.node_selector == {"pool": "gpu"}
    assert demand.required_affinity == (
        Term(
            (Requirement("disk", "In", ("ssd",)),),
            (Requirement("metadata.name", "In", ("gpu-1",)),),
        ),
    )
    assert demand.quota_usage() == V({"limits.cpu": 2000}, cpu=1000, pods=1)


def test_demands_of_the_same_shape_share_it_whatever_their_priority() -> None:
    first = Demand.from_pod(pod(requests={"cpu": "1"}), priority=1, arrival=1.0)
    second = Demand.from_pod(pod("q", requests={"cpu": "1000m"}), priority=9, arrival=2.0)
    assert first.shape == second.shape
    assert first.shape != Demand.from_pod(pod(requests={"cpu": "2"})).shape
