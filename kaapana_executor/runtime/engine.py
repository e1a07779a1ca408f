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

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.pod import pin_to_node
from kaapana_executor.ledger import admission
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.watch import LedgerWatcher
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.gate import AdmissionGate
from kaapana_executor.runtime.jobs import Jobs
from kaapana_executor.runtime.kube import KubeGateway
from kaapana_executor.runtime.podstate import PodPhase, PodStatus, classify
from kaapana_executor.runtime.refs import ReportRejected, TaskRef, TaskReporter
from kaapana_executor.runtime.state import Outcome, Tracked
from kaapana_executor.runtime.tasklog import TaskLog
from kaapana_executor.runtime.watcher import PodWatcher
from kaapana_executor.status import StatusSource, publish_status

log = logging.getLogger(__name__)

POD_SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"


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
    ledger: Ledger | None = None  # None: no resource admission (create as soon as prepared)
    status_file: Path | None = None  # where the status for the plugin view is published
    status_interval: float = 10.0
    remote_log: Callable[[str], object] | None = None  # uploads a log (relative path) when set


class Engine:
    """Runs task instances as pods; see the module docstring for the threading model."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self.settings = wiring.settings
        self._messages: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(wiring.settings.create_concurrency, "kaapana-io")
        self._jobs = Jobs(wiring, self._messages.put)
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
        self._published_at = float("-inf")
        self._gate: AdmissionGate | None = None
        self._ledger_watcher: LedgerWatcher | None = None
        if wiring.ledger is not None:
            policy = admission.Policy(aging_seconds=wiring.settings.admission_aging_seconds)
            self._gate = AdmissionGate(wiring.ledger, wiring.clock, policy)
            self._ledger_watcher = LedgerWatcher(
                wiring.gateway, wiring.ledger, resync=wiring.settings.ledger_resync_seconds
            )

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watchers and the heartbeat ticker."""
        self._watcher.start()
        if self._ledger_watcher is not None:
            self._ledger_watcher.start()
        self._ticker.start()

    def stop(self, wait: bool = True) -> None:
        """Stop threads; running pods keep running (a restarted scheduler can adopt them)."""
        self._stop.set()
        self._watcher.stop(timeout=5 if wait else 0)
        if self._ledger_watcher is not None:
            self._ledger_watcher.stop(timeout=5 if wait else 0)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        with self._beating_lock:
            for reporter in self._beating.values():
                reporter.close()
            self._beating.clear()

    # scheduler thread ------------------------------------------------------------------
    def submit(self, ref: TaskRef) -> None:
        """Start launching ``ref`` on a worker thread."""
        tracked = Tracked(ref=ref, log=self._task_log(ref))
        self._tracked[ref.key] = tracked
        self._pool.submit(self._jobs.guard, tracked, self._jobs.prepare, tracked)

    def adopt(self, ref: TaskRef, pod: client.V1Pod, should_retry: bool) -> None:
        """Take over a running task's pod after a scheduler restart (no relaunch)."""
        reporter = self.w.reporter(ref)
        tracked = Tracked(ref=ref, log=self._task_log(ref), reporter=reporter)
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

    def _task_log(self, ref: TaskRef) -> TaskLog:
        log_folder = self.w.log_folder
        return TaskLog(log_folder / ref.log_path if log_folder and ref.log_path else None)

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
        self._admit()
        self._check_stuck()
        self._publish()
        for key in [
            k for k, t in self._tracked.items() if k not in running and t.reporter is not None
        ]:
            tracked = self._tracked.pop(key)
            tracked.log.event("the scheduler no longer runs this task; deleting its pod", "warning")
            self._forget(tracked, delete=True)
        return outcomes

    def _apply(self, message: tuple[Any, ...]) -> list[tuple[Any, str]]:
        """Apply one worker message (``kind, *args``); returns outcomes for Airflow."""
        handler: Callable[..., list[tuple[Any, str]] | None] = getattr(self, f"_on_{message[0]}")
        return handler(*message[1:]) or []

    def _on_pod(self, pod: client.V1Pod) -> None:
        self._observe(pod)

    def _on_gone(self, pod: client.V1Pod) -> None:
        self._seen.pop(pod.metadata.name, None)
        key = self._by_pod.get(pod.metadata.name)
        if key in self._tracked:
            self._on_status(self._tracked[key], PodStatus(PodPhase.GONE, "pod deleted"))

    def _on_ready(self, key: Any, reporter: TaskReporter, launch: spec.Launch, retry: bool) -> None:
        tracked = self._tracked.get(key)
        if tracked is None:
            return
        tracked.reporter, tracked.should_retry = reporter, retry
        tracked.pod, tracked.namespace = launch.pod.metadata.name, launch.pod.metadata.namespace
        tracked.memory_limit = (launch.instance.resources.limits or {}).get("memory")
        self._by_pod[tracked.pod] = key
        with self._beating_lock:  # running in Airflow from now on, even while it waits
            self._beating[key] = reporter
        self._dispatch(tracked, launch)

    def _on_launched(self, key: Any) -> None:
        tracked = self._tracked.get(key)
        if tracked is not None and tracked.pod in self._seen:
            self._observe(self._seen[tracked.pod])

    def _on_create_failed(self, key: Any) -> None:
        if self._gate is not None:
            self._gate.discard(key)
        tracked = self._tracked.get(key)
        if tracked is not None and tracked.pod:
            self._by_pod.pop(tracked.pod, None)

    def _on_done(self, key: Any, ok: bool) -> list[tuple[Any, str]]:
        tracked = self._tracked.pop(key, None)
        if tracked is None:
            return []
        self._forget(tracked, delete=False)
        return [(key, Outcome.SUCCESS if ok else Outcome.FAIL)]

    def _on_rejected(self, key: Any, why: str, outcome: str) -> list[tuple[Any, str]]:
        tracked = self._tracked.pop(key, None)
        if tracked is None:
            return []
        tracked.log.event(f"{why}; deleting the pod", "warning")
        self._forget(tracked, delete=True)
        return [(key, outcome)]

    def _observe(self, pod: client.V1Pod) -> None:
        name = pod.metadata.name
        key = self._by_pod.get(name)
        if key is None or key not in self._tracked:
            self._seen[name] = pod  # may belong to a launch whose message is still queued
            return
        self._on_status(self._tracked[key], classify(pod))

    def _dispatch(self, tracked: Tracked, launch: spec.Launch) -> None:
        """Create the pod now, or queue it until the ledger says it fits."""
        if self._gate is None:
            self._pool.submit(self._jobs.guard, tracked, self._jobs.create, tracked, launch)
            return
        tracked.launch = launch
        self._gate.add(tracked.ref.key, launch.pod, tracked.ref.priority_weight)
        tracked.log.event("waiting for the resource ledger's admission")

    def _publish(self) -> None:
        """Every few seconds, hand the current status to a worker to write (for the plugin)."""
        now = self.w.clock()
        if self.w.status_file is None or now - self._published_at < self.w.status_interval:
            return
        self._published_at = now
        runs = {k: t.ref.run for k, t in self._tracked.items()}
        source = StatusSource.take(self._gate, runs, self.w.ledger)
        self._pool.submit(publish_status, self.w.status_file, source)

    def _admit(self) -> None:
        """One admission pass: create what fits, fail what never will, say why others wait."""
        if self._gate is None:
            return
        decision = self._gate.decide()
        for key, node in decision.admit:
            tracked = self._tracked[key]
            assert tracked.launch is not None
            pin_to_node(tracked.launch.pod, node)
            tracked.log.event(f"admitted: node {node} has room for all requests")
            self._pool.submit(self._jobs.guard, tracked, self._jobs.create, tracked, tracked.launch)
        for key, why in decision.never.items():
            tracked = self._tracked[key]
            reason = f"cannot run on this cluster: {why}"
            self._pool.submit(self._jobs.guard, tracked, self._jobs.fail, tracked, reason)
        for key, reason in decision.waiting.items():
            tracked = self._tracked[key]
            if tracked.waiting_for != reason:
                tracked.waiting_for = reason
                tracked.log.event(f"waiting for resources: {reason}")

    def _on_status(self, tracked: Tracked, status: PodStatus) -> None:
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
            self._pool.submit(self._jobs.guard, tracked, self._jobs.finish, tracked, status)

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
                self._pool.submit(self._jobs.guard, tracked, self._jobs.finish, tracked, status)

    def _forget(self, tracked: Tracked, delete: bool) -> None:
        """Stop tracking; with ``delete``, keep the container's log, then delete the pod."""
        key = tracked.ref.key
        if self._gate is not None:
            self._gate.discard(key)
        with self._beating_lock:
            self._beating.pop(key, None)
        if tracked.pod:
            self._by_pod.pop(tracked.pod, None)
        if delete and tracked.pod and tracked.namespace:
            self._pool.submit(self._jobs.retire, tracked)
        elif tracked.reporter is not None:
            tracked.reporter.close()

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
