"""Crashes with real Airflow: the scheduler SIGKILLed mid-run, the kube-apiserver stopped
(SIGSTOP) for 30 s, and a crash injected between each pair of the steps that finish a task.

The scheduler runs with the adoption timers the README recommends, so a killed scheduler's
tasks are adopted within seconds (Airflow's defaults would stall them for about 5 minutes).
"""

from __future__ import annotations

import secrets
import time

import pytest

from kaapana_executor.adoption import (
    RECOMMENDED_HEALTH_CHECK_THRESHOLD,
    RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL,
    worst_adoption_delay,
)
from kaapana_executor.runtime import faults
from tests.faults.conftest import Faulty
from tests.faults.dags.faults_dags import FINISH_MARKER
from tests.support.airflow import wait_until
from tests.support.controlplane import apiserver_stopped
from tests.support.podrecord import recording

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

LONG, LONG_TASKS = "faults_long", [f"l{i}" for i in range(6)]
FINISH = "faults_finish"
# A restarted scheduler needs some seconds to start (more on a busy machine) on top of the
# timers' worst case; Airflow's defaults would take about 330 s.
ADOPTION_BOUND = (
    worst_adoption_delay(
        RECOMMENDED_HEALTH_CHECK_THRESHOLD, RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL
    )
    + 60
)


def test_scheduler_sigkill_mid_run_is_adopted_in_seconds(env: Faulty) -> None:
    run = f"sigkill-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(LONG)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(LONG, run)
        check = env.check(LONG, run)
        check.wait_running(len(LONG_TASKS))
        killed = time.monotonic()
        env.restart_scheduler()
        wait_until(
            lambda: all("adopted" in env.log_text(LONG, run, t) for t in LONG_TASKS),
            ADOPTION_BOUND + 60,
            "every running task to be adopted",
        )
        adopted_after = time.monotonic() - killed
        state = env.rest.wait_run(LONG, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
    print(f"adopted {adopted_after:.0f}s after the SIGKILL")
    assert adopted_after < ADOPTION_BOUND, f"adoption took {adopted_after:.0f}s"


def test_apiserver_stopped_for_30s_mid_run(env: Faulty) -> None:
    run = f"sigstop-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(LONG)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(LONG, run)
        check = env.check(LONG, run)
        check.wait_running(len(LONG_TASKS))
        with apiserver_stopped(env.cluster.env):
            time.sleep(30)
        state = env.rest.wait_run(LONG, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    assert env.scheduler_alive(), env.scheduler_log_tail()
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states


@pytest.mark.parametrize(
    "point", ["finish.log_persisted", "finish.state_reported", "finish.pod_deleted"]
)
def test_crash_between_finish_steps_replays_safely(env: Faulty, point: str) -> None:
    """The scheduler dies (exit 137, like SIGKILL) right after one step of finishing a
    succeeded task; its successor must complete the rest: the state reported once as
    success on try 1 (no rerun), the container log kept once, the pod deleted."""
    env.restart_scheduler({faults.ENV: point})
    run = f"crash-{point.split('.')[1].replace('_', '-')}-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(FINISH)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(FINISH, run)
        code = env.airflow.wait_exit("scheduler", timeout=240)
        assert code == faults.EXIT_CODE, env.scheduler_log_tail()
        env.airflow.spawn("scheduler")
        state = env.rest.wait_run(FINISH, run, timeout=300)
        check = env.check(FINISH, run)
        check.settle()
        verdict = check.verdict(recorder)
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert verdict.states["once"] == ("success", 1)
    log = env.rest.log(FINISH, run, "once", 1)
    assert log.count(FINISH_MARKER) == 1, log[-3000:]


def test_executor_cut_off_from_the_api_server_for_30s(env: Faulty) -> None:
    """Only the executor's connection freezes (the fault proxy), the cluster goes on: pods
    finish while the executor cannot see them, and it must catch up afterwards."""
    run = f"cut-off-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(LONG)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(LONG, run)
        check = env.check(LONG, run)
        check.wait_running(len(LONG_TASKS))
        with env.proxy.frozen():
            time.sleep(30)  # the 25 s pods finish meanwhile
        state = env.rest.wait_run(LONG, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    assert env.scheduler_alive(), env.scheduler_log_tail()
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
