"""What a pod's status means for its task: a pure, table-driven classification.

The watcher hands every observed pod to :func:`classify`; the tracker decides what to do with
the result (timeouts for waiting states, the final Airflow state). No ``if/elif`` ladder over
phases: terminated reasons and waiting reasons are looked up in tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from kubernetes import client

#: Kaapana's convention: a processing container exits 126 to say "skip this task".
SKIP_EXIT_CODE = 126


class PodPhase(str, enum.Enum):
    """A task-level reading of a pod's status."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    OOM_KILLED = "oom_killed"
    IMAGE_PULL_ERROR = "image_pull_error"
    CONFIG_ERROR = "config_error"
    UNSCHEDULABLE = "unschedulable"
    TIMED_OUT = "timed_out"  # ran past its execution timeout (DeadlineExceeded)
    NOT_STARTED = "not_started"  # not running within its startup timeout (the executor's)
    LOST = "lost"  # being deleted, but its node never confirms (kubelet stopped, node gone)
    GONE = "gone"

    @property
    def terminal(self) -> bool:
        """The container will not run (again) in this pod."""
        return self in _TERMINAL

    @property
    def stuck(self) -> bool:
        """Pending for a reason that will not fix itself quickly; judged after a grace time."""
        return self in _STUCK


_TERMINAL = {
    PodPhase.SUCCEEDED,
    PodPhase.FAILED,
    PodPhase.SKIPPED,
    PodPhase.OOM_KILLED,
    PodPhase.TIMED_OUT,
    PodPhase.NOT_STARTED,
    PodPhase.LOST,
    PodPhase.GONE,
}
_STUCK = {PodPhase.IMAGE_PULL_ERROR, PodPhase.CONFIG_ERROR, PodPhase.UNSCHEDULABLE}

_WAITING_REASONS = {
    "ErrImagePull": PodPhase.IMAGE_PULL_ERROR,
    "ImagePullBackOff": PodPhase.IMAGE_PULL_ERROR,
    "InvalidImageName": PodPhase.IMAGE_PULL_ERROR,
    "ErrImageNeverPull": PodPhase.IMAGE_PULL_ERROR,
    "CreateContainerConfigError": PodPhase.CONFIG_ERROR,
    "CreateContainerError": PodPhase.CONFIG_ERROR,
}


@dataclass(frozen=True)
class PodStatus:
    """The classification of one observation of a pod."""

    phase: PodPhase
    reason: str = ""
    exit_code: int | None = None
    node: str | None = None
    deleting: bool = False  # a deletion was requested and the pod has not stopped yet

    def describe(self) -> str:
        """One human sentence for the task log."""
        parts = [self.phase.value.replace("_", " ")]
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.reason:
            parts.append(self.reason)
        return ", ".join(parts)


def _terminated(state: Any) -> PodStatus:
    code = int(state.exit_code)
    reason = state.reason or ""
    message = f"{reason}: {state.message}" if state.message else reason
    if reason == "OOMKilled":
        return PodStatus(PodPhase.OOM_KILLED, message, code)
    if code == 0:
        return PodStatus(PodPhase.SUCCEEDED, message, 0)
    if code == SKIP_EXIT_CODE:
        return PodStatus(PodPhase.SKIPPED, message or "exit code 126 asks to skip", code)
    return PodStatus(PodPhase.FAILED, message, code)


def _unschedulable(pod: client.V1Pod) -> str | None:
    for condition in pod.status.conditions or []:
        scheduled = condition.type == "PodScheduled" and condition.status == "False"
        if scheduled and condition.reason == "Unschedulable":
            return str(condition.message or "no node fits the pod")
    return None


def classify(pod: client.V1Pod) -> PodStatus:
    """The task-level state of ``pod`` as observed now."""
    found = _classify(pod)
    deleting = pod.metadata is not None and pod.metadata.deletion_timestamp is not None
    return replace(found, deleting=True) if deleting and not found.phase.terminal else found


def _classify(pod: client.V1Pod) -> PodStatus:
    status = pod.status
    node = pod.spec.node_name if pod.spec else None
    statuses = (status.container_statuses if status else None) or []
    if status is not None and status.reason == "DeadlineExceeded":
        # activeDeadlineSeconds: the kubelet stopped the pod (its container shows a kill)
        return PodStatus(PodPhase.TIMED_OUT, status.message or "DeadlineExceeded", None, node)
    for container in statuses:
        state = container.state
        if state is not None and state.terminated is not None:
            return _replace_node(_terminated(state.terminated), node)
    phase = status.phase if status else None
    if phase == "Succeeded":
        return PodStatus(PodPhase.SUCCEEDED, "", 0, node)
    if phase == "Failed":
        return PodStatus(
            PodPhase.FAILED, status.reason or status.message or "pod failed", None, node
        )
    for container in statuses:
        waiting = container.state.waiting if container.state else None
        if waiting is not None and waiting.reason in _WAITING_REASONS:
            message = f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
            return PodStatus(_WAITING_REASONS[waiting.reason], message, None, node)
    if phase == "Running":
        return PodStatus(PodPhase.RUNNING, "", None, node)
    unschedulable = _unschedulable(pod) if status else None
    if unschedulable is not None:
        return PodStatus(PodPhase.UNSCHEDULABLE, unschedulable, None, node)
    return PodStatus(PodPhase.PENDING, "", None, node)


def _replace_node(status: PodStatus, node: str | None) -> PodStatus:
    return PodStatus(status.phase, status.reason, status.exit_code, node)
