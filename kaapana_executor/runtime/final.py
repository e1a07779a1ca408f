"""The final Airflow state for what happened to a pod: one pure function, table-tested."""

from __future__ import annotations

from kaapana_executor.k8s.podstate import PodPhase, PodStatus
from kaapana_executor.runtime.refs import FinalState


def final_state(
    status: PodStatus,
    should_retry: bool,
    memory_limit: str | None = None,
    execution_timeout: float | None = None,
) -> tuple[FinalState, str]:
    """(state, sentence for the task log) for a terminal or timed-out pod status."""
    failed = FinalState.UP_FOR_RETRY if should_retry else FinalState.FAILED
    phase = status.phase
    if phase is PodPhase.SUCCEEDED:
        return FinalState.SUCCESS, "container exited with code 0"
    if phase is PodPhase.SKIPPED:
        return (
            FinalState.SKIPPED,
            "container exited with code 126: task skipped (Kaapana convention)",
        )
    if phase is PodPhase.OOM_KILLED:
        limit = f" at its memory limit {memory_limit}" if memory_limit else ""
        return failed, f"container was OOMKilled{limit} (exit code {status.exit_code})"
    where = f" on node {status.node}" if status.node else ""
    if phase is PodPhase.FAILED:
        code = f"exit code {status.exit_code}" if status.exit_code is not None else "no exit code"
        detail = f" ({status.reason})" if status.reason else ""
        # Without an exit code the container never ended by itself: say where it was, the
        # usual cause is the node (deleted, lost, evicting).
        return (
            failed,
            f"container failed with {code}{detail}{where if status.exit_code is None else ''}",
        )
    if phase is PodPhase.TIMED_OUT:
        after = f" after {execution_timeout:g} s (execution_timeout)" if execution_timeout else ""
        return failed, f"timed out{after}: {status.reason}"
    if phase is PodPhase.LOST:
        return failed, f"pod lost{where}: {status.reason}"
    if phase is PodPhase.NOT_STARTED:
        return failed, f"pod did not start: {status.reason}"
    if phase is PodPhase.GONE:
        return failed, f"pod was deleted before its container finished{where}"
    if phase.stuck:
        return failed, f"pod could not start: {status.describe()}"
    raise ValueError(f"{phase} is not a final pod state")
