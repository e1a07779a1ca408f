"""Resource amounts as an immutable vector of integers: the only place the ledger does math.

CPU is counted in millicores, memory and storage in bytes, pods and extended resources
(``nvidia.com/gpu``) as whole counts, as the API server rounds them (up). Integers make
sums exact, so a ledger that adds and later subtracts the same pod returns to exactly
where it was; ``Decimal`` would too, but integers are several times faster in the
admission loop. Amounts may go negative (a node whose pods request more than it has, or a
room held for the head of the queue); they never fit anything then.

Parsing uses :mod:`kaapana_executor.quantity` (the official client's parser).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from kaapana_executor import quantity

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
GPU = "nvidia.com/gpu"

_BYTE_RESOURCES = ("memory", "ephemeral-storage", "storage")


def is_cpu(name: str) -> bool:
    """CPU-like names (``cpu``, and quota keys ``requests.cpu``/``limits.cpu``)."""
    return name == CPU or name.endswith(".cpu")


def _is_bytes(name: str) -> bool:
    base = name.rsplit(".", 1)[-1] if "." in name and "/" not in name else name
    return base in _BYTE_RESOURCES or name.startswith("hugepages-")


@functools.lru_cache(maxsize=4096)
def parse_amount(name: str, value: str | int | float) -> int:
    """One amount in ledger units: millicores for CPU, whole units for everything else.

    Cached: every watch event of a pod parses its containers' requests again, a cluster has
    few distinct quantities, and a Decimal parse per amount was 12% of the pod watcher's time
    in a launch of 500 (py-spy)."""
    return quantity.millicores(value) if is_cpu(name) else quantity.whole(value)


def format_amount(name: str, amount: int) -> str:
    """An amount as a person reads it: ``4 CPU``, ``500m CPU``, ``7.5Gi memory``, ``2 pods``."""
    if is_cpu(name):
        return f"{quantity.format_millicores(amount)} CPU"
    if _is_bytes(name):
        return f"{quantity.describe_bytes(amount)} {name}"
    if name == PODS:
        return f"{amount} pod{'' if amount == 1 else 's'}"
    return f"{amount} {name}"


@dataclass(frozen=True, slots=True)
class ResourceVector:
    """Amounts by resource name; absent names are zero, and zeros are never stored.

    Build one with :meth:`of` (ledger units) or :meth:`from_k8s` (API strings). Hashable
    and comparable, so equal demands share admission work within one pass.
    """

    items: tuple[tuple[str, int], ...] = ()
    _map: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        clean = {name: amount for name, amount in self.items if amount}
        object.__setattr__(self, "items", tuple(sorted(clean.items())))
        object.__setattr__(self, "_map", clean)

    @classmethod
    def of(cls, amounts: Mapping[str, int] | None = None, **named: int) -> ResourceVector:
        """From amounts in ledger units; keyword names are for ``cpu``/``memory``/``pods``."""
        return cls(tuple({**(amounts or {}), **named}.items()))

    @classmethod
    def from_k8s(cls, mapping: Mapping[str, str] | None) -> ResourceVector:
        """From a Kubernetes resource list (``{"cpu": "500m", "memory": "1Gi"}``)."""
        if not mapping:
            return ZERO
        return cls(tuple((name, parse_amount(name, value)) for name, value in mapping.items()))

    def get(self, name: str) -> int:
        return self._map.get(name, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __bool__(self) -> bool:
        return bool(self.items)

    def is_zero(self) -> bool:
        return not self.items

    def as_dict(self) -> dict[str, int]:
        return dict(self._map)

    def __add__(self, other: ResourceVector) -> ResourceVector:
        if not other.items:
            return self
        merged = dict(self._map)
        for name, amount in other.items:
            merged[name] = merged.get(name, 0) + amount
        return ResourceVector(tuple(merged.items()))

    def __sub__(self, other: ResourceVector) -> ResourceVector:
        if not other.items:
            return self
        merged = dict(self._map)
        for name, amount in other.items:
            merged[name] = merged.get(name, 0) - amount
        return ResourceVector(tuple(merged.items()))

    def maximum(self, other: ResourceVector) -> ResourceVector:
        """Per resource the larger amount (init containers run one after another)."""
        merged = dict(self._map)
        for name, amount in other.items:
            merged[name] = max(merged.get(name, 0), amount)
        return ResourceVector(tuple(merged.items()))

    def fits_in(self, other: ResourceVector) -> bool:
        """Every amount of ``self`` is at most ``other``'s (what ``other`` lacks is zero)."""
        available = other._map
        # A plain loop: about twice as fast as all() over a generator, and this is the
        # innermost call of the admission pass.
        for name, amount in self.items:  # noqa: SIM110
            if amount > available.get(name, 0):
                return False
        return True

    def shortfall(self, other: ResourceVector) -> dict[str, int]:
        """What ``other`` lacks to hold ``self``: resource → missing amount (empty: it fits)."""
        available = other._map
        return {
            name: amount - available.get(name, 0)
            for name, amount in self.items
            if amount > available.get(name, 0)
        }

    def clamped(self) -> ResourceVector:
        """Negative amounts as zero: what is left of an over-committed node, for messages."""
        return ResourceVector(tuple((name, max(0, amount)) for name, amount in self.items))

    def restricted(self, names: Iterable[str]) -> ResourceVector:
        """Only the given resources (e.g. what a demand asks for, out of a node's free)."""
        return ResourceVector(tuple((name, self.get(name)) for name in names))

    def describe(self, names: Iterable[str] | None = None) -> str:
        """``4 CPU, 8Gi memory`` for the given resources (all by default), pods last."""
        chosen = list(self._map if names is None else names)
        chosen.sort(key=lambda name: (name == PODS, name != CPU, name != MEMORY, name))
        return ", ".join(format_amount(name, self.get(name)) for name in chosen) or "nothing"


ZERO = ResourceVector()
ONE_POD = ResourceVector.of(pods=1)
