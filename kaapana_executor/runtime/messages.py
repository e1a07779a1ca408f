"""What the worker threads tell the scheduler thread: small frozen values, one type each.

Workers never touch the engine's state; they post one of these, and ``Engine.sync`` applies
it with a ``match``. Pod events arrive already classified (the watch thread reads the V1Pod),
so no Kubernetes object crosses the queue.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from kaapana_executor.k8s.podstate import PodStatus
from kaapana_executor.runtime.refs import TaskReporter
from kaapana_executor.runtime.tracked import Launched, Outcome


@dataclass(frozen=True)
class Started:
    """Airflow marked the task running (``/run``); from now on it is heartbeated."""

    key: Hashable
    reporter: TaskReporter
    should_retry: bool


@dataclass(frozen=True)
class NotStarted:
    """``/run`` refused the task (not queued any more): it was never ours."""

    key: Hashable
    why: str


@dataclass(frozen=True)
class Prepared:
    """The task resolved into a pod and its outputs were cleaned; creation follows."""

    key: Hashable
    launched: Launched


@dataclass(frozen=True)
class Created:
    """The pod exists on the API server."""

    key: Hashable


@dataclass(frozen=True)
class Finished:
    """The try is over and everything after it was done (log, state, pod)."""

    key: Hashable
    outcome: Outcome


@dataclass(frozen=True)
class TryEnded:
    """A heartbeat was refused: a user cleared or marked the task while it ran."""

    key: Hashable
    why: str


@dataclass(frozen=True)
class PodChanged:
    """A pod of this executor was observed (classified on the watch thread)."""

    name: str
    namespace: str
    ti_id: str | None
    status: PodStatus


@dataclass(frozen=True)
class PodGone:
    """A pod of this executor was deleted."""

    name: str
    ti_id: str | None


Message = Started | NotStarted | Prepared | Created | Finished | TryEnded | PodChanged | PodGone
