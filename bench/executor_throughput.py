"""Executor benchmark on the local cluster: pod creation rate, queued→created latency, sync().

Run: ``scripts/cluster up && .venv/bin/python -m bench.executor_throughput [--tasks 500]``.

(a) Create throughput: N task instances handed to the engine at once vs. a plain sequential
    loop of ``create_namespaced_pod`` with the same pods, in the same run (ratio, not absolute
    numbers: these machines are noisy). The engine does everything it does in production
    (templating, merge, ScaleRules, pod building, output cleaning, creation with retries)
    except the Execution API call, which is replaced by an in-process reporter so that Airflow's
    own latency is not counted.
(b) ``sync()`` cost: with M running pods tracked (pods that never finish) while their status
    changes stream in through the real watch (every pod is patched), the p50/p99 duration of
    ``sync()`` — the only executor code on the scheduler loop.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.launch.policy import LaunchPolicy
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.refs import TaskRef
from tests.support.engine import DUMMY, task_config
from tests.support.engine import engine as make_engine

REPO = Path(__file__).resolve().parents[1]


class TimedGateway(KubeGateway):
    """The real gateway, noting when each create returned."""

    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(api)
        self.created: dict[str, float] = {}
        self._lock = threading.Lock()

    def create_pod(
        self, pod: client.V1Pod, owner_key: str, stale_wait: float = 60.0
    ) -> client.V1Pod:
        result = super().create_pod(pod, owner_key, stale_wait)
        with self._lock:
            self.created[pod.metadata.annotations[labels.ANN_TASK_ID]] = time.perf_counter()
        return result


def refs(count: int, run_id: str, annotations: dict[str, str]) -> list[TaskRef]:
    config = task_config(annotations)
    return [
        TaskRef(
            key=("bench", f"t{i}", run_id),
            ti_id=f"ti-{i}",
            token="",
            executor_config=config,
            run=RunContext("bench", run_id, f"t{i}"),
        )
        for i in range(count)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def raw_loop(api: client.ApiClient, namespace: str, pods: list[client.V1Pod]) -> float:
    """Pods per second of a plain sequential create loop."""
    core = client.CoreV1Api(api)
    start = time.perf_counter()
    for pod in pods:
        core.create_namespaced_pod(namespace, pod)
    return len(pods) / (time.perf_counter() - start)


def until(predicate: Callable[[], bool], timeout: float, tick: Callable[[], object]) -> None:
    """Run ``tick`` (the scheduler loop's sync) every 10 ms until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        tick()
        time.sleep(0.01)


def bench_create(kubeconfig: str, count: int, data: Path) -> dict[str, float]:
    api = load_api_client(kubeconfig)
    core = client.CoreV1Api(api)
    raw_ns, exec_ns = (f"bench-{secrets.token_hex(3)}" for _ in range(2))
    for ns in (raw_ns, exec_ns):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        settings = ExecutorSettings(namespace=exec_ns, data_root=str(data), pod_deletion="never")
        gateway = TimedGateway(api)
        raw_settings = settings.model_copy(update={"namespace": raw_ns})
        built = [
            spec.resolve_task(
                r, {}, LaunchPolicy.from_settings(raw_settings), lambda *_: DUMMY, lambda *a: None
            ).pod
            for r in refs(count, "raw", {})
        ]
        raw_rate = raw_loop(api, raw_ns, built)
        engine = make_engine(settings, gateway, None)
        engine.start()
        work = refs(count, "exec", {})
        submitted = {}
        start = time.perf_counter()
        for ref in work:
            submitted[ref.run.task_id] = time.perf_counter()
            engine.submit(ref)
        until(lambda: len(gateway.created) == count, 600, tick=engine.sync)
        elapsed = max(gateway.created.values()) - start
        latencies = [gateway.created[t] - submitted[t] for t in submitted]
        engine.stop(wait=False)
        exec_rate = count / elapsed
        return {
            "raw_pods_per_s": raw_rate,
            "executor_pods_per_s": exec_rate,
            "ratio": exec_rate / raw_rate,
            "queued_to_created_p50_ms": 1000 * statistics.median(latencies),
            "queued_to_created_p99_ms": 1000 * percentile(latencies, 0.99),
        }
    finally:
        for ns in (raw_ns, exec_ns):
            core.delete_namespace(ns)


def bench_sync(kubeconfig: str, count: int, data: Path) -> dict[str, float]:
    api = load_api_client(kubeconfig)
    core = client.CoreV1Api(api)
    ns = f"bench-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        settings = ExecutorSettings(namespace=ns, data_root=str(data), unschedulable_timeout=3600)
        gateway = TimedGateway(api)
        engine = make_engine(settings, gateway, None)
        engine.start()
        work = refs(count, "sync", {"kwok.kaapana.io/never-finish": "true"})
        for ref in work:
            engine.submit(ref)
        until(lambda: len(gateway.created) == count, 900, tick=engine.sync)
        durations: list[float] = []
        engine.sync()  # absorb the launches
        patcher = threading.Thread(target=_churn, args=(core, ns, [r for r in work]), daemon=True)
        patcher.start()
        while patcher.is_alive() or not durations:
            t0 = time.perf_counter()
            engine.sync()
            durations.append(time.perf_counter() - t0)
            time.sleep(0.001)
        engine.stop(wait=False)
        return {
            "tracked_pods": float(len(engine.tracked_keys())),
            "sync_calls": float(len(durations)),
            "sync_p50_ms": 1000 * statistics.median(durations),
            "sync_p99_ms": 1000 * percentile(durations, 0.99),
            "sync_max_ms": 1000 * max(durations),
        }
    finally:
        core.delete_namespace(ns)


def _churn(core: client.CoreV1Api, namespace: str, work: list[TaskRef]) -> None:
    """Change every pod once (a label), so each produces a MODIFIED watch event."""
    from kaapana_executor.k8s.names import pod_name

    for ref in work:
        run = ref.run
        name = pod_name(run.dag_id, run.task_id, run.run_id, run.map_index, run.try_number)
        core.patch_namespaced_pod(name, namespace, {"metadata": {"labels": {"bench": "touched"}}})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--tracked", type=int, default=1000)
    args = parser.parse_args()
    env = json.loads(
        subprocess.run(
            [str(REPO / "scripts/cluster"), "env", "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    with tempfile.TemporaryDirectory() as data:
        created = bench_create(env["KUBECONFIG"], args.tasks, Path(data))
        synced = bench_sync(env["KUBECONFIG"], args.tracked, Path(data))
    for name, value in {**created, **synced}.items():
        print(f"{name:28} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
