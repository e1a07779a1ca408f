"""The side-by-side table: every setting in every repetition, medians and ratios per run.

Settings run interleaved (one of each per repetition), so the machine's noise (a test suite
runs beside us) spreads over all of them; each ratio is taken against the ceiling measured in
the same repetition, then the median over repetitions is shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.sidebyside.ceiling import run_ceiling
from bench.sidebyside.common import Run, median
from bench.sidebyside.kaapana import run_engine
from bench.sidebyside.kubeexec import run_kubernetes_executor
from bench.sidebyside.pool import Pool

#: The concurrent plain-client rate every ratio is taken against.
CEILING_THREADS = 16


@dataclass(frozen=True)
class Options:
    kubeconfig: str
    pool: Pool
    tasks: int
    data: Path
    budget: float  # seconds a KubernetesExecutor setting may take before it is cut short
    kexec_concurrency: int = 16


Setting = Callable[[Options], Run]


def settings() -> list[Setting]:
    """The rows of the table, in the order they run and print."""
    rows: list[Setting] = [
        lambda o: run_ceiling(o.kubeconfig, o.pool, o.tasks, 1, o.data),
        lambda o: run_ceiling(o.kubeconfig, o.pool, o.tasks, CEILING_THREADS, o.data),
    ]
    for admission in (True, False):
        for period in (1.0, 0.01):
            rows.append(_engine(admission, period))
    for batch, concurrency, period in (
        (1, None, 1.0),  # its defaults
        (1, None, 0.01),
        (500, None, 1.0),
        (500, 16, 1.0),  # its best tuning: a batch per loop, created concurrently
        (500, 16, 0.01),
    ):
        rows.append(_kexec(batch, concurrency, period))
    return rows


def _engine(admission: bool, period: float) -> Setting:
    return lambda o: run_engine(o.kubeconfig, o.pool, o.tasks, admission, period, o.data)


def _kexec(batch: int, concurrency: int | None, period: float) -> Setting:
    def run(o: Options) -> Run:
        conc = None if concurrency is None else o.kexec_concurrency
        return run_kubernetes_executor(
            o.kubeconfig, o.pool, o.tasks, period, o.data, batch, conc, o.budget
        )

    return run


def measure(options: Options, repetitions: int, progress: Callable[[str], None]) -> list[list[Run]]:
    """``repetitions`` rounds of every setting; result[row][repetition]."""
    rows = settings()
    results: list[list[Run]] = [[] for _ in rows]
    for rep in range(repetitions):
        for i, setting in enumerate(rows):
            run = setting(options)
            results[i].append(run)
            progress(
                f"rep {rep + 1}/{repetitions}: {run.system} | {run.setting}: "
                f"{run.created}/{run.tasks} pods, {run.rate:.1f} pods/s {run.note}"
            )
    return results


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    ms = seconds * 1000
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def render(results: Sequence[Sequence[Run]]) -> str:
    """The markdown table: medians over repetitions, ratios against the same repetition's
    16-thread ceiling. ``sync()`` is the time each scheduler loop spent in the executor: for
    KaapanaExecutor ``submit`` of the newly queued tasks plus ``sync()``, for
    KubernetesExecutor ``heartbeat()`` (``trigger_tasks`` plus ``sync()``, where it creates its
    pods); "hand-over" is the submit loop, or the time in ``trigger_tasks``."""
    ceiling = results[1]
    lines = [
        "| system | setting | pods/s | ratio to ceiling | queued→created p99 | "
        "sync() p50 / p99 / max (ms) | of which hand-over (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for runs in results:
        first = runs[0]
        stats = [r.summary() for r in runs]
        ratios = [r.rate / c.rate for r, c in zip(runs, ceiling, strict=True)]

        def pick(key: str, stats: list[dict[str, float]] = stats) -> float:
            return median([s[key] for s in stats])

        p99 = f"{pick('p99'):.2f} s"
        if any(r.created < r.tasks for r in runs):
            p99 = f"– ({first.note})"
        syncs = " / ".join(_ms(pick(k)) for k in ("sync_p50", "sync_p99", "sync_max"))
        if not first.syncs:
            syncs = "–"
        lines.append(
            f"| {first.system} | {first.setting} | {pick('rate'):.1f} | "
            f"{median(ratios):.2f} | {p99} | {syncs} | {_ms(pick('handover'))} |"
        )
    return "\n".join(lines)
