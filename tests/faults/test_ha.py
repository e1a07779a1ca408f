"""Two Airflow schedulers (HA, on PostgreSQL), each with its own KaapanaExecutor and resource
ledger, against one cluster. What they guarantee together is stated in
docs/high-availability.md; these tests check each statement:

1. no task try ever has two pods, and nothing is lost or rerun;
2. over-commit is bounded: pods that kube-scheduler finds no room for are at most what one
   scheduler may admit before it sees the other's pods (one cluster's worth of the burst),
   and such a pod waits pinned to its node, it is never recreated or failed for it;
3. when one scheduler is SIGKILLed, the other adopts its running tasks (within the
   recommended timers' bound) and finishes them, again without duplicates.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from kubernetes import client

from tests.faults.conftest import FAULT_DAGS, TIMERS
from tests.support.airflow import AirflowRest, LocalAirflow, running_airflow, wait_until
from tests.support.cluster import Cluster
from tests.support.podrecord import recording
from tests.support.postgres import PostgresServer, PostgresUnavailable, postgres_server
from tests.support.runcheck import RunCheck

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

SCHEDULERS = ("scheduler", "scheduler-2")
SCHEDULABLE_CPUS = 16  # kwok-cpu-1 and kwok-cpu-2; the GPU node's taint keeps these tasks off


@dataclass
class HA:
    rest: AirflowRest
    airflow: LocalAirflow
    db: PostgresServer
    namespace: str
    core: client.CoreV1Api

    def check(self, dag: str, run: str) -> RunCheck:
        return RunCheck(self.rest, self.core, self.namespace, dag, run)

    def queued_by(self, dag: str, run: str) -> dict[str, int]:
        """task_id -> id of the scheduler job that queued (or adopted) it."""
        with (
            psycopg2.connect(
                host="127.0.0.1", port=self.db.port, user=self.db.user, dbname=self.db.database
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(
                "SELECT task_id, queued_by_job_id FROM task_instance "
                "WHERE dag_id = %s AND run_id = %s",
                (dag, run),
            )
            return {task: job for task, job in cursor.fetchall()}

    def scheduler_jobs(self) -> dict[int, str]:
        with (
            psycopg2.connect(
                host="127.0.0.1", port=self.db.port, user=self.db.user, dbname=self.db.database
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT id, state FROM job WHERE job_type = 'SchedulerJob'")
            return dict(cursor.fetchall())


@pytest.fixture(scope="module")
def ha(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HA]:
    from examples.images.push import push_examples

    try:
        db = postgres_server().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    push_examples(cluster.registry)
    namespace = "kaapana-ha-" + secrets.token_hex(3)
    core = cluster.core_v1()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    home = tmp_path_factory.mktemp("ha-airflow")
    kaapana = {
        "namespace": namespace,
        "kubeconfig": cluster.kubeconfig,
        "data_root": str(home / "data"),
        "insecure_registries": cluster.registry,
        "cache_dir": str(home / "image-cache"),
        "heartbeat_interval": "2",
    }
    extra = {
        "KAAPANA_REGISTRY": cluster.registry,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.url,
        "AIRFLOW__CORE__PARALLELISM": "64",
        **TIMERS,
    }
    try:
        for airflow, rest in running_airflow(home, [FAULT_DAGS], kaapana, extra):
            airflow.spawn("scheduler", name="scheduler-2")
            yield HA(rest, airflow, db, namespace, core)
    finally:
        core.delete_namespace(namespace)
        db.stop()


def test_two_schedulers_share_a_burst_without_duplicates_or_an_unschedulable_storm(
    ha: HA,
) -> None:
    dag, run = "faults_ha_burst", f"ha-burst-{secrets.token_hex(3)}"
    ha.rest.wait_for_dag(dag)
    with recording(ha.core, ha.namespace) as recorder:
        ha.rest.trigger(dag, run)
        state = ha.rest.wait_run(dag, run, timeout=600)
        check = ha.check(dag, run)
        check.settle()
        verdict = check.verdict(recorder)
        pods = recorder.pods()
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
    assert len({job for job in ha.queued_by(dag, run).values()}) == 2  # both took a share
    unschedulable = sorted(p.name for p in pods if p.unschedulable)
    print(f"pods ever Unschedulable with two schedulers: {len(unschedulable)} of {len(pods)}")
    assert len(unschedulable) <= SCHEDULABLE_CPUS, unschedulable


def test_one_scheduler_killed_the_other_adopts_its_tasks(ha: HA) -> None:
    dag, run = "faults_ha_long", f"ha-kill-{secrets.token_hex(3)}"
    ha.rest.wait_for_dag(dag)
    with recording(ha.core, ha.namespace) as recorder:
        ha.rest.trigger(dag, run)
        check = ha.check(dag, run)
        check.wait_running(10)
        owners = ha.queued_by(dag, run)
        jobs = sorted(set(owners.values()))
        assert len(jobs) == 2, owners  # both run some of the tasks
        ha.airflow.kill("scheduler")  # one of the two; the survivor must adopt its tasks
        killed = time.monotonic()
        wait_until(
            lambda: len(set(ha.queued_by(dag, run).values())) == 1,
            120,
            "the surviving scheduler to adopt every task",
        )
        adopted_after = time.monotonic() - killed
        state = ha.rest.wait_run(dag, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    ha.airflow.spawn("scheduler")  # two schedulers again for later tests
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
    print(f"adopted by the surviving scheduler after {adopted_after:.0f}s")
    assert adopted_after < 90
