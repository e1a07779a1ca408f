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
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from kaapana_executor.contract.templating import RunContext
from kaapana_executor.launch.pod import pin_to_node
from kaapana_executor.ledger.admission import Queued
from kaapana_executor.runtime.gate import AdmissionGate, Decision
from kaapana_executor.runtime.launcher import Creation
from kaapana_executor.runtime.metrics import Metrics, NoMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdmissionView:
    """The queue as the status page shows it: immutable, built on the admitter's thread
    (the gate is not thread-safe), read by the status publisher."""

    queued: tuple[Queued[Hashable], ...] = ()
    last_waiting: Mapping[Hashable, str] = field(default_factory=dict)
    runs: Mapping[Hashable, RunContext] = field(default_factory=dict)  # waiting and admitted

    def queue(self) -> Sequence[Queued[Hashable]]:
        return self.queued


class Admitter:
    """The admission loop; ``add``/``discard`` from any thread."""

    def __init__(
        self,
        gate: AdmissionGate,
        admitted: Callable[[Creation], None],
        never: Callable[[Creation, str], None],
        poll: float = 0.1,
        metrics: Metrics | None = None,
    ) -> None:
        self.gate = gate
        self._metrics = metrics or NoMetrics()
        self._added: dict[Hashable, float] = {}  # when each task began to wait
        self._admitted = admitted
        self._never = never
        self._poll = poll
        self._ops: deque[tuple[Hashable, Creation | None]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._waiting: dict[Hashable, Creation] = {}
        self._reasons: dict[Hashable, str] = {}
        self._runs: dict[Hashable, RunContext] = {}  # waiting or admitted, until discarded
        self._view_wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaapana-admitter", daemon=True)
        self.view = AdmissionView()  # replaced when the status publisher asks

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

    def request_view(self) -> None:
        """Ask for a fresh :attr:`view` (built on the admitter's next iteration)."""
        self._view_wanted.set()
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
                if self._view_wanted.is_set():
                    self._view_wanted.clear()
                    queued = tuple(self.gate.queue())
                    self.view = AdmissionView(
                        queued, dict(self.gate.last_waiting), dict(self._runs)
                    )
            except Exception:  # the loop must outlive any one bad pass
                log.exception("kaapana-executor: admission pass failed")

    def _fresh_view(self) -> AdmissionView:
        queued = tuple(self.gate.queue())
        return AdmissionView(queued, dict(self.gate.last_waiting), dict(self._runs))

    def _apply_ops(self) -> None:
        while self._ops:
            key, creation = self._ops.popleft()
            if creation is None:
                self._added.pop(key, None)
                self._waiting.pop(key, None)
                self._reasons.pop(key, None)
                self._runs.pop(key, None)
                self.gate.discard(key)
            elif not creation.job.ticket.cancelled:
                self._waiting[key] = creation
                self._runs[key] = creation.job.ref.run
                self._added[key] = time.monotonic()
                self.gate.add(key, creation.launch.pod, creation.job.ref.priority_weight)
                creation.job.log.event("waiting for the resource ledger's admission")

    def _act(self, decision: Decision) -> None:
        for key, node in decision.admit:
            creation = self._waiting.pop(key)
            self._reasons.pop(key, None)
            waited = time.monotonic() - self._added.pop(key, time.monotonic())
            self._metrics.timing("admission.wait", waited)
            pin_to_node(creation.launch.pod, node)
            creation.job.log.event(f"admitted: node {node} has room for all requests")
            self._admitted(creation)
        for key, why in decision.never.items():
            self._reasons.pop(key, None)
            self._runs.pop(key, None)
            self._never(self._waiting.pop(key), f"cannot run on this cluster: {why}")
        if decision.admit or decision.never or decision.waiting:
            self._metrics.gauge("admission.waiting", len(self._waiting))
        for key, reason in decision.waiting.items():
            waiting = self._waiting.get(key)
            if waiting is not None and self._reasons.get(key) != reason:
                self._reasons[key] = reason
                waiting.job.log.event(f"waiting for resources: {reason}")
