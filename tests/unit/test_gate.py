"""The executor's admission gate over a real Ledger: reserve on admit, release on discard."""

from __future__ import annotations

from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.runtime.gate import AdmissionGate
from tests.support.ledger_builders import node, pod


class Clock:
    """A settable clock (time is an input of the plan: aging)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def synced_ledger() -> Ledger:
    ledger = Ledger()
    ledger.replace_all(
        [node("cpu-1", cpu="4")], [pod("other", requests={"cpu": "1"}, node_name="cpu-1")]
    )
    return ledger


def test_admits_what_fits_and_reserves_it() -> None:
    ledger = synced_ledger()
    gate = AdmissionGate(ledger, Clock())
    gate.add("a", pod("a", requests={"cpu": "2"}), priority=1)
    gate.add("b", pod("b", requests={"cpu": "2"}), priority=1)
    decision = gate.next_pass()
    assert decision.admit == [("a", "cpu-1")]
    assert decision.waiting == {"b": decision.waiting["b"]}
    assert "needs 2 CPU" in decision.waiting["b"]
    assert ledger.is_reserved("a")
    assert len(gate) == 1


def test_never_fits_is_reported_once_and_removed() -> None:
    gate = AdmissionGate(synced_ledger(), Clock())
    gate.add("huge", pod("huge", requests={"cpu": "40"}), priority=1)
    decision = gate.next_pass()
    assert decision.admit == []
    assert "needs 40 CPU; the largest eligible node has 4 CPU (cpu-1)" in decision.never["huge"]
    assert len(gate) == 0


def test_discard_releases_room_for_the_next() -> None:
    ledger = synced_ledger()
    clock = Clock()
    gate = AdmissionGate(ledger, clock)
    gate.add("a", pod("a", requests={"cpu": "3"}), priority=1)
    assert gate.next_pass().admit == [("a", "cpu-1")]
    gate.add("b", pod("b", requests={"cpu": "3"}), priority=1)
    assert gate.next_pass().admit == []
    gate.discard("a")  # e.g. the create failed: the reservation is rolled back
    assert not ledger.is_reserved("a")
    assert gate.next_pass().admit == [("b", "cpu-1")]


def test_quiet_gate_does_not_replan() -> None:
    clock = Clock()
    gate = AdmissionGate(synced_ledger(), clock, replan_seconds=5)
    gate.add("c", pod("c", requests={"cpu": "4"}), priority=1)  # 3 of 4 CPU are free
    assert gate.next_pass().waiting  # something changed: planned again
    assert gate.next_pass().waiting == {}  # nothing changed: no pass
    clock.now = 6
    assert gate.next_pass().waiting  # stale: planned again (aging may reorder)


def test_not_synced_ledger_admits_nothing() -> None:
    gate = AdmissionGate(Ledger(), Clock())
    gate.add("a", pod("a", requests={"cpu": "1"}), priority=1)
    decision = gate.next_pass()
    assert decision.admit == []
    assert "first list" in decision.waiting["a"]
