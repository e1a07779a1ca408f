"""Work the engine does on worker threads. Every job reports back by posting a message.

A job never touches the engine's state: it reads the task it was given, talks to the Execution
API, the Kubernetes API and the file system, and posts what happened (``ready``,
``launched``, ``done``) for ``sync`` to apply on the scheduler thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaapana_executor import datadir
from kaapana_executor.config import PodDeletion
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.k8s import labels
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.decide import decide
from kaapana_executor.runtime.faults import fault_point
from kaapana_executor.runtime.kube import KubeError
from kaapana_executor.runtime.outputs import clean_output
from kaapana_executor.runtime.podstate import PodStatus
from kaapana_executor.runtime.refs import FinalState, ReportRejected
from kaapana_executor.runtime.state import Outcome, Tracked

if TYPE_CHECKING:
    from kaapana_executor.runtime.engine import Wiring

log = logging.getLogger(__name__)

Post = Callable[[tuple[Any, ...]], None]


class Jobs:
    """The worker-thread side of the engine."""

    def __init__(self, wiring: Wiring, post: Post) -> None:
        self.w = wiring
        self.settings = wiring.settings
        self.post = post

    def guard(self, tracked: Tracked, job: Callable[..., None], *args: Any) -> None:
        """The thread boundary: one task's failure never reaches the scheduler."""
        try:
            job(*args)
        except Exception as exc:  # deliberately broad: this is the per-task boundary
            log.exception("kaapana-executor: %s failed", tracked.ref.label)
            tracked.log.event(f"executor error: {exc!r}", "error")
            self.report(tracked, FinalState.FAILED, f"executor error: {exc}")

    def report(self, tracked: Tracked, state: FinalState, reason: str) -> None:
        """Report the final state, then post ``done`` (ok=False hands over to the fallback)."""
        ok = tracked.reporter is not None  # never started: the scheduler's fallback fails it
        if tracked.reporter is not None:
            try:
                tracked.reporter.finish(state, reason)
            except ReportRejected as exc:
                tracked.log.event(f"final state not recorded: {exc.why}", "warning")
            except Exception:  # reporting is retried inside the client; give up to the fallback
                log.exception("reporting %s for %s failed", state.value, tracked.ref.label)
                ok = False
        self.post(("done", tracked.ref.key, ok))

    def prepare(self, tracked: Tracked) -> None:
        """Mark the task running, resolve its pod and clean its outputs; post ``ready``."""
        ref = tracked.ref
        reporter = self.w.reporter(ref)
        try:
            start = reporter.start()
        except ReportRejected as exc:
            reporter.close()
            self.post(("rejected", ref.key, f"not started: {exc.why}", Outcome.DROP))
            return
        tracked.reporter = reporter
        tracked.log.event(f"kaapana-executor: preparing {ref.label}")
        try:
            launch = spec.build_launch(
                ref, start.conf, self.settings, self.w.images, self.w.upstream
            )
            self._clean_outputs(tracked, launch)
        except ContractError as exc:
            for line in exc.lines():
                tracked.log.event(line, "error")
            self.report(tracked, FinalState.FAILED, exc.lines()[0])
            return
        except KaapanaError as exc:
            tracked.log.event(str(exc), "error")
            self.report(tracked, FinalState.FAILED, str(exc))
            return
        for result in launch.scale:
            tracked.log.event(
                f"scale rule on {result.channel}: {result.mode} measured "
                f"{result.measured_bytes} bytes, needs {result.needed_bytes} bytes of memory "
                f"{result.type} {result.note}".rstrip()
            )
        resources = launch.pod.spec.containers[0].resources
        tracked.log.event(
            f"resources: requests {resources.requests or {}}, limits {resources.limits or {}}"
        )
        self.post(("ready", ref.key, reporter, launch, start.should_retry))

    def _clean_outputs(self, tracked: Tracked, launch: spec.Launch) -> None:
        run_id = tracked.ref.run.run_id
        node_run = datadir.run_dir(self.settings.data_root, run_id)
        local_run = Path(datadir.run_dir(self.settings.local_data_root, run_id))
        for output in launch.outputs:
            cleaned = clean_output(local_run, node_run, output)
            tracked.log.event(f"cleaned output {output} ({cleaned})")

    def create(self, tracked: Tracked, launch: spec.Launch) -> None:
        """Create the pod; post ``launched``, or report the failure."""
        try:
            self.w.gateway.create_pod(launch.pod, labels.ANN_TI_ID)
        except KubeError as exc:
            tracked.log.event(str(exc), "error")
            state = FinalState.UP_FOR_RETRY if tracked.should_retry else FinalState.FAILED
            self.post(("create_failed", tracked.ref.key))
            self.report(tracked, state, str(exc))
            return
        meta = launch.pod.metadata
        tracked.log.event(f"pod {meta.namespace}/{meta.name} created")
        self.post(("launched", tracked.ref.key))

    def fail(self, tracked: Tracked, reason: str) -> None:
        """Fail a task that will never run (e.g. larger than every node)."""
        tracked.log.event(reason, "error")
        self.report(tracked, FinalState.FAILED, reason)

    def finish(self, tracked: Tracked, status: PodStatus) -> None:
        """Persist the container log, report the final state, delete the pod per policy."""
        assert tracked.pod and tracked.namespace
        text = self.w.gateway.read_log(tracked.pod, tracked.namespace, self.settings.log_tail_lines)
        tracked.log.container(text)
        state, reason = decide(status, tracked.should_retry, tracked.memory_limit)
        level = "info" if state is FinalState.SUCCESS else "error"
        tracked.log.event(f"{reason}: reporting {state.value}", level)
        self._upload_log(tracked)
        fault_point("finish.log_persisted")
        policy = self.settings.pod_deletion
        success = state is FinalState.SUCCESS
        # A pod stuck on an image pull or config error is deleted whatever the policy.
        if (
            policy is PodDeletion.ALWAYS
            or (policy is PodDeletion.ON_SUCCESS and success)
            or (status.phase.stuck)
        ):
            self.delete_quietly(tracked.pod, tracked.namespace)
            fault_point("finish.pod_deleted")
        self.report(tracked, state, reason)
        fault_point("finish.state_reported")

    def retire(self, tracked: Tracked) -> None:
        """A pod whose task is no longer ours: persist what it printed, then delete it."""
        assert tracked.pod and tracked.namespace
        try:
            text = self.w.gateway.read_log(
                tracked.pod, tracked.namespace, self.settings.log_tail_lines
            )
            tracked.log.container(text)
        except Exception:  # the log is a courtesy here; the pod must go regardless
            log.warning("could not keep the log of pod %s", tracked.pod, exc_info=True)
        self._upload_log(tracked)
        self.delete_quietly(tracked.pod, tracked.namespace)
        if tracked.reporter is not None:
            tracked.reporter.close()

    def _upload_log(self, tracked: Tracked) -> None:
        """Remote logging, when configured: the log must be there before the state is."""
        if self.w.remote_log is None or tracked.ref.log_path is None:
            return
        try:
            self.w.remote_log(tracked.ref.log_path)
        except Exception:  # a failed upload must not lose the task's result; the file stays
            log.exception("uploading the log of %s failed", tracked.ref.label)
            tracked.log.event("uploading this log to remote storage failed", "warning")

    def delete_quietly(self, name: str, namespace: str) -> None:
        """Delete a pod; failures are logged (the next relist finds the pod again)."""
        try:
            self.w.gateway.delete_pod(name, namespace)
        except Exception:  # a pod we cannot delete now is found again by the next relist
            log.exception("deleting pod %s/%s failed", namespace, name)
