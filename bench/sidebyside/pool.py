"""KWOK nodes of the bench's own, so every system launches onto the same room.

The shared cluster's nodes belong to the test suites running beside us; 500 pods (or 10,000)
would not fit on them, and a test's cordon would change our figures. The pool's nodes carry
a label and a NoSchedule taint with the pool's id: only pods that tolerate it and select the
label (ours, KubernetesExecutor's through its pod template) land there, and only nodes with
that label are ever deleted.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.sidebyside.common import NAMESPACE_LABEL, POOL_LABEL
from tests.support.nodes import is_ready, node_manifest


@dataclass(frozen=True)
class Pool:
    """The pool's id: the value of its label and taint."""

    id: str
    nodes: tuple[str, ...]

    def tolerations(self) -> list[dict[str, str]]:
        return [{"key": POOL_LABEL, "value": self.id, "effect": "NoSchedule"}]

    def node_selector(self) -> dict[str, str]:
        return {POOL_LABEL: self.id}


@contextmanager
def node_pool(api: client.ApiClient, count: int, pods_per_node: int) -> Iterator[Pool]:
    """``count`` Ready KWOK nodes (1,000 CPU, 4 TiB, ``pods_per_node`` pods each)."""
    core = client.CoreV1Api(api)
    pool_id = f"perf2-{secrets.token_hex(3)}"
    taint = client.V1Taint(key=POOL_LABEL, value=pool_id, effect="NoSchedule")
    names = tuple(f"{pool_id}-{i:03d}" for i in range(count))
    try:
        for name in names:
            node = node_manifest(
                name,
                cpu="1000",
                memory="4Ti",
                pods=pods_per_node,
                labels={POOL_LABEL: pool_id},
                taints=[taint],
            )
            core.create_node(node)
        _wait_ready(core, pool_id, count)
        yield Pool(pool_id, names)
    finally:
        delete_nodes(core, f"{POOL_LABEL}={pool_id}")


def _wait_ready(core: client.CoreV1Api, pool_id: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = core.list_node(label_selector=f"{POOL_LABEL}={pool_id}").items
        if sum(1 for n in nodes if is_ready(n)) >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"the pool's {count} KWOK nodes did not become Ready in {timeout:g} s")


def delete_nodes(core: client.CoreV1Api, selector: str) -> int:
    """Delete the nodes ``selector`` picks (only the bench's labels are ever passed)."""
    assert selector.startswith(POOL_LABEL), selector
    nodes = core.list_node(label_selector=selector).items
    for node in nodes:
        try:
            core.delete_node(node.metadata.name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    return len(nodes)


def clean_leftovers(api: client.ApiClient) -> tuple[int, int]:
    """Remove what an interrupted run of this bench left: its nodes and its namespaces."""
    core = client.CoreV1Api(api)
    nodes = delete_nodes(core, POOL_LABEL)
    spaces = core.list_namespace(label_selector=NAMESPACE_LABEL).items
    for ns in spaces:
        core.delete_namespace(ns.metadata.name)
    return nodes, len(spaces)
