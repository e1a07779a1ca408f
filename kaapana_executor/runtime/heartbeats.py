"""Heartbeats for every running task, on their own threads.

Airflow fails a running task whose heartbeat is older than ``task_instance_heartbeat_timeout``
(300 s by default), so every task the executor has started is heartbeated every
``heartbeat_interval`` seconds until its final state is reported — also while it waits for
resources or for its pod. A ticker hands each round to a small pool, so one slow call does not
delay the others and a round over thousands of tasks takes interval-sized time, not their sum.
A refused heartbeat (the task was cleared or marked) is handed to ``on_rejected``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor, wait

from kaapana_executor.runtime.refs import ReportRejected, TaskReporter

log = logging.getLogger(__name__)


class Heartbeats:
    """The registry of running tasks' reporters and the ticker that beats them."""

    def __init__(
        self,
        interval: float,
        concurrency: int,
        on_rejected: Callable[[Hashable, ReportRejected], None],
    ) -> None:
        self._interval = interval
        self._on_rejected = on_rejected
        self._beating: dict[Hashable, TaskReporter] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(concurrency, "kaapana-heartbeat")
        self._thread = threading.Thread(target=self._run, name="kaapana-heartbeats", daemon=True)
        self.rounds: list[float] = []  # seconds each recent round took (bounded)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_for_calls: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait_for_calls, cancel_futures=True)

    def add(self, key: Hashable, reporter: TaskReporter) -> None:
        with self._lock:
            self._beating[key] = reporter

    def remove(self, key: Hashable) -> None:
        with self._lock:
            self._beating.pop(key, None)

    def __len__(self) -> int:
        return len(self._beating)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.round()

    def round(self) -> None:
        """Heartbeat every registered task once, concurrently; returns when all answered."""
        with self._lock:
            beating = list(self._beating.items())
        started = time.monotonic()
        futures = [self._pool.submit(self._beat, key, reporter) for key, reporter in beating]
        wait(futures)
        self.rounds = [*self.rounds[-99:], time.monotonic() - started]

    def _beat(self, key: Hashable, reporter: TaskReporter) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            if self._beating.get(key) is not reporter:
                return  # finished since the round began: nothing to keep alive
        try:
            reporter.heartbeat()
        except ReportRejected as exc:
            self._on_rejected(key, exc)
        except Exception:  # transient (network, api-server restart): the next round retries
            log.warning("heartbeat failed for %s", key, exc_info=True)
