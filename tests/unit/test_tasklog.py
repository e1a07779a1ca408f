"""The container log the executor keeps: only the container's lines, each once."""

from __future__ import annotations

import json
import threading
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
    task_log.settle()
    records = [json.loads(line) for line in task_log.path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [r["event"] for r in records] == ["hello", f"{CONTAINER_LOG_MARK} (1 lines)"]
    assert records[0]["timestamp"] == "2026-12-02T07:00:00Z"
    assert records[0]["logger"] == "container"


def test_lines_from_several_threads_reach_the_file_in_the_order_they_were_written(
    tmp_path: Path,
) -> None:
    """The scheduler thread and the lanes write through one queue: whoever wrote first is
    first in the file, and settle() means everything written so far is on disk."""
    task_log = TaskLog(tmp_path / "dag_id=d" / "attempt=1.log")
    order: list[str] = []
    lock = threading.Lock()

    def write(who: str) -> None:
        for i in range(200):
            with lock:  # the order of the calls is the order the file must show
                message = f"{who} {i}"
                order.append(message)
                task_log.event(message)

    workers = [threading.Thread(target=write, args=(name,)) for name in ("a", "b", "c")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    task_log.settle()
    assert task_log.path is not None
    events = [json.loads(line)["event"] for line in task_log.path.read_text().splitlines()]
    assert events == order


def test_an_unwritable_log_loses_only_its_own_lines(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    broken = TaskLog(blocked / "attempt=1.log")
    fine = TaskLog(tmp_path / "ok" / "attempt=1.log")
    broken.event("lost")
    fine.event("kept")
    fine.settle()
    assert fine.path is not None
    assert [json.loads(line)["event"] for line in fine.path.read_text().splitlines()] == ["kept"]
