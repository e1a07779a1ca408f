"""Builders of real ``V1Node``/``V1Pod``/``V1ResourceQuota`` objects for the ledger tests.

Defaults describe the local cluster's CPU node (8 CPU, 32Gi, 110 pods, Ready); every test
states only what differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubernetes import client

from kaapana_executor.ledger.demand import Demand
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.snapshot import Snapshot

Resources = Mapping[str, str]

GPU_TAINT = client.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")
GPU_TOLERATION = client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def node(
    name: str = "cpu-1",
    *,
    cpu: str = "8",
    memory: str = "32Gi",
    pods: int = 110,
    gpus: int = 0,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[client.V1Taint] = (),
    unschedulable: bool = False,
    ready: bool = True,
    pressure: Sequence[str] = (),
) -> client.V1Node:
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    conditions = [client.V1NodeCondition(type="Ready", status="True" if ready else "False")]
    conditions += [
        client.V1NodeCondition(type=kind, status="True" if kind in pressure else "False")
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name, labels={"kubernetes.io/hostname": name, **(labels or {})}
        ),
        spec=client.V1NodeSpec(taints=list(taints) or None, unschedulable=unschedulable or None),
        status=client.V1NodeStatus(
            capacity=dict(allocatable), allocatable=allocatable, conditions=conditions
        ),
    )


def gpu_node(name: str = "gpu-1", **fields: object) -> client.V1Node:
    """The local cluster's GPU node: 16 CPU, 64Gi, 2 GPUs, tainted."""
    defaults: dict[str, object] = {
        "cpu": "16",
        "memory": "64Gi",
        "gpus": 2,
        "taints": [GPU_TAINT],
    }
    return node(name, **{**defaults, **fields})  # type: ignore[arg-type]


def container(
    name: str = "main",
    requests: Resources | None = None,
    limits: Resources | None = None,
    restart_policy: str | None = None,
) -> client.V1Container:
    resources = client.V1ResourceRequirements(
        requests=dict(requests) if requests else None, limits=dict(limits) if limits else None
    )
    return client.V1Container(
        name=name, image="reg/img:1", resources=resources, restart_policy=restart_policy
    )


def pod(
    name: str = "p",
    namespace: str = "default",
    *,
    requests: Resources | None = None,
    limits: Resources | None = None,
    containers: Sequence[client.V1Container] = (),
    init_containers: Sequence[client.V1Container] = (),
    overhead: Resources | None = None,
    node_name: str | None = None,
    phase: str = "Pending",
    tolerations: Sequence[client.V1Toleration] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity: Sequence[client.V1NodeSelectorTerm] = (),
) -> client.V1Pod:
    """A pod with one container of ``requests``/``limits`` unless ``containers`` are given."""
    node_affinity = None
    if affinity:
        node_affinity = client.V1Affinity(
            node_affinity=client.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=client.V1NodeSelector(
                    node_selector_terms=list(affinity)
                )
            )
        )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        spec=client.V1PodSpec(
            containers=list(containers) or [container(requests=requests, limits=limits)],
            init_containers=list(init_containers) or None,
            overhead=dict(overhead) if overhead else None,
            node_name=node_name,
            tolerations=list(tolerations) or None,
            node_selector=dict(node_selector) if node_selector else None,
            affinity=node_affinity,
        ),
        status=client.V1PodStatus(phase=phase),
    )


def term(
    *expressions: tuple[str, str, Sequence[str]], name_in: Sequence[str] = ()
) -> client.V1NodeSelectorTerm:
    """A nodeSelectorTerm: ``("disk", "In", ["ssd"])``...; ``name_in`` as matchFields."""
    return client.V1NodeSelectorTerm(
        match_expressions=[
            client.V1NodeSelectorRequirement(key=k, operator=op, values=list(v) or None)
            for k, op, v in expressions
        ]
        or None,
        match_fields=[
            client.V1NodeSelectorRequirement(
                key="metadata.name", operator="In", values=list(name_in)
            )
        ]
        if name_in
        else None,
    )


def demand(
    cpu: str | None = None,
    memory: str | None = None,
    *,
    gpus: int = 0,
    namespace: str = "default",
    priority: int = 0,
    arrival: float = 0.0,
    tolerate_gpu: bool | None = None,
    **pod_fields: object,
) -> Demand:
    """The demand of a one-container pod; GPU demands tolerate the GPU taint by default."""
    requests = {"cpu": cpu, "memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
    tolerations = [GPU_TOLERATION] if (gpus if tolerate_gpu is None else tolerate_gpu) else []
    built = pod(
        namespace=namespace,
        requests={k: v for k, v in requests.items() if v is not None},
        tolerations=tolerations,
        **pod_fields,  # type: ignore[arg-type]
    )
    return Demand.from_pod(built, priority=priority, arrival=arrival)


def quota(
    name: str = "q",
    namespace: str = "default",
    *,
    hard: Resources,
    used: Resources | None = None,
    scopes: Sequence[str] = (),
) -> client.V1ResourceQuota:
    return client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        spec=client.V1ResourceQuotaSpec(hard=dict(hard), scopes=list(scopes) or None),
        status=client.V1ResourceQuotaStatus(hard=dict(hard), used=dict(used or {})),
    )


def snapshot(
    *nodes: client.V1Node,
    pods: Sequence[client.V1Pod] = (),
    quotas: Sequence[client.V1ResourceQuota] = (),
) -> Snapshot:
    """What a freshly synced ledger shows for these objects."""
    ledger = Ledger()
    ledger.replace_all(nodes, pods, quotas)
    return ledger.snapshot()
