"""The executor's published status: written by the scheduler, read by the api-server plugin.

A versioned document (``ExecutorStatus``) in a JSON file next to the task logs (both
processes share ``base_log_folder``), replaced atomically, so a reader never sees half a
file. The scheduler thread only takes immutable pieces (``StatusSource.take``: the
admission queue, the ledger's snapshot, the waiting tasks' run ids); building the document
and writing it happen on a worker thread, so a large queue costs the scheduler loop a sort,
not a serialisation.

Resource amounts are in the ledger's units: CPU in millicores, memory and storage in bytes,
pods and extended resources (``nvidia.com/gpu``) as counts.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:  # the api-server reads the document without the ledger's dependencies
    from kaapana_executor.ledger.admission import Queued
    from kaapana_executor.ledger.ledger import Ledger
    from kaapana_executor.ledger.snapshot import NodeState, ReservationState, Snapshot

STATUS_VERSION: Final = 2

Amounts = dict[str, int]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskId(_Model):
    """One task instance try, as Airflow names it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1


class WaitingTask(TaskId):
    """A prepared task waiting for room: what it needs, why it waits, since when, where."""

    position: int = Field(description="place in the admission order; 1 is the head")
    priority: int = Field(description="the task's priority_weight")
    effective_priority: int = Field(description="priority_weight plus aging")
    requests: Amounts
    reason: str | None = Field(description="why it waits; None until the first pass saw it")
    waiting_since: datetime
    waited_seconds: float


class NodeView(_Model):
    """One node: ``free = allocatable - requested - reserved`` (may be negative)."""

    name: str
    labels: dict[str, str] = {}
    taints: list[str] = []
    unschedulable: bool = False
    ready: bool = True
    pressure: list[str] = []
    allocatable: Amounts
    requested: Amounts
    reserved: Amounts
    free: Amounts


class QuotaView(_Model):
    """One ResourceQuota: ``remaining = hard - used - in_flight``."""

    namespace: str
    name: str
    hard: Amounts
    used: Amounts
    in_flight: Amounts
    remaining: Amounts


class ReservationView(_Model):
    """Room held on a node for a pod being created (``creating``) or not bound yet."""

    node: str
    requests: Amounts
    state: Literal["creating", "pending"]
    task: TaskId | None = None  # None: not one of the tracked tasks (or hidden from the reader)


class LedgerView(_Model):
    """The resource ledger: ``synced`` once nodes, pods and quotas were each listed."""

    synced: bool
    generation: int
    nodes: list[NodeView]
    quotas: list[QuotaView]
    reservations: list[ReservationView]


class ExecutorStatus(_Model):
    """What the status page and ``status.json`` show (``version`` changes on breaking edits)."""

    version: Literal[2] = STATUS_VERSION
    published_at: datetime
    tracked: int = Field(description="task instances the executor is responsible for")
    admission: bool = Field(description="resource admission on (a ledger decides launches)")
    waiting: list[WaitingTask] = Field(description="in admission order")
    ledger: LedgerView | None
    hidden_waiting: int = Field(
        0, description="waiting tasks of DAGs the reader may not see (set by the plugin)"
    )


class RunLike(Protocol):
    """What the builder needs of a task's run context (``RunContext``)."""

    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def map_index(self) -> int: ...
    @property
    def try_number(self) -> int: ...


class QueueLike(Protocol):
    """The admission gate, read-only (``AdmissionGate``)."""

    @property
    def last_waiting(self) -> Mapping[Any, str]: ...
    def queue(self) -> Sequence[Queued[Any]]: ...


@dataclass(frozen=True)
class StatusSource:
    """Immutable pieces taken on the scheduler thread; ``build_status`` runs on a worker."""

    runs: Mapping[Any, RunLike]
    queue: Sequence[Queued[Any]] = ()
    reasons: Mapping[Any, str] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    tracked: int | None = None  # None: len(runs)

    @classmethod
    def take(
        cls,
        gate: QueueLike | None,
        runs: Mapping[Any, RunLike],
        ledger: Ledger | None,
        tracked: int | None = None,
    ) -> StatusSource:
        """``runs``: the run context of each task the queue or the reservations name.

        ``gate`` is read as it is: the engine passes the admitter's immutable view of it
        (the gate itself belongs to the admitter's thread).
        """
        return cls(
            runs=runs,
            queue=gate.queue() if gate is not None else (),
            reasons=gate.last_waiting if gate is not None else {},
            snapshot=ledger.snapshot() if ledger is not None else None,
            tracked=tracked,
        )


def _task_id(run: RunLike) -> TaskId:
    return TaskId(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=run.task_id,
        map_index=run.map_index,
        try_number=run.try_number,
    )


def _waiting(source: StatusSource) -> list[WaitingTask]:
    found = []
    for queued in source.queue:
        run = source.runs.get(queued.key)
        if run is None:  # finished between the two reads; the next publish drops it
            continue
        found.append(
            WaitingTask(
                **_task_id(run).model_dump(),
                position=queued.position,
                priority=queued.demand.priority,
                effective_priority=queued.effective_priority,
                requests=queued.demand.requests.as_dict(),
                reason=source.reasons.get(queued.key),
                waiting_since=source.taken_at - timedelta(seconds=queued.waited),
                waited_seconds=round(queued.waited, 1),
            )
        )
    return found


def _node(state: NodeState) -> NodeView:
    info = state.info
    return NodeView(
        name=info.name,
        labels=dict(info.labels),
        taints=[str(t) for t in info.taints],
        unschedulable=info.unschedulable,
        ready=info.ready,
        pressure=list(info.pressure),
        allocatable=info.allocatable.as_dict(),
        requested=state.requested.as_dict(),
        reserved=state.reserved.as_dict(),
        free=state.free.as_dict(),
    )


def _reservation(state: ReservationState, runs: Mapping[Any, RunLike]) -> ReservationView:
    run = runs.get(state.key)
    return ReservationView(
        node=state.node,
        requests=state.requests.as_dict(),
        state="pending" if state.seen else "creating",
        task=_task_id(run) if run is not None else None,
    )


def _ledger(snapshot: Snapshot, runs: Mapping[Any, RunLike]) -> LedgerView:
    return LedgerView(
        synced=snapshot.synced,
        generation=snapshot.generation,
        nodes=[_node(n) for n in snapshot.nodes],
        quotas=[QuotaView(**q.as_dict()) for qs in snapshot.quotas.values() for q in qs],
        reservations=[_reservation(r, runs) for r in snapshot.reservations],
    )


def build_status(source: StatusSource) -> ExecutorStatus:
    """The document from what the scheduler thread took (pure: no I/O)."""
    snapshot = source.snapshot
    return ExecutorStatus(
        published_at=source.taken_at,
        tracked=len(source.runs) if source.tracked is None else source.tracked,
        admission=snapshot is not None,
        waiting=_waiting(source),
        ledger=_ledger(snapshot, source.runs) if snapshot is not None else None,
    )


def status_path(base_log_folder: Path) -> Path:
    """``{base_log_folder}/kaapana_executor/status.json``: both processes share the folder."""
    return base_log_folder / "kaapana_executor" / "status.json"


def write_status(path: Path, status: ExecutorStatus) -> None:
    """Replace the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".status-")
    with os.fdopen(fd, "w") as f:
        f.write(status.model_dump_json())
    os.replace(tmp, path)


def publish_status(path: Path, source: StatusSource) -> None:
    """Build and write (the engine submits this to a worker thread)."""
    write_status(path, build_status(source))


class StatusUnreadable(Exception):
    """The file exists but is not a status document this version understands."""


def read_status(path: Path) -> ExecutorStatus | None:
    """The last published status; None when none was published yet.

    Raises StatusUnreadable (naming the file and the problem) for a broken document or one
    of another version, e.g. while the scheduler and the api-server run different releases.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        found = json.loads(text)
    except ValueError as error:
        raise StatusUnreadable(f"{path}: not JSON: {error}") from error
    version = found.get("version", 1) if isinstance(found, dict) else None
    if version != STATUS_VERSION:
        raise StatusUnreadable(
            f"{path}: a version {version} status document; this kaapana-executor reads "
            f"version {STATUS_VERSION} (do the scheduler and the api-server run one release?)"
        )
    try:
        return ExecutorStatus.model_validate(found)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise StatusUnreadable(f"{path}: {where}: {first['msg']}") from error
