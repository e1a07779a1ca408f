"""Publishing the executor's status for the plugin page, on a thread of its own.

Every ``interval`` seconds the engine's immutable pieces (the admitter's queue view, the
ledger's snapshot, counts) are built into the status document and written atomically. Done
off the scheduler thread: building the document for a large cluster is not free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kaapana_executor.runtime.periodic import Periodic
from kaapana_executor.status import StatusSource, publish_status


class StatusPublisher:
    """Publishes ``source()`` to ``path`` every ``interval`` seconds (nothing without a path)."""

    def __init__(
        self, path: Path | None, interval: float, source: Callable[[], StatusSource]
    ) -> None:
        self._path = path
        self._loop = Periodic("kaapana-status", interval, self._publish)
        self._source = source

    def start(self) -> None:
        if self._path is not None:
            self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _publish(self) -> None:
        assert self._path is not None
        publish_status(self._path, self._source())
