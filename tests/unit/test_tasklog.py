"""The container log the executor keeps: only the container's lines, each once."""

from __future__ import annotations

import json
from pathlib import Path

from kaapana_executor.runtime.tasklog import CONTAINER_LOG_MARK, ContainerLog, TaskLog

GONE = (
    'failed to try resolving symlinks in path "/var/log/pods/ns_p_1/main/0.log": '
    "lstat /var/log/pods/ns_p_1/main/0.log: no such file or directory"
)


def stamped(*pairs: tuple[str, str]) -> str:
    return "".join(f"{stamp} {message}\n" for stamp, message in pairs)


def test_the_kubelet_speaking_instead_of_the_log_is_a_note_not_a_line() -> None:
    log = ContainerLog.parse(stamped(("2026-12-02T07:00:00.1Z", "working")) + GONE + "\n")
    assert log.lines == (("2026-12-02T07:00:00.1Z", "working"),)
    assert log.notes == (GONE,)


def test_a_later_read_adds_only_what_is_new() -> None:
    a = ("2026-12-02T07:00:00Z", "one")
    b = ("2026-12-02T07:00:01Z", "two")
    c = ("2026-12-02T07:00:02Z", "stopping")
    before = ContainerLog.parse(stamped(a, b))
    assert before.then(ContainerLog.parse(stamped(a, b, c))).lines == (a, b, c)
    # the container was removed when stopped: the later read is the kubelet's message only
    gone = before.then(ContainerLog.parse(GONE))
    assert gone.lines == (a, b) and gone.notes == (GONE,)
    # a tail read shorter than what was printed meanwhile: all of it is new
    assert before.then(ContainerLog.parse(stamped(c))).lines == (a, b, c)
    assert ContainerLog().then(before) == before


def test_a_repeated_line_is_matched_at_its_last_occurrence() -> None:
    tick, tock = ("2026-12-02T07:00:00Z", "tick"), ("2026-12-02T07:00:01Z", "tick")
    before = ContainerLog.parse(stamped(tick, tock))
    later = ContainerLog.parse(stamped(tick, tock, ("2026-12-02T07:00:02Z", "done")))
    assert [m for _, m in before.then(later).lines] == ["tick", "tick", "done"]


def test_the_container_log_is_written_once_per_try(tmp_path: Path) -> None:
    task_log = TaskLog(tmp_path / "attempt=1.log")
    output = ContainerLog.parse(stamped(("2026-12-02T07:00:00Z", "hello")))
    task_log.container(output)
    task_log.container(output)  # a replayed finish
    records = [json.loads(line) for line in task_log.path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [r["event"] for r in records] == ["hello", f"{CONTAINER_LOG_MARK} (1 lines)"]
    assert records[0]["timestamp"] == "2026-12-02T07:00:00Z"
    assert records[0]["logger"] == "container"
