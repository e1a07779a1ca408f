"""One real Airflow for the fault-injection tests, its executor reaching the API server
through a fault-injecting proxy (``tests/support/faultproxy.py``).

The scheduler runs with the adoption timers the README recommends
(``scheduler_health_check_threshold`` 15 s, ``orphaned_tasks_check_interval`` 10 s); finished
pods are deleted (``pod_deletion = always``, the default), so a pod left behind is a finding.
Tests kill and restart the scheduler; after each test the scheduler runs again, the proxy has
no rules and is thawed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kaapana_executor.adoption import (
    RECOMMENDED_HEALTH_CHECK_THRESHOLD,
    RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL,
)
from tests.support.airflow import AirflowRest, LocalAirflow, local_settings, running_airflow
from tests.support.cluster import Cluster
from tests.support.faultproxy import FaultProxy
from tests.support.runcheck import RunCheck

FAULT_DAGS = Path(__file__).parent / "dags"
#: The adoption timers the README recommends (item 6 of issue 10).
TIMERS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": str(
        int(RECOMMENDED_HEALTH_CHECK_THRESHOLD)
    ),
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(
        RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL
    ),
}


@dataclass
class Faulty:
    """Airflow + executor + proxy + direct access to the cluster, for one fault test."""

    rest: AirflowRest
    airflow: LocalAirflow
    proxy: FaultProxy
    cluster: Cluster
    namespace: str
    core: client.CoreV1Api

    def log_file(self, dag: str, run: str, task: str, try_number: int = 1) -> Path:
        return (
            self.airflow.home
            / "logs"
            / f"dag_id={dag}"
            / f"run_id={run}"
            / f"task_id={task}"
            / f"attempt={try_number}.log"
        )

    def log_text(self, dag: str, run: str, task: str, try_number: int = 1) -> str:
        path = self.log_file(dag, run, task, try_number)
        return path.read_text(errors="replace") if path.exists() else ""

    def check(self, dag: str, run: str) -> RunCheck:
        return RunCheck(self.rest, self.core, self.namespace, dag, run)

    def scheduler_alive(self) -> bool:
        return self.airflow.processes["scheduler"].poll() is None

    def scheduler_log_tail(self, chars: int = 4000) -> str:
        return (self.airflow.home / "scheduler.log").read_text(errors="replace")[-chars:]

    def restart_scheduler(self, extra_env: dict[str, str] | None = None) -> None:
        """SIGKILL the scheduler (if it runs) and start a new one."""
        self.airflow.kill("scheduler")
        self.airflow.spawn("scheduler", extra_env=extra_env or {})


def _start(cluster: Cluster, home: Path, proxy: FaultProxy) -> Iterator[Faulty]:
    from examples.images.push import push_examples

    push_examples(cluster.registry)
    namespace = "kaapana-faults-" + secrets.token_hex(3)
    core = cluster.core_v1()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    kubeconfig = proxy.write_kubeconfig(home.parent / f"{home.name}-proxy.kubeconfig")
    kaapana: dict[str, Any] = local_settings(
        namespace,
        kubeconfig,
        [cluster.registry],
        home,
        heartbeat_interval="2",
        pod_deletion="always",
    )
    extra = {
        "KAAPANA_REGISTRY": cluster.registry,
        "AIRFLOW__CORE__PARALLELISM": "64",
        **TIMERS,
    }
    try:
        for airflow, rest in running_airflow(home, [FAULT_DAGS], kaapana, extra):
            yield Faulty(rest, airflow, proxy, cluster, namespace, core)
    finally:
        core.delete_namespace(namespace)


@pytest.fixture(scope="package")
def faulty(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """Airflow with KaapanaExecutor behind the fault proxy (shared by the fault tests)."""
    home = tmp_path_factory.mktemp("faults-airflow")
    with FaultProxy(cluster.kubeconfig, tmp_path_factory.mktemp("faults-proxy")) as proxy:
        yield from _start(cluster, home, proxy)


@pytest.fixture
def env(faulty: Faulty) -> Iterator[Faulty]:
    """``faulty``, reset after the test: no proxy rules, thawed, a scheduler running."""
    yield faulty
    faulty.proxy.clear()
    faulty.proxy.thaw()
    if not faulty.scheduler_alive():
        faulty.airflow.spawn("scheduler")
