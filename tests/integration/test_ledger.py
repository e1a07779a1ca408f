"""The resource ledger against the real local cluster: watches keep it equal to the truth.

Tests that change capacity use a node of their own, with a label and a taint no other
test's pods match, so pods of tests running next to them cannot land there.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kaapana_executor.k8s.gateway import ClusterList, KubeGateway
from kaapana_executor.ledger.admission import Plan, Waiting, plan
from kaapana_executor.ledger.demand import Demand, pod_requests
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.snapshot import Snapshot
from kaapana_executor.ledger.vector import ZERO, ResourceVector
from kaapana_executor.ledger.watch import LedgerWatcher
from tests.support import kwok
from tests.support.cluster import Cluster
from tests.support.nodes import TrackedNodes
from tests.support.pods import pod_manifest, wait_for_phase
from tests.support.polling import wait_until

pytestmark = pytest.mark.cluster

GPU_TOLERATION = client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
V = ResourceVector.of


@pytest.fixture
def watched(cluster: Cluster) -> Iterator[LedgerWatcher]:
    watcher = LedgerWatcher(KubeGateway(cluster.api_client), Ledger(), resync=30, watch_timeout=10)
    watcher.start()
    assert watcher.wait_synced(20), "the ledger did not list nodes, pods and quotas"
    yield watcher
    watcher.stop(15)


class OwnNode:
    """A node only this test's pods can use: ``pool=<name>`` label, ``dedicated=<name>`` taint."""

    def __init__(self, nodes: TrackedNodes, cpu: str = "4", memory: str = "8Gi") -> None:
        self.name = f"kwok-ledger-{secrets.token_hex(3)}"
        taint = client.V1Taint(key="dedicated", value=self.name, effect="NoSchedule")
        nodes.add(self.name, cpu=cpu, memory=memory, labels={"pool": self.name}, taints=[taint])
        self.allocatable = V(cpu=int(cpu) * 1000, memory=int(memory[:-2]) * 2**30, pods=110)

    def pod(self, name: str, cpu: str, **fields: Any) -> client.V1Pod:
        return pod_manifest(
            name,
            requests={"cpu": cpu},
            tolerations=[client.V1Toleration(key="dedicated", value=self.name)],
            node_selector={"pool": self.name},
            **fields,
        )

    def demand(self, cpu: str, namespace: str = "default") -> Demand:
        built = self.pod("demand", cpu)
        built.metadata.namespace = namespace
        return Demand.from_pod(built)


def free_of(watcher: LedgerWatcher, node: str) -> ResourceVector | None:
    state = watcher.ledger.snapshot().node(node)
    return state.free if state else None


def wait_free(watcher: LedgerWatcher, node: str, expected: ResourceVector) -> None:
    wait_until(lambda: free_of(watcher, node), lambda f: f == expected, what=f"free on {node}")


def plan_one(watcher: LedgerWatcher, demand: Demand) -> Plan[str]:
    return plan([Waiting("task", demand)], watcher.ledger.snapshot(), 0.0)


def wait_plan(watcher: LedgerWatcher, demand: Demand, what: str, until: Any) -> Plan[str]:
    return wait_until(lambda: plan_one(watcher, demand), until, what=what)


def truth(core: client.CoreV1Api) -> dict[str, ResourceVector]:
    """Requested per node from a fresh list: non-terminal pods bound to each node."""
    requested: dict[str, ResourceVector] = {n.metadata.name: ZERO for n in core.list_node().items}
    for pod in core.list_pod_for_all_namespaces().items:
        if pod.spec.node_name and pod.status.phase not in ("Succeeded", "Failed"):
            node = pod.spec.node_name
            requested[node] = requested.get(node, ZERO) + pod_requests(pod.spec)
    return requested


def ledger_requested(snapshot: Snapshot) -> dict[str, ResourceVector]:
    return {n.name: n.requested for n in snapshot.nodes}


def test_free_per_node_matches_what_nodes_and_pods_say(
    kwok_cluster: Cluster, watched: LedgerWatcher, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    for i in range(3):
        core.create_namespaced_pod(
            namespace,
            pod_manifest(
                f"p{i}",
                requests={"cpu": "500m", "memory": "1Gi"},
                annotations=kwok.lifecycle(never_finish=True),
            ),
        )
    core.create_namespaced_pod(
        namespace,
        pod_manifest(
            "gpu",
            limits={"nvidia.com/gpu": "1"},
            tolerations=[GPU_TOLERATION],
            annotations=kwok.lifecycle(never_finish=True),
        ),
    )
    for name in ("p0", "p1", "p2", "gpu"):
        wait_for_phase(core, namespace, name, "Running")

    wait_until(
        lambda: (ledger_requested(watched.ledger.snapshot()), truth(core)),
        lambda pair: pair[0] == pair[1],
        what="ledger requests equal to a fresh list",
    )
    snap = watched.ledger.snapshot()
    shapes = {n.name: n.info.allocatable for n in snap.nodes}
    assert shapes["kwok-cpu-1"] == V(cpu=8000, memory=32 * 2**30, pods=110)
    assert shapes["kwok-gpu-1"] == V({"nvidia.com/gpu": 2}, cpu=16000, memory=64 * 2**30, pods=110)
    gpu = snap.node("kwok-gpu-1")
    assert gpu is not None and gpu.requested.get("nvidia.com/gpu") >= 1
    assert gpu.free == gpu.info.allocatable - gpu.requested


def test_gpu_node_is_eligible_only_for_demands_that_tolerate_its_taint(
    watched: LedgerWatcher,
) -> None:
    def gpu_demand(tolerate: bool) -> Demand:
        built = pod_manifest(
            "g", limits={"nvidia.com/gpu": "1"}, tolerations=[GPU_TOLERATION] if tolerate else ()
        )
        return Demand.from_pod(built)

    tolerated = plan_one(watched, gpu_demand(True))
    untolerated = plan_one(watched, gpu_demand(False))

    gpu_nodes = {
        n.name for n in watched.ledger.snapshot().nodes if n.info.allocatable.get("nvidia.com/gpu")
    }
    assert [node for _, node in tolerated.admit] == ["kwok-gpu-1"] or tolerated.waiting
    assert {node for _, node in tolerated.admit} <= gpu_nodes
    assert untolerated.never["task"].startswith(
        "needs 1 nvidia.com/gpu; the largest eligible node has 0"
    )


def test_cordon_and_uncordon_change_eligibility(
    cluster: Cluster, watched: LedgerWatcher, nodes: TrackedNodes
) -> None:
    own = OwnNode(nodes)
    demand = own.demand("2")
    assert wait_plan(watched, demand, "admitted", lambda p: p.admit).admit == [("task", own.name)]

    nodes.cordon(own.name)
    cordoned = wait_plan(watched, demand, "waiting", lambda p: p.waiting)
    assert cordoned.waiting["task"] == f"no large enough node is eligible now: {own.name} cordoned"

    nodes.uncordon(own.name)
    assert wait_plan(watched, demand, "admitted", lambda p: p.admit).admit == [("task", own.name)]

    nodes.delete(own.name)
    gone = wait_plan(watched, demand, "never", lambda p: p.never)
    assert gone.never["task"].startswith("no node can ever take it")


def test_pods_of_other_tenants_appearing_and_going_change_free_room(
    kwok_cluster: Cluster, watched: LedgerWatcher, nodes: TrackedNodes, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    own = OwnNode(nodes)
    wait_free(watched, own.name, own.allocatable)

    core.create_namespaced_pod(
        namespace, own.pod("stays", "1500m", annotations=kwok.lifecycle(never_finish=True))
    )
    core.create_namespaced_pod(
        namespace, own.pod("ends", "1", annotations=kwok.lifecycle(run="2s"))
    )
    wait_free(watched, own.name, own.allocatable - V(cpu=2500, pods=2))
    wait = plan_one(watched, own.demand("2"))
    assert (
        wait.waiting["task"]
        == f"needs 2 CPU; the most free eligible node has 1500m CPU ({own.name})"
    )

    wait_for_phase(core, namespace, "ends", "Succeeded")
    wait_free(watched, own.name, own.allocatable - V(cpu=1500, pods=1))
    core.delete_namespaced_pod("stays", namespace, grace_period_seconds=0)
    wait_free(watched, own.name, own.allocatable)


def test_resource_quota_limits_its_namespace(
    kwok_cluster: Cluster, watched: LedgerWatcher, nodes: TrackedNodes, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    own = OwnNode(nodes)
    core.create_namespaced_resource_quota(
        namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="compute"),
            spec=client.V1ResourceQuotaSpec(hard={"requests.cpu": "2", "pods": "5"}),
        ),
    )
    # Until the quota controller has computed the status, the API admits pods unchecked.
    wait_until(
        lambda: core.read_namespaced_resource_quota("compute", namespace).status,
        lambda status: bool(status and status.hard),
        what="the quota's status",
    )
    never = wait_plan(watched, own.demand("3", namespace), "never", lambda p: p.never)
    assert (
        never.never["task"] == f"needs 3 CPU; ResourceQuota {namespace}/compute allows 2 CPU in all"
    )

    core.create_namespaced_pod(
        namespace, own.pod("user", "1500m", annotations=kwok.lifecycle(never_finish=True))
    )
    waiting = wait_plan(watched, own.demand("1", namespace), "waiting", lambda p: p.waiting)
    assert (
        waiting.waiting["task"]
        == f"needs 1 CPU; ResourceQuota {namespace}/compute has 500m CPU left"
    )
    assert plan_one(watched, own.demand("1", "default")).admit == [("task", own.name)]

    core.delete_namespaced_pod("user", namespace, grace_period_seconds=0)
    assert wait_plan(watched, own.demand("1", namespace), "admitted", lambda p: p.admit).admit


def reserved_on(watcher: LedgerWatcher, node: str) -> ResourceVector | None:
    state = watcher.ledger.snapshot().node(node)
    return state.reserved if state else None


@pytest.mark.parametrize("ending", ["binds", "terminates", "deleted"])
def test_reservation_released_when_its_pod_binds_terminates_or_is_deleted(
    kwok_cluster: Cluster, watched: LedgerWatcher, nodes: TrackedNodes, namespace: str, ending: str
) -> None:
    core = kwok_cluster.core_v1()
    own = OwnNode(nodes)
    cpu = "2" if ending == "binds" else "6"  # 6 CPU never binds on a 4-CPU node
    manifest = own.pod("task", cpu, annotations=kwok.lifecycle(never_finish=True))
    demand = own.demand(cpu, namespace)
    watched.ledger.reserve("task-key", demand, own.name, pod=(namespace, "task"))
    assert reserved_on(watched, own.name) == demand.requests

    core.create_namespaced_pod(namespace, manifest)
    if ending == "binds":
        wait_until(lambda: watched.ledger.is_reserved("task-key"), lambda r: not r, what="release")
        wait_free(watched, own.name, own.allocatable - demand.requests)  # now counted as bound
    else:
        wait_until(
            lambda: watched.ledger.snapshot().reservations,
            lambda r: bool(r) and r[0].seen,
            what="the pending pod seen",
        )
        assert watched.ledger.is_reserved("task-key")  # unbound: still holds its room
        if ending == "terminates":
            # A patch, not read-and-replace: the scheduler writes this pod's PodScheduled
            # condition meanwhile, and a replace with the older resourceVersion gets 409.
            core.patch_namespaced_pod_status("task", namespace, {"status": {"phase": "Failed"}})
        else:
            core.delete_namespaced_pod("task", namespace, grace_period_seconds=0)
        wait_until(lambda: watched.ledger.is_reserved("task-key"), lambda r: not r, what="release")
    assert reserved_on(watched, own.name) == ZERO


class StaleFirstList(KubeGateway):
    """A real gateway whose first pod list reports an expired resourceVersion, as a list
    would that raced with etcd compaction: the watch from it must get 410 Gone."""

    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(api)
        self.stale = True

    def list_cluster(
        self, kind: ClusterList, field_selector: str = "", label_selector: str = ""
    ) -> tuple[list[Any], str]:
        items, version = super().list_cluster(kind, field_selector, label_selector)
        if kind is ClusterList.PODS and self.stale:
            self.stale = False
            return items, "1"
        return items, version


def test_410_gone_leads_to_a_relist_and_the_ledger_stays_current(
    kwok_cluster: Cluster, nodes: TrackedNodes, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    own = OwnNode(nodes)
    watcher = LedgerWatcher(StaleFirstList(kwok_cluster.api_client), Ledger(), watch_timeout=10)
    watcher.start()
    try:
        assert watcher.wait_synced(20)
        wait_until(lambda: watcher.relists["pods"], lambda n: n >= 2, what="a relist after 410")
        core.create_namespaced_pod(
            namespace, own.pod("after", "1", annotations=kwok.lifecycle(never_finish=True))
        )
        wait_free(watcher, own.name, own.allocatable - V(cpu=1000, pods=1))
        assert watcher.alive
    finally:
        watcher.stop(15)
    assert watcher.relists["nodes"] == 1
