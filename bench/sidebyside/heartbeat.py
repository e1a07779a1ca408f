"""Heartbeat rounds for N running tasks against a real Execution API.

Real Airflow (api-server, scheduler, dag-processor on PostgreSQL; tests/support/airflow.py) runs
KaapanaExecutor on the bench's pool; one DAG of N tasks whose pods never finish is triggered.
Once all N are running, the executor heartbeats each of them every ``heartbeat_interval``
through the api-server; it reports each round's duration as the ``heartbeat.round`` timing,
which a statsd listener collects. A round must stay well inside the interval, and no task may
fail for want of a heartbeat. PostgreSQL, as deployments run it: on SQLite, 1,000 tasks'
heartbeats locked the database and the api-server answered the bench's own reads with 500.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from bench.sidebyside.common import namespace, percentile
from bench.sidebyside.pool import Pool
from kaapana_executor.k8s.client import load_api_client
from tests.support.airflow import AirflowRest, local_settings, running_airflow
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.statsd import StatsdListener

DAG_ID = "bench_heartbeats"
TASK = {
    "name": "hb",
    "image": "{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:1",
    "taskTemplate": "upstream",
    "config": {"annotations": {"kwok.kaapana.io/never-finish": "true"}},
}


def dag_file(tasks: int) -> str:
    """One DAG of ``tasks`` independent never-finishing tasks."""
    return "\n".join(
        [
            "from airflow.sdk import DAG",
            "from kaapana_executor.authoring import KaapanaTaskOperator",
            f"TASK = {TASK!r}",
            f"with DAG({DAG_ID!r}, schedule=None, catchup=False, max_active_tasks={tasks}):",
            f"    for i in range({tasks}):",
            '        KaapanaTaskOperator(task_id=f"t{i:05d}", task_json=TASK)',
            "",
        ]
    )


def _running(rest: AirflowRest, run_id: str) -> dict[str, int]:
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
    counts = {}
    for state in ("running", "failed", "up_for_retry"):
        found = rest.call("GET", path, params={"state": state, "limit": 1})
        counts[state] = int(found["total_entries"])
    return counts


def _rounds(statsd: StatsdListener) -> list[float]:
    """Seconds of each reported heartbeat round (statsd timings are in ms)."""
    rounds = []
    for line in list(statsd.lines):
        name, _, rest = line.partition(":")
        if name.endswith("kaapana_executor.heartbeat.round"):
            rounds.append(float(rest.split("|", 1)[0]) / 1000)
    return rounds


@dataclass(frozen=True)
class Setup:
    """One heartbeat run: ``tasks`` never-finishing tasks, rounds watched for ``watch`` s;
    ``api_workers`` is the api-server's worker processes (``[api] workers``), which serve the
    Execution API's heartbeats: the round time is bounded by their throughput."""

    kubeconfig: str
    registry: str
    pool: Pool
    tasks: int
    home: Path
    watch: float
    api_workers: int = 1


def heartbeat_rounds(setup: Setup) -> dict[str, Any]:
    """Run the setup's tasks through real Airflow and report the heartbeat rounds."""
    from examples.images.push import push_examples

    push_examples(setup.registry)
    with namespace(load_api_client(setup.kubeconfig), "bench-perf2-hb") as ns:
        return _in_airflow(setup, ns)


def _in_airflow(setup: Setup, ns: str) -> dict[str, Any]:
    kubeconfig, registry, pool, tasks, home = (
        setup.kubeconfig,
        setup.registry,
        setup.pool,
        setup.tasks,
        setup.home,
    )
    dags = home / "dags-src"
    dags.mkdir(parents=True)
    (dags / "bench_heartbeats.py").write_text(dag_file(tasks))
    kaapana = local_settings(
        ns,
        kubeconfig,
        [registry],
        home,
        pod_tolerations=json.dumps(pool.tolerations()),
        pod_node_selector=json.dumps(pool.node_selector()),
        pod_deletion="always",
    )
    statsd = StatsdListener()
    db = postgres_server().start()
    extra = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.url,
        "KUBECONFIG": kubeconfig,
        "KAAPANA_REGISTRY": registry,
        "AIRFLOW__CORE__PARALLELISM": str(tasks + 100),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(tasks + 100),
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "512",
        "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT": str(tasks + 100),  # default: 128
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        "AIRFLOW__API__WORKERS": str(setup.api_workers),
    }
    try:
        for _, rest in running_airflow(home / "airflow", [dags], kaapana, extra):
            oldest = _OldestBeat(db)
            return {
                "api-server workers": setup.api_workers,
                **_measure(rest, statsd, tasks, setup.watch, oldest),
            }
    finally:
        statsd.close()
        db.stop()
    raise AssertionError("unreachable")


class _OldestBeat:
    """How old the oldest running task's last heartbeat is, as Airflow's database has it:
    what Airflow's heartbeat timeout compares (300 s by default)."""

    def __init__(self, db: PostgresServer) -> None:
        self._db = db

    def seconds(self) -> float:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self._db.port, user=self._db.user, dbname=self._db.database
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT EXTRACT(EPOCH FROM now() - min(last_heartbeat_at)) FROM task_instance "
                    "WHERE dag_id = %s AND state = 'running'",
                    (DAG_ID,),
                )
                (value,) = cursor.fetchone() or (None,)
                return float(value) if value is not None else float("nan")
        finally:
            connection.close()


def _measure(
    rest: AirflowRest, statsd: StatsdListener, tasks: int, watch: float, oldest: _OldestBeat
) -> dict[str, Any]:
    rest.wait_for_dag(DAG_ID, timeout=300)
    run_id = f"hb-{secrets.token_hex(3)}"
    began = time.monotonic()
    rest.trigger(DAG_ID, run_id)
    counts = _running(rest, run_id)
    while counts["running"] < tasks and time.monotonic() - began < 900:
        if counts["failed"]:
            raise RuntimeError(f"tasks failed before all ran: {counts}")
        time.sleep(5)
        counts = _running(rest, run_id)
    all_running = time.monotonic() - began
    seen = len(_rounds(statsd))
    ages = []
    until = time.monotonic() + watch
    while time.monotonic() < until:
        ages.append(oldest.seconds())
        time.sleep(5)
    rounds = _rounds(statsd)[seen:]
    after = _running(rest, run_id)
    rest.call("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})
    return {
        "tasks": tasks,
        "all running after s": round(all_running, 1),
        "rounds reported": len(rounds),
        "round p50 / max s": (percentile(rounds, 0.5), max(rounds) if rounds else float("nan")),
        "oldest last heartbeat, max over the watch s": max(ages) if ages else float("nan"),
        "states after watching": after,
    }
