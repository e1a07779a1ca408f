"""The engine's ``sync`` under the orderings its threads allow, without a cluster.

The lanes are run by hand (:class:`ManualPool`), pod events are delivered when a case says,
the API server is an in-memory store of pods and the clock is a number: so each case fixes
one interleaving of prepare, create, watch events, revokes, clears and finishing, and checks
what came out — the outcomes ``sync`` reports, the states recorded in Airflow, the pods left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents
from kaapana_executor.contract.schema import Kind
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.podstate import PodPhase, PodStatus
from kaapana_executor.launch.identity import pod_name_of
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.runtime.engine import SYNC_BUDGET, AdoptedPod, Engine, Wiring
from kaapana_executor.runtime.lanes import Lanes
from kaapana_executor.runtime.messages import PodChanged, PodGone
from kaapana_executor.runtime.refs import (
    EXECUTOR_CONFIG_KEY,
    FinalState,
    ReportRejected,
    StartContext,
    TaskRef,
)
from kaapana_executor.runtime.tracked import Outcome


class ManualPool(Executor):
    """An executor whose jobs run only when the test says so."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], object]] = []

    def submit(self, fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs.append(lambda: fn(*args, **kwargs))
        return Future()

    def run_all(self) -> int:
        ran = 0
        while self.jobs:
            self.jobs.pop(0)()
            ran += 1
        return ran


class MemoryGateway:
    """The pod calls the engine makes, against a dict; ``on_create`` runs inside the create
    call (to deliver a watch event before the call returns)."""

    def __init__(self) -> None:
        self.pods: dict[str, client.V1Pod] = {}
        self.logs: dict[str, str] = {}
        self.on_create: Callable[[client.V1Pod], None] = lambda pod: None

    def named(self, component: str) -> MemoryGateway:
        return self  # one dict of pods behind every component

    def create_pod(self, pod: client.V1Pod, owner_key: str, stale_wait: float = 60) -> None:
        self.pods[pod.metadata.name] = pod
        self.on_create(pod)

    def delete_pod(self, name: str, namespace: str, grace_seconds: int = 0) -> bool:
        return self.pods.pop(name, None) is not None

    def read_log(self, name: str, namespace: str, tail_lines: int | None = None) -> str:
        return self.logs.get(name, "")

    def read_pod(self, name: str, namespace: str) -> client.V1Pod | None:
        return self.pods.get(name)


@dataclass
class Airflow:
    """Records what the executor reported per task instance id; can refuse like Airflow."""

    started: list[str] = field(default_factory=list)
    final: dict[str, FinalState] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)  # heartbeats answer 410
    not_queued: set[str] = field(default_factory=set)  # /run answers 409

    def reporter(self, ref: TaskRef) -> Reporter:
        return Reporter(self, ref.ti_id)


@dataclass
class Reporter:
    airflow: Airflow
    ti_id: str

    def start(self) -> StartContext:
        if self.ti_id in self.airflow.not_queued:
            raise ReportRejected(409, "not queued")
        self.airflow.started.append(self.ti_id)
        return StartContext(conf={}, should_retry=False, max_tries=0)

    def heartbeat(self) -> None:
        if self.ti_id in self.airflow.cleared:
            raise ReportRejected(410, "cleared")

    def finish(self, state: FinalState, reason: str) -> None:
        if self.ti_id in self.airflow.final:
            raise ReportRejected(409, "not running")
        self.airflow.final[self.ti_id] = state

    def close(self) -> None:
        return None


PC_TEXT = json.dumps(
    {
        "name": "c",
        "description": "",
        "templates": [{"identifier": "main", "description": "", "command": ["true"]}],
    }
)
_PARSED = documents.parse(PC_TEXT, "pc.json", kind=Kind.PROCESSING_CONTAINER).model
assert isinstance(_PARSED, ProcessingContainer)
PC: ProcessingContainer = _PARSED


def ref(task_id: str) -> TaskRef:
    task = {"name": task_id, "image": "registry.invalid/c:1", "taskTemplate": "main"}
    return TaskRef(
        key=("dag", task_id),
        ti_id=f"ti-{task_id}",
        token="t",
        run=RunContext("dag", "run", task_id),
        executor_config={EXECUTOR_CONFIG_KEY: {"task": json.dumps(task), "source": "t.json"}},
    )


class Harness:
    """An engine with manual lanes, an in-memory API server and a settable clock."""

    def __init__(self, tmp: str) -> None:
        self.now = 0.0
        self.work = 0.0  # sync()'s own time; stands still unless a test moves it
        self.work_step = 0.0  # how far each reading of it moves it
        self.gateway = MemoryGateway()
        self.airflow = Airflow()
        self.prepare, self.create, self.finish = ManualPool(), ManualPool(), ManualPool()
        settings = ExecutorSettings(data_root=tmp, image_pull_grace=30, pod_deletion="always")
        self.engine = Engine(
            Wiring(
                settings=settings,
                gateway=self.gateway,  # type: ignore[arg-type]  # the calls the engine makes
                reporter=self.airflow.reporter,
                images=lambda image, access: PC,
                upstream=lambda _ref, _task: None,
                log_folder=None,
                clock=lambda: self.now,
                work_clock=self._work_clock,
                pools=Lanes(self.prepare, self.create, self.finish),
            )
        )
        self.outcomes: dict[Hashable, Outcome] = {}

    def _work_clock(self) -> float:
        self.work += self.work_step
        return self.work

    def sync(self) -> None:
        for key, outcome in self.engine.sync():
            assert key not in self.outcomes, f"{key} reported twice"
            self.outcomes[key] = outcome

    def pod(self, task_id: str) -> client.V1Pod:
        (found,) = [
            p for p in self.gateway.pods.values() if p.metadata.labels[labels.TASK_ID] == task_id
        ]
        return found

    def deliver(self, task_id: str, phase: PodPhase, exit_code: int | None = None) -> None:
        pod = self.pod(task_id)
        status = PodStatus(phase, "", exit_code)
        meta = pod.metadata
        ti_id = meta.annotations[labels.ANN_TI_ID]
        self.engine.post(PodChanged(meta.name, meta.namespace, ti_id, status))

    def step(self) -> None:
        """Run every queued job of every lane, then sync, until nothing moves."""
        pools = (self.prepare, self.create, self.finish)
        while True:
            self.sync()
            if not any(pool.jobs for pool in pools):
                return
            for pool in pools:
                pool.run_all()


@pytest.fixture
def h(tmp_path: Any) -> Harness:
    return Harness(str(tmp_path))


def test_a_task_runs_to_success(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.step()
    assert h.airflow.started == ["ti-a"]
    h.deliver("a", PodPhase.RUNNING)
    h.deliver("a", PodPhase.SUCCEEDED, 0)
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.SUCCEEDED}
    assert h.airflow.final == {"ti-a": FinalState.SUCCESS}
    assert h.gateway.pods == {}  # deleted after the state was recorded


def test_the_pod_is_seen_before_the_create_call_returns(h: Harness) -> None:
    """The watch can report a pod (even finished) before the creating thread posts Created."""

    def finished_at_once(pod: client.V1Pod) -> None:
        meta = pod.metadata
        status = PodStatus(PodPhase.SUCCEEDED, "", 0)
        h.engine.post(
            PodChanged(meta.name, meta.namespace, meta.annotations[labels.ANN_TI_ID], status)
        )

    h.gateway.on_create = finished_at_once
    h.engine.submit(ref("a"))
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.SUCCEEDED}
    assert h.airflow.final == {"ti-a": FinalState.SUCCESS}


def test_a_revoke_while_the_create_is_queued_creates_nothing(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.prepare.run_all()  # prepared; the create job waits on its lane
    h.sync()
    h.engine.revoke(("dag", "a"))
    h.step()
    assert h.gateway.pods == {}
    assert h.outcomes == {}  # Airflow revoked it: nothing to report


def test_a_revoke_during_the_create_call_deletes_the_pod_after_it(h: Harness) -> None:
    h.gateway.on_create = lambda pod: h.engine.revoke(("dag", "a"))  # lands mid-call
    h.engine.submit(ref("a"))
    h.step()
    assert h.gateway.pods == {}


def test_a_clear_during_prepare_stops_the_launch(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.airflow.cleared.add("ti-a")
    h.prepare.run_all()  # /run done: heartbeating would now answer 410
    h.sync()
    h.engine.heartbeat_round()
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.ENDED}
    assert h.gateway.pods == {}


def test_a_task_no_longer_queued_is_dropped(h: Harness) -> None:
    h.airflow.not_queued.add("ti-a")
    h.engine.submit(ref("a"))
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.DROPPED}
    assert h.gateway.pods == {}


def test_a_pod_gone_while_running_fails_the_task(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.step()
    h.deliver("a", PodPhase.RUNNING)
    pod = h.pod("a")
    del h.gateway.pods[pod.metadata.name]
    h.engine.post(PodGone(pod.metadata.name, pod.metadata.annotations[labels.ANN_TI_ID]))
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.FAILED}
    assert h.airflow.final == {"ti-a": FinalState.FAILED}


def test_a_finish_seen_again_by_a_relist_is_finished_once(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.step()
    h.deliver("a", PodPhase.SUCCEEDED, 0)
    h.sync()
    h.deliver("a", PodPhase.SUCCEEDED, 0)  # a relist shows the same finished pod again
    h.sync()
    assert len(h.finish.jobs) == 1
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.SUCCEEDED}


def test_a_stale_pod_of_another_task_instance_is_ignored(h: Harness) -> None:
    h.engine.submit(ref("a"))
    h.step()
    pod = h.pod("a")
    stale = PodStatus(PodPhase.FAILED, "", 3)
    h.engine.post(PodChanged(pod.metadata.name, pod.metadata.namespace, "ti-older", stale))
    h.step()
    assert h.outcomes == {}  # still waiting for its own pod
    h.deliver("a", PodPhase.SUCCEEDED, 0)
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.SUCCEEDED}


@pytest.mark.parametrize(
    ("recovers", "expected"),
    [(False, {("dag", "a"): Outcome.FAILED}), (True, {("dag", "a"): Outcome.SUCCEEDED})],
)
def test_an_image_pull_error_fails_after_its_grace_unless_it_recovers(
    h: Harness, recovers: bool, expected: dict[Hashable, Outcome]
) -> None:
    h.engine.submit(ref("a"))
    h.step()
    h.deliver("a", PodPhase.IMAGE_PULL_ERROR)
    h.step()
    h.now = 29.0
    h.step()
    assert h.outcomes == {}  # within the grace
    if recovers:
        h.deliver("a", PodPhase.RUNNING)
        h.step()
    h.now = 31.0
    h.step()
    if recovers:
        h.deliver("a", PodPhase.SUCCEEDED, 0)
        h.step()
    assert h.outcomes == expected


def test_adopted_pods_are_finished_like_launched_ones(h: Harness) -> None:
    adopted = ref("a")
    name = pod_name_of(adopted.run)
    pod = AdoptedPod(name, "default", "128Mi", PodStatus(PodPhase.RUNNING))
    h.engine.adopt(adopted, pod, h.airflow.reporter(adopted), should_retry=False)
    h.engine.post(PodChanged(name, "default", "ti-a", PodStatus(PodPhase.OOM_KILLED, "", 137)))
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.FAILED}
    assert h.airflow.final == {"ti-a": FinalState.FAILED}
    assert h.airflow.started == []  # adoption does not start the task again


def timed(task_id: str, **timeouts: float) -> TaskRef:
    task = ref(task_id)
    task.executor_config[EXECUTOR_CONFIG_KEY].update(timeouts)
    return task


def test_a_pod_not_running_within_its_startup_timeout_fails_and_goes(h: Harness) -> None:
    h.engine.submit(timed("a", startup_timeout=60))
    h.step()
    h.deliver("a", PodPhase.PENDING)
    h.now = 59
    h.step()
    assert h.outcomes == {}
    h.now = 61
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.FAILED}
    assert h.gateway.pods == {}  # deleted whatever the deletion policy


def test_a_running_pod_does_not_hit_its_startup_timeout(h: Harness) -> None:
    h.engine.submit(timed("a", startup_timeout=60))
    h.step()
    h.deliver("a", PodPhase.RUNNING)
    h.now = 120
    h.step()
    assert h.outcomes == {}


def test_the_executor_backs_up_the_kubelets_deadline(h: Harness) -> None:
    h.engine.submit(timed("a", execution_timeout=5))
    h.step()
    assert h.pod("a").spec.active_deadline_seconds == 5
    h.deliver("a", PodPhase.RUNNING)
    h.step()
    h.now = 9  # 5 s + the 5 s backstop not yet passed
    h.step()
    assert h.outcomes == {}
    h.now = 11
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.FAILED}
    assert h.gateway.pods == {}


def test_a_pod_whose_deletion_its_node_never_confirms_is_lost(h: Harness) -> None:
    """Evicted from a node whose kubelet stopped, a pod stays Terminating forever."""
    h.engine.submit(ref("a"))
    h.step()
    pod = h.pod("a")
    meta = pod.metadata
    evicted = PodStatus(PodPhase.RUNNING, "", None, "real-1", deleting=True)
    h.engine.post(
        PodChanged(meta.name, meta.namespace, meta.annotations[labels.ANN_TI_ID], evicted)
    )
    h.step()
    h.now = 59
    h.step()
    assert h.outcomes == {}
    h.now = 61
    h.step()
    assert h.outcomes == {("dag", "a"): Outcome.FAILED}
    assert h.gateway.pods == {}  # removed for good, whatever the deletion policy


def test_one_sync_applies_messages_for_its_time_budget_and_the_next_takes_the_rest(
    h: Harness,
) -> None:
    """A burst of pod events is applied over several syncs, in order, none lost: one sync
    never holds the scheduler thread longer than its budget, however many are queued."""
    tasks = [f"t{i}" for i in range(20)]
    for task in tasks:
        h.engine.submit(ref(task))
    h.step()
    for task in tasks:
        h.deliver(task, PodPhase.SUCCEEDED, 0)
    h.work_step = 0.001  # each message costs 1 ms of sync()'s time
    h.sync()
    applied = len(h.finish.jobs)  # each applied SUCCEEDED queued its finishing
    assert 0 < applied <= round(SYNC_BUDGET / 0.001) + 1
    for _ in range(50):  # later syncs, each within the budget too, apply the rest
        h.step()
    assert h.outcomes == {("dag", task): Outcome.SUCCEEDED for task in tasks}
