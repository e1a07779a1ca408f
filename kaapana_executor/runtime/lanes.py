"""Separate thread pools per kind of I/O, so one slow kind never holds up another.

- ``prepare``: the Execution API's ``/run``, the image registry (lookups can take minutes),
  output cleaning;
- ``create``: pod creation against the API server;
- ``finish``: reading logs, reporting final states, deleting pods.

With one shared pool, a slow registry delayed the reporting of finished tasks, and creates
queued behind prepares. Every job runs behind :func:`guard`: one task's failure is reported
for that task and never reaches the scheduler.
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

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> Lanes:
        return cls(
            prepare=ThreadPoolExecutor(settings.prepare_concurrency, "kaapana-prepare"),
            create=ThreadPoolExecutor(settings.create_concurrency, "kaapana-create"),
            finish=ThreadPoolExecutor(settings.finish_concurrency, "kaapana-finish"),
        )

    def shutdown(self, wait: bool) -> None:
        for pool in (self.prepare, self.create, self.finish):
            pool.shutdown(wait=wait, cancel_futures=not wait)


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
