"""Resource admission on the real cluster, judged by the real kube-scheduler.

The engine runs with everything real (gateway, pod watcher, ledger watchers, launch pipeline,
pods on KWOK nodes, the real kube-scheduler) except the Execution API. A pod kube-scheduler
cannot place gets ``PodScheduled=False, reason=Unschedulable``. What the ledger guarantees
(docs/resource-ledger.md, "What it guarantees"): on nodes only this executor schedules to,
none of ours ever is, however busy the machine and the rest of the cluster; on nodes shared
with a tenant racing for room, one of ours may be, but only on a node that tenant's pods took
meanwhile, and every task still runs. Each test gets two nodes of its own (tainted, labelled),
so other tests and other sessions on the cluster cannot race it by accident.
"""

from __future__ import annotations

import random
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.runtime.refs import FinalState, TaskRef
from tests.support.cluster import Cluster
from tests.support.engine import InProcessReporter, PodJudge, drive, engine, ref, task_config
from tests.support.kwok import lifecycle
from tests.support.nodes import NodeAdmin

pytestmark = pytest.mark.cluster

POOL = "kaapana.io/admission-pool"


@pytest.fixture
def pool(cluster: Cluster, namespace: str) -> Iterator[tuple[str, list[str]]]:
    """Two 8-CPU nodes tainted and labelled for this test alone: (pool id, node names)."""
    admin = NodeAdmin(cluster.core_v1())
    pool_id = f"adm-{secrets.token_hex(3)}"
    taint = client.V1Taint(key=POOL, value=pool_id, effect="NoSchedule")
    names = [f"{pool_id}-{i}" for i in (1, 2)]
    for name in names:
        admin.add(name, cpu="8", memory="32Gi", labels={POOL: pool_id}, taints=[taint])
    try:
        yield pool_id, names
    finally:
        for name in names:
            admin.delete(name)


def pool_settings(namespace: str, data: Path, pool_id: str) -> ExecutorSettings:
    return ExecutorSettings(
        namespace=namespace,
        data_root=str(data),
        pod_deletion="always",
        pod_tolerations=[{"key": POOL, "value": pool_id, "effect": "NoSchedule"}],
        pod_node_selector={POOL: pool_id},
    )


def tasks(namespace: str, count: int = 60) -> list[TaskRef]:
    """~3 CPU x 3 s each on average: far more than the pool's 16 CPUs at once."""
    rng = random.Random(7)
    work = []
    for i in range(count):
        cpu = rng.choice(["1", "2", "4", "6"])
        resources = {"requests": {"cpu": cpu, "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
        annotations = lifecycle(run=rng.choice(["2s", "3s", "4s"]), start_delay="200ms")
        work.append(ref("admission", namespace, f"t{i:02d}", task_config(annotations, resources)))
    return work


class Tenant:
    """Another client creating pods while the executor runs (optionally on the pool): one
    2-CPU pod of 3 s per ``every`` seconds, at most ``limit`` (a race, not a flood that would
    starve anyone)."""

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        pool_id: str | None,
        every: float = 0.4,
        limit: int = 1000,
    ) -> None:
        self.core, self.namespace, self.pool_id = core, namespace, pool_id
        self.every, self.limit = every, limit
        self.created = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pod(self, i: int) -> client.V1Pod:
        spec = client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(
                    name="c",
                    image="registry.invalid/tenant:1",
                    resources=client.V1ResourceRequirements(requests={"cpu": "2"}),
                )
            ],
        )
        if self.pool_id is not None:  # races the executor for the same nodes
            spec.tolerations = [
                client.V1Toleration(key=POOL, value=self.pool_id, effect="NoSchedule")
            ]
            spec.node_selector = {POOL: self.pool_id}
        meta = client.V1ObjectMeta(name=f"tenant-{i:03d}", annotations=lifecycle(run="3s"))
        return client.V1Pod(metadata=meta, spec=spec)

    def _run(self) -> None:
        while self.created < self.limit and not self._stop.wait(self.every):
            self.core.create_namespaced_pod(self.namespace, self._pod(self.created))
            self.created += 1

    def nodes(self) -> set[str]:
        """The nodes its pods were bound to."""
        pods = self.core.list_namespaced_pod(self.namespace).items
        return {p.spec.node_name for p in pods if p.spec and p.spec.node_name}

    def __enter__(self) -> Tenant:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def burn_cpu() -> subprocess.Popen[bytes]:
    """A busy machine: one process spinning on a core for the whole test."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(cluster: Cluster, settings: ExecutorSettings, work: list[TaskRef], judge: PodJudge) -> None:
    eng = engine(settings, KubeGateway(cluster.api_client), Ledger())
    InProcessReporter.reported.clear()
    eng.start()
    try:
        for task in work:
            eng.submit(task)
        drive(eng, {t.key for t in work}, timeout=420)
    finally:
        eng.stop()


def test_dedicated_nodes_see_no_unschedulable_pod_on_a_busy_machine(
    cluster: Cluster, namespace: str, tmp_path: Path, pool: tuple[str, list[str]]
) -> None:
    pool_id, _ = pool
    settings = pool_settings(namespace, tmp_path, pool_id)
    work = tasks(namespace)
    huge = ref(
        "admission",
        namespace,
        "huge",
        task_config({}, {"requests": {"cpu": "40"}, "limits": {"memory": "1Gi"}}),
    )
    core = cluster.core_v1()
    tenant_ns = f"{namespace}-tenant"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=tenant_ns)))
    burner = burn_cpu()
    try:
        with PodJudge(core, namespace) as judge, Tenant(core, tenant_ns, pool_id=None) as tenant:
            run(cluster, settings, [huge, *work], judge)
    finally:
        burner.kill()
        core.delete_namespace(tenant_ns)
    assert tenant.created > 0  # the rest of the cluster was busy too
    assert InProcessReporter.reported[huge.ti_id] is FinalState.FAILED
    assert all(InProcessReporter.reported[t.ti_id] is FinalState.SUCCESS for t in work)
    assert judge.unschedulable == set(), f"over-committed: {sorted(judge.unschedulable)}"
    assert judge.peak_cpu >= 12_000, judge.peak_cpu  # busy: >= 12 of the pool's 16 CPUs


def test_a_tenant_racing_for_the_same_nodes_delays_but_never_loses_a_task(
    cluster: Cluster, namespace: str, tmp_path: Path, pool: tuple[str, list[str]]
) -> None:
    """The ledger cannot see a tenant's unbound pods: one of ours may wait, only where the
    tenant's pods were bound meanwhile, and every task still succeeds."""
    pool_id, names = pool
    settings = pool_settings(namespace, tmp_path, pool_id)
    work = tasks(namespace, count=40)
    core = cluster.core_v1()
    tenant_ns = f"{namespace}-tenant"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=tenant_ns)))
    try:
        tenant = Tenant(core, tenant_ns, pool_id, every=1.0, limit=20)
        with PodJudge(core, namespace) as judge, tenant:
            run(cluster, settings, work, judge)
        raced = tenant.nodes()
    finally:
        core.delete_namespace(tenant_ns)
    assert raced and raced <= set(names)  # the tenant's pods did land on the pool
    assert all(InProcessReporter.reported[t.ti_id] is FinalState.SUCCESS for t in work)
    waited_on = {judge.pinned[name] for name in judge.unschedulable}
    assert waited_on <= raced, (sorted(judge.unschedulable), sorted(raced))
    print(f"{len(judge.unschedulable)} of {len(work)} waited for room a tenant took; all ran")
