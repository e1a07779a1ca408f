"""What one pod asks of a node: its effective requests and where it may be placed.

Parsed once from a ``V1Pod`` at the boundary into small frozen values, so the admission
loop never touches the client's Optional-everywhere objects. The effective request is what
kube-scheduler counts (``NodeResourcesFit``): the larger of the containers' sum and the
largest init container, plus the pod overhead, plus one pod. Sidecars (init containers
with ``restartPolicy: Always``) keep running, so they add to both sides as the scheduler
does. A resource given only as a limit is requested at the limit, as API defaulting does;
we apply that ourselves because the executor asks about pods it has not created yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kaapana_executor.ledger.vector import ONE_POD, ZERO, ResourceVector


@dataclass(frozen=True, slots=True)
class Toleration:
    """``spec.tolerations[]``; an empty key with ``Exists`` tolerates every taint."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    @classmethod
    def from_k8s(cls, toleration: client.V1Toleration) -> Toleration:
        return cls(
            key=toleration.key or "",
            operator=toleration.operator or "Equal",
            value=toleration.value or "",
            effect=toleration.effect or "",
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions``/``matchFields`` entry: ``key`` ``operator`` ``values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def from_k8s(cls, requirement: client.V1NodeSelectorRequirement) -> Requirement:
        return cls(requirement.key, requirement.operator, tuple(requirement.values or ()))


@dataclass(frozen=True, slots=True)
class Term:
    """A ``nodeSelectorTerm``: every requirement must hold (an empty term matches nothing)."""

    expressions: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()

    @classmethod
    def from_k8s(cls, term: client.V1NodeSelectorTerm) -> Term:
        return cls(
            tuple(Requirement.from_k8s(r) for r in term.match_expressions or ()),
            tuple(Requirement.from_k8s(r) for r in term.match_fields or ()),
        )


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a pod may go: tolerations, ``nodeSelector``, required node affinity (terms ORed).

    Eligibility depends on nothing else, so the admission pass works out the eligible
    nodes once per distinct placement.
    """

    tolerations: tuple[Toleration, ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    required_affinity: tuple[Term, ...] = ()

    @classmethod
    def from_spec(cls, spec: client.V1PodSpec) -> Placement:
        affinity = spec.affinity.node_affinity if spec.affinity else None
        required = (
            affinity.required_during_scheduling_ignored_during_execution if affinity else None
        )
        return cls(
            tolerations=tuple(Toleration.from_k8s(t) for t in spec.tolerations or ()),
            node_selector=tuple(sorted((spec.node_selector or {}).items())),
            required_affinity=tuple(Term.from_k8s(t) for t in required.node_selector_terms)
            if required
            else (),
        )


ANYWHERE = Placement()


@dataclass(frozen=True, slots=True)
class Demand:
    """A pod-to-be (or a pod) as the ledger sees it.

    ``limits`` only matter for ``limits.*`` ResourceQuota keys. ``priority`` is the task's
    ``priority_weight``; ``arrival`` is when it started waiting (monotonic seconds).
    """

    requests: ResourceVector
    namespace: str = "default"
    placement: Placement = ANYWHERE
    limits: ResourceVector = ZERO
    priority: int = 0
    arrival: float = 0.0
    shape: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # What admission work depends on; priority and arrival only decide the order.
        object.__setattr__(self, "shape", (self.requests, self.placement))

    @classmethod
    def from_pod(cls, pod: client.V1Pod, priority: int = 0, arrival: float = 0.0) -> Demand:
        spec: client.V1PodSpec = pod.spec
        return cls(
            requests=pod_requests(spec, "requests"),
            limits=pod_requests(spec, "limits"),
            namespace=(pod.metadata.namespace if pod.metadata else None) or "default",
            placement=Placement.from_spec(spec),
            priority=priority,
            arrival=arrival,
        )

    @property
    def tolerations(self) -> tuple[Toleration, ...]:
        return self.placement.tolerations

    @property
    def node_selector(self) -> Mapping[str, str]:
        return dict(self.placement.node_selector)

    @property
    def required_affinity(self) -> tuple[Term, ...]:
        return self.placement.required_affinity

    def quota_usage(self) -> ResourceVector:
        """What the pod counts against a ResourceQuota: requests, and limits as ``limits.*``."""
        limits = ResourceVector.of({f"limits.{k}": v for k, v in self.limits.items})
        return self.requests + limits


def _container(container: client.V1Container, which: str) -> ResourceVector:
    resources = container.resources
    if resources is None:
        return ZERO
    limits = resources.limits or {}
    requests = resources.requests or {}
    if which == "limits":
        return ResourceVector.from_k8s(limits)
    # A limit without a request means a request equal to the limit (API defaulting).
    return ResourceVector.from_k8s({**limits, **requests})


def _sum(vectors: Iterable[ResourceVector]) -> ResourceVector:
    total = ZERO
    for vector in vectors:
        total = total + vector
    return total


def pod_requests(spec: client.V1PodSpec, which: str = "requests") -> ResourceVector:
    """The pod's effective ``requests`` (or ``limits``) as kube-scheduler counts them."""
    sidecars = ZERO
    init_peak = ZERO
    for init in spec.init_containers or ():
        own = _container(init, which)
        if init.restart_policy == "Always":
            sidecars = sidecars + own
            init_peak = init_peak.maximum(sidecars)
        else:
            init_peak = init_peak.maximum(own + sidecars)
    containers = _sum(_container(c, which) for c in spec.containers or ()) + sidecars
    total = containers.maximum(init_peak) + ResourceVector.from_k8s(spec.overhead)
    return total + ONE_POD if which == "requests" else total
