"""Writing a task's log file: executor events and, before the final state, the container log.

Airflow's api-server reads ``{base_log_folder}/{log_path}`` once the task is done (and merges
it with the live pod log while it runs), so everything written here stays readable after the
pod is gone. Lines are JSON objects like the task runner writes (timestamp, level, event).
Writing only queues them for :mod:`.logwriter`'s thread (the scheduler thread writes events
too); :meth:`TaskLog.settle` waits until they are on disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kaapana_executor.runtime.logwriter import WRITER

_CRI_TIMESTAMP = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?(.*)$"
)

#: Written after a try's container log; a replayed finish (a restarted scheduler finishing the
#: same try again) sees it and does not append the container's output a second time.
CONTAINER_LOG_MARK = "kaapana-executor: container log persisted"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class ContainerLog:
    """A container's log as read with ``timestamps=True``.

    Every line the container printed comes with the kubelet's timestamp; a line without one is
    the kubelet speaking instead (``failed to try resolving symlinks in path ...0.log`` once the
    container is removed, ``unable to retrieve container logs``), sent as if it were the log.
    Those go to ``notes`` and never pass for the container's output.
    """

    lines: tuple[tuple[str, str], ...] = ()  # (timestamp, message)
    notes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ContainerLog:
        lines, notes = [], []
        for line in text.splitlines():
            match = _CRI_TIMESTAMP.match(line)
            if match:
                lines.append((match.group(1), match.group(2)))
            elif line.strip():
                notes.append(line.strip())
        return cls(tuple(lines), tuple(notes))

    def then(self, later: ContainerLog) -> ContainerLog:
        """This log followed by what a later read of the same container holds beyond it.

        The container only appends: the later read's lines after this one's last line are
        new. Without that line in it (more new lines than the tail read), all of it is new.
        """
        if not self.lines:
            return later
        last = self.lines[-1]
        newer = later.lines
        if last in newer:
            newer = newer[len(newer) - newer[::-1].index(last) :]
        return ContainerLog(self.lines + newer, self.notes + later.notes)


class TaskLog:
    """Appends to one task try's log file; safe to use from several threads, never blocks
    on the file (see :mod:`.logwriter`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _write(self, records: list[dict[str, str]], once: bool = False) -> None:
        if self.path is not None and records:
            WRITER.append(self.path, records, _has_container_log if once else None)

    def settle(self) -> None:
        """Wait until every line written so far (by any thread) is in the file."""
        if self.path is not None:
            WRITER.settle()

    def event(self, message: str, level: str = "info") -> None:
        """An executor event: what it did or waits for."""
        self._write(
            [{"timestamp": _now(), "level": level, "event": message, "logger": "kaapana_executor"}]
        )

    def container(self, output: ContainerLog) -> None:
        """The container's output as read from the pod, once per try (a replayed finish
        finds the mark of the first one in the file and writes nothing)."""
        records = [
            {"timestamp": stamp, "level": "info", "event": message, "logger": "container"}
            for stamp, message in output.lines
        ]
        mark = f"{CONTAINER_LOG_MARK} ({len(records)} lines)"
        records.append(
            {"timestamp": _now(), "level": "info", "event": mark, "logger": "kaapana_executor"}
        )
        self._write(records, once=True)


def _has_container_log(path: Path) -> bool:
    """Whether the container log was persisted to ``path`` already (on the writer thread)."""
    if not path.exists():
        return False
    with path.open(encoding="utf-8", errors="replace") as f:
        return any(CONTAINER_LOG_MARK in line for line in f)


def container_lines(text: str) -> list[str]:
    """Live pod log lines for ``get_task_log``, timestamps kept for interleaving."""
    return [line for line in text.splitlines() if line]
