"""Publishing the executor's status for the plugin page, on a thread of its own.

Every ``interval`` seconds the engine's parts (ledger snapshot, waiting tasks, counts) are
written to the status file, atomically. Built off the scheduler thread: a snapshot of a large
cluster is not free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from kaapana_executor.status import write_status

log = logging.getLogger(__name__)


class StatusPublisher:
    """Writes ``parts()`` plus a timestamp to ``path`` every ``interval`` seconds."""

    def __init__(
        self, path: Path | None, interval: float, parts: Callable[[], dict[str, object]]
    ) -> None:
        self._path = path
        self._interval = interval
        self._parts = parts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaapana-status", daemon=True)

    def start(self) -> None:
        if self._path is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def publish(self) -> None:
        """Write the status now."""
        assert self._path is not None
        status = {"time": datetime.now(timezone.utc).isoformat(), **self._parts()}
        write_status(self._path, status)

    def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception:  # a status page must never take the executor down
                log.exception("kaapana-executor: publishing the status failed")
            if self._stop.wait(self._interval):
                return
