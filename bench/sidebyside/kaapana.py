"""KaapanaExecutor's engine, in-process, launching onto the pool.

The engine is the one production uses (lanes, admitter, watchers, ledger, launch pipeline,
the real gateway and API server); only the Execution API is an in-process reporter, so
Airflow's api-server latency is not counted (tests/support/engine.py). The bench plays the
scheduler: its first loop hands every task over (``submit``, what ``_process_workloads``
does) and calls ``sync()``; every later loop calls ``sync()``. The time each loop spends in
the executor is what the scheduler thread loses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.sidebyside import shape
from bench.sidebyside.common import Arrivals, Run, fill, namespace, scheduler_loop
from bench.sidebyside.pool import Pool
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.launch.identity import pod_name_of
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.runtime.engine import Engine
from tests.support.engine import engine as make_engine


def loop_label(period: float) -> str:
    return f"loop {period:g} s" if period >= 1 else f"loop {period * 1000:g} ms"


@contextmanager
def running_engine(kubeconfig: str, config: ExecutorSettings, admission: bool) -> Iterator[Engine]:
    """A started engine (ledger synced when admission is on), stopped afterwards; it keeps
    task logs in the data directory, as the executor keeps them in Airflow's log folder."""
    pool_size = config.create_concurrency + config.finish_concurrency + 4  # as the executor
    api = load_api_client(kubeconfig, pool_size=pool_size)
    ledger = Ledger() if admission else None
    logs = Path(config.data_root) / "task-logs"  # written as in production
    eng = make_engine(config, KubeGateway(api), ledger, logs)
    eng.start()
    try:
        deadline = time.monotonic() + 120
        while ledger is not None and not ledger.synced and time.monotonic() < deadline:
            time.sleep(0.1)
        yield eng
    finally:
        eng.stop(wait=True)


def run_engine(
    kubeconfig: str,
    pool: Pool,
    tasks: int,
    admission: bool,
    period: float,
    data: Path,
    during: Callable[[], object] | None = None,
) -> Run:
    """Launch ``tasks`` pods through the engine; ``during`` runs once all are submitted
    (the profiler hooks in there)."""
    setting = f"admission {'on' if admission else 'off'}, {loop_label(period)}"
    run = Run("KaapanaExecutor", setting, tasks)
    api = load_api_client(kubeconfig)
    with namespace(api) as ns:
        config = shape.settings(ns, data, pool)
        work = shape.refs(tasks, "exec")
        with running_engine(kubeconfig, config, admission) as eng, Arrivals(api, ns) as seen:
            queued: dict[str, float] = {}
            handed = [False]

            def tick() -> None:
                if not handed[0]:
                    handed[0] = True
                    began = time.perf_counter()
                    for ref in work:
                        queued[pod_name_of(ref.run)] = time.perf_counter()
                        eng.submit(ref)
                    run.handover = time.perf_counter() - began
                    if during is not None:
                        during()
                eng.sync()

            start = time.perf_counter()
            run.syncs = scheduler_loop(tick, lambda: len(seen.seen) >= tasks, period, 900)
        return fill(run, seen, queued, start)
