"""The executor's engine: worker threads do all I/O; ``sync`` applies their results.

Threads: a pool for launches (Execution API ``/run``, spec, output cleaning, pod creation) and
finishes (log persistence, state report, pod deletion); one pod watcher; one heartbeat ticker.
They talk to the scheduler thread only through a queue of messages; ``sync`` drains it and is
the only code that touches the tracked state, so no locks guard it. Nothing in ``sync`` waits
on the network.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from kaapana_executor import datadir
from kaapana_executor.config import ExecutorSettings, PodDeletion
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.k8s import labels
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.decide import decide
from kaapana_executor.runtime.kube import KubeError, KubeGateway
from kaapana_executor.runtime.outputs import clean_output
from kaapana_executor.runtime.podstate import PodPhase, PodStatus, classify
from kaapana_executor.runtime.refs import FinalState, ReportRejected, TaskRef, TaskReporter
from kaapana_executor.runtime.tasklog import TaskLog
from kaapana_executor.runtime.watcher import PodWatcher

log = logging.getLogger(__name__)

POD_SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"


class Outcome:
    """What ``sync`` asks the Airflow adapter to do with a key."""

    SUCCESS = "success"  # final state reported: free the slot
    FAIL = "fail"  # reporting failed: let the scheduler's fallback fail the task
    DROP = "drop"  # no longer ours (cleared, marked, vanished): forget it silently


@dataclass
class Tracked:
    """One task instance the engine is responsible for."""

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


@dataclass
class Wiring:
    """The engine's collaborators, injected (tests pass real ones started locally)."""

    settings: ExecutorSettings
    gateway: KubeGateway
    reporter: Callable[[TaskRef], TaskReporter]
    images: spec.ProcessingContainerSource
    upstream: spec.UpstreamLookup
    log_folder: Path | None
    clock: Callable[[], float] = time.monotonic
    watch_namespace: str | None = field(default=None)


class Engine:
    """Runs task instances as pods; see the module docstring for the threading model."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self.settings = wiring.settings
        self._messages: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(wiring.settings.create_concurrency, "kaapana-io")
        self._tracked: dict[Any, Tracked] = {}
        self._by_pod: dict[str, Any] = {}
        self._seen: dict[str, client.V1Pod] = {}
        self._beating: dict[Any, TaskReporter] = {}
        self._beating_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = PodWatcher(
            wiring.gateway,
            wiring.watch_namespace,
            POD_SELECTOR,
            on_pod=lambda pod: self._messages.put(("pod", pod)),
            on_deleted=lambda pod: self._messages.put(("gone", pod)),
        )
        self._ticker = threading.Thread(
            target=self._heartbeats, name="kaapana-heartbeat", daemon=True
        )

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watcher and the heartbeat ticker."""
        self._watcher.start()
        self._ticker.start()

    def stop(self, wait: bool = True) -> None:
        """Stop threads; running pods keep running (a restarted scheduler can adopt them)."""
        self._stop.set()
        self._watcher.stop(timeout=5 if wait else 0)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        with self._beating_lock:
            for reporter in self._beating.values():
                reporter.close()
            self._beating.clear()

    # scheduler thread ------------------------------------------------------------------
    def submit(self, ref: TaskRef) -> None:
        """Start launching ``ref`` on a worker thread."""
        path = self.w.log_folder / ref.log_path if self.w.log_folder and ref.log_path else None
        tracked = Tracked(ref=ref, log=TaskLog(path))
        self._tracked[ref.key] = tracked
        self._pool.submit(self._guard, tracked, self._launch, tracked)

    def adopt(self, ref: TaskRef, pod: client.V1Pod, should_retry: bool) -> None:
        """Take over a running task's pod after a scheduler restart (no relaunch)."""
        path = self.w.log_folder / ref.log_path if self.w.log_folder and ref.log_path else None
        reporter = self.w.reporter(ref)
        tracked = Tracked(ref=ref, log=TaskLog(path), reporter=reporter)
        tracked.should_retry = should_retry
        tracked.pod, tracked.namespace = pod.metadata.name, pod.metadata.namespace
        limits = (
            pod.spec.containers[0].resources.limits if pod.spec.containers[0].resources else None
        )
        tracked.memory_limit = (limits or {}).get("memory")
        tracked.log.event(f"kaapana-executor: adopted pod {tracked.namespace}/{tracked.pod}")
        self._tracked[ref.key] = tracked
        self._by_pod[tracked.pod] = ref.key
        with self._beating_lock:
            self._beating[ref.key] = reporter
        self._observe(pod)

    def list_pods(self) -> list[client.V1Pod]:
        """This executor's pods now (one API call; adoption only, never on the hot loop)."""
        pods, _ = self.w.gateway.list_pods(self.w.watch_namespace, POD_SELECTOR)
        return pods

    def tracked_keys(self) -> set[Any]:
        """Keys the engine is responsible for."""
        return set(self._tracked)

    def revoke(self, key: Any) -> None:
        """Forget a task and delete its pod (Airflow revoked it)."""
        tracked = self._tracked.pop(key, None)
        if tracked is not None:
            self._forget(tracked, delete=True)

    def sync(self, running: set[Any]) -> list[tuple[Any, str]]:
        """Apply worker results; returns (key, Outcome) pairs for the Airflow adapter."""
        outcomes: list[tuple[Any, str]] = []
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                break
            outcomes += self._apply(message)
        self._check_stuck()
        for key in [
            k for k, t in self._tracked.items() if k not in running and t.reporter is not None
        ]:
            tracked = self._tracked.pop(key)
            tracked.log.event("the scheduler no longer runs this task; deleting its pod", "warning")
            self._forget(tracked, delete=True)
        return outcomes

    def _apply(self, message: tuple[Any, ...]) -> list[tuple[Any, str]]:
        kind = message[0]
        if kind == "pod":
            self._observe(message[1])
        elif kind == "gone":
            pod = message[1]
            self._seen.pop(pod.metadata.name, None)
            key = self._by_pod.get(pod.metadata.name)
            if key in self._tracked:
                self._on_status(
                    self._tracked[key], PodStatus(PodPhase.GONE, "pod deleted"), final_pod=pod
                )
        elif kind == "launched":
            _, key, reporter, launch, should_retry = message
            tracked = self._tracked.get(key)
            if tracked is None:
                return []
            tracked.reporter, tracked.should_retry = reporter, should_retry
            tracked.pod, tracked.namespace = launch.pod.metadata.name, launch.pod.metadata.namespace
            tracked.memory_limit = (launch.instance.resources.limits or {}).get("memory")
            self._by_pod[tracked.pod] = key
            with self._beating_lock:
                self._beating[key] = reporter
            if tracked.pod in self._seen:
                self._observe(self._seen[tracked.pod])
        elif kind == "done":
            _, key, ok = message
            tracked = self._tracked.pop(key, None)
            if tracked is not None:
                self._forget(tracked, delete=False)
                return [(key, Outcome.SUCCESS if ok else Outcome.FAIL)]
        elif kind == "rejected":
            _, key, why, outcome = message
            tracked = self._tracked.pop(key, None)
            if tracked is not None:
                tracked.log.event(f"{why}; deleting the pod", "warning")
                self._forget(tracked, delete=True)
                return [(key, outcome)]
        return []

    def _observe(self, pod: client.V1Pod) -> None:
        name = pod.metadata.name
        key = self._by_pod.get(name)
        if key is None or key not in self._tracked:
            self._seen[name] = pod  # may belong to a launch whose message is still queued
            return
        self._on_status(self._tracked[key], classify(pod))

    def _on_status(
        self, tracked: Tracked, status: PodStatus, final_pod: client.V1Pod | None = None
    ) -> None:
        previous = tracked.status
        tracked.status = status
        if previous is None or previous.phase != status.phase:
            where = f" on node {status.node}" if status.node else ""
            tracked.log.event(f"pod {tracked.pod}: {status.describe()}{where}")
        if status.phase.stuck:
            tracked.stuck_since = tracked.stuck_since or self.w.clock()
        else:
            tracked.stuck_since = None
        if status.phase.terminal and not tracked.finishing:
            tracked.finishing = True
            self._pool.submit(self._guard, tracked, self._finish, tracked, status)

    def _grace(self, phase: PodPhase) -> float:
        return {
            PodPhase.IMAGE_PULL_ERROR: self.settings.image_pull_grace,
            PodPhase.CONFIG_ERROR: self.settings.config_error_grace,
            PodPhase.UNSCHEDULABLE: self.settings.unschedulable_timeout,
        }[phase]

    def _check_stuck(self) -> None:
        now = self.w.clock()
        for tracked in self._tracked.values():
            status = tracked.status
            if tracked.finishing or status is None or tracked.stuck_since is None:
                continue
            if now - tracked.stuck_since >= self._grace(status.phase):
                tracked.finishing = True
                self._pool.submit(self._guard, tracked, self._finish, tracked, status)

    def _forget(self, tracked: Tracked, delete: bool) -> None:
        """Stop tracking; with ``delete``, keep the container's log, then delete the pod."""
        key = tracked.ref.key
        with self._beating_lock:
            self._beating.pop(key, None)
        if tracked.pod:
            self._by_pod.pop(tracked.pod, None)
        if delete and tracked.pod and tracked.namespace:
            self._pool.submit(self._retire, tracked)
        elif tracked.reporter is not None:
            tracked.reporter.close()

    def _retire(self, tracked: Tracked) -> None:
        """A pod whose task is no longer ours: persist what it printed, then delete it."""
        assert tracked.pod and tracked.namespace
        try:
            text = self.w.gateway.read_log(
                tracked.pod, tracked.namespace, self.settings.log_tail_lines
            )
            tracked.log.container(text)
        except Exception:  # the log is a courtesy here; the pod must go regardless
            log.warning("could not keep the log of pod %s", tracked.pod, exc_info=True)
        self._delete_quietly(tracked.pod, tracked.namespace)
        if tracked.reporter is not None:
            tracked.reporter.close()

    # worker threads --------------------------------------------------------------------
    def _guard(self, tracked: Tracked, job: Callable[..., None], *args: Any) -> None:
        """The thread boundary: one task's failure never reaches the scheduler."""
        try:
            job(*args)
        except Exception as exc:  # deliberately broad: this is the per-task boundary
            log.exception("kaapana-executor: %s failed", tracked.ref.label)
            tracked.log.event(f"executor error: {exc!r}", "error")
            self._report(tracked, FinalState.FAILED, f"executor error: {exc}")

    def _report(self, tracked: Tracked, state: FinalState, reason: str) -> None:
        ok = tracked.reporter is not None  # never started: the scheduler's fallback fails it
        if tracked.reporter is not None:
            try:
                tracked.reporter.finish(state, reason)
            except ReportRejected as exc:
                tracked.log.event(f"final state not recorded: {exc.why}", "warning")
            except Exception:  # reporting is retried inside the client; give up to the fallback
                log.exception("reporting %s for %s failed", state.value, tracked.ref.label)
                ok = False
        self._messages.put(("done", tracked.ref.key, ok))

    def _launch(self, tracked: Tracked) -> None:
        ref = tracked.ref
        reporter = self.w.reporter(ref)
        try:
            start = reporter.start()
        except ReportRejected as exc:
            reporter.close()
            self._messages.put(("rejected", ref.key, f"not started: {exc.why}", Outcome.DROP))
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
            self._report(tracked, FinalState.FAILED, exc.lines()[0])
            return
        except KaapanaError as exc:
            tracked.log.event(str(exc), "error")
            self._report(tracked, FinalState.FAILED, str(exc))
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
        try:
            self.w.gateway.create_pod(launch.pod, labels.ANN_TI_ID)
        except KubeError as exc:
            tracked.log.event(str(exc), "error")
            state = FinalState.UP_FOR_RETRY if start.should_retry else FinalState.FAILED
            self._report(tracked, state, str(exc))
            return
        tracked.log.event(f"pod {launch.pod.metadata.namespace}/{launch.pod.metadata.name} created")
        self._messages.put(("launched", ref.key, reporter, launch, start.should_retry))

    def _clean_outputs(self, tracked: Tracked, launch: spec.Launch) -> None:
        run_id = tracked.ref.run.run_id
        node_run = datadir.run_dir(self.settings.data_root, run_id)
        local_run = Path(datadir.run_dir(self.settings.local_data_root, run_id))
        for output in launch.outputs:
            cleaned = clean_output(local_run, node_run, output)
            tracked.log.event(f"cleaned output {output} ({cleaned})")

    def _finish(self, tracked: Tracked, status: PodStatus) -> None:
        assert tracked.pod and tracked.namespace
        text = self.w.gateway.read_log(tracked.pod, tracked.namespace, self.settings.log_tail_lines)
        tracked.log.container(text)
        state, reason = decide(status, tracked.should_retry, tracked.memory_limit)
        tracked.log.event(
            f"{reason}: reporting {state.value}", "info" if state is FinalState.SUCCESS else "error"
        )
        policy = self.settings.pod_deletion
        if policy is PodDeletion.ALWAYS or (
            policy is PodDeletion.ON_SUCCESS and state is FinalState.SUCCESS
        ):
            self._delete_quietly(tracked.pod, tracked.namespace)
        elif status.phase.stuck:
            self._delete_quietly(
                tracked.pod, tracked.namespace
            )  # never leave a pod retrying a pull
        self._report(tracked, state, reason)

    def _delete_quietly(self, name: str, namespace: str) -> None:
        try:
            self.w.gateway.delete_pod(name, namespace)
        except Exception:  # a pod we cannot delete now is found again by the next relist
            log.exception("deleting pod %s/%s failed", namespace, name)

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
            with self._beating_lock:
                beating = list(self._beating.items())
            for key, reporter in beating:
                if self._stop.is_set():
                    return
                try:
                    reporter.heartbeat()
                except ReportRejected as exc:
                    # SUCCESS tells the scheduler the try has terminated: a cleared task
                    # (RESTARTING) is then scheduled again; a marked one keeps its state.
                    self._messages.put(("rejected", key, exc.why, Outcome.SUCCESS))
                except Exception:  # transient: the next tick tries again
                    log.warning("heartbeat failed for %s", key, exc_info=True)
