"""The executor's engine: worker threads do all I/O; ``sync`` applies what they found.

Threads: three lanes (:mod:`.lanes`: prepare, create, finish), the admitter (resource
admission), the pod watcher, the heartbeats and the status publisher. They tell the scheduler
thread what happened only through a queue of typed messages (:mod:`.messages`); ``sync``
drains it — for at most ``SYNC_BUDGET`` seconds and ``MAX_MESSAGES`` messages per call, so one
call is bounded whatever a burst queued (the rest waits for the next call) — and is the only code
that touches the tracked state, so no locks guard it. ``submit`` only records a task; the
next ``sync`` passes all newly submitted tasks to the prepare lane in one step (the feeder
thread of :class:`.lanes.Handover`). What a pod's status means for its try, and its
deadlines, is :mod:`.progress`. Nothing in ``sync`` waits on the network.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.k8s.podstate import PodPhase, PodStatus
from kaapana_executor.launch.identity import pod_name_of
from kaapana_executor.launch.pipeline import ProcessingContainerSource
from kaapana_executor.ledger import admission
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.watch import LedgerWatcher
from kaapana_executor.runtime import lanes, spec
from kaapana_executor.runtime.admitter import Admitter
from kaapana_executor.runtime.finisher import Ending, Finisher
from kaapana_executor.runtime.gate import AdmissionGate
from kaapana_executor.runtime.heartbeats import Heartbeats
from kaapana_executor.runtime.janitor import Janitor, StateLookup
from kaapana_executor.runtime.launcher import Creation, Launcher, LaunchJob
from kaapana_executor.runtime.logwriter import WRITER
from kaapana_executor.runtime.messages import (
    Created,
    Finished,
    Message,
    NotStarted,
    PodChanged,
    PodGone,
    Prepared,
    Started,
    TryEnded,
)
from kaapana_executor.runtime.metrics import Metrics, NoMetrics, metric_name
from kaapana_executor.runtime.progress import Progress
from kaapana_executor.runtime.publisher import StatusPublisher
from kaapana_executor.runtime.refs import TaskRef, TaskReporter
from kaapana_executor.runtime.tasklog import TaskLog
from kaapana_executor.runtime.ticket import LaunchTicket, Stage
from kaapana_executor.runtime.tracked import Launched, Outcome, Tracked
from kaapana_executor.runtime.watcher import OTHER_PODS, PodWatcher
from kaapana_executor.status import StatusSource

log = logging.getLogger(__name__)

#: Messages one ``sync`` applies at most; the rest wait for the next call.
MAX_MESSAGES = 2000
#: Seconds one ``sync`` spends applying messages at most. A launch of 500 pods queues about
#: 2,000 pod events a second; applied all at once at a 1 s scheduler loop they held the
#: scheduler thread 22-26 ms (measured), time taken from every other DAG. 8 ms applies about
#: 700 messages (12 µs each), more than such a burst brings per second at that loop.
SYNC_BUDGET = 0.008


@dataclass
class Wiring:
    """The engine's collaborators, injected (tests pass real ones started locally)."""

    settings: ExecutorSettings
    gateway: KubeGateway
    reporter: Callable[[TaskRef], TaskReporter]
    images: ProcessingContainerSource
    upstream: spec.UpstreamConfigLookup
    log_folder: Path | None
    clock: Callable[[], float] = time.monotonic
    work_clock: Callable[[], float] = time.perf_counter  # measures sync()'s own time budget
    watch_namespace: str | None = field(default=None)
    ledger: Ledger | None = None  # None: no resource admission (create as soon as prepared)
    status_file: Path | None = None  # where the status for the plugin view is published
    status_interval: float = 10.0
    remote_log: Callable[[str], object] | None = None  # uploads a log (relative path) when set
    metrics: Metrics = field(default_factory=NoMetrics)
    ti_states: StateLookup | None = None  # None: no janitor for leftover pods
    pools: lanes.Lanes | None = None  # None: thread pools sized by the settings


@dataclass(frozen=True)
class AdoptedPod:
    """A running pod of a dead scheduler's task, as adoption found it."""

    name: str
    namespace: str
    memory_limit: str | None
    status: PodStatus


class Engine:
    """Runs task instances as pods; see the module docstring for the threading model."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self.settings = settings = wiring.settings
        self._inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._tracked: dict[Hashable, Tracked] = {}
        self._by_pod: dict[str, Hashable] = {}
        self._progress = Progress(settings, wiring.clock, wiring.metrics, self._finish)
        self._lanes = wiring.pools or lanes.Lanes.from_settings(settings)
        self._handover = lanes.Handover(self._lanes.feeder)
        self._heartbeats = Heartbeats(
            settings.heartbeat_interval,
            settings.heartbeat_concurrency,
            on_rejected=lambda key, exc: self._inbox.put(TryEnded(key, exc.why)),
        )
        restarts = self._count_restart
        gateway = wiring.gateway.named
        self._watcher = PodWatcher(
            gateway("watcher"),
            wiring.watch_namespace,
            self._inbox.put,
            on_restart=restarts,
            ledger=wiring.ledger,  # it hands our pods to the ledger: one decode per event
            resync=settings.ledger_resync_seconds,
        )
        self._finisher = Finisher(settings, gateway("finisher"), self._inbox.put, wiring.remote_log)
        self._finisher.metrics = wiring.metrics
        self._launcher = Launcher(
            settings,
            gateway("launcher"),
            wiring.reporter,
            wiring.images,
            wiring.upstream,
            self._finisher,
            self._inbox.put,
        )
        self._admitter: Admitter | None = None
        self._ledger_watcher: LedgerWatcher | None = None
        if wiring.ledger is not None:
            policy = admission.Policy(aging_seconds=settings.admission_aging_seconds)
            gate = AdmissionGate(wiring.ledger, wiring.clock, policy)
            self._admitter = Admitter(gate, self._create, self._never, metrics=wiring.metrics)
            self._ledger_watcher = LedgerWatcher(
                gateway("ledger"),
                wiring.ledger,
                resync=settings.ledger_resync_seconds,
                on_restart=restarts,
                pods=OTHER_PODS,
            )
        self._janitor: Janitor | None = None
        if wiring.ti_states is not None:
            self._janitor = Janitor(
                gateway("janitor"), wiring.watch_namespace, wiring.ti_states, settings.pod_deletion
            )
        self._publisher = StatusPublisher(
            wiring.status_file, wiring.status_interval, self._status_source
        )

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watchers, the admitter, the heartbeats and the status publisher."""
        self._watcher.start()
        if self._ledger_watcher is not None:
            self._ledger_watcher.start()
        if self._admitter is not None:
            self._admitter.start()
        self._heartbeats.start()
        self._publisher.start()
        if self._janitor is not None:
            self._janitor.start()

    def stop(self, wait: bool = True) -> None:
        """Stop threads; running pods keep running (a restarted scheduler can adopt them)."""
        timeout = 5 if wait else 0
        self._publisher.stop()
        if self._janitor is not None:
            self._janitor.stop()
        self._heartbeats.stop(wait_for_calls=wait)
        self._watcher.stop(timeout=timeout)
        if self._admitter is not None:
            self._admitter.stop(timeout=timeout)
        if self._ledger_watcher is not None:
            self._ledger_watcher.stop(timeout=timeout)
        self._lanes.shutdown(wait=wait)
        if wait:
            WRITER.settle(timeout)  # the task logs complete before the process may exit

    # scheduler thread: what Airflow asks ----------------------------------------------
    def submit(self, ref: TaskRef) -> None:
        """Start launching ``ref``: it reaches the prepare lane with the next ``sync()``."""
        tracked = self._track(ref, LaunchTicket())
        job = LaunchJob(ref, tracked.log, tracked.ticket)
        self._handover.add(
            lambda: lanes.submit(
                self._lanes.prepare,
                ref.label,
                lambda: self._launcher.prepare(job, self._dispatch),
                lambda exc: self._finisher.fail(self._ending(tracked), f"executor error: {exc}"),
            )
        )

    def adopt(
        self, ref: TaskRef, pod: AdoptedPod, reporter: TaskReporter, should_retry: bool
    ) -> None:
        """Take over a running task's pod after a scheduler restart (no relaunch)."""
        tracked = self._track(ref, LaunchTicket(Stage.CREATED))
        tracked.reporter, tracked.should_retry = reporter, should_retry
        limits = spec.timeouts(ref.executor_config)
        tracked.launched = Launched(
            pod.namespace, pod.memory_limit, limits.execution, limits.startup
        )
        tracked.log.event(f"kaapana-executor: adopted pod {pod.namespace}/{pod.name}")
        self._heartbeats.add(ref.key, reporter)
        self._progress.changed(tracked, pod.status)

    def revoke(self, key: Hashable) -> None:
        """Forget a task and make sure its pod goes (Airflow revoked it)."""
        tracked = self._tracked.pop(key, None)
        if tracked is not None:
            self._forget(tracked, "revoked by the scheduler")

    def heartbeat_round(self) -> None:
        """One heartbeat round now (the ticker runs one every ``heartbeat_interval``)."""
        self._heartbeats.round()

    def post(self, message: Message) -> None:
        """How the watcher and the workers report (any thread); tests deliver events here
        in the order they want to check."""
        self._inbox.put(message)

    def tracked_keys(self) -> set[Hashable]:
        """Keys the engine is responsible for."""
        return set(self._tracked)

    def sync(self) -> list[tuple[Hashable, Outcome]]:
        """Apply worker results and due deadlines; returns outcomes for the Airflow adapter."""
        self._handover.flush()
        outcomes: list[tuple[Hashable, Outcome]] = []
        clock = self.w.work_clock
        until = clock() + SYNC_BUDGET
        for _ in range(MAX_MESSAGES):
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            done = self._apply(message)
            if done is not None:
                outcomes.append(done)
            if clock() >= until:
                break
        self._progress.fire(self._tracked.get)
        return outcomes

    # scheduler thread: applying messages ----------------------------------------------
    def _apply(self, message: Message) -> tuple[Hashable, Outcome] | None:
        match message:
            case PodChanged() | PodGone():
                self._on_pod(message)
            case Started(key=key, reporter=reporter, should_retry=retry):
                self._on_started(key, reporter, retry)
            case Prepared(key=key, launched=launched):
                if (tracked := self._tracked.get(key)) is not None:
                    tracked.launched = launched
            case Created(key=key):
                self._on_created(key)
            case Finished() | NotStarted() | TryEnded():
                return self._on_end(message)
        return None

    def _on_created(self, key: Hashable) -> None:
        if (tracked := self._tracked.get(key)) is not None:
            self._progress.created(tracked)

    def _on_started(self, key: Hashable, reporter: TaskReporter, should_retry: bool) -> None:
        tracked = self._tracked.get(key)
        if tracked is None:  # revoked while /run was in flight
            reporter.close()
            return
        tracked.reporter, tracked.should_retry = reporter, should_retry
        self._heartbeats.add(key, reporter)  # running in Airflow from now on

    def _on_end(self, message: Finished | NotStarted | TryEnded) -> tuple[Hashable, Outcome] | None:
        tracked = self._tracked.pop(message.key, None)
        if tracked is None:
            return None
        match message:
            case Finished(outcome=outcome):
                self._release(tracked)
                return message.key, outcome
            case NotStarted(why=why):
                tracked.log.event(why, "warning")
                self._release(tracked)
                return message.key, Outcome.DROPPED
            case TryEnded(why=why):
                self._forget(tracked, why)
                # ENDED tells the scheduler the try is over: a cleared task (RESTARTING) is
                # scheduled again, a marked one keeps its state.
                return message.key, Outcome.ENDED
        return None

    def _on_pod(self, message: PodChanged | PodGone) -> None:
        tracked = self._owner(message.name, message.ti_id)
        if tracked is None:
            return
        if isinstance(message, PodGone):
            node = tracked.status.node if tracked.status else None
            self._progress.changed(tracked, PodStatus(PodPhase.GONE, "pod deleted", node=node))
        else:
            self._progress.changed(tracked, message.status)

    def _owner(self, pod: str, ti_id: str | None) -> Tracked | None:
        """The tracked try a pod belongs to; None for a stale same-named pod of another
        task instance (it is being replaced) or a pod not ours."""
        key = self._by_pod.get(pod)
        tracked = self._tracked.get(key) if key is not None else None
        if tracked is None or (ti_id is not None and ti_id != tracked.ref.ti_id):
            return None
        return tracked

    # scheduler thread: helpers ----------------------------------------------------------
    def _track(self, ref: TaskRef, ticket: LaunchTicket) -> Tracked:
        log_folder = self.w.log_folder
        task_log = TaskLog(log_folder / ref.log_path if log_folder and ref.log_path else None)
        tracked = Tracked(ref=ref, log=task_log, pod=pod_name_of(ref.run), ticket=ticket)
        tracked.submitted_at = self.w.clock()
        self._tracked[ref.key] = tracked
        self._by_pod[tracked.pod] = ref.key
        return tracked

    def _ending(self, tracked: Tracked) -> Ending:
        launched = tracked.launched
        return Ending(
            tracked.ref,
            tracked.log,
            tracked.reporter,
            tracked.should_retry,
            tracked.pod,
            launched.namespace if launched else None,
            launched.memory_limit if launched else None,
            launched.execution_timeout if launched else None,
        )

    def _finish(self, tracked: Tracked, status: PodStatus) -> None:
        tracked.finishing = True
        ending = self._ending(tracked)
        lanes.submit(
            self._lanes.finish,
            tracked.ref.label,
            lambda: self._finisher.finish(ending, status),
            lambda exc: self._finisher.fail(ending, f"executor error: {exc}"),
        )

    def _release(self, tracked: Tracked) -> None:
        """Stop everything that still runs for a try that is over."""
        key = tracked.ref.key
        self._heartbeats.remove(key)
        if self._by_pod.get(tracked.pod) == key:
            del self._by_pod[tracked.pod]
        if self._admitter is not None:
            self._admitter.discard(key)
        if tracked.reporter is not None:
            tracked.reporter.close()

    def _forget(self, tracked: Tracked, why: str) -> None:
        """The try is not ours any more: cancel its launch; keep its log and delete its pod."""
        tracked.log.event(f"{why}; stopping it", "warning")
        pod_exists = tracked.ticket.cancel()
        self._release(tracked)
        if pod_exists and tracked.namespace is not None:
            ending = self._ending(tracked)
            lanes.submit(
                self._lanes.finish,
                tracked.ref.label,
                lambda: self._finisher.retire(ending),
                lambda exc: None,  # retiring is best effort; the next cleanup finds the pod
            )

    # worker threads: where prepared pods go -------------------------------------------
    def _dispatch(self, creation: Creation) -> None:
        """Called by the prepare lane: to admission, or straight to the create lane."""
        if self._admitter is not None:
            self._admitter.add(creation)
        else:
            self._create(creation)

    def _create(self, creation: Creation) -> None:
        release = self._admitter.discard if self._admitter is not None else _no_release
        lanes.submit(
            self._lanes.create,
            creation.job.ref.label,
            lambda: self._launcher.create(creation, release),
            lambda exc: self._finisher.fail(creation.ending, f"executor error: {exc}"),
        )

    def _never(self, creation: Creation, why: str) -> None:
        lanes.submit(
            self._lanes.finish,
            creation.job.ref.label,
            lambda: self._finisher.fail(creation.ending, why),
            lambda exc: None,
        )

    def _count_restart(self, watch: str) -> None:
        self.w.metrics.incr(metric_name("watch", "restarts", watch), {"watch": watch})

    def _report_gauges(self, source: StatusSource) -> None:
        """Counts and per-node free room, every status interval (on the publisher's thread)."""
        metrics = self.w.metrics
        metrics.gauge("tracked", len(self._tracked))
        if self._heartbeats.rounds:
            metrics.timing("heartbeat.round", self._heartbeats.rounds[-1])
        for node in source.snapshot.nodes if source.snapshot is not None else ():
            free = node.free.as_dict()
            for resource in ("cpu", "memory", "nvidia.com/gpu"):
                name = metric_name("node", "free", resource, node.info.name)
                metrics.gauge(name, free.get(resource, 0), {"node": node.info.name})

    def _status_source(self) -> StatusSource:
        """What the status page shows, from immutable pieces (on the publisher's thread)."""
        view = None
        if self._admitter is not None:
            self._admitter.request_view()  # the next publish shows a fresher one
            view = self._admitter.view
        runs = view.runs if view is not None else {}
        source = StatusSource.take(view, runs, self.w.ledger, tracked=len(self._tracked))
        self._report_gauges(source)
        return source


def _no_release(key: Hashable) -> None:
    """Without admission nothing is reserved."""
