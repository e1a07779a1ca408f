"""The one stateful, locked cache: what every node holds, kept current from watch events.

Per node it keeps the effective requests of the non-terminal pods bound to it (all
namespaces, every tenant) and the room reserved for pods this executor is creating or has
created but the scheduler has not bound yet. Admission reads it through :meth:`snapshot`.

Reservations follow Kueue's "assume, then commit, then roll back": the engine
:meth:`reserve` s before it calls the API, and :meth:`release` s if the create fails. Once
the ledger sees the pod bound (``spec.nodeName``), terminal, or deleted, it releases the
reservation itself, since from then on the pod is either counted on its real node or gone.
Every release is idempotent. A reservation whose pod the ledger has never seen expires after
``reservation_ttl`` seconds, so a create that was lost without a release cannot leak room.

Pods may come from more than one feed: a watch of every pod, or (as the engine wires it) the
engine's own pod watcher for the executors' pods plus a watch of every other pod, so each event
of our pods is decoded once, not once per watch. A list from one feed replaces only what that
feed said; the ledger is synced once every feed it expects has listed.

Bound pods are counted on their nodes, and so are unbound pods pinned to one node by a
required node affinity on ``metadata.name`` (the executor pins every pod it admits, so with
two schedulers each ledger counts the other's admitted pods as soon as they exist). Any other
unbound pod of another tenant has no node yet, and the scheduler may still put it anywhere
(or nowhere): its room is counted once it binds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from types import MappingProxyType

from kubernetes import client

from kaapana_executor.ledger.demand import Demand, pod_requests
from kaapana_executor.ledger.node import NodeInfo
from kaapana_executor.ledger.quota import QuotaInfo
from kaapana_executor.ledger.snapshot import NodeState, QuotaState, ReservationState, Snapshot
from kaapana_executor.ledger.vector import ZERO, ResourceVector

log = logging.getLogger(__name__)

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
#: The pod feed of a ledger that is told of every pod by one watch.
ALL_PODS = "pods"

PodKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Bound:
    node: str
    requests: ResourceVector


@dataclass(slots=True)
class _Reservation:
    key: Hashable
    demand: Demand
    node: str
    pod: PodKey | None
    since: float
    seen: bool = False
    feed: str | None = None  # the feed that saw its pod


def pod_key(pod: client.V1Pod) -> PodKey:
    return (pod.metadata.namespace or "", pod.metadata.name or "")


def pinned_node(spec: client.V1PodSpec) -> str | None:
    """The one node a pod's required node affinity allows by name (``matchFields
    metadata.name In [node]`` in every term, as the executor pins admitted pods), else None."""
    affinity = spec.affinity.node_affinity if spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    nodes = set()
    for term in (required.node_selector_terms or []) if required else []:
        names = [
            tuple(field.values or ())
            for field in term.match_fields or []
            if field.key == "metadata.name" and field.operator == "In"
        ]
        if len(names) != 1 or len(names[0]) != 1:
            return None
        nodes.add(names[0][0])
    return nodes.pop() if len(nodes) == 1 else None


def _bound_usage(pod: client.V1Pod) -> _Bound | None:
    """Where a non-terminal pod's requests count: its node once bound, or the node it is
    pinned to while it waits to be bound (so another ledger's admitted pod, or another
    tenant's pinned one, counts from its creation, not only from its binding)."""
    spec, status = pod.spec, pod.status
    if spec is None or (status is not None and status.phase in TERMINAL_PHASES):
        return None
    node = spec.node_name or pinned_node(spec)
    return None if node is None else _Bound(node, pod_requests(spec))


def _done_waiting(pod: client.V1Pod) -> bool:
    """Counted on a node (bound or pinned) or terminal: its reservation is no longer needed."""
    counted = bool(pod.spec and (pod.spec.node_name or pinned_node(pod.spec)))
    return counted or bool(pod.status and pod.status.phase in TERMINAL_PHASES)


class Ledger:
    """Thread-safe: watch threads apply events, the engine reserves and takes snapshots."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, reservation_ttl: float = 300.0
    ) -> None:
        self._clock = clock
        self._ttl = reservation_ttl
        self._lock = threading.Lock()
        self._kinds: frozenset[str] = frozenset({"nodes", ALL_PODS, "quotas"})
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[PodKey, _Bound] = {}
        self._feed_of: dict[PodKey, str] = {}  # the feed that told of each counted pod
        self._requested: dict[str, ResourceVector] = {}
        self._reservations: dict[Hashable, _Reservation] = {}
        self._by_pod: dict[PodKey, Hashable] = {}
        self._reserved: dict[str, ResourceVector] = {}
        self._quotas: dict[PodKey, QuotaInfo] = {}
        self._listed: set[str] = set()
        self._generation = 0
        self._states: dict[str, NodeState] = {}
        self._dirty: set[str] = set()
        self._order: list[str] | None = None

    def expect_pod_feeds(self, *feeds: str) -> None:
        """Pods come from these feeds (disjoint sets of pods); each must list once before the
        ledger is synced. Called before any pod reaches the ledger."""
        with self._lock:
            self._kinds = frozenset({"nodes", "quotas", *feeds})

    # --- nodes -----------------------------------------------------------------------
    def apply_node(self, node: client.V1Node) -> None:
        info = NodeInfo.from_node(node)
        with self._lock:
            if info.name not in self._nodes:
                self._order = None
            self._nodes[info.name] = info
            self._touch(info.name)

    def delete_node(self, name: str) -> None:
        with self._lock:
            if self._nodes.pop(name, None) is not None:
                self._order = None
                self._states.pop(name, None)
                self._generation += 1

    def replace_nodes(self, nodes: Iterable[client.V1Node]) -> None:
        """A full list of nodes: nodes missing from it are gone."""
        infos = {info.name: info for info in map(NodeInfo.from_node, nodes)}
        with self._lock:
            self._nodes = infos
            self._order = None
            self._states.clear()
            self._listed.add("nodes")
            self._generation += 1

    # --- pods ------------------------------------------------------------------------
    def apply_pod(self, pod: client.V1Pod, feed: str = ALL_PODS) -> None:
        key = pod_key(pod)
        usage = _bound_usage(pod)
        with self._lock:
            old = self._pods.get(key)
            if old != usage:
                self._unbind(key)
                if usage is not None:
                    self._bind(key, usage, feed)
            self._pod_seen(key, _done_waiting(pod), feed)

    def delete_pod(self, pod: client.V1Pod, feed: str = ALL_PODS) -> None:
        key = pod_key(pod)
        with self._lock:
            self._unbind(key)
            self._pod_seen(key, True, feed)

    def replace_pods(self, pods: Iterable[client.V1Pod], feed: str = ALL_PODS) -> None:
        """A full list of ``feed``'s pods: reconcile what it told before, and the reservations
        of its pods, with it (another feed's pods stay as they are)."""
        listed = {pod_key(pod): pod for pod in pods}
        usages = {key: _bound_usage(pod) for key, pod in listed.items()}
        with self._lock:
            for pod in [pod for pod, source in self._feed_of.items() if source == feed]:
                self._unbind(pod)
            for pod, usage in usages.items():
                if usage is not None:
                    self._unbind(pod)  # told by another feed before: this one has it now
                    self._bind(pod, usage, feed)
            for pod, key in list(self._by_pod.items()):
                reservation = self._reservations[key]
                if pod in listed:
                    self._pod_seen(pod, _done_waiting(listed[pod]), feed)
                elif reservation.seen and reservation.feed == feed:  # deleted while unwatched
                    self._release(key)
            self._states.clear()
            self._listed.add(feed)
            self._generation += 1

    # --- quotas ----------------------------------------------------------------------
    def apply_quota(self, quota: client.V1ResourceQuota) -> None:
        info = QuotaInfo.from_quota(quota)
        key = (quota.metadata.namespace, quota.metadata.name)
        with self._lock:
            if info is None:
                self._quotas.pop(key, None)
            else:
                self._quotas[key] = info
            self._generation += 1

    def delete_quota(self, quota: client.V1ResourceQuota) -> None:
        with self._lock:
            self._quotas.pop((quota.metadata.namespace, quota.metadata.name), None)
            self._generation += 1

    def replace_quotas(self, quotas: Iterable[client.V1ResourceQuota]) -> None:
        infos = [info for info in map(QuotaInfo.from_quota, quotas) if info is not None]
        with self._lock:
            self._quotas = {info.key: info for info in infos}
            self._listed.add("quotas")
            self._generation += 1

    def replace_all(
        self,
        nodes: Iterable[client.V1Node],
        pods: Iterable[client.V1Pod],
        quotas: Iterable[client.V1ResourceQuota] = (),
    ) -> None:
        """A full relist of everything (the watcher relists each kind on its own)."""
        self.replace_nodes(nodes)
        self.replace_pods(pods)
        self.replace_quotas(quotas)

    # --- reservations ----------------------------------------------------------------
    def reserve(self, key: Hashable, demand: Demand, node: str, pod: PodKey | None = None) -> None:
        """Hold ``demand`` on ``node`` for ``key`` until released, or until ``pod`` (namespace,
        name) is seen bound, terminal or deleted. Reserving a key again replaces it."""
        with self._lock:
            self._release(key)
            self._reservations[key] = _Reservation(key, demand, node, pod, self._clock())
            if pod is not None:
                self._by_pod[pod] = key
            self._reserved[node] = self._reserved.get(node, ZERO) + demand.requests
            self._touch(node)

    def release(self, key: Hashable) -> bool:
        """Drop the reservation of ``key``; False when there was none (already released)."""
        with self._lock:
            return self._release(key)

    def is_reserved(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._reservations

    # --- reading ---------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        """Every kind has been listed once; before that a snapshot admits nothing."""
        with self._lock:
            return self._listed.issuperset(self._kinds)

    def snapshot(self) -> Snapshot:
        """An immutable copy for one admission pass (node states are rebuilt only when
        something about the node changed since the last snapshot)."""
        with self._lock:
            self._expire()
            if self._order is None:
                self._order = sorted(self._nodes)
            states = self._states
            for name in self._dirty:
                states.pop(name, None)
            self._dirty.clear()
            nodes = []
            for name in self._order:
                state = states.get(name)
                if state is None:
                    state = states[name] = NodeState.of(
                        self._nodes[name],
                        self._requested.get(name, ZERO),
                        self._reserved.get(name, ZERO),
                    )
                nodes.append(state)
            return Snapshot(
                nodes=tuple(nodes),
                quotas=MappingProxyType(self._quota_states()),
                reservations=tuple(
                    ReservationState(r.key, r.node, r.demand.requests, r.pod, r.seen)
                    for r in self._reservations.values()
                ),
                synced=self._listed.issuperset(self._kinds),
                generation=self._generation,
            )

    # --- internals (lock held) -------------------------------------------------------
    def _touch(self, node: str) -> None:
        self._dirty.add(node)
        self._generation += 1

    def _bind(self, key: PodKey, usage: _Bound, feed: str) -> None:
        self._pods[key] = usage
        self._feed_of[key] = feed
        self._requested[usage.node] = self._requested.get(usage.node, ZERO) + usage.requests
        self._touch(usage.node)

    def _unbind(self, key: PodKey) -> None:
        old = self._pods.pop(key, None)
        self._feed_of.pop(key, None)
        if old is not None:
            self._requested[old.node] = self._requested.get(old.node, ZERO) - old.requests
            self._touch(old.node)

    def _pod_seen(self, pod: PodKey, done: bool, feed: str) -> None:
        key = self._by_pod.get(pod)
        if key is None:
            return
        reservation = self._reservations[key]
        if done:
            self._release(key)
        elif not reservation.seen:
            reservation.seen, reservation.feed = True, feed
            self._generation += 1

    def _release(self, key: Hashable) -> bool:
        reservation = self._reservations.pop(key, None)
        if reservation is None:
            return False
        if reservation.pod is not None and self._by_pod.get(reservation.pod) == key:
            del self._by_pod[reservation.pod]
        node = reservation.node
        self._reserved[node] = self._reserved.get(node, ZERO) - reservation.demand.requests
        self._touch(node)
        return True

    def _expire(self) -> None:
        deadline = self._clock() - self._ttl
        for key, reservation in list(self._reservations.items()):
            if not reservation.seen and reservation.since < deadline:
                log.warning("reservation of %s on %s expired unseen", key, reservation.node)
                self._release(key)

    def _quota_states(self) -> dict[str, tuple[QuotaState, ...]]:
        in_flight: dict[str, ResourceVector] = {}
        for reservation in self._reservations.values():
            if not reservation.seen:
                namespace = reservation.demand.namespace
                usage = reservation.demand.quota_usage()
                in_flight[namespace] = in_flight.get(namespace, ZERO) + usage
        grouped: dict[str, list[QuotaState]] = {}
        for info in self._quotas.values():
            flight = info.relevant(in_flight.get(info.namespace, ZERO))
            grouped.setdefault(info.namespace, []).append(QuotaState.of(info, flight))
        return {ns: tuple(states) for ns, states in grouped.items()}
