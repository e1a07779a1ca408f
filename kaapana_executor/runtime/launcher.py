"""The start of a try, on the prepare and create lanes.

prepare (prepare lane): ``/run`` through the Execution API (the task is RUNNING in Airflow
from now on and heartbeated), the launch pipeline, output cleaning; then the pod goes to the
admitter (resource admission on) or straight to the create lane — without waiting for the
next scheduler loop. create (create lane): one create call, and the launch ticket decides what
a revoke in between means. Jobs post messages; they never touch the engine's state.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.gateway import KubeError, KubeGateway
from kaapana_executor.launch.outputs import clean_output
from kaapana_executor.launch.pipeline import Launch, ProcessingContainerSource
from kaapana_executor.launch.policy import LaunchPolicy
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.finisher import Ending, Finisher
from kaapana_executor.runtime.messages import Created, Message, NotStarted, Prepared, Started
from kaapana_executor.runtime.metrics import metric_name
from kaapana_executor.runtime.refs import FinalState, ReportRejected, TaskRef, TaskReporter
from kaapana_executor.runtime.tasklog import TaskLog
from kaapana_executor.runtime.ticket import LaunchTicket
from kaapana_executor.runtime.tracked import Launched

#: Hand a prepared pod on: to admission, or to the create lane.
Dispatch = Callable[["Creation"], None]


@dataclass(frozen=True)
class LaunchJob:
    """What preparing a try needs, taken from the engine's record at submission."""

    ref: TaskRef
    log: TaskLog
    ticket: LaunchTicket

    @property
    def key(self) -> Hashable:
        key: Hashable = self.ref.key
        return key


@dataclass(frozen=True)
class Creation:
    """A prepared try whose pod is to be created (after admission, when that is on)."""

    job: LaunchJob
    ending: Ending
    launch: Launch


def memory_limit(instance: TaskInstance) -> str | None:
    limit = (instance.resources.limits or {}).get("memory")
    return None if limit is None else str(limit)


class Launcher:
    """The worker-thread side of starting a try."""

    def __init__(
        self,
        settings: ExecutorSettings,
        gateway: KubeGateway,
        reporter: Callable[[TaskRef], TaskReporter],
        images: ProcessingContainerSource,
        upstream: spec.UpstreamConfigLookup,
        finisher: Finisher,
        post: Callable[[Message], None],
    ) -> None:
        self.settings = settings
        self.policy = LaunchPolicy.from_settings(settings)
        self.gateway = gateway
        self.reporter = reporter
        self.images = images
        self.upstream = upstream
        self.finisher = finisher
        self.post = post

    def prepare(self, job: LaunchJob, dispatch: Dispatch) -> None:
        """Mark the task running, resolve its pod, clean its outputs; then ``dispatch``."""
        reporter = self.reporter(job.ref)
        try:
            started = reporter.start()
        except ReportRejected as exc:
            reporter.close()
            self.post(NotStarted(job.key, f"not started: {exc.why}"))
            return
        self.post(Started(job.key, reporter, started.should_retry))
        ending = Ending(job.ref, job.log, reporter, started.should_retry)
        job.log.event(f"kaapana-executor: preparing {job.ref.label}")
        try:
            launch = self._resolve(job, started.conf)
        except ContractError as exc:
            for line in exc.lines():
                job.log.event(line, "error")
            self.finisher.fail(ending, exc.lines()[0], logged=True)
            return
        except KaapanaError as exc:
            self.finisher.fail(ending, str(exc))
            return
        self._log_resources(job.log, launch)
        meta = launch.pod.metadata
        limit = memory_limit(launch.instance)
        limits = spec.timeouts(job.ref.executor_config)
        launched = Launched(meta.namespace, limit, limits.execution, limits.startup)
        self.post(Prepared(job.key, launched))
        if job.ticket.cancelled:
            return
        ending = Ending(
            job.ref,
            job.log,
            reporter,
            started.should_retry,
            meta.name,
            meta.namespace,
            limit,
            limits.execution,
        )
        dispatch(Creation(job, ending, launch))

    def _resolve(self, job: LaunchJob, conf: dict[str, object]) -> Launch:
        launch = spec.resolve_task(job.ref, conf, self.policy, self.images, self.upstream)
        node_run, local_run = self.policy.layout.run_dirs(job.ref.run)
        for output in launch.outputs:
            cleaned = clean_output(local_run, node_run, output)
            job.log.event(f"cleaned output {output} ({cleaned})")
        return launch

    @staticmethod
    def _log_resources(task_log: TaskLog, launch: Launch) -> None:
        for result in launch.scale:
            task_log.event(
                f"scale rule on {result.channel}: {result.mode} measured "
                f"{result.measured_bytes} bytes, needs {result.needed_bytes} bytes of memory "
                f"{result.type} {result.note}".rstrip()
            )
        resources = launch.pod.spec.containers[0].resources
        task_log.event(
            f"resources: requests {resources.requests or {}}, limits {resources.limits or {}}"
        )

    def create(self, creation: Creation, release: Callable[[Hashable], None]) -> None:
        """Create the pod; ``release`` gives back the room reserved for it when none exists."""
        job, ending, pod = creation.job, creation.ending, creation.launch.pod
        if not job.ticket.begin_create():
            release(job.key)  # revoked while it waited: nothing was created
            return
        try:
            self.gateway.create_pod(pod, labels.ANN_TI_ID)
        except KubeError as exc:
            job.ticket.not_created()
            release(job.key)
            status = str(exc.status or "unreachable")
            self.finisher.metrics.incr(metric_name("create_errors", status), {"status": status})
            state = FinalState.UP_FOR_RETRY if ending.should_retry else FinalState.FAILED
            self.finisher.fail(ending, str(exc), state)
            return
        if not job.ticket.created():  # revoked during the call: the delete follows the create
            self.finisher.delete_quietly(pod.metadata.name, pod.metadata.namespace)
            return
        job.log.event(f"pod {pod.metadata.namespace}/{pod.metadata.name} created")
        self.post(Created(job.key))
