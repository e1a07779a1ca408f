"""The admission plan: fit, order, head hold with backfill, aging, never-fit, quota, reasons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from kubernetes import client

from kaapana_executor.ledger.admission import NOT_SYNCED, Plan, Policy, Waiting, plan
from kaapana_executor.ledger.demand import Demand
from kaapana_executor.ledger.ledger import Ledger
from tests.support.ledger_builders import demand, gpu_node, node, pod, quota, snapshot

TWO_NODES = (node("cpu-1"), node("cpu-2"))
CLUSTER = (node("cpu-1"), node("cpu-2"), gpu_node("gpu-1"))


def busy(
    node_name: str, cpu: str, name: str | None = None, namespace: str = "other"
) -> client.V1Pod:
    """A running pod of another tenant."""
    return pod(
        name or f"{node_name}-{cpu}",
        namespace,
        requests={"cpu": cpu},
        node_name=node_name,
        phase="Running",
    )


@dataclass
class Case:
    nodes: Sequence[client.V1Node]
    tasks: Sequence[tuple[str, Demand]]
    admit: list[tuple[str, str]] = field(default_factory=list)
    never: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # key -> the exact reason
    pods: Sequence[client.V1Pod] = ()
    quotas: Sequence[client.V1ResourceQuota] = ()
    held: tuple[str, str | None] | None = None
    policy: Policy = field(default_factory=Policy)
    now: float = 0.0


CASES = {
    "fits on the first node": Case(TWO_NODES, [("a", demand("2"))], admit=[("a", "cpu-1")]),
    "first fit fills nodes in order, then waits saying for what": Case(
        TWO_NODES,
        [(k, demand("3", arrival=i)) for i, k in enumerate("abcde")],
        admit=[("a", "cpu-1"), ("b", "cpu-1"), ("c", "cpu-2"), ("d", "cpu-2")],
        waiting={"e": "needs 3 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("e", "cpu-1"),
    ),
    "other tenants' bound pods take room, unbound and finished ones do not": Case(
        TWO_NODES,
        [("a", demand("2"))],
        pods=[
            busy("cpu-1", "7"),
            pod("pending", "other", requests={"cpu": "8"}),
            pod("done", "other", requests={"cpu": "8"}, node_name="cpu-2", phase="Succeeded"),
        ],
        admit=[("a", "cpu-2")],
    ),
    "memory counts as much as cpu": Case(
        TWO_NODES,
        [("a", demand("1", "20Gi")), ("b", demand("1", "20Gi")), ("c", demand("1", "20Gi"))],
        admit=[("a", "cpu-1"), ("b", "cpu-2")],
        waiting={"c": "needs 20Gi memory; the most free eligible node has 12Gi memory (cpu-1)"},
        held=("c", "cpu-1"),
    ),
    "the pod count is a resource too": Case(
        [node("cpu-1", pods=1)],
        [("a", demand("1")), ("b", demand("1"))],
        admit=[("a", "cpu-1")],
        waiting={"b": "needs 1 pod; the most free eligible node has 0 pods (cpu-1)"},
        held=("b", "cpu-1"),
    ),
    "a GPU task goes to the tainted GPU node when it tolerates the taint": Case(
        CLUSTER, [("gpu", demand("4", gpus=1))], admit=[("gpu", "gpu-1")]
    ),
    "a CPU task never lands on the tainted GPU node": Case(
        CLUSTER,
        [("a", demand("6")), ("b", demand("6")), ("c", demand("6"))],
        admit=[("a", "cpu-1"), ("b", "cpu-2")],
        waiting={"c": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("c", "cpu-1"),
    ),
    "a GPU task without the toleration can never start": Case(
        CLUSTER,
        [("gpu", demand("1", gpus=1, tolerate_gpu=False))],
        never={
            "gpu": "needs 1 nvidia.com/gpu; the largest eligible node has 0 nvidia.com/gpu (cpu-1)"
        },
    ),
    "larger than every eligible node: never, naming resource, request and largest node": Case(
        CLUSTER,
        [("huge", demand("12", "16Gi")), ("huge-gpu", demand("20", "100Gi", gpus=1))],
        never={
            "huge": "needs 12 CPU; the largest eligible node has 8 CPU (cpu-1)",
            "huge-gpu": "needs 20 CPU, 100Gi memory; "
            "the largest eligible node has 16 CPU, 64Gi memory (gpu-1)",
        },
    ),
    "no eligible node at all (selector): never, saying why for each node": Case(
        TWO_NODES,
        [("a", demand("1", node_selector={"pool": "x"}))],
        never={
            "a": "no node can ever take it (cpu-1: nodeSelector pool=x does not match; "
            "cpu-2: nodeSelector pool=x does not match)"
        },
    ),
    "only large node cordoned: waits instead of failing": Case(
        [node("cpu-1"), gpu_node("gpu-1", unschedulable=True)],
        [("big", demand("12", gpus=1))],
        waiting={"big": "no large enough node is eligible now: gpu-1 cordoned"},
        held=("big", None),
    ),
    "NotReady node: its room does not count now": Case(
        [node("cpu-1", ready=False), node("cpu-2")],
        [("a", demand("6")), ("b", demand("6"))],
        admit=[("a", "cpu-2")],
        waiting={"b": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-2)"},
        held=("b", "cpu-2"),
    ),
    "higher priority first, whatever the arrival": Case(
        [node("cpu-1")],
        [("low", demand("6", priority=1, arrival=0)), ("high", demand("6", priority=5, arrival=9))],
        admit=[("high", "cpu-1")],
        waiting={"low": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("low", "cpu-1"),
    ),
    "equal priority: first come first served": Case(
        [node("cpu-1")],
        [("later", demand("6", arrival=5)), ("earlier", demand("6", arrival=1))],
        admit=[("earlier", "cpu-1")],
        waiting={"later": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("later", "cpu-1"),
    ),
    "the head keeps room on the node closest to fit; small tasks backfill elsewhere": Case(
        TWO_NODES,
        [
            ("big", demand("6", priority=9)),
            ("s1", demand("2")),
            ("s2", demand("2")),
            ("s3", demand("2")),
        ],
        pods=[busy("cpu-1", "6"), busy("cpu-2", "4")],
        admit=[("s1", "cpu-1")],
        waiting={
            "big": "needs 6 CPU; the most free eligible node has 4 CPU (cpu-2)",
            "s2": "needs 2 CPU; the most free eligible node has 0 CPU (cpu-1); "
            "cpu-2 has room, held for a task ahead in the queue",
            "s3": "needs 2 CPU; the most free eligible node has 0 CPU (cpu-1); "
            "cpu-2 has room, held for a task ahead in the queue",
        },
        held=("big", "cpu-2"),
    ),
    "backfill onto the held node only while the head still fits there": Case(
        [node("cpu-1", cpu="16")],
        [("big", demand("10", priority=9)), ("small", demand("2")), ("more", demand("2"))],
        pods=[busy("cpu-1", "8")],
        admit=[],
        waiting={
            "big": "needs 10 CPU; the most free eligible node has 8 CPU (cpu-1)",
            "small": "needs 2 CPU; the most free eligible node has 0 CPU (cpu-1); "
            "cpu-1 has room, held for a task ahead in the queue",
            "more": "needs 2 CPU; the most free eligible node has 0 CPU (cpu-1); "
            "cpu-1 has room, held for a task ahead in the queue",
        },
        held=("big", "cpu-1"),
    ),
    "without the hold, small tasks take the head's room": Case(
        TWO_NODES,
        [
            ("big", demand("6", priority=9)),
            ("s1", demand("2")),
            ("s2", demand("2")),
            ("s3", demand("2")),
        ],
        pods=[busy("cpu-1", "6"), busy("cpu-2", "4")],
        admit=[("s1", "cpu-1"), ("s2", "cpu-2"), ("s3", "cpu-2")],
        waiting={"big": "needs 6 CPU; the most free eligible node has 4 CPU (cpu-2)"},
        policy=Policy(hold_for_head=False),
    ),
    "aging: a long-waiting big task overtakes younger higher-priority ones": Case(
        [node("cpu-1")],
        [
            ("big", demand("6", priority=0, arrival=0)),
            ("young", demand("6", priority=3, arrival=500)),
        ],
        admit=[("big", "cpu-1")],
        waiting={"young": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("young", "cpu-1"),
        now=600,  # big: 0 + 600 // 60 = 10; young: 3 + 100 // 60 = 4
    ),
    "no aging: priority alone": Case(
        [node("cpu-1")],
        [
            ("big", demand("6", priority=0, arrival=0)),
            ("young", demand("6", priority=3, arrival=500)),
        ],
        admit=[("young", "cpu-1")],
        waiting={"big": "needs 6 CPU; the most free eligible node has 2 CPU (cpu-1)"},
        held=("big", "cpu-1"),
        policy=Policy(aging_seconds=0),
        now=600,
    ),
    "a ResourceQuota limits its namespace only": Case(
        TWO_NODES,
        [
            ("a", demand("2", namespace="team")),
            ("b", demand("2", namespace="team")),
            ("c", demand("2", namespace="free")),
        ],
        quotas=[quota("q", "team", hard={"requests.cpu": "4"}, used={"requests.cpu": "1"})],
        admit=[("a", "cpu-1"), ("c", "cpu-1")],
        waiting={"b": "needs 2 CPU; ResourceQuota team/q has 1 CPU left"},
        held=("b", None),  # only the quota is short: no node held
    ),
    "a task larger than its quota can never start": Case(
        TWO_NODES,
        [("a", demand("6", namespace="team"))],
        quotas=[quota("q", "team", hard={"cpu": "4", "pods": "10"})],
        never={"a": "needs 6 CPU; ResourceQuota team/q allows 4 CPU in all"},
    ),
    "pods and limits quotas count too; scoped quotas are ignored": Case(
        TWO_NODES,
        [
            ("a", demand("1", namespace="team", limits={"memory": "2Gi"})),
            ("b", demand("1", namespace="team", limits={"memory": "2Gi"})),
        ],
        quotas=[
            quota("q", "team", hard={"pods": "5", "limits.memory": "3Gi"}, used={"pods": "1"}),
            quota("scoped", "team", hard={"pods": "0"}, scopes=["BestEffort"]),
        ],
        admit=[("a", "cpu-1")],
        waiting={"b": "needs 2Gi limits.memory; ResourceQuota team/q has 1Gi limits.memory left"},
        held=("b", None),
    ),
}


def run(case: Case) -> Plan[str]:
    shot = snapshot(*case.nodes, pods=case.pods, quotas=case.quotas)
    return plan([Waiting(k, d) for k, d in case.tasks], shot, case.now, case.policy)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_plan(case: Case) -> None:
    result = run(case)
    assert result.admit == case.admit
    assert result.never == case.never
    assert result.waiting == case.waiting
    assert result.held == case.held


def test_nothing_is_admitted_before_the_ledger_has_listed_everything() -> None:
    ledger = Ledger()
    ledger.replace_nodes(TWO_NODES)
    ledger.replace_pods([])

    result = plan([Waiting("a", demand("1"))], ledger.snapshot(), 0.0)

    assert result.waiting == {"a": NOT_SYNCED} and not result.admit


def test_reservations_and_in_flight_quota_are_taken_into_account() -> None:
    ledger = Ledger()
    ledger.replace_all(TWO_NODES, [], [quota("q", "team", hard={"pods": "2"})])
    ledger.reserve("x", demand("7"), "cpu-1")
    ledger.reserve("y", demand("1", namespace="team"), "cpu-2", pod=("team", "y"))

    result = plan(
        [
            Waiting("a", demand("2")),
            Waiting("b", demand("1", namespace="team")),
            Waiting("c", demand("1", namespace="team")),
        ],
        ledger.snapshot(),
        0.0,
    )

    assert result.admit == [("a", "cpu-2"), ("b", "cpu-1")]
    assert result.waiting == {"c": "needs 1 pod; ResourceQuota team/q has 0 pods left"}


def test_many_tasks_of_one_shape_fill_exactly_what_is_free() -> None:
    tasks = [Waiting(i, demand("1", arrival=i)) for i in range(50)]

    result = plan(tasks, snapshot(*TWO_NODES, pods=[busy("cpu-2", "5")]), 0.0)

    assert [node for _, node in result.admit] == ["cpu-1"] * 8 + ["cpu-2"] * 3
    assert [k for k, _ in result.admit] == list(range(11))
    assert set(result.waiting) == set(range(11, 50))
