"""The engine beyond one launch: ``sync()`` while tracked pods change, memory per tracked task,
and a 10,000-task run from queued to finished.

All three drive the same engine as the table (:func:`~bench.sidebyside.kaapana.running_engine`,
admission on, the in-process reporter). RSS is the process's resident set (``/proc``), read
after a garbage collection, so it includes everything the engine keeps per task: the tracked
record, its log handle, the watcher's and the ledger's view of its pod, heartbeat entries.
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client

from bench.sidebyside import shape
from bench.sidebyside.common import Arrivals, namespace, percentile, scheduler_loop
from bench.sidebyside.kaapana import loop_label, running_engine
from bench.sidebyside.pool import Pool
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.runtime.engine import Engine
from kaapana_executor.runtime.tracked import Outcome
from tests.support.kwok import lifecycle


def rss_mib() -> float:
    """Resident set size of this process, after a collection."""
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _stats(durations: list[float]) -> dict[str, float]:
    return {
        "calls": float(len(durations)),
        "p50_ms": 1000 * percentile(durations, 0.5),
        "p99_ms": 1000 * percentile(durations, 0.99),
        "max_ms": 1000 * max(durations) if durations else float("nan"),
    }


def _settle(eng: Engine, seconds: float) -> None:
    """Let the tracked pods reach Running and every message be applied."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        eng.sync()
        time.sleep(0.05)


class _Retained:
    """What Python objects the engine still holds once the tasks are tracked (tracemalloc),
    as opposed to RSS, which also keeps what a launch allocated and freed."""

    def __init__(self) -> None:
        gc.collect()
        tracemalloc.start()
        self._before = tracemalloc.take_snapshot()

    def per_task(self, tasks: int) -> dict[str, object]:
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        diff = after.compare_to(self._before, "lineno")
        total = sum(stat.size_diff for stat in diff)
        top = {str(stat.traceback[0]): round(stat.size_diff / tasks) for stat in diff[:12]}
        return {"retained bytes per task (tracemalloc)": round(total / tasks), "largest": top}


def churn_and_memory(
    kubeconfig: str, pool: Pool, tracked: int, data: Path, trace: bool = False
) -> dict[str, object]:
    """Track ``tracked`` running pods; RSS growth (and, with ``trace``, what is retained per
    task, by source line); then sync() while every pod is changed (a label patch: one
    MODIFIED event each), once per loop cadence."""
    api = load_api_client(kubeconfig, pool_size=20)
    core = client.CoreV1Api(api)
    result: dict[str, object] = {"tracked": tracked}
    with namespace(api) as ns:
        config = shape.settings(ns, data, pool)
        work = shape.refs(tracked, "churn")
        with running_engine(kubeconfig, config, True) as eng, Arrivals(api, ns) as seen:
            _settle(eng, 2)
            before = rss_mib()
            traced = _Retained() if trace else None
            for ref in work:
                eng.submit(ref)
            scheduler_loop(eng.sync, lambda: len(seen.seen) >= tracked, 0.01, 900)
            _settle(eng, 5)
            after = rss_mib()
            result["rss_mib_before"], result["rss_mib_tracked"] = before, after
            result["rss_mib_per_1000"] = (after - before) / tracked * 1000
            if traced is not None:
                result.update(traced.per_task(tracked))
            for period in (0.01, 1.0):
                result[f"sync while all change, {loop_label(period)}"] = _stats(
                    _during_churn(eng, core, ns, list(seen.seen), period)
                )
    return result


def _during_churn(
    eng: Engine, core: client.CoreV1Api, ns: str, pods: list[str], period: float
) -> list[float]:
    """sync() durations at ``period`` while 8 threads patch every pod once."""
    value = f"touched-{time.monotonic_ns()}"

    def touch(name: str) -> None:
        core.patch_namespaced_pod(name, ns, {"metadata": {"labels": {"bench": value}}})

    def patch_all() -> None:
        with ThreadPoolExecutor(8) as workers:
            list(workers.map(touch, pods))

    patcher = threading.Thread(target=patch_all, daemon=True)
    patcher.start()
    alive: Callable[[], bool] = patcher.is_alive
    durations = scheduler_loop(eng.sync, lambda: not alive(), period, 600)
    durations += scheduler_loop(eng.sync, lambda: False, period, 2 * period + 0.5)  # the tail
    return durations


def scale(kubeconfig: str, pool: Pool, tasks: int, data: Path, period: float) -> dict[str, object]:
    """``tasks`` tasks queued at once, each pod running 20 s: all created, tracked, finished."""
    api = load_api_client(kubeconfig)
    with namespace(api) as ns:
        config = shape.settings(ns, data, pool)
        work = shape.refs(tasks, "scale", lifecycle(run="20s"))
        with running_engine(kubeconfig, config, True) as eng, Arrivals(api, ns) as seen:
            before = rss_mib()
            outcomes: dict[Outcome, int] = {}
            peak = [before]
            handed = [False]

            def tick() -> None:
                if not handed[0]:
                    handed[0] = True
                    for ref in work:
                        eng.submit(ref)
                for _, outcome in eng.sync():
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if len(seen.seen) >= tasks and peak[0] == before:
                    peak[0] = rss_mib()  # once, when every pod exists

            start = time.perf_counter()
            done = lambda: sum(outcomes.values()) >= tasks  # noqa: E731
            durations = scheduler_loop(tick, done, period, 3600)
            finished = time.perf_counter() - start
            created = max(seen.seen.values()) - start if seen.seen else float("nan")
            after = rss_mib()
    return {
        "tasks": tasks,
        "loop": loop_label(period),
        "created": len(seen.seen),
        "all created after s": created,
        "all finished after s": finished,
        "outcomes": {o.name: n for o, n in outcomes.items()},
        "sync": _stats(durations),
        "rss_mib before / all created / all finished": (before, peak[0], after),
    }
