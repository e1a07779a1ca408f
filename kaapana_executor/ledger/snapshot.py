"""An immutable picture of the ledger for one admission pass, and for the plugin view.

Taken under the ledger's lock, then read without any: the pass plans against a fixed
picture while watch events keep changing the ledger (Kueue's "snapshot per cycle").
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kaapana_executor.ledger.node import NodeInfo
from kaapana_executor.ledger.quota import QuotaInfo
from kaapana_executor.ledger.vector import ResourceVector


@dataclass(frozen=True, slots=True)
class NodeState:
    """One node: ``free = allocatable - requested - reserved`` (may be negative)."""

    info: NodeInfo
    requested: ResourceVector
    reserved: ResourceVector
    free: ResourceVector

    @classmethod
    def of(cls, info: NodeInfo, requested: ResourceVector, reserved: ResourceVector) -> NodeState:
        return cls(info, requested, reserved, info.allocatable - requested - reserved)

    @property
    def name(self) -> str:
        return self.info.name

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.info.as_dict(),
            "allocatable": self.info.allocatable.as_dict(),
            "requested": self.requested.as_dict(),
            "reserved": self.reserved.as_dict(),
            "free": self.free.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class QuotaState:
    """One ResourceQuota: ``remaining = hard - used - in_flight`` (creates not yet counted)."""

    info: QuotaInfo
    in_flight: ResourceVector
    remaining: ResourceVector

    @classmethod
    def of(cls, info: QuotaInfo, in_flight: ResourceVector) -> QuotaState:
        return cls(info, in_flight, info.hard - info.used - in_flight)

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.info.namespace,
            "name": self.info.name,
            "hard": self.info.hard.as_dict(),
            "used": self.info.used.as_dict(),
            "in_flight": self.in_flight.as_dict(),
            "remaining": self.remaining.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class ReservationState:
    """Room held for a pod the executor is creating or that is not bound yet."""

    key: Hashable
    node: str
    requests: ResourceVector
    pod: tuple[str, str] | None
    seen: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": str(self.key),
            "node": self.node,
            "requests": self.requests.as_dict(),
            "pod": "/".join(self.pod) if self.pod else None,
            "state": "pending" if self.seen else "creating",
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Nodes (sorted by name), quotas by namespace, reservations; ``synced`` once every
    kind has been listed at least once (before that, nothing may be admitted)."""

    nodes: tuple[NodeState, ...] = ()
    quotas: Mapping[str, tuple[QuotaState, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    reservations: tuple[ReservationState, ...] = ()
    synced: bool = True
    generation: int = 0

    def node(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes if n.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data for the plugin view."""
        return {
            "synced": self.synced,
            "generation": self.generation,
            "nodes": [n.as_dict() for n in self.nodes],
            "quotas": [q.as_dict() for qs in self.quotas.values() for q in qs],
            "reservations": [r.as_dict() for r in self.reservations],
        }
