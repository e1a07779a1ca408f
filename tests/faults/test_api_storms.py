"""429 and 5xx storms (with Retry-After), dropped connections and cut watches between the
executor and the API server, injected by the fault proxy, with real Airflow.

Each test checks the run (0 lost, 0 duplicated, 0 stuck, no pod left) and what the executor
did after each injected answer: the next request of the same kind must come no earlier than
the ``Retry-After`` the answer asked for.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import Faulty
from tests.support.faultproxy import Drop, Rule, Seen, Status
from tests.support.podrecord import recording

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

BURST = "faults_burst"
LONG = "faults_long"
SLACK = 0.9  # Retry-After is whole seconds; allow for clock granularity


def retry_after_violations(requests: list[Seen], same: Callable[[Seen, Seen], bool]) -> list[str]:
    """Injected answers with Retry-After whose next request of the same kind came too soon."""
    ordered = sorted(requests, key=lambda r: r.at)
    found = []
    for i, first in enumerate(ordered):
        if not isinstance(first.fault, Status) or not first.fault.retry_after:
            continue
        following = next((r for r in ordered[i + 1 :] if same(first, r)), None)
        if following is None:
            continue
        waited = following.at - first.at
        if waited < first.fault.retry_after * SLACK:
            found.append(
                f"{first.method} {first.path} got {first.fault.code} with Retry-After "
                f"{first.fault.retry_after}, next {following.method} "
                f"{'watch' if following.watch else 'request'} after {waited:.2f}s"
            )
    return found


def same_pod_create(a: Seen, b: Seen) -> bool:
    return b.method == "POST" and b.pod is not None and b.pod == a.pod


def same_path(a: Seen, b: Seen) -> bool:
    """The same component asking for the same path again: its retry. (The janitor listing
    the pods the watcher lists is its own request, not the watcher's retry.)"""
    return b.path == a.path and b.agent == a.agent


def test_create_storm_loses_and_duplicates_nothing_and_honours_retry_after(env: Faulty) -> None:
    pods = r"/api/v1/namespaces/[^/]+/pods$"
    rules = [
        env.proxy.add(Rule(Drop(), method="POST", path=pods, times=2)),
        env.proxy.add(Rule(Status(429, retry_after=2), method="POST", path=pods, times=6)),
        env.proxy.add(Rule(Status(503, retry_after=1), method="POST", path=pods, times=4)),
        env.proxy.add(Rule(Status(500, retry_after=1), method="POST", path=pods, times=2)),
    ]
    run = f"storm-create-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(BURST)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(BURST, run)
        state = env.rest.wait_run(BURST, run, timeout=300)
        check = env.check(BURST, run)
        check.settle()
        verdict = check.verdict(recorder)
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
    assert [r.applied for r in rules] == [2, 6, 4, 2]  # every injection happened
    creates = [r for r in env.proxy.requests if r.method == "POST" and r.pod]
    created = [r.pod or "" for r in creates if r.status == 201]
    assert sorted(created) == sorted(set(created)) and len(created) == 12, created
    assert retry_after_violations(creates, same_pod_create) == []


def test_list_and_watch_storm_loses_nothing_and_honours_retry_after(env: Faulty) -> None:
    """Errors on the lists and watches of the pod watcher and the ledger, while a new
    scheduler starts (its executor lists everything first) and runs a burst of tasks.

    With admission on (the default) both watch pods cluster-wide (``/api/v1/pods``): the pod
    watcher takes the executors' pods and hands them to the ledger, whose own watch takes
    every other pod. So the faults go on that path, where both components meet them."""
    pods, nodes = r"^/api/v1/pods$", r"^/api/v1/nodes$"
    rules = [
        env.proxy.add(Rule(Status(429, retry_after=3), "GET", pods, False, 4)),
        env.proxy.add(Rule(Status(503, retry_after=2), "GET", nodes, False, 2)),
        env.proxy.add(Rule(Status(500, retry_after=2), "GET", pods, True, 2)),
        env.proxy.add(Rule(Drop(after=2), "GET", pods, True, 2)),
        env.proxy.add(Rule(Drop(), "GET", nodes, True, 1)),
    ]
    env.airflow.restart("scheduler")
    run = f"storm-list-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(BURST)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(BURST, run)
        state = env.rest.wait_run(BURST, run, timeout=300)
        check = env.check(BURST, run)
        check.settle()
        verdict = check.verdict(recorder)
    assert env.scheduler_alive(), env.scheduler_log_tail()
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(r.applied for r in rules), [(r.path, r.fault, r.applied) for r in rules]
    lists = [r for r in env.proxy.requests if r.method == "GET" and not r.path.endswith("/log")]
    # each component asks with its own User-Agent (else "the same component" means nothing)
    agents = {r.agent for r in lists}
    assert {"kaapana-executor/watcher", "kaapana-executor/ledger"} <= agents, agents
    assert retry_after_violations(lists, same_path) == []


def test_adoption_survives_a_5xx_storm_on_the_pod_list(env: Faulty) -> None:
    """A scheduler killed mid-run; its successor adopts while every list of the executor's
    pods answers 503 for 30 s. The scheduler must survive, adopt and lose nothing.
    (Adoption lists the namespace; the pod watcher, with admission on, all namespaces.)"""
    run = f"adopt-5xx-{secrets.token_hex(3)}"
    env.rest.wait_for_dag(LONG)
    with recording(env.core, env.namespace) as recorder:
        env.rest.trigger(LONG, run)
        check = env.check(LONG, run)
        check.wait_running(6)
        listed = rf"^/api/v1/(namespaces/{env.namespace}/)?pods$"
        storm = env.proxy.add(Rule(Status(503, retry_after=1), "GET", listed, False))
        env.restart_scheduler()
        time.sleep(30)
        env.proxy.clear()
        assert storm.applied > 0
        # A scheduler whose loop died takes some seconds to exit: watch it a while.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert env.scheduler_alive(), f"the scheduler died:\n{env.scheduler_log_tail()}"
            time.sleep(1)
        state = env.rest.wait_run(LONG, run, timeout=300)
        check.settle()
        verdict = check.verdict(recorder)
    assert state == "success", verdict.summary()
    assert verdict.clean, verdict.summary()
    assert all(t == 1 for _, t in verdict.states.values()), verdict.states
