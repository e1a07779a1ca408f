"""Admission on a thread of its own: prepared pods wait here until the ledger says they fit.

Planning over thousands of waiting tasks takes tens of milliseconds; done in ``sync()`` it held
the scheduler loop. The admitter owns the :class:`~.gate.AdmissionGate`; other threads hand it
candidates and discards through a queue and wake it. It plans when something changed (a new
candidate, a discard, a ledger update) and at least every few seconds (aging), and hands each
admitted pod, pinned to its node, straight to the create lane.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from kaapana_executor.launch.pod import pin_to_node
from kaapana_executor.runtime.gate import AdmissionGate, Decision
from kaapana_executor.runtime.launcher import Creation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitingTask:
    """One task waiting for room, as the status page shows it."""

    key: Hashable
    label: str
    reason: str
    position: int


class Admitter:
    """The admission loop; ``add``/``discard`` from any thread."""

    def __init__(
        self,
        gate: AdmissionGate,
        admitted: Callable[[Creation], None],
        never: Callable[[Creation, str], None],
        poll: float = 0.1,
    ) -> None:
        self.gate = gate
        self._admitted = admitted
        self._never = never
        self._poll = poll
        self._ops: deque[tuple[Hashable, Creation | None]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._waiting: dict[Hashable, Creation] = {}
        self._reasons: dict[Hashable, str] = {}
        self._thread = threading.Thread(target=self._run, name="kaapana-admitter", daemon=True)
        self.view: tuple[WaitingTask, ...] = ()  # replaced after each pass (status page)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def add(self, creation: Creation) -> None:
        """Queue a prepared pod for admission."""
        self._ops.append((creation.job.key, creation))
        self._wake.set()

    def discard(self, key: Hashable) -> None:
        """Forget a task (revoked, done, not created): no longer waiting, its room released."""
        self._ops.append((key, None))
        self._wake.set()

    def __len__(self) -> int:
        return len(self._waiting)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            try:
                self._apply_ops()
                self._act(self.gate.next_pass())
            except Exception:  # the loop must outlive any one bad pass
                log.exception("kaapana-executor: admission pass failed")

    def _apply_ops(self) -> None:
        while self._ops:
            key, creation = self._ops.popleft()
            if creation is None:
                self._waiting.pop(key, None)
                self._reasons.pop(key, None)
                self.gate.discard(key)
            elif not creation.job.ticket.cancelled:
                self._waiting[key] = creation
                self.gate.add(key, creation.launch.pod, creation.job.ref.priority_weight)
                creation.job.log.event("waiting for the resource ledger's admission")

    def _act(self, decision: Decision) -> None:
        for key, node in decision.admit:
            creation = self._waiting.pop(key)
            self._reasons.pop(key, None)
            pin_to_node(creation.launch.pod, node)
            creation.job.log.event(f"admitted: node {node} has room for all requests")
            self._admitted(creation)
        for key, why in decision.never.items():
            self._reasons.pop(key, None)
            self._never(self._waiting.pop(key), f"cannot run on this cluster: {why}")
        for key, reason in decision.waiting.items():
            waiting = self._waiting.get(key)
            if waiting is not None and self._reasons.get(key) != reason:
                self._reasons[key] = reason
                waiting.job.log.event(f"waiting for resources: {reason}")
        if decision.admit or decision.never or decision.waiting:
            self.view = tuple(
                WaitingTask(key, self._waiting[key].job.ref.label, reason, position)
                for position, (key, reason) in enumerate(decision.waiting.items(), 1)
                if key in self._waiting
            )
