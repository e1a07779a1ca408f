"""The engine's bookkeeping values: one record per task instance, and what sync reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kaapana_executor.k8s.podstate import PodStatus
from kaapana_executor.runtime.refs import TaskRef, TaskReporter
from kaapana_executor.runtime.tasklog import TaskLog
from kaapana_executor.runtime.ticket import LaunchTicket


class Outcome(enum.Enum):
    """How a task instance left the engine; the Airflow adapter turns it into an event."""

    SUCCEEDED = "succeeded"  # success (or skip) recorded through the Execution API
    FAILED = "failed"  # failure or retry recorded through the Execution API
    ENDED = "ended"  # Airflow ended the try itself (cleared or marked): nothing to record
    UNREPORTED = "unreported"  # the final state could not be recorded: Airflow's fallback fails it
    DROPPED = "dropped"  # never started by this executor (it was not queued any more)


@dataclass(frozen=True)
class Launched:
    """What a launch produced that the rest of the try needs, kept once."""

    namespace: str
    memory_limit: str | None = None
    execution_timeout: float | None = None  # seconds; the kubelet enforces it, we back it up
    startup_timeout: float | None = None  # seconds from creation to running


@dataclass(eq=False)
class Tracked:
    """One task instance the engine is responsible for; owned by the scheduler thread."""

    ref: TaskRef
    log: TaskLog
    pod: str  # deterministic per try: known before the pod exists
    ticket: LaunchTicket
    reporter: TaskReporter | None = None  # set once, when Airflow marked the task running
    should_retry: bool = False
    launched: Launched | None = None  # set once, when the pod was resolved
    status: PodStatus | None = None
    stuck_since: float | None = None
    finishing: bool = False
    submitted_at: float = 0.0  # engine clock, for the launch latency metrics
    created_at: float | None = None

    @property
    def namespace(self) -> str | None:
        return self.launched.namespace if self.launched else None
