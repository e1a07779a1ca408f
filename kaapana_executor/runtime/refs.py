"""Small values the runtime passes around: what a queued task is, and what reporting returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from kaapana_executor.contract.templating import RunContext

#: Key under which a task's contract travels in Airflow's ``executor_config``.
EXECUTOR_CONFIG_KEY = "kaapana"


@dataclass(frozen=True)
class TaskRef:
    """One queued task instance, parsed from Airflow's workload at the boundary."""

    key: Any  # Airflow's TaskInstanceKey, kept as-is for event-buffer calls
    ti_id: str
    token: str
    run: RunContext
    executor_config: dict[str, Any] = field(default_factory=dict, hash=False)
    log_path: str | None = None
    priority_weight: int = 1
    dag_version_id: str | None = None  # the DAG version the try runs (for upstream checks)

    @property
    def label(self) -> str:
        """``dag.task[map]#try run`` for log lines."""
        index = f"[{self.run.map_index}]" if self.run.map_index >= 0 else ""
        return (
            f"{self.run.dag_id}.{self.run.task_id}{index}#{self.run.try_number} ({self.run.run_id})"
        )


class FinalState(str, enum.Enum):
    """States the executor reports through the Execution API."""

    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    SKIPPED = "skipped"


class ReportRejected(Exception):
    """The Execution API refused a call: the task instance is no longer ours to report."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status

    @property
    def cleared(self) -> bool:
        """410: the task was cleared (restarted) and has a new id."""
        return self.status == 410

    @property
    def why(self) -> str:
        """A sentence for the log."""
        return {
            404: "the task instance no longer exists",
            409: "the task instance was marked by a user or is no longer running",
            410: "the task instance was cleared",
        }.get(self.status, f"the Execution API rejected the call ({self})")


@dataclass(frozen=True)
class StartContext:
    """What ``/run`` tells us: the run's conf (user input) and whether a failure may retry."""

    conf: dict[str, Any]
    should_retry: bool
    max_tries: int


class TaskReporter(Protocol):
    """Reports one task instance's lifecycle to Airflow (the Execution API in Airflow 3)."""

    def start(self) -> StartContext:
        """Mark the task running; raises ReportRejected when it is not queued any more."""

    def heartbeat(self) -> None:
        """Keep the task alive; raises ReportRejected when it was cleared or marked."""

    def finish(self, state: FinalState, reason: str) -> None:
        """Report the final state."""

    def close(self) -> None:
        """Release connections."""
