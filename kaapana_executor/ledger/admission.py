"""Which waiting tasks may start now, and on which node they fit (pure: no I/O, no locks).

Policy — strict priority with aging, backfill, and room held for the head:

1. Order. Tasks are taken by *effective priority* (``priority_weight`` plus one for every
   ``Policy.aging_seconds`` spent waiting), then by arrival. Aging lets a large,
   low-priority task climb to the front eventually, so it cannot starve behind a stream of
   higher-priority small ones.
2. Fit. A task is admitted when its namespace's quotas have room and some eligible node
   has room for all of its requests (first fit over nodes in name order). The executor
   pins the pod to that node (required node affinity), so kube-scheduler binds it where
   the ledger reserved the room; the reservation is released when it binds.
3. Head hold. The first task in order that does not fit (the *head*) gets room held for it
   in this plan: in its namespace's quotas and, unless only its quota is short, on the
   eligible node where it would fit soonest (the one with the most free of the head's
   scarcest resource, among nodes large enough for it). Later tasks backfill onto other
   nodes, and onto the held node only if the head still fits there afterwards. As pods on
   that node finish, nothing new takes their room, so the head starts once enough has
   finished: smaller tasks are never blocked by it elsewhere, and it never starves.
4. Never. A task larger than every eligible node's *allocatable* (or than a quota's
   ``hard``) can never start: it is reported at once, naming the resource, the amount
   requested and the largest node. Nodes that are only transiently ineligible (cordoned,
   NotReady, under pressure) count as eligible for this test.

Cost: nodes are filtered once per distinct placement, and each distinct (requests,
placement) shape keeps a cursor over its eligible nodes. Free room only shrinks during a
pass, so a node that was too small for a shape stays too small, and once a shape fails,
every later task of that shape waits with the same reason at the cost of a dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from kaapana_executor.ledger.demand import Demand, Placement
from kaapana_executor.ledger.eligibility import Ineligible, ineligible
from kaapana_executor.ledger.quota import QuotaInfo
from kaapana_executor.ledger.snapshot import Snapshot
from kaapana_executor.ledger.vector import ResourceVector

K = TypeVar("K", bound=Hashable)

NOT_SYNCED = "waiting for the first list of nodes, pods and quotas"
NO_NODES = "the cluster has no nodes"


@dataclass(frozen=True, slots=True)
class Policy:
    """``aging_seconds``: one step of priority per this much waiting (0: no aging)."""

    aging_seconds: float = 60.0
    hold_for_head: bool = True


@dataclass(frozen=True, slots=True)
class Waiting(Generic[K]):
    key: K
    demand: Demand


@dataclass(slots=True)
class Plan(Generic[K]):
    """The outcome of one pass: start these (on these nodes), fail those, the rest wait.

    ``held``: the head of the queue and the node held for it (None if none is large enough
    right now, e.g. all cordoned).
    """

    admit: list[tuple[K, str]] = field(default_factory=list)
    never: dict[K, str] = field(default_factory=dict)
    waiting: dict[K, str] = field(default_factory=dict)
    held: tuple[K, str | None] | None = None


def effective_priority(demand: Demand, now: float, policy: Policy) -> int:
    if policy.aging_seconds <= 0:
        return demand.priority
    return demand.priority + int(max(0.0, now - demand.arrival) // policy.aging_seconds)


def order_key(now: float, policy: Policy) -> Callable[[Waiting[K]], tuple[int, float]]:
    """The sort key of the admission order at ``now``: effective priority, then arrival.

    One closure shared by ``plan`` and ``queue``, so the status page shows the order the
    plan uses (inlined arithmetic: it runs once per waiting task per pass).
    """
    aging = policy.aging_seconds

    def key(item: Waiting[K]) -> tuple[int, float]:
        demand = item.demand
        if aging > 0:
            return (-demand.priority - int(max(0.0, now - demand.arrival) // aging), demand.arrival)
        return (-demand.priority, demand.arrival)

    return key


@dataclass(frozen=True, slots=True)
class Queued(Generic[K]):
    """A waiting task as the status page shows it: its place in the order and since when."""

    key: K
    demand: Demand
    position: int  # 1 = the head of the queue
    effective_priority: int
    waited: float  # seconds since it started waiting


def queue(
    waiting: Sequence[Waiting[K]], now: float, policy: Policy | None = None
) -> list[Queued[K]]:
    """The waiting tasks in the order ``plan`` considers them (read-only; no planning)."""
    policy = policy or Policy()
    ordered = sorted(waiting, key=order_key(now, policy))
    return [
        Queued(
            item.key,
            item.demand,
            position,
            effective_priority(item.demand, now, policy),
            max(0.0, now - item.demand.arrival),
        )
        for position, item in enumerate(ordered, start=1)
    ]


def plan(
    waiting: Sequence[Waiting[K]], snapshot: Snapshot, now: float, policy: Policy | None = None
) -> Plan[K]:
    """Decide every waiting task against ``snapshot`` (see the module docstring)."""
    policy = policy or Policy()
    result: Plan[K] = Plan()
    if not snapshot.synced or not snapshot.nodes:
        reason = NOT_SYNCED if not snapshot.synced else NO_NODES
        result.waiting = {item.key: reason for item in waiting}
        return result
    state = _Pass(snapshot)
    for item in sorted(waiting, key=order_key(now, policy)):
        verdict, text = state.decide(item.demand)
        if verdict is _Verdict.ADMIT:
            result.admit.append((item.key, text))
        elif verdict is _Verdict.NEVER:
            result.never[item.key] = text
        else:
            result.waiting[item.key] = text
            if policy.hold_for_head and result.held is None:
                result.held = (item.key, state.hold(item.demand))
    return result


class _Verdict(Enum):
    ADMIT = "admit"
    NEVER = "never"
    WAIT = "wait"


@dataclass(slots=True)
class _Eligible:
    names: list[str]  # eligible now, in node order
    candidates: list[str]  # eligible now or only transiently not
    excluded: list[tuple[str, Ineligible]]


@dataclass(slots=True)
class _Shape:
    cursor: int = 0
    failed: str | None = None
    never: str | None = None


@dataclass(slots=True)
class _QuotaLeft:
    info: QuotaInfo
    remaining: ResourceVector


def _score(requests: ResourceVector, free: ResourceVector) -> float:
    """How close ``free`` is to holding ``requests``: the fraction of the scarcest resource."""
    return min((free.get(name) / amount for name, amount in requests.items), default=1.0)


class _Pass:
    """The working state of one pass: free room and quota left, shrinking as it admits."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.nodes = {n.name: n for n in snapshot.nodes}
        self.free = {n.name: n.free for n in snapshot.nodes}
        self.quotas = {
            ns: [_QuotaLeft(q.info, q.remaining) for q in states]
            for ns, states in snapshot.quotas.items()
        }
        self.eligible: dict[Placement, _Eligible] = {}
        self.shapes: dict[object, _Shape] = {}
        self.held_node: str | None = None
        self.held_requests = ResourceVector()

    def decide(self, demand: Demand) -> tuple[_Verdict, str]:
        shape = self.shapes.get(demand.shape)
        if shape is None:
            shape = self.shapes[demand.shape] = _Shape()
            shape.never = self._never(demand)
        if shape.never is not None:
            return _Verdict.NEVER, shape.never
        quotas = self.quotas.get(demand.namespace)
        usage = demand.quota_usage() if quotas else None
        if quotas and usage is not None:
            problem = _quota_problem(quotas, usage)
            if problem is not None:
                return problem
        if shape.failed is not None:
            return _Verdict.WAIT, shape.failed
        node = self._first_fit(demand.requests, self._eligible(demand.placement).names, shape)
        if node is None:
            shape.failed = self._wait_reason(demand)
            return _Verdict.WAIT, shape.failed
        self.free[node] = self.free[node] - demand.requests
        if quotas and usage is not None:
            for left in quotas:
                left.remaining = left.remaining - left.info.relevant(usage)
        return _Verdict.ADMIT, node

    def hold(self, demand: Demand) -> str | None:
        """Hold room for the head on the node where it would fit soonest, and in its quotas."""
        for left in self.quotas.get(demand.namespace, ()):
            left.remaining = left.remaining - left.info.relevant(demand.quota_usage())
        eligible = self._eligible(demand.placement).names
        if any(demand.requests.fits_in(self.free[name]) for name in eligible):
            return None  # only its quota is short: holding a node would waste it
        node = self._closest(demand)
        if node is not None:
            self.free[node] = self.free[node] - demand.requests
            self.held_node, self.held_requests = node, demand.requests
        return node

    def _first_fit(self, requests: ResourceVector, names: list[str], shape: _Shape) -> str | None:
        free = self.free
        for index in range(shape.cursor, len(names)):
            if requests.fits_in(free[names[index]]):
                shape.cursor = index
                return names[index]
        shape.cursor = len(names)
        return None

    def _eligible(self, placement: Placement) -> _Eligible:
        found = self.eligible.get(placement)
        if found is None:
            found = _Eligible([], [], [])
            for name, node in self.nodes.items():
                why = ineligible(node.info, placement)
                if why is None:
                    found.names.append(name)
                else:
                    found.excluded.append((name, why))
                if why is None or not why.lasting:
                    found.candidates.append(name)
            self.eligible[placement] = found
        return found

    def _closest(self, demand: Demand) -> str | None:
        """The eligible node large enough for ``demand`` with the most of its scarcest need."""
        requests = demand.requests
        best, best_score = None, float("-inf")
        for name in self._eligible(demand.placement).names:
            if not requests.fits_in(self.nodes[name].info.allocatable):
                continue
            score = _score(requests, self.free[name])
            if score > best_score:
                best, best_score = name, score
        return best

    def _never(self, demand: Demand) -> str | None:
        requests = demand.requests
        eligible = self._eligible(demand.placement)
        if not eligible.candidates:
            excluded = "; ".join(f"{name}: {why.reason}" for name, why in eligible.excluded[:5])
            return f"no node can ever take it ({excluded})"
        largest, largest_score = eligible.candidates[0], float("-inf")
        for name in eligible.candidates:
            allocatable = self.nodes[name].info.allocatable
            if requests.fits_in(allocatable):
                return None
            score = _score(requests, allocatable)
            if score > largest_score:
                largest, largest_score = name, score
        allocatable = self.nodes[largest].info.allocatable
        short = list(requests.shortfall(allocatable))
        return (
            f"needs {requests.describe(short)}; the largest eligible node has "
            f"{allocatable.describe(short)} ({largest})"
        )

    def _wait_reason(self, demand: Demand) -> str:
        node = self._closest(demand)
        if node is None:
            excluded = self._eligible(demand.placement).excluded
            transient = [f"{name} {why.reason}" for name, why in excluded if not why.lasting]
            return "no large enough node is eligible now: " + ", ".join(transient[:5])
        free = self.free[node].clamped()
        short = list(demand.requests.shortfall(free))
        reason = (
            f"needs {demand.requests.describe(short)}; the most free eligible node has "
            f"{free.describe(short)} ({node})"
        )
        held = self.held_node
        if held is not None and held in self._eligible(demand.placement).names:
            without_hold = self.free[held] + self.held_requests
            if demand.requests.fits_in(without_hold):
                reason += f"; {held} has room, held for a task ahead in the queue"
        return reason


def _quota_problem(quotas: list[_QuotaLeft], usage: ResourceVector) -> tuple[_Verdict, str] | None:
    for left in quotas:
        needed = left.info.relevant(usage)
        if not needed.fits_in(left.info.hard):
            short = list(needed.shortfall(left.info.hard))
            return _Verdict.NEVER, (
                f"needs {needed.describe(short)}; ResourceQuota "
                f"{left.info.namespace}/{left.info.name} allows "
                f"{left.info.hard.describe(short)} in all"
            )
        if not needed.fits_in(left.remaining):
            remaining = left.remaining.clamped()
            short = list(needed.shortfall(remaining))
            return _Verdict.WAIT, (
                f"needs {needed.describe(short)}; ResourceQuota "
                f"{left.info.namespace}/{left.info.name} has "
                f"{remaining.describe(short)} left"
            )
    return None
