"""Resource admission on the real cluster: no over-commit, a busy cluster, never-fit fails fast.

The engine runs with everything real (gateway, pod watcher, ledger watchers, spec, pods on the
KWOK nodes, the real kube-scheduler) except the Execution API. The kube-scheduler is the judge:
a pod it cannot place gets ``PodScheduled=False, reason=Unschedulable``; with admission on,
none of ours ever may, although the tasks ask for far more CPU than the nodes have.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.runtime.refs import FinalState
from tests.support.cluster import Cluster
from tests.support.engine import InProcessReporter, PodJudge, drive, engine, ref, task_config
from tests.support.kwok import lifecycle

pytestmark = pytest.mark.cluster


def test_no_overcommit_busy_cluster_and_never_fit(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    settings = ExecutorSettings(namespace=namespace, data_root=str(tmp_path), pod_deletion="always")
    eng = engine(settings, KubeGateway(cluster.api_client), Ledger())
    rng = random.Random(7)
    work = []
    for i in range(60):  # ~3 CPU x 3 s each on average, on 16 schedulable CPUs
        cpu = rng.choice(["1", "2", "4", "6"])
        resources = {"requests": {"cpu": cpu, "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
        annotations = lifecycle(run=rng.choice(["2s", "3s", "4s"]), start_delay="200ms")
        work.append(ref("admission", namespace, f"t{i:02d}", task_config(annotations, resources)))
    huge = ref(
        "admission",
        namespace,
        "huge",
        task_config({}, {"requests": {"cpu": "40"}, "limits": {"memory": "1Gi"}}),
    )
    InProcessReporter.reported.clear()
    with PodJudge(cluster.core_v1(), namespace) as judge:
        eng.start()
        try:
            started = time.monotonic()
            eng.submit(huge)
            for task in work:
                eng.submit(task)
            drive(eng, {t.key for t in [huge, *work]}, timeout=300)
            elapsed = time.monotonic() - started
        finally:
            eng.stop()
    assert InProcessReporter.reported[huge.ti_id] is FinalState.FAILED
    assert all(InProcessReporter.reported[t.ti_id] is FinalState.SUCCESS for t in work)
    assert judge.unschedulable == set(), f"over-committed: {sorted(judge.unschedulable)}"
    # busy: at some moment at least 12 of the 16 CPUs of the untainted nodes ran our pods
    assert judge.peak_cpu >= 12_000, judge.peak_cpu
    print(f"60 tasks in {elapsed:.1f}s, peak {judge.peak_cpu / 1000:.1f} CPU running")
