"""Admission: prepared tasks wait here until the resource ledger says they fit.

Admitter-thread only (:mod:`.admitter`). Each ``next_pass`` takes one snapshot of the ledger
and runs the pure admission plan over the waiting tasks; admitted tasks get their room
reserved in the ledger before their pod is created ("assume, then commit, then roll back":
a failed create releases it). Planning runs only when something changed (the ledger, the
waiting set) or at most every ``replan_seconds`` (aging changes the order over time), so a
quiet admission loop pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kaapana_executor.ledger import admission
from kaapana_executor.ledger.demand import Demand
from kaapana_executor.ledger.ledger import Ledger


@dataclass
class Decision:
    """What one pass decided: start these, fail those (with why), and why the rest wait."""

    admit: list[tuple[Hashable, str]] = field(default_factory=list)  # (task, planned node)
    never: dict[Hashable, str] = field(default_factory=dict)
    waiting: dict[Hashable, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    demand: Demand
    pod: tuple[str, str]


class AdmissionGate:
    """Waiting tasks, their demands, and the reservations made for admitted ones."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float],
        policy: admission.Policy | None = None,
        replan_seconds: float = 5.0,
    ) -> None:
        self.ledger = ledger
        self._clock = clock
        self._policy = policy or admission.Policy()
        self._replan = replan_seconds
        self._waiting: dict[Hashable, _Entry] = {}
        self._changed = True
        self._generation: Any = None
        self._planned_at = float("-inf")
        self.last_waiting: dict[Hashable, str] = {}

    def add(self, key: Hashable, pod: client.V1Pod, priority: int) -> None:
        """Queue a prepared task's pod for admission."""
        demand = Demand.from_pod(pod, priority=priority, arrival=self._clock())
        self._waiting[key] = _Entry(demand, (pod.metadata.namespace, pod.metadata.name))
        self._changed = True

    def discard(self, key: Hashable) -> None:
        """Forget a task (done, revoked, failed to create): no longer waiting, room released."""
        if self._waiting.pop(key, None) is not None:
            self._changed = True
        if self.ledger.release(key):
            self._changed = True

    def __len__(self) -> int:
        return len(self._waiting)

    def queue(self) -> list[admission.Queued[Hashable]]:
        """The waiting tasks in admission order now (read-only, for the status page)."""
        waiting = [admission.Waiting(k, e.demand) for k, e in self._waiting.items()]
        return admission.queue(waiting, self._clock(), self._policy)

    def next_pass(self) -> Decision:
        """One admission pass, if anything could have changed since the last one."""
        now = self._clock()
        if not self._waiting:
            return Decision()
        snapshot = self.ledger.snapshot()
        stale = now - self._planned_at >= self._replan
        if not (self._changed or stale or snapshot.generation != self._generation):
            return Decision()
        waiting = [admission.Waiting(k, e.demand) for k, e in self._waiting.items()]
        plan = admission.plan(waiting, snapshot, now, self._policy)
        decision = Decision(never=dict(plan.never), waiting=dict(plan.waiting))
        for key, node in plan.admit:
            entry = self._waiting.pop(key)
            self.ledger.reserve(key, entry.demand, node, pod=entry.pod)
            decision.admit.append((key, node))
        for key in plan.never:
            self._waiting.pop(key, None)
        self._changed = bool(plan.admit or plan.never)  # admitted room changes the next plan
        self._generation = snapshot.generation
        self._planned_at = now
        self.last_waiting = decision.waiting
        return decision
