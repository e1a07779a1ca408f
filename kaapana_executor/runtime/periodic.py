"""A job run every few seconds on a daemon thread of its own, which no failure ends.

The status publisher and the janitor are both this; a failing call is logged and the next one
runs as planned (a status page or a clean-up must never take the executor down).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``job`` at once and then every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, name: str, interval: float, job: Callable[[], object]) -> None:
        self.name = name
        self._interval = interval
        self._job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._job()
            except Exception:  # deliberately broad: see the module docstring
                log.exception("kaapana-executor: %s failed", self.name)
            self._stop.wait(self._interval)
