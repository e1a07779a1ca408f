"""Simulated nodes: the shape of ``scripts/cluster.d/nodes.yaml``, and helpers to change them.

The real kube-scheduler sees every change at once, so tests can show scheduling outcomes
(GPU nodes, cordons, taints) for real. ``TrackedNodes`` (the ``nodes`` fixture) undoes
its changes after the test, so one test's cordon does not leak into the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.polling import wait_until

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def node_manifest(
    name: str,
    *,
    cpu: str = "8",
    memory: str = "32Gi",
    gpus: int = 0,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[client.V1Taint] = (),
) -> client.V1Node:
    """A simulated node of the same shape as ``scripts/cluster.d/nodes.yaml``."""
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
    return client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=client.V1ObjectMeta(
            name=name,
            annotations={KWOK_NODE_ANNOTATION: "fake"},
            labels={"type": "kwok", "kubernetes.io/hostname": name, **(labels or {})},
        ),
        spec=client.V1NodeSpec(taints=list(taints) or None),
        status=client.V1NodeStatus(
            addresses=[
                client.V1NodeAddress(type="InternalIP", address="127.0.0.1"),
                client.V1NodeAddress(type="Hostname", address=name),
            ],
            capacity=capacity,
            allocatable=dict(capacity),
        ),
    )


# The node lifecycle controller taints a node until it has seen it Ready; until then the
# scheduler will not place pods there.
NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def is_ready(node: client.V1Node) -> bool:
    """Ready, and no longer tainted as not ready: pods can be scheduled onto it."""
    conditions = node.status.conditions if node.status else None
    taints = (node.spec.taints if node.spec else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions or []) and not any(
        t.key in NOT_READY_TAINTS for t in taints
    )


def node_names(core: client.CoreV1Api) -> set[str]:
    return {n.metadata.name for n in core.list_node().items if n.metadata and n.metadata.name}


class NodeAdmin:
    """Add, cordon, taint and delete nodes; the real scheduler sees every change at once."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self._core = core

    def get(self, name: str) -> client.V1Node:
        return self._core.read_node(name)

    def add(
        self,
        name: str,
        *,
        cpu: str = "8",
        memory: str = "32Gi",
        gpus: int = 0,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[client.V1Taint] = (),
    ) -> client.V1Node:
        """Create a simulated node and wait until KWOK reports it Ready."""
        node = node_manifest(name, cpu=cpu, memory=memory, gpus=gpus, labels=labels, taints=taints)
        return self.create(node)

    def create(self, node: client.V1Node) -> client.V1Node:
        """Create ``node`` as given and wait until it is Ready."""
        created = self._core.create_node(node)
        name = created.metadata.name if created.metadata else None
        assert name is not None
        return wait_until(
            lambda: self._core.read_node(name), is_ready, what=f"node {name} Ready", timeout=30
        )

    def cordon(self, name: str) -> None:
        self._core.patch_node(name, {"spec": {"unschedulable": True}})

    def uncordon(self, name: str) -> None:
        self._core.patch_node(name, {"spec": {"unschedulable": None}})

    def taint(self, name: str, key: str, value: str = "", effect: str = "NoSchedule") -> None:
        taints = [t for t in self._taints(name) if t.key != key]
        taints.append(client.V1Taint(key=key, value=value or None, effect=effect))
        self._set_taints(name, taints)

    def untaint(self, name: str, key: str) -> None:
        self._set_taints(name, [t for t in self._taints(name) if t.key != key])

    def delete(self, name: str) -> None:
        """Delete the node and wait until it is gone."""
        try:
            self._core.delete_node(name)
        except ApiException as error:
            if error.status != 404:
                raise
        wait_until(
            lambda: node_names(self._core),
            lambda names: name not in names,
            what=f"node {name} deleted",
        )

    def _taints(self, name: str) -> list[client.V1Taint]:
        spec = self._core.read_node(name).spec
        return list(spec.taints or []) if spec else []

    def _set_taints(self, name: str, taints: Sequence[client.V1Taint]) -> None:
        # spec.taints is an atomic list: the patch replaces it as a whole; null removes it.
        body = [{"key": t.key, "value": t.value, "effect": t.effect} for t in taints]
        self._core.patch_node(name, {"spec": {"taints": body or None}})


class TrackedNodes(NodeAdmin):
    """A ``NodeAdmin`` that remembers what it changed and undoes it in ``restore``."""

    def __init__(self, core: client.CoreV1Api) -> None:
        super().__init__(core)
        self._added: list[str] = []
        self._originals: dict[str, client.V1Node] = {}

    def _remember(self, name: str) -> None:
        if name not in self._added and name not in self._originals:
            self._originals[name] = self._core.read_node(name)

    def create(self, node: client.V1Node) -> client.V1Node:
        if node.metadata and node.metadata.name:
            self._added.append(node.metadata.name)
        return super().create(node)

    def cordon(self, name: str) -> None:
        self._remember(name)
        super().cordon(name)

    def uncordon(self, name: str) -> None:
        self._remember(name)
        super().uncordon(name)

    def taint(self, name: str, key: str, value: str = "", effect: str = "NoSchedule") -> None:
        self._remember(name)
        super().taint(name, key, value, effect)

    def untaint(self, name: str, key: str) -> None:
        self._remember(name)
        super().untaint(name, key)

    def delete(self, name: str) -> None:
        self._remember(name)
        super().delete(name)

    def restore(self) -> None:
        """Delete the nodes added; give changed or deleted nodes back their spec."""
        for name in self._added:
            super().delete(name)
        existing = node_names(self._core)
        for name, original in self._originals.items():
            spec = original.spec or client.V1NodeSpec()
            if name in existing:
                self._core.patch_node(name, {"spec": {"unschedulable": spec.unschedulable}})
                self._set_taints(name, spec.taints or [])
            else:
                super().create(_recreatable(original))
        self._added.clear()
        self._originals.clear()


def _recreatable(node: client.V1Node) -> client.V1Node:
    """A copy of a deleted node that can be created again: identity, spec and capacity."""
    meta = node.metadata or client.V1ObjectMeta()
    status = node.status or client.V1NodeStatus()
    annotations = {k: v for k, v in (meta.annotations or {}).items() if k == KWOK_NODE_ANNOTATION}
    return client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=client.V1ObjectMeta(name=meta.name, labels=meta.labels, annotations=annotations),
        spec=client.V1NodeSpec(
            unschedulable=(node.spec.unschedulable if node.spec else None),
            taints=(node.spec.taints if node.spec else None),
        ),
        status=client.V1NodeStatus(
            addresses=status.addresses, capacity=status.capacity, allocatable=status.allocatable
        ),
    )
