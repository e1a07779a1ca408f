"""The published status document: built from a real gate and ledger, written, read, filtered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kaapana_executor.contract.templating import RunContext
from kaapana_executor.ledger import admission
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.plugin.app import visible_to
from kaapana_executor.runtime.gate import AdmissionGate
from kaapana_executor.status import (
    StatusSource,
    StatusUnreadable,
    build_status,
    publish_status,
    read_status,
)
from tests.support.ledger_builders import node, pod

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(task: str, dag: str = "seg", map_index: int = -1) -> RunContext:
    return RunContext(dag_id=dag, run_id="manual__1", task_id=task, map_index=map_index)


def gate_with_queue() -> tuple[AdmissionGate, Ledger, Clock]:
    """cpu-1 (4 CPU) with 1 CPU bound; ``a`` admitted (2 CPU reserved), ``b`` and ``c`` wait."""
    ledger = Ledger()
    ledger.replace_all(
        [node("cpu-1", cpu="4")], [pod("other", requests={"cpu": "1"}, node_name="cpu-1")]
    )
    clock = Clock()
    gate = AdmissionGate(ledger, clock, admission.Policy(aging_seconds=60))
    gate.add("a", pod("a", requests={"cpu": "2"}), priority=9)
    gate.add("b", pod("b", requests={"cpu": "2", "memory": "1Gi"}), priority=1)
    clock.now += 30
    gate.add("c", pod("c", requests={"cpu": "3"}), priority=2)
    gate.next_pass()
    clock.now += 90
    return gate, ledger, clock


RUNS = {"a": run("convert"), "b": run("segment"), "c": run("export", dag="other", map_index=2)}


def test_waiting_tasks_in_admission_order_with_reason_wait_and_priority() -> None:
    gate, _, _ = gate_with_queue()
    status = build_status(StatusSource(RUNS, gate.queue(), gate.last_waiting, None, T0))
    # b: priority 1, waited 120 s -> 3; c: priority 2, waited 90 s -> 3; equal: arrival decides
    assert [(w.task_id, w.position, w.effective_priority) for w in status.waiting] == [
        ("segment", 1, 3),
        ("export", 2, 3),
    ]
    first, second = status.waiting
    # decided 90 s earlier, when c was ahead and held cpu-1's last CPU
    assert first.reason == "needs 2 CPU; the most free eligible node has 0 CPU (cpu-1)"
    assert first.requests == {"cpu": 2000, "memory": 2**30, "pods": 1}
    assert first.waited_seconds == 120.0
    assert first.waiting_since == T0 - timedelta(seconds=120)
    assert (second.dag_id, second.map_index, second.priority) == ("other", 2, 2)


def test_ledger_view_names_the_task_holding_a_reservation() -> None:
    gate, ledger, _ = gate_with_queue()
    status = build_status(StatusSource.take(gate, RUNS, ledger))
    assert status.admission and status.tracked == 3
    assert status.ledger is not None
    (cpu,) = status.ledger.nodes
    assert (cpu.name, cpu.allocatable["cpu"], cpu.requested["cpu"]) == ("cpu-1", 4000, 1000)
    assert cpu.reserved["cpu"] == 2000 and cpu.free["cpu"] == 1000
    (held,) = status.ledger.reservations
    assert (held.node, held.state, held.requests["cpu"]) == ("cpu-1", "creating", 2000)
    assert held.task is not None and held.task.task_id == "convert"


def test_a_task_finished_between_reads_is_left_out() -> None:
    gate, ledger, _ = gate_with_queue()
    runs = {k: v for k, v in RUNS.items() if k != "b"}
    status = build_status(StatusSource.take(gate, runs, ledger))
    assert [w.task_id for w in status.waiting] == ["export"]
    assert status.waiting[0].position == 2  # the place in the whole queue stays true


def test_without_admission_there_is_no_queue_and_no_ledger() -> None:
    status = build_status(StatusSource.take(None, RUNS, None))
    assert (status.admission, status.ledger, status.waiting, status.tracked) == (
        False,
        None,
        [],
        3,
    )


def test_the_queue_is_the_order_plan_uses() -> None:
    """Nothing fits now, so ``plan`` holds room for its head: the queue's position 1."""
    ledger = Ledger()
    ledger.replace_all(
        [node("cpu-1", cpu="2")], [pod("other", requests={"cpu": "1500m"}, node_name="cpu-1")]
    )
    clock = Clock()
    policy = admission.Policy(aging_seconds=10)
    gate = AdmissionGate(ledger, clock, policy)
    gate.add("old-low", pod("x", requests={"cpu": "1"}), priority=1)
    clock.now += 100  # aged ten steps: 11 beats 5
    gate.add("new-high", pod("y", requests={"cpu": "1"}), priority=5)
    queue = gate.queue()
    waiting = [admission.Waiting(q.key, q.demand) for q in queue]
    plan = admission.plan(waiting, ledger.snapshot(), clock.now, policy)
    assert [(q.key, q.position, q.effective_priority) for q in queue] == [
        ("old-low", 1, 11),
        ("new-high", 2, 5),
    ]
    assert plan.held == ("old-low", "cpu-1")


def test_written_then_read_back_and_another_version_is_named(tmp_path: Path) -> None:
    gate, ledger, _ = gate_with_queue()
    path = tmp_path / "kaapana_executor" / "status.json"
    assert read_status(path) is None
    publish_status(path, StatusSource.take(gate, RUNS, ledger))
    read = read_status(path)
    assert read is not None and [w.task_id for w in read.waiting] == ["segment", "export"]
    path.write_text(json.dumps({"time": "x", "tracked": 1, "waiting": {}, "ledger": None}))
    with pytest.raises(StatusUnreadable, match=r"status\.json: a version 1 status document"):
        read_status(path)
    path.write_text(json.dumps({"version": 2, "published_at": "2026-05-01T12:00:00Z"}))
    with pytest.raises(StatusUnreadable, match=r"status\.json: tracked: Field required"):
        read_status(path)


def test_a_reader_sees_only_tasks_of_dags_they_may_read() -> None:
    gate, ledger, _ = gate_with_queue()
    status = build_status(StatusSource.take(gate, RUNS, ledger))
    shown = visible_to(status, {"other"})
    assert [w.task_id for w in shown.waiting] == ["export"]
    assert shown.hidden_waiting == 1
    assert shown.ledger is not None and shown.ledger.reservations[0].task is None  # seg's
    assert shown.ledger.reservations[0].requests["cpu"] == 2000  # the room is still shown
