"""Separate thread pools per kind of I/O, so one slow kind never holds up another.

- ``prepare``: the Execution API's ``/run``, the image registry (lookups can take minutes),
  output cleaning;
- ``create``: pod creation against the API server;
- ``finish``: reading logs, reporting final states, deleting pods.

With one shared pool, a slow registry delayed the reporting of finished tasks, and creates
queued behind prepares. Every job runs behind :func:`guard`: one task's failure is reported
for that task and never reaches the scheduler.

New tasks reach the prepare lane through :class:`Handover`: Airflow hands a whole batch over
in one loop, and submitting each one straight to the pool woke a worker per task, so the
scheduler thread finished its hand-over of 500 tasks while eight CPU-bound workers competed
for the GIL (236-468 ms measured). Collected and passed on in one step, the hand-over costs
the scheduler thread a list append per task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kaapana_executor.config import ExecutorSettings

log = logging.getLogger(__name__)


@dataclass
class Lanes:
    """One executor per lane (thread pools; the engine's table tests run jobs by hand)."""

    prepare: Executor
    create: Executor
    finish: Executor
    feeder: Executor | None = None  # passes a hand-over on; None: submit at once (tests)

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> Lanes:
        return cls(
            prepare=ThreadPoolExecutor(settings.prepare_concurrency, "kaapana-prepare"),
            create=ThreadPoolExecutor(settings.create_concurrency, "kaapana-create"),
            finish=ThreadPoolExecutor(settings.finish_concurrency, "kaapana-finish"),
            feeder=ThreadPoolExecutor(1, "kaapana-handover"),
        )

    def shutdown(self, wait: bool) -> None:
        pools = (self.feeder, self.prepare, self.create, self.finish)
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=wait, cancel_futures=not wait)


class Handover:
    """Submissions made on the scheduler thread, passed to the lanes in one step by ``flush``.

    ``add`` only appends; ``flush`` (called at the start of ``sync()``, which Airflow calls
    right after handing tasks over in the same heartbeat) gives the batch to the feeder
    thread, which submits each. Without a feeder, ``add`` submits at once.
    """

    def __init__(self, feeder: Executor | None) -> None:
        self._feeder = feeder
        self._pending: list[Callable[[], None]] = []

    def add(self, start: Callable[[], None]) -> None:
        if self._feeder is None:
            start()
        else:
            self._pending.append(start)

    def flush(self) -> None:
        if self._pending and self._feeder is not None:
            batch, self._pending = self._pending, []
            self._feeder.submit(_start_all, batch)


def _start_all(batch: list[Callable[[], None]]) -> None:
    for start in batch:
        try:
            start()
        except Exception:  # a pool shut down meanwhile: the rest must still be tried
            log.exception("kaapana-executor: handing a task to its lane failed")


def guard(label: str, job: Callable[[], None], on_error: Callable[[Exception], None]) -> None:
    """Run ``job``; an unexpected error is logged and handed to ``on_error`` (per task)."""
    try:
        job()
    except Exception as exc:  # deliberately broad: this is the per-task boundary
        log.exception("kaapana-executor: %s failed", label)
        try:
            on_error(exc)
        except Exception:  # the error path must not take the worker thread down either
            log.exception("kaapana-executor: handling the failure of %s failed", label)


def submit(pool: Executor, label: str, job: Callable[[], None], on_error: Any) -> None:
    """Queue ``job`` on ``pool`` behind :func:`guard`."""
    pool.submit(guard, label, job, on_error)
