"""A node as the ledger sees it: capacity for pods and what decides eligibility.

Parsed once from a ``V1Node`` into a frozen value; everything else in the ledger works on
these. ``allocatable`` (not ``capacity``) is what the scheduler hands out to pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kubernetes import client

from kaapana_executor.ledger.vector import ResourceVector

PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    @classmethod
    def from_k8s(cls, taint: client.V1Taint) -> Taint:
        return cls(taint.key or "", taint.value or "", taint.effect or "")

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Name, labels, taints, cordon and health, and allocatable resources of one node."""

    name: str
    allocatable: ResourceVector
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    ready: bool = True
    pressure: tuple[str, ...] = ()

    @classmethod
    def from_node(cls, node: client.V1Node) -> NodeInfo:
        spec = node.spec
        status = node.status
        conditions = {c.type: c.status for c in (status.conditions if status else None) or ()}
        return cls(
            name=node.metadata.name,
            allocatable=ResourceVector.from_k8s(status.allocatable if status else None),
            labels=MappingProxyType(dict(node.metadata.labels or {})),
            taints=tuple(Taint.from_k8s(t) for t in (spec.taints if spec else None) or ()),
            unschedulable=bool(spec and spec.unschedulable),
            ready=conditions.get("Ready") == "True",
            pressure=tuple(c for c in PRESSURE_CONDITIONS if conditions.get(c) == "True"),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "taints": [str(t) for t in self.taints],
            "unschedulable": self.unschedulable,
            "ready": self.ready,
            "pressure": list(self.pressure),
        }
