"""A namespace's ResourceQuota as a limit on what the executor may start there.

The quota admission plugin counts a pod against ``status.used`` the moment it is created
(not when it is bound), so ``hard - used`` is what is left; only creates still in flight
are missing from it, and the ledger subtracts those itself. Keys are normalised to the
names pods request (``requests.cpu`` and ``cpu`` are the same limit); ``limits.*`` keys
stay as they are and are compared with the pod's limits. Keys that do not concern pods
(services, ``requests.storage`` of claims, ``count/*`` of other kinds) are dropped.
Quotas with scopes (``BestEffort``, ``PriorityClass``...) are skipped: whether they apply
depends on fields the ledger does not model, and counting them could block tasks wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubernetes import client

from kaapana_executor.ledger.vector import PODS, ResourceVector, parse_amount

_DIRECT = frozenset({"cpu", "memory", "ephemeral-storage"})


def normalize_key(key: str) -> str | None:
    """The ledger's name for a quota key, or None when the key does not limit pods."""
    if key in (PODS, "count/pods"):
        return PODS
    if key.startswith("requests."):
        name = key.removeprefix("requests.")
        return None if name == "storage" else name
    if key.startswith("limits.") or key in _DIRECT or key.startswith("hugepages-"):
        return key
    return None


def quota_vector(mapping: Mapping[str, str] | None) -> ResourceVector:
    """A quota's ``hard`` or ``used`` as a vector; of two spellings of a key the smaller."""
    amounts: dict[str, int] = {}
    for key, value in (mapping or {}).items():
        name = normalize_key(key)
        if name is None:
            continue
        amount = parse_amount(name, value)
        amounts[name] = min(amount, amounts.get(name, amount))
    return ResourceVector.of(amounts)


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    """One unscoped ResourceQuota: its limits (``hard``) and what is counted (``used``).

    ``limited`` names every resource with a limit, including limits of zero, which a
    vector does not store.
    """

    namespace: str
    name: str
    hard: ResourceVector
    used: ResourceVector
    limited: frozenset[str] = frozenset()

    @classmethod
    def from_quota(cls, quota: client.V1ResourceQuota) -> QuotaInfo | None:
        """None for a scoped quota (see the module docstring)."""
        spec = quota.spec
        if spec is not None and (spec.scopes or spec.scope_selector):
            return None
        status = quota.status
        hard_map = (status.hard if status else None) or (spec.hard if spec else None) or {}
        return cls(
            namespace=quota.metadata.namespace,
            name=quota.metadata.name,
            hard=quota_vector(hard_map),
            used=quota_vector(status.used if status else None),
            limited=frozenset(n for k in hard_map if (n := normalize_key(k)) is not None),
        )

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def relevant(self, usage: ResourceVector) -> ResourceVector:
        """The part of a pod's quota usage this quota limits."""
        return usage.restricted(n for n in usage if n in self.limited)
