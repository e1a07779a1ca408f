"""The engine's bookkeeping values: one record per task instance, and what sync reports."""

from __future__ import annotations

from dataclasses import dataclass

from kaapana_executor.k8s.podstate import PodStatus
from kaapana_executor.runtime.refs import TaskRef, TaskReporter
from kaapana_executor.runtime.spec import Launch
from kaapana_executor.runtime.tasklog import TaskLog


class Outcome:
    """What ``sync`` asks the Airflow adapter to do with a key."""

    SUCCESS = "success"  # final state reported (or the try terminated): free the slot
    FAIL = "fail"  # reporting failed: let the scheduler's fallback fail the task
    DROP = "drop"  # never started by us: forget it silently


@dataclass
class Tracked:
    """One task instance the engine is responsible for.

    Owned by the scheduler thread; a worker thread only sets ``reporter`` once, during launch.
    """

    ref: TaskRef
    log: TaskLog
    reporter: TaskReporter | None = None
    pod: str | None = None
    namespace: str | None = None
    memory_limit: str | None = None
    should_retry: bool = False
    status: PodStatus | None = None
    stuck_since: float | None = None
    finishing: bool = False
    launch: Launch | None = None  # prepared, waiting for admission
    waiting_for: str | None = None  # the last reason logged for waiting
