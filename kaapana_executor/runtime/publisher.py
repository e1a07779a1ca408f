"""Publishing the executor's status for the plugin page, on a thread of its own.

Every ``interval`` seconds the engine's immutable pieces (the admitter's queue view, the
ledger's snapshot, counts) are built into the status document and written atomically. Done
off the scheduler thread: building the document for a large cluster is not free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from kaapana_executor.status import StatusSource, publish_status

log = logging.getLogger(__name__)


class StatusPublisher:
    """Publishes ``source()`` to ``path`` every ``interval`` seconds."""

    def __init__(
        self, path: Path | None, interval: float, source: Callable[[], StatusSource]
    ) -> None:
        self._path = path
        self._interval = interval
        self._source = source
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaapana-status", daemon=True)

    def start(self) -> None:
        if self._path is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        assert self._path is not None
        while True:
            try:
                publish_status(self._path, self._source())
            except Exception:  # a status page must never take the executor down
                log.exception("kaapana-executor: publishing the status failed")
            if self._stop.wait(self._interval):
                return
