"""One thread writes every task log line, in the order the lines were written.

Task log events are written from the scheduler thread too (a pod's status changed, a try was
revoked), and each write opened, appended to and closed a file under a lock the finish lane
also takes while it appends a whole container log: file I/O and lock waits on the thread
Airflow's scheduler loop runs on. Here a write only queues its lines; the writer thread
appends them. Because every writer goes through the one queue, lines reach a file in the
order they were queued, whichever thread queued them. :meth:`LogWriter.settle` waits until
everything queued so far is on disk: the finish lane calls it before a final state is
recorded, since Airflow reads the file once the try is over.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds ``settle`` waits for the writer (local file appends only; a full disk or a hung
#: network file system must not hold a finish lane worker for ever).
SETTLE_TIMEOUT = 60.0

#: Queued writes taken at once: lines of one file among them are appended with one open.
BATCH = 1000

Records = list[dict[str, str]]


@dataclass
class _Write:
    path: Path | None  # None: only a marker for settle
    records: Records = field(default_factory=list)
    unless: Callable[[Path], bool] | None = None  # skip the write when this says so
    done: threading.Event | None = None


class LogWriter:
    """The writer thread (started on first use) and its queue."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Write] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def append(
        self, path: Path, records: Records, unless: Callable[[Path], bool] | None = None
    ) -> None:
        """Queue ``records`` for ``path``; ``unless(path)``, checked just before writing,
        drops them (e.g. a container log already persisted)."""
        self._started()
        self._queue.put(_Write(path, records, unless))

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait until everything queued before this call is written; False on timeout."""
        done = threading.Event()
        self._started()
        self._queue.put(_Write(None, done=done))
        return done.wait(timeout)

    def _started(self) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="kaapana-tasklog", daemon=True)
                    thread.start()
                    self._thread = thread

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:  # what else is queued: written with one open per file
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Write]) -> None:
        """Write ``batch`` in order, coalescing consecutive lines of one file."""
        pending: dict[Path, list[str]] = {}
        for write in batch:
            if write.path is None:  # settle: everything before it is written first
                self._flush(pending)
            elif write.unless is not None:
                self._flush(pending, write.path)
                if not _skip(write):
                    pending[write.path] = [_lines(write.records)]
            else:
                pending.setdefault(write.path, []).append(_lines(write.records))
            if write.done is not None:
                write.done.set()
        self._flush(pending)

    def _flush(self, pending: dict[Path, list[str]], only: Path | None = None) -> None:
        for path in [only] if only is not None else list(pending):
            texts = pending.pop(path, None)
            if texts:
                _append(path, "".join(texts))


def _skip(write: _Write) -> bool:
    """Whether ``write.unless`` drops the write; an unreadable file does not."""
    assert write.path is not None and write.unless is not None
    try:
        return write.unless(write.path)
    except Exception:
        log.exception("kaapana-executor: reading task log %s failed", write.path)
        return False


def _lines(records: Records) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _append(path: Path, text: str) -> None:
    try:
        try:
            handle = path.open("a", encoding="utf-8")
        except FileNotFoundError:  # the try's first line: its directory is new
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a", encoding="utf-8")
        with handle:
            handle.write(text)
    except Exception:  # one unwritable file must not stop every other task's log
        log.exception("kaapana-executor: writing task log %s failed", path)


#: The process's writer: one file system, one ordering for every engine and lane.
WRITER = LogWriter()
atexit.register(WRITER.settle, 5.0)
