"""Node eligibility as kube-scheduler's filters see it, and which reasons are lasting."""

from __future__ import annotations

import pytest
from kubernetes import client

from kaapana_executor.ledger.demand import Placement
from kaapana_executor.ledger.eligibility import Ineligible, ineligible
from kaapana_executor.ledger.node import NodeInfo
from tests.support.ledger_builders import GPU_TOLERATION, gpu_node, node, pod, term


def placement(**pod_fields: object) -> Placement:
    built = pod(**pod_fields)  # type: ignore[arg-type]
    return Placement.from_spec(built.spec)


ANY = placement()
TOLERATES_GPU = placement(tolerations=[GPU_TOLERATION])
EVERYTHING = placement(tolerations=[client.V1Toleration(operator="Exists")])
LASTING, TRANSIENT = True, False


@pytest.mark.parametrize(
    ("node_obj", "where", "expected"),
    [
        (node(), ANY, None),
        (
            gpu_node(),
            ANY,
            Ineligible("taint nvidia.com/gpu=present:NoSchedule not tolerated", LASTING),
        ),
        (gpu_node(), TOLERATES_GPU, None),
        (gpu_node(), EVERYTHING, None),
        # A toleration for another effect does not help; Equal needs the value.
        (
            gpu_node(),
            placement(
                tolerations=[
                    client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoExecute")
                ]
            ),
            Ineligible("taint nvidia.com/gpu=present:NoSchedule not tolerated", LASTING),
        ),
        (
            gpu_node(),
            placement(tolerations=[client.V1Toleration(key="nvidia.com/gpu", value="present")]),
            None,
        ),
        (
            gpu_node(),
            placement(tolerations=[client.V1Toleration(key="nvidia.com/gpu", value="absent")]),
            Ineligible("taint nvidia.com/gpu=present:NoSchedule not tolerated", LASTING),
        ),
        # PreferNoSchedule only ranks nodes.
        (node(taints=[client.V1Taint(key="soft", effect="PreferNoSchedule")]), ANY, None),
        (
            node(taints=[client.V1Taint(key="evict", effect="NoExecute")]),
            ANY,
            Ineligible("taint evict:NoExecute not tolerated", LASTING),
        ),
        (node(unschedulable=True), ANY, Ineligible("cordoned", TRANSIENT)),
        (
            node(unschedulable=True),
            placement(
                tolerations=[
                    client.V1Toleration(
                        key="node.kubernetes.io/unschedulable",
                        operator="Exists",
                        effect="NoSchedule",
                    )
                ]
            ),
            None,
        ),
        (node(ready=False), ANY, Ineligible("NotReady", TRANSIENT)),
        (
            node(pressure=["MemoryPressure", "DiskPressure"]),
            ANY,
            Ineligible("MemoryPressure and DiskPressure", TRANSIENT),
        ),
        # The node controller's taints pass by themselves.
        (
            node(
                taints=[client.V1Taint(key="node.kubernetes.io/disk-pressure", effect="NoSchedule")]
            ),
            ANY,
            Ineligible(
                "taint node.kubernetes.io/disk-pressure:NoSchedule not tolerated", TRANSIENT
            ),
        ),
        # A lasting reason wins over a transient one.
        (
            gpu_node(unschedulable=True),
            ANY,
            Ineligible("taint nvidia.com/gpu=present:NoSchedule not tolerated", LASTING),
        ),
        (gpu_node(unschedulable=True), TOLERATES_GPU, Ineligible("cordoned", TRANSIENT)),
        # nodeSelector
        (node(labels={"pool": "big"}), placement(node_selector={"pool": "big"}), None),
        (
            node(labels={"pool": "small"}),
            placement(node_selector={"pool": "big"}),
            Ineligible("nodeSelector pool=big does not match", LASTING),
        ),
        # Required node affinity: terms ORed, expressions ANDed.
        (
            node(labels={"disk": "ssd"}),
            placement(affinity=[term(("disk", "In", ["ssd", "nvme"]))]),
            None,
        ),
        (
            node(labels={"disk": "hdd"}),
            placement(affinity=[term(("disk", "In", ["ssd"]))]),
            Ineligible("required node affinity does not match", LASTING),
        ),
        (
            node(labels={"disk": "hdd"}),
            placement(affinity=[term(("disk", "In", ["ssd"])), term(("disk", "NotIn", ["ssd"]))]),
            None,
        ),
        (
            node(labels={"disk": "ssd"}),
            placement(affinity=[term(("disk", "In", ["ssd"]), ("zone", "Exists", []))]),
            Ineligible("required node affinity does not match", LASTING),
        ),
        (node(), placement(affinity=[term(("gpu", "DoesNotExist", []))]), None),
        (node(labels={"cores": "64"}), placement(affinity=[term(("cores", "Gt", ["32"]))]), None),
        (
            node(labels={"cores": "16"}),
            placement(affinity=[term(("cores", "Gt", ["32"]))]),
            Ineligible("required node affinity does not match", LASTING),
        ),
        (node(labels={"cores": "16"}), placement(affinity=[term(("cores", "Lt", ["32"]))]), None),
        (
            node("cpu-2"),
            placement(affinity=[term(name_in=["cpu-1"])]),
            Ineligible("required node affinity does not match", LASTING),
        ),
        (node("cpu-1"), placement(affinity=[term(name_in=["cpu-1"])]), None),
    ],
)
def test_ineligible(node_obj: client.V1Node, where: Placement, expected: Ineligible | None) -> None:
    assert ineligible(NodeInfo.from_node(node_obj), where) == expected
