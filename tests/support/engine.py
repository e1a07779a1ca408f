"""The executor's engine on the local cluster without Airflow, for admission tests and benches.

Everything is real (Kubernetes gateway, watchers, ledger, spec, pod building) except the
Execution API, which an in-process reporter stands in for: these measure and test the
executor, not Airflow's API server.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from kaapana_executor import quantity
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.ledger.ledger import Ledger, pinned_node
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.runtime.engine import Engine, Wiring
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY, FinalState, StartContext, TaskRef

REPO = Path(__file__).resolve().parents[2]
DUMMY = documents.load_processing_container(
    REPO / "examples/images/dummy/processing-container.json"
)


class InProcessReporter:
    """Stands in for the Execution API; remembers the final state it was told."""

    reported: dict[str, FinalState] = {}

    def __init__(self, ti_id: str) -> None:
        self.ti_id = ti_id

    def start(self) -> StartContext:
        return StartContext(conf={}, should_retry=False, max_tries=0)

    def heartbeat(self) -> None:
        return None

    def finish(self, state: FinalState, reason: str) -> None:
        InProcessReporter.reported[self.ti_id] = state

    def close(self) -> None:
        return None


def task_config(
    annotations: dict[str, str], resources: dict[str, Any] | None = None
) -> dict[str, Any]:
    """executor_config for a task of the example dummy image's upstream template."""
    task: dict[str, Any] = {
        "name": "engine-test",
        "image": "registry.invalid/kaapana/dummy:1",
        "taskTemplate": "upstream",
        "config": {"annotations": annotations},
    }
    if resources:
        task["resources"] = resources
    return {EXECUTOR_CONFIG_KEY: {"task": json.dumps(task), "source": "engine-test.json"}}


def ref(
    dag_id: str, run_id: str, task_id: str, config: dict[str, Any], priority: int = 1
) -> TaskRef:
    return TaskRef(
        key=(dag_id, task_id, run_id),
        ti_id=f"{run_id}-{task_id}",
        token="",
        run=RunContext(dag_id, run_id, task_id),
        executor_config=config,
        priority_weight=priority,
    )


def engine(
    settings: ExecutorSettings,
    gateway: KubeGateway,
    ledger: Ledger | None,
    log_folder: Path | None = None,
) -> Engine:
    """An engine with real collaborators except the Execution API; task logs are written
    under ``log_folder`` (for refs with a ``log_path``) when given."""

    def images(_: str, access: object) -> ProcessingContainer:
        return DUMMY

    return Engine(
        Wiring(
            settings=settings,
            gateway=gateway,
            reporter=lambda r: InProcessReporter(r.ti_id),
            images=images,
            upstream=lambda _ref, _task: None,
            log_folder=log_folder,
            watch_namespace=settings.namespace,
            ledger=ledger,
        )
    )


class PodJudge:
    """Watches the namespace: records every Unschedulable pod and the CPU running at once."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.unschedulable: set[str] = set()
        self.pinned: dict[str, str] = {}  # pod → the node the ledger pinned it to
        self.messages: dict[str, str] = {}  # first Unschedulable message per pod
        self.running_cpu: dict[str, int] = {}
        self.peak_cpu = 0
        self._core, self._namespace = core, namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            w = watch.Watch()
            for event in w.stream(
                self._core.list_namespaced_pod, self._namespace, timeout_seconds=5
            ):
                self._see(event["object"], event["type"])

    def _see(self, pod: client.V1Pod, kind: str) -> None:
        name = pod.metadata.name
        node = pinned_node(pod.spec) if pod.spec else None
        if node is not None:
            self.pinned[name] = node
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                if name not in self.unschedulable:
                    self.messages[name] = f"{time.monotonic():.3f} {condition.message}"
                self.unschedulable.add(name)
        if kind != "DELETED" and pod.status.phase == "Running":
            requests = pod.spec.containers[0].resources.requests or {}
            self.running_cpu[name] = quantity.millicores(requests.get("cpu", "0"))
        else:
            self.running_cpu.pop(name, None)
        self.peak_cpu = max(self.peak_cpu, sum(self.running_cpu.values()))

    def __enter__(self) -> PodJudge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def drive(eng: Any, keys: set[Any], timeout: float) -> None:
    """Play the scheduler loop: sync until every key is reported."""
    running = set(keys)
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        for key, _ in eng.sync():
            running.discard(key)
        time.sleep(0.05)
    assert not running, f"{len(running)} tasks never finished"
