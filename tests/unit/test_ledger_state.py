"""The stateful Ledger: totals follow pod events; reservations are released exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client

from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.vector import ResourceVector
from tests.support.ledger_builders import demand, node, pod, quota

GI = 2**30
V = ResourceVector.of
ALLOCATABLE = V(cpu=8000, memory=32 * GI, pods=110)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def synced_ledger(clock: Callable[[], float] = lambda: 0.0) -> Ledger:
    ledger = Ledger(clock=clock, reservation_ttl=60)
    ledger.replace_all([node("cpu-1"), node("cpu-2")], [], [])
    return ledger


def free(ledger: Ledger, name: str) -> ResourceVector:
    state = ledger.snapshot().node(name)
    assert state is not None
    return state.free


def running(name: str, node_name: str, cpu: str = "2", namespace: str = "other") -> client.V1Pod:
    return pod(name, namespace, requests={"cpu": cpu}, node_name=node_name, phase="Running")


def test_bound_pods_are_counted_until_they_finish_or_go() -> None:
    ledger = synced_ledger()
    ledger.apply_pod(pod("a", "other", requests={"cpu": "2"}))  # unbound: not on a node yet
    assert free(ledger, "cpu-1") == ALLOCATABLE

    ledger.apply_pod(running("a", "cpu-1"))
    ledger.apply_pod(running("a", "cpu-1"))  # a status update changes nothing
    ledger.apply_pod(running("b", "cpu-1", cpu="1"))
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=3000, pods=2)

    ledger.apply_pod(pod("a", "other", requests={"cpu": "2"}, node_name="cpu-1", phase="Succeeded"))
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=1000, pods=1)

    ledger.delete_pod(running("b", "cpu-1", cpu="1"))
    ledger.delete_pod(running("b", "cpu-1", cpu="1"))  # twice: idempotent
    assert free(ledger, "cpu-1") == ALLOCATABLE


def test_pods_on_nodes_not_listed_yet_count_once_the_node_appears() -> None:
    ledger = synced_ledger()
    ledger.apply_pod(running("a", "late"))
    ledger.apply_node(node("late", cpu="4"))
    assert free(ledger, "late") == V(cpu=2000, memory=32 * GI, pods=109)
    ledger.delete_node("late")
    assert ledger.snapshot().node("late") is None


@pytest.mark.parametrize(
    ("event", "released"),
    [
        (lambda lg: lg.apply_pod(pod("t", "ns", requests={"cpu": "4"})), False),  # created
        (lambda lg: lg.apply_pod(running("t", "cpu-2", "4", "ns")), True),  # bound
        (lambda lg: lg.apply_pod(pod("t", "ns", requests={"cpu": "4"}, phase="Failed")), True),
        (lambda lg: lg.delete_pod(pod("t", "ns", requests={"cpu": "4"})), True),
        (lambda lg: lg.release("key"), True),  # the create failed
        (
            lambda lg: lg.apply_pod(pod("other", "ns", requests={"cpu": "4"}, node_name="cpu-1")),
            False,
        ),
    ],
    ids=["created", "bound", "terminal", "deleted", "create failed", "another pod"],
)
def test_reservation_released_on_bind_terminal_delete_or_create_failure(
    event: Callable[[Ledger], None], released: bool
) -> None:
    ledger = synced_ledger()
    ledger.reserve("key", demand("4", namespace="ns"), "cpu-1", pod=("ns", "t"))
    assert ledger.snapshot().node("cpu-1").reserved == V(cpu=4000, pods=1)  # type: ignore[union-attr]

    event(ledger)

    assert ledger.is_reserved("key") is not released
    reserved = ledger.snapshot().node("cpu-1").reserved  # type: ignore[union-attr]
    assert reserved == (V() if released else V(cpu=4000, pods=1))
    assert ledger.release("key") is not released  # a second release is a no-op


def test_a_bound_reserved_pod_is_counted_once_on_its_real_node() -> None:
    ledger = synced_ledger()
    ledger.reserve("key", demand("4", namespace="ns"), "cpu-1", pod=("ns", "t"))

    ledger.apply_pod(running("t", "cpu-2", "4", "ns"))  # the scheduler chose another node

    assert free(ledger, "cpu-1") == ALLOCATABLE
    assert free(ledger, "cpu-2") == ALLOCATABLE - V(cpu=4000, pods=1)


def test_reserving_a_key_again_replaces_its_reservation() -> None:
    ledger = synced_ledger()
    ledger.reserve("key", demand("4"), "cpu-1")
    ledger.reserve("key", demand("2"), "cpu-2")
    assert free(ledger, "cpu-1") == ALLOCATABLE
    assert free(ledger, "cpu-2") == ALLOCATABLE - V(cpu=2000, pods=1)


def test_relist_reconciles_pods_and_reservations() -> None:
    ledger = synced_ledger()
    ledger.apply_pod(running("gone", "cpu-1"))
    ledger.reserve("seen", demand("1", namespace="ns"), "cpu-1", pod=("ns", "seen"))
    ledger.apply_pod(pod("seen", "ns", requests={"cpu": "1"}))
    ledger.reserve("flying", demand("1", namespace="ns"), "cpu-1", pod=("ns", "flying"))
    ledger.reserve("bound", demand("1", namespace="ns"), "cpu-1", pod=("ns", "bound"))

    # Missed while the watch was down: "gone" and "seen" were deleted, "bound" got bound.
    ledger.replace_pods([running("new", "cpu-2"), running("bound", "cpu-2", "1", "ns")])

    assert not ledger.is_reserved("seen")  # it had been seen and is gone
    assert ledger.is_reserved("flying")  # its create may still be in flight
    assert not ledger.is_reserved("bound")
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=1000, pods=1)
    assert free(ledger, "cpu-2") == ALLOCATABLE - V(cpu=3000, pods=2)


def test_unseen_reservations_expire_seen_ones_do_not() -> None:
    clock = Clock()
    ledger = synced_ledger(clock)
    ledger.reserve("lost", demand("1"), "cpu-1", pod=("default", "lost"))
    ledger.reserve("pending", demand("1"), "cpu-1", pod=("default", "pending"))
    ledger.apply_pod(pod("pending", requests={"cpu": "1"}))

    clock.now = 61
    ledger.snapshot()

    assert not ledger.is_reserved("lost")
    assert ledger.is_reserved("pending")


def test_quota_remaining_subtracts_only_creates_not_yet_counted_by_the_api() -> None:
    ledger = synced_ledger()
    ledger.replace_quotas(
        [quota("q", "team", hard={"requests.cpu": "10"}, used={"requests.cpu": "3"})]
    )
    ledger.reserve("a", demand("2", namespace="team"), "cpu-1", pod=("team", "a"))
    ledger.reserve("b", demand("1", namespace="team"), "cpu-1", pod=("team", "b"))
    ledger.apply_pod(pod("b", "team", requests={"cpu": "1"}))  # created: now in status.used

    (state,) = ledger.snapshot().quotas["team"]

    assert state.in_flight == V(cpu=2000)
    assert state.remaining == V(cpu=5000)
    ledger.delete_quota(quota("q", "team", hard={}))
    assert "team" not in ledger.snapshot().quotas


def test_synced_only_after_every_kind_was_listed() -> None:
    ledger = Ledger()
    ledger.apply_node(node("cpu-1"))
    ledger.replace_nodes([node("cpu-1")])
    ledger.replace_pods([])
    assert not ledger.synced and not ledger.snapshot().synced
    ledger.replace_quotas([])
    assert ledger.synced and ledger.snapshot().synced


def test_snapshot_is_immutable_json_for_the_view_and_cached_per_node() -> None:
    ledger = synced_ledger()
    ledger.reserve(("dag", "task", 1), demand("1"), "cpu-1", pod=("default", "p"))
    first = ledger.snapshot()
    ledger.apply_pod(running("x", "cpu-2"))
    second = ledger.snapshot()

    assert first.node("cpu-2").free == ALLOCATABLE  # type: ignore[union-attr]
    assert second.node("cpu-1") is first.node("cpu-1")  # unchanged node: same state object
    assert second.generation > first.generation
    data = json.loads(json.dumps(second.as_dict()))
    assert data["nodes"][1]["free"]["cpu"] == 6000
    assert data["nodes"][0]["reserved"] == {"cpu": 1000, "pods": 1}
    assert data["reservations"] == [
        {
            "key": "('dag', 'task', 1)",
            "node": "cpu-1",
            "requests": {"cpu": 1000, "pods": 1},
            "pod": "default/p",
            "state": "creating",
        }
    ]


def pinned(name: str, node_name: str, cpu: str, namespace: str = "other") -> client.V1Pod:
    """An unbound pod whose required affinity names one node, as admitted pods are pinned."""
    field = client.V1NodeSelectorRequirement(key="metadata.name", operator="In", values=[node_name])
    term = client.V1NodeSelectorTerm(match_fields=[field])
    return pod(name, namespace, requests={"cpu": cpu}, affinity=[term])


def test_a_pod_pinned_to_a_node_counts_there_before_it_is_bound() -> None:
    """Another scheduler's admitted pod takes its room from the moment it exists."""
    ledger = synced_ledger()
    ledger.apply_pod(pinned("theirs", "cpu-1", "3"))
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=3000, pods=1)
    ledger.apply_pod(running("theirs", "cpu-1", "3"))  # bound where it was pinned: no change
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=3000, pods=1)
    ledger.apply_pod(pod("theirs", "other", requests={"cpu": "3"}, phase="Succeeded"))
    assert free(ledger, "cpu-1") == ALLOCATABLE


def test_our_pinned_pod_replaces_its_reservation_counted_once() -> None:
    ledger = synced_ledger()
    ledger.reserve("key", demand("4", namespace="ns"), "cpu-1", pod=("ns", "t"))
    ledger.apply_pod(pinned("t", "cpu-1", "4", namespace="ns"))
    assert not ledger.is_reserved("key")
    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=4000, pods=1)


def two_feed_ledger() -> Ledger:
    """Pods told by two feeds, as the engine wires it: its own pod watcher ("ours") and the
    ledger's watch of every other pod ("others")."""
    ledger = Ledger(reservation_ttl=60)
    ledger.expect_pod_feeds("ours", "others")
    ledger.replace_nodes([node("cpu-1"), node("cpu-2")])
    ledger.replace_quotas([])
    return ledger


def test_synced_only_after_every_expected_pod_feed_was_listed() -> None:
    ledger = two_feed_ledger()
    ledger.replace_pods([], "ours")
    assert not ledger.synced and not ledger.snapshot().synced
    ledger.replace_pods([], "others")
    assert ledger.synced and ledger.snapshot().synced


def test_a_feed_relist_replaces_only_what_that_feed_told() -> None:
    ledger = two_feed_ledger()
    ledger.replace_pods([running("mine", "cpu-1", "1", "kaapana")], "ours")
    ledger.replace_pods([running("theirs", "cpu-1", "2")], "others")
    ledger.apply_pod(running("later", "cpu-2", "4"), "others")

    ledger.replace_pods([], "others")  # both of theirs went while the watch was down

    assert free(ledger, "cpu-1") == ALLOCATABLE - V(cpu=1000, pods=1)  # ours still counted
    assert free(ledger, "cpu-2") == ALLOCATABLE
    ledger.replace_pods([], "ours")
    assert free(ledger, "cpu-1") == ALLOCATABLE


def test_a_reservation_is_released_by_its_own_feeds_relist_not_by_another() -> None:
    ledger = two_feed_ledger()
    ledger.reserve("k", demand("1", namespace="kaapana"), "cpu-1", pod=("kaapana", "p"))
    ledger.apply_pod(pod("p", "kaapana", requests={"cpu": "1"}), "ours")  # created, unbound

    ledger.replace_pods([running("theirs", "cpu-2")], "others")  # it never lists our pods
    assert ledger.is_reserved("k")
    ledger.replace_pods([], "ours")  # seen, then deleted while our watch was down
    assert not ledger.is_reserved("k")
    assert free(ledger, "cpu-1") == ALLOCATABLE
