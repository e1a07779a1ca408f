"""Whether a node may take a pod at all, as kube-scheduler's filters decide (pure).

Checked: ``nodeSelector``, required node affinity (``matchExpressions`` and
``matchFields`` on ``metadata.name``), NoSchedule/NoExecute taints against the pod's
tolerations, cordon (``spec.unschedulable``), ``Ready`` and the Memory/Disk/PID pressure
conditions. PreferNoSchedule taints and preferred affinity only rank nodes; they never
exclude one, so they are ignored here.

Each reason says whether it is *lasting*: a selector, an affinity or a workload taint
stays until someone changes the node or the task, while a cordon, NotReady, pressure or
the node controller's own ``node.kubernetes.io/*`` taints pass. A task is only failed as
never fitting when even the nodes that are merely *transiently* ineligible are too small.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaapana_executor.ledger.demand import Placement, Requirement, Term, Toleration
from kaapana_executor.ledger.node import NodeInfo, Taint

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
NODE_CONTROLLER_TAINTS = "node.kubernetes.io/"
UNSCHEDULABLE_TOLERATION = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True, slots=True)
class Ineligible:
    """Why a node cannot take a pod; ``lasting`` if it will not pass by itself."""

    reason: str
    lasting: bool


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' ``Toleration.ToleratesTaint``."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == taint.value


def _value_matches(requirement: Requirement, value: str | None) -> bool:
    operator = requirement.operator
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator == "In":
        return value is not None and value in requirement.values
    if operator == "NotIn":
        return value is None or value not in requirement.values
    if operator in ("Gt", "Lt") and value is not None and len(requirement.values) == 1:
        try:
            left, right = int(value), int(requirement.values[0])
        except ValueError:
            return False
        return left > right if operator == "Gt" else left < right
    return False


def term_matches(term: Term, node: NodeInfo) -> bool:
    """All requirements of the term hold; a term without any matches no node."""
    if not term.expressions and not term.fields:
        return False
    fields = {"metadata.name": node.name}
    return all(_value_matches(r, node.labels.get(r.key)) for r in term.expressions) and all(
        _value_matches(r, fields.get(r.key)) for r in term.fields
    )


def _untolerated(placement: Placement, node: NodeInfo) -> Taint | None:
    for taint in node.taints:
        if taint.effect not in BLOCKING_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in placement.tolerations):
            return taint
    return None


def ineligible(node: NodeInfo, placement: Placement) -> Ineligible | None:
    """Why ``node`` cannot take a pod with ``placement``, or None if it can.

    Lasting reasons are reported before transient ones, so a cordoned GPU node is
    reported as "taint not tolerated" to a pod without the GPU toleration.
    """
    for key, value in placement.node_selector:
        if node.labels.get(key) != value:
            return Ineligible(f"nodeSelector {key}={value} does not match", lasting=True)
    if placement.required_affinity and not any(
        term_matches(t, node) for t in placement.required_affinity
    ):
        return Ineligible("required node affinity does not match", lasting=True)
    taint = _untolerated(placement, node)
    if taint is not None and not taint.key.startswith(NODE_CONTROLLER_TAINTS):
        return Ineligible(f"taint {taint} not tolerated", lasting=True)
    if not node.ready:
        return Ineligible("NotReady", lasting=False)
    if node.pressure:
        return Ineligible(" and ".join(node.pressure), lasting=False)
    if node.unschedulable and not any(
        tolerates(t, Taint(UNSCHEDULABLE_TOLERATION, effect="NoSchedule"))
        for t in placement.tolerations
    ):
        return Ineligible("cordoned", lasting=False)
    if taint is not None:
        return Ineligible(f"taint {taint} not tolerated", lasting=False)
    return None
