"""The end of a try, on the finish lane: keep the log, record the final state, remove the pod.

Order and idempotence are what make a crash anywhere safe to replay: the container log is
persisted first (once: a marker in the log file), uploaded to remote logging, then the final
state is recorded (a second recording is refused by Airflow as "not running", which is fine),
and only then is the pod deleted (deleting an absent pod is fine). A scheduler that dies
between two steps leaves a task that is either still running in Airflow (its pod is adopted
and finished again) or finished with its pod left over (removed by the next cleanup), never
a succeeded task run twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from kaapana_executor.config import ExecutorSettings, PodDeletion
from kaapana_executor.k8s.gateway import KubeError, KubeGateway
from kaapana_executor.k8s.podstate import PodPhase, PodStatus, classify
from kaapana_executor.runtime.faults import fault_point
from kaapana_executor.runtime.final import final_state
from kaapana_executor.runtime.messages import Finished, Message
from kaapana_executor.runtime.metrics import Metrics, NoMetrics
from kaapana_executor.runtime.refs import FinalState, ReportRejected, TaskRef, TaskReporter
from kaapana_executor.runtime.tasklog import ContainerLog, TaskLog
from kaapana_executor.runtime.tracked import Outcome

log = logging.getLogger(__name__)

#: Seconds a stopping pod is waited for before its log is read (Kubernetes' default grace
#: period is 30 s, then the kubelet kills the container).
STOP_WAIT = 40.0


@dataclass(frozen=True)
class Ending:
    """What finishing a try needs, taken from the engine's record when the try ended."""

    ref: TaskRef
    log: TaskLog
    reporter: TaskReporter | None
    should_retry: bool = False
    pod: str | None = None
    namespace: str | None = None
    memory_limit: str | None = None
    execution_timeout: float | None = None

    @property
    def key(self) -> Hashable:
        key: Hashable = self.ref.key
        return key


def record(ending: Ending, state: FinalState, reason: str) -> Outcome:
    """Record the final state through the Execution API; the outcome for the scheduler."""
    if ending.reporter is None:  # never started: the scheduler's own handling applies
        return Outcome.UNREPORTED
    try:
        ending.reporter.finish(state, reason)
    except ReportRejected as exc:
        ending.log.event(f"final state not recorded: {exc.why}", "warning")
        return Outcome.ENDED
    except Exception:  # the client retries; after that the scheduler's fallback fails it
        log.exception("recording %s for %s failed", state.value, ending.ref.label)
        return Outcome.UNREPORTED
    succeeded = state in (FinalState.SUCCESS, FinalState.SKIPPED)
    return Outcome.SUCCEEDED if succeeded else Outcome.FAILED


class Finisher:
    """Finish, fail or retire tries; every job ends by posting :class:`Finished`."""

    def __init__(
        self,
        settings: ExecutorSettings,
        gateway: KubeGateway,
        post: Callable[[Message], None],
        remote_log: Callable[[str], object] | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.post = post
        self.remote_log = remote_log
        self.metrics: Metrics = NoMetrics()

    def finish(self, ending: Ending, status: PodStatus) -> None:
        """A pod that ended (or is stuck past its grace): log, state, then the pod."""
        assert ending.pod and ending.namespace
        self.keep_log(ending)
        state, reason = final_state(
            status, ending.should_retry, ending.memory_limit, ending.execution_timeout
        )
        level = "info" if state is FinalState.SUCCESS else "error"
        ending.log.event(f"{reason}: reporting {state.value}", level)
        self.persist_log(ending)  # the whole log is kept before the state is recorded
        fault_point("finish.log_persisted")
        outcome = record(ending, state, reason)
        fault_point("finish.state_reported")
        policy = self.settings.pod_deletion
        success = state is FinalState.SUCCESS
        # A pod that is stuck or timed out may still hold a node: deleted whatever the policy.
        if (
            policy is PodDeletion.ALWAYS
            or (policy is PodDeletion.ON_SUCCESS and success)
            or status.phase.stuck
            or status.phase in (PodPhase.TIMED_OUT, PodPhase.NOT_STARTED, PodPhase.LOST)
        ):
            self.delete_quietly(ending.pod, ending.namespace)
        fault_point("finish.pod_deleted")
        self.post(Finished(ending.key, outcome))

    def fail(
        self,
        ending: Ending,
        reason: str,
        state: FinalState = FinalState.FAILED,
        *,
        logged: bool = False,
    ) -> None:
        """A try that ends without a finished pod (never fits, could not be created, ...)."""
        if not logged:
            ending.log.event(reason, "error")
        self.persist_log(ending)
        self.post(Finished(ending.key, record(ending, state, reason)))

    def retire(self, ending: Ending) -> None:
        """A pod whose try is not ours any more (cleared, marked, revoked): stop it gracefully
        (SIGTERM within its grace period), keep what it printed, including what it printed
        while stopping. Nothing is recorded: Airflow already decided."""
        if not (ending.pod and ending.namespace):
            return
        before = self._read_log(ending)  # in case the pod is gone as soon as it is stopped
        try:
            self.gateway.delete_pod(ending.pod, ending.namespace, grace_seconds=None)
        except KubeError:
            log.exception("stopping pod %s/%s failed", ending.namespace, ending.pod)
        self._wait_stopped(ending.pod, ending.namespace)
        # with what it printed while stopping; the container may be removed already
        self._keep(ending, before.then(self._read_log(ending)))
        self.persist_log(ending)
        self.delete_quietly(ending.pod, ending.namespace)  # once stopped: gone at once

    def _wait_stopped(self, name: str, namespace: str) -> None:
        """Until the pod's container has ended or the pod is gone (its grace period, bounded)."""
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline:
            try:
                pod = self.gateway.read_pod(name, namespace)
            except KubeError:
                return
            if pod is None or classify(pod).phase.terminal:
                return
            time.sleep(0.5)

    def keep_log(self, ending: Ending) -> None:
        """Persist the container's log into the task log (once per try)."""
        self._keep(ending, self._read_log(ending))

    @staticmethod
    def _keep(ending: Ending, output: ContainerLog) -> None:
        """The container's lines into the task log; what the kubelet said instead, as a note
        when no line could be read at all (after a stop it only means the container is gone)."""
        if not output.lines:
            for note in output.notes:
                ending.log.event(f"the container's log could not be read: {note}", "warning")
        ending.log.container(output)

    def _read_log(self, ending: Ending) -> ContainerLog:
        """The container's log now; empty (with a note) when it cannot be read."""
        assert ending.pod and ending.namespace
        try:
            text = self.gateway.read_log(ending.pod, ending.namespace, self.settings.log_tail_lines)
        except KubeError as exc:  # the result must not depend on whether the log is readable
            return ContainerLog(notes=(str(exc),))
        return ContainerLog.parse(text)

    def persist_log(self, ending: Ending) -> None:
        """The task log complete on disk (Airflow reads it once the state is recorded), then
        uploaded with Airflow's remote logging, when configured."""
        ending.log.settle()
        if self.remote_log is None or ending.ref.log_path is None:
            return
        try:
            self.remote_log(ending.ref.log_path)
        except Exception:  # a failed upload must not lose the task's result; the file stays
            log.exception("uploading the log of %s failed", ending.ref.label)
            ending.log.event("uploading this log to remote storage failed", "warning")

    def delete_quietly(self, name: str, namespace: str) -> None:
        """Delete a pod; a failure is logged (the next cleanup finds the pod again)."""
        try:
            self.gateway.delete_pod(name, namespace)
        except KubeError:
            log.exception("deleting pod %s/%s failed", namespace, name)
