"""Two Airflow schedulers (HA, on PostgreSQL), each with its own KaapanaExecutor and resource
ledger, against one cluster. What they guarantee together is stated in
docs/high-availability.md; these tests check each statement:

1. no task try ever has two pods, and nothing is lost or rerun;
2. over-commit is bounded: pods that kube-scheduler finds no room for at one instant are at
   most what one scheduler may admit before it sees the other's pods (one cluster's worth),
   and such a pod waits pinned to its node, it is never recreated or failed for it;
3. when one scheduler is SIGKILLed, the other adopts its running tasks (within the
   recommended timers' bound) and finishes them, again without duplicates.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg2
import pytest
from kubernetes import client

from tests.faults.conftest import FAULT_DAGS, TIMERS
from tests.support.airflow import (
    AirflowRest,
    LocalAirflow,
    local_settings,
    running_airflow,
    wait_until,
)
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
    jobs: dict[str, int] = field(default_factory=dict)  # process name -> scheduler job id

    def spawn_scheduler(self, name: str) -> None:
        """Start a scheduler process and note which job id it got."""
        before = set(self.running_schedulers())
        self.airflow.spawn("scheduler", name=name)
        self.wait_schedulers(len(before) + 1)
        (self.jobs[name],) = set(self.running_schedulers()) - before

    def check(self, dag: str, run: str) -> RunCheck:
        return RunCheck(self.rest, self.core, self.namespace, dag, run)

    def _query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.db.port, user=self.db.user, dbname=self.db.database
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def queued_by(self, dag: str, run: str) -> dict[str, int]:
        """task_id -> id of the scheduler job that queued (or adopted) it."""
        rows = self._query(
            "SELECT task_id, queued_by_job_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
            dag,
            run,
        )
        return {str(task): int(str(job)) for task, job in rows if job is not None}

    def running_schedulers(self) -> list[int]:
        """Ids of the scheduler jobs that run and heartbeat (within the last 10 s)."""
        rows = self._query(
            "SELECT id FROM job WHERE job_type = 'SchedulerJob' AND state = 'running' "
            "AND latest_heartbeat > now() - interval '10 seconds'"
        )
        return sorted(int(str(row[0])) for row in rows)

    def wait_schedulers(self, count: int) -> None:
        wait_until(lambda: len(self.running_schedulers()) == count, 120, f"{count} schedulers")


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
    kaapana = local_settings(
        namespace, cluster.kubeconfig, [cluster.registry], home, heartbeat_interval="2"
    )
    extra = {
        "KAAPANA_REGISTRY": cluster.registry,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.url,
        "AIRFLOW__CORE__PARALLELISM": "64",
        # Few task instances per scheduling query, so both schedulers get a share of a burst
        # (one scheduler would otherwise queue a whole small DAG run in one loop).
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "4",
        **TIMERS,
    }
    try:
        for airflow, rest in running_airflow(home, [FAULT_DAGS], kaapana, extra):
            pair = HA(rest, airflow, db, namespace, core)
            pair.wait_schedulers(1)
            pair.jobs["scheduler"] = pair.running_schedulers()[0]
            pair.spawn_scheduler("scheduler-2")
            yield pair
    finally:
        core.delete_namespace(namespace)
        db.stop()


def test_two_schedulers_share_a_burst_without_duplicates_or_an_unschedulable_storm(
    ha: HA,
) -> None:
    dag = "faults_ha_burst"
    ha.rest.wait_for_dag(dag)
    shared = False
    # Which scheduler queues what is Airflow's business: on a busy machine one may take a whole
    # burst. Each burst must hold the guarantees; at least one must be shared, or the test
    # would not have tested two executors.
    for _ in range(3):
        run = f"ha-burst-{secrets.token_hex(3)}"
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
        unschedulable = sorted(p.name for p in pods if p.unschedulable)
        peak = recorder.peak_unschedulable
        print(
            f"pods Unschedulable with two schedulers: {len(unschedulable)} of {len(pods)} ever, "
            f"at most {peak} at one instant"
        )
        # The guarantee (docs/high-availability.md, statement 4) is per instant: each ledger
        # keeps its own pods on a node within what it sees free, so at any moment the pods
        # without room are at most the other scheduler's share, one cluster's worth. Counting
        # pods *ever* Unschedulable over a burst adds up separate windows (each time room
        # frees, both ledgers may fill it), which no executor of two can bound: a loaded
        # machine, whose watches lag, showed 17 of 40 ever, so the test checks the instant.
        assert peak <= SCHEDULABLE_CPUS, (peak, unschedulable)
        if len(set(ha.queued_by(dag, run).values())) == 2:
            shared = True
            break
    assert shared, "one scheduler took every burst: the two executors were never both tested"


def test_one_scheduler_killed_the_other_adopts_its_tasks(ha: HA) -> None:
    dag, run = "faults_ha_long", f"ha-kill-{secrets.token_hex(3)}"
    ha.rest.wait_for_dag(dag)
    with recording(ha.core, ha.namespace) as recorder:
        ha.rest.trigger(dag, run)
        check = ha.check(dag, run)
        # Not all 10 at once: both ledgers may pick the same node in the same instant, and
        # the over-committed pods wait there (statement 4 of docs/high-availability.md).
        check.wait_running(6)
        owners = ha.queued_by(dag, run)
        # Kill the scheduler that runs the most of them (how a burst splits varies); the
        # survivor must adopt what it ran.
        victim = max(ha.jobs, key=lambda name: sum(j == ha.jobs[name] for j in owners.values()))
        survivor = next(name for name in ha.jobs if name != victim)
        assert any(j == ha.jobs[victim] for j in owners.values()), (owners, ha.jobs)
        ha.airflow.kill(victim)
        killed = time.monotonic()
        wait_until(
            lambda: set(ha.queued_by(dag, run).values()) == {ha.jobs[survivor]},
            120,
            "the surviving scheduler to adopt every task",
        )
        adopted_after = time.monotonic() - killed
        state = ha.rest.wait_run(dag, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    ha.spawn_scheduler(victim)  # two schedulers again for later tests
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
    print(f"adopted by the surviving scheduler after {adopted_after:.0f}s")
    assert adopted_after < 90
