"""The declared nodes exist, and the real scheduler follows node changes made by tests."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.support.cluster import Cluster
from tests.support.nodes import TrackedNodes
from tests.support.pods import condition, pod_manifest, wait_for_pod

pytestmark = pytest.mark.cluster

GPU_TOLERATION = client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def _node_of(core: client.CoreV1Api, namespace: str, name: str) -> str:
    pod = wait_for_pod(
        core, namespace, name, lambda p: bool(p.spec and p.spec.node_name), what="bound"
    )
    node: str = pod.spec.node_name
    return node


def _unschedulable(core: client.CoreV1Api, namespace: str, name: str) -> None:
    pod = wait_for_pod(
        core,
        namespace,
        name,
        lambda p: condition(p, "PodScheduled") is not None,
        what="a scheduling decision",
    )
    assert condition(pod, "PodScheduled").reason == "Unschedulable"


def test_default_nodes_are_declared_with_capacity_and_gpu_taint(cluster: Cluster) -> None:
    nodes = {n.metadata.name: n for n in cluster.core_v1().list_node().items if n.metadata}

    for name in ("kwok-cpu-1", "kwok-cpu-2"):
        status = nodes[name].status
        assert status is not None and status.allocatable is not None
        assert (status.allocatable["cpu"], status.allocatable["memory"]) == ("8", "32Gi")
    gpu = nodes["kwok-gpu-1"]
    assert gpu.status is not None and gpu.status.allocatable is not None
    assert gpu.status.allocatable["nvidia.com/gpu"] == "2"
    assert gpu.status.allocatable["cpu"] == "16"
    assert gpu.spec is not None and gpu.spec.taints is not None
    assert [(t.key, t.effect) for t in gpu.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]


def test_gpu_pod_lands_on_the_gpu_node_only_with_toleration(
    kwok_cluster: Cluster, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    gpu = {"nvidia.com/gpu": "1"}
    core.create_namespaced_pod(
        namespace, pod_manifest("gpu", limits=gpu, tolerations=[GPU_TOLERATION])
    )
    core.create_namespaced_pod(namespace, pod_manifest("gpu-untolerated", limits=gpu))

    assert _node_of(core, namespace, "gpu") == "kwok-gpu-1"
    _unschedulable(core, namespace, "gpu-untolerated")


def test_added_node_takes_pods_until_cordoned_or_tainted(
    kwok_cluster: Cluster, namespace: str, nodes: TrackedNodes
) -> None:
    core = kwok_cluster.core_v1()
    selector = {"pool": "extra"}
    nodes.add("kwok-extra-1", cpu="4", memory="8Gi", labels=selector)

    core.create_namespaced_pod(namespace, pod_manifest("first", node_selector=selector))
    assert _node_of(core, namespace, "first") == "kwok-extra-1"

    nodes.cordon("kwok-extra-1")
    core.create_namespaced_pod(namespace, pod_manifest("while-cordoned", node_selector=selector))
    _unschedulable(core, namespace, "while-cordoned")
    nodes.uncordon("kwok-extra-1")
    assert _node_of(core, namespace, "while-cordoned") == "kwok-extra-1"

    nodes.taint("kwok-extra-1", "dedicated", "other")
    core.create_namespaced_pod(namespace, pod_manifest("while-tainted", node_selector=selector))
    _unschedulable(core, namespace, "while-tainted")
    nodes.untaint("kwok-extra-1", "dedicated")
    assert _node_of(core, namespace, "while-tainted") == "kwok-extra-1"

    nodes.delete("kwok-extra-1")
    assert "kwok-extra-1" not in {n.metadata.name for n in core.list_node().items if n.metadata}


def test_tracked_changes_are_undone_after_the_test(cluster: Cluster) -> None:
    # A node of its own stands in for a default one, so tests running next to this one
    # never see a default node vanish.
    core = cluster.core_v1()
    cluster.nodes.add("kwok-restore-1", cpu="2", memory="4Gi")
    try:
        tracked = TrackedNodes(core)
        tracked.cordon("kwok-restore-1")
        tracked.taint("kwok-restore-1", "maintenance")
        tracked.delete("kwok-restore-1")

        tracked.restore()

        restored = core.read_node("kwok-restore-1")
        assert restored.status is not None and restored.status.allocatable is not None
        assert restored.status.allocatable["cpu"] == "2"
        assert restored.spec is not None
        assert not restored.spec.unschedulable
        assert not restored.spec.taints
    finally:
        cluster.nodes.delete("kwok-restore-1")
