"""The engine's pod watcher hands the pods it decoded to the resource ledger: our pods are
decoded once, and the ledger counts them (and releases their room) from that one watch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from kubernetes import client

from kaapana_executor.k8s import labels
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.vector import ResourceVector
from kaapana_executor.runtime.messages import Message, PodChanged, PodGone
from kaapana_executor.runtime.watcher import OTHER_PODS, PodWatcher
from tests.support.ledger_builders import node, pod
from tests.support.polling import wait_until

V = ResourceVector.of
ALLOCATABLE = V(cpu=8000, memory=32 * 2**30, pods=110)


def ours(phase: str = "Running") -> client.V1Pod:
    """One of our pods (the task-instance annotation), bound to cpu-1 and asking 2 CPUs."""
    found = pod("t-1", "kaapana", requests={"cpu": "2"}, node_name="cpu-1", phase=phase)
    found.metadata.resource_version = "11"
    found.metadata.annotations = {labels.ANN_TI_ID: "ti-1"}
    return found


class PodApi:
    """Answers the pod watcher's list once, then the watch events a test queues."""

    def __init__(self, listed: list[client.V1Pod]) -> None:
        self.listed = listed
        self.events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.namespaces: list[str | None] = []

    def list_pods(self, namespace: str | None, selector: str) -> tuple[list[Any], str]:
        self.namespaces.append(namespace)
        return list(self.listed), "10"

    def watch_pods(
        self, namespace: str | None, selector: str, version: str, timeout: int
    ) -> Iterator[dict[str, Any]]:
        try:
            yield self.events.get(timeout=0.2)
        except queue.Empty:
            return


def free(ledger: Ledger) -> ResourceVector:
    state = ledger.snapshot().node("cpu-1")
    assert state is not None
    return state.free


def test_the_pod_watcher_feeds_the_ledger_our_pods_from_every_namespace() -> None:
    ledger = Ledger()
    api = PodApi([ours()])
    posted: list[Message] = []
    lock = threading.Lock()

    def post(message: Message) -> None:
        with lock:
            posted.append(message)

    watcher = PodWatcher(api, "kaapana", post, ledger=ledger)  # type: ignore[arg-type]
    ledger.replace_nodes([node("cpu-1")])
    ledger.replace_quotas([])
    watcher.start()
    try:
        wait_until(lambda: len(posted), bool, what="the first list")
        assert not ledger.synced  # the ledger's own watch of the other pods has not listed
        ledger.replace_pods([], OTHER_PODS.name)
        assert ledger.synced
        assert api.namespaces[0] is None  # every executor's pods count, in every namespace
        assert free(ledger) == ALLOCATABLE - V(cpu=2000, pods=1)
        assert isinstance(posted[0], PodChanged) and posted[0].ti_id == "ti-1"

        api.events.put({"type": "MODIFIED", "object": ours("Succeeded")})
        wait_until(lambda: free(ledger), ALLOCATABLE.__eq__, what="the finished pod's room")
        api.events.put({"type": "DELETED", "object": ours("Succeeded")})
        wait_until(lambda: [type(m) for m in posted], lambda seen: PodGone in seen, what="gone")
    finally:
        watcher.stop(5)
