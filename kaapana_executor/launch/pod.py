"""Build the pod for a task instance: a pure function from data to a ``V1Pod``.

Inputs are mounted read-only, outputs read-write; host paths and PVCs (with ``subPath``) are
volumes named after their channel. ``restartPolicy: Never``: retries are Airflow's job, and a
restarted container would rerun on half-written outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kaapana_executor.contract.instance import ResolvedChannel, TaskInstance
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.envvar import EnvVar
from kaapana_executor.k8s.models import build
from kaapana_executor.k8s.names import identity_hash
from kaapana_executor.k8s.scheduling import Toleration

CONTAINER_NAME = "main"


@dataclass(frozen=True)
class PodSettings:
    """Deployment-wide pod settings (from the executor's configuration; its defaults live
    there, in :class:`~kaapana_executor.config.ExecutorSettings`)."""

    service_account_name: str | None = None
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    security_context: dict[str, Any] = field(default_factory=dict)
    extra_labels: dict[str, str] = field(default_factory=dict)
    platform_env: tuple[EnvVar, ...] = ()  # wins over the template's, the task's, user input
    tolerations: tuple[Toleration, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodIdentity:
    """Who the pod is: its name and the ownership metadata."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]


def _volume_name(io: str, channel: str) -> str:
    return f"{io[:2]}-{identity_hash(io, channel)[:8]}"


def _volume(io: str, channel: ResolvedChannel) -> client.V1Volume:
    name = _volume_name(io, channel.name)
    source = channel.volume
    if source is None:
        raise ValueError(f"channel {channel.name!r} is not bound to a volume")
    if source.pvc is not None:
        return build(
            client.V1Volume,
            name=name,
            persistent_volume_claim=build(
                client.V1PersistentVolumeClaimVolumeSource,
                claim_name=source.pvc.claim_name,
                read_only=io == "inputs",
            ),
        )
    return build(
        client.V1Volume,
        name=name,
        host_path=build(
            client.V1HostPathVolumeSource,
            path=source.host_path,
            type="Directory" if io == "inputs" else "DirectoryOrCreate",
        ),
    )


def _mount(io: str, channel: ResolvedChannel) -> client.V1VolumeMount:
    sub_path = channel.volume.pvc.sub_path if channel.volume and channel.volume.pvc else None
    return build(
        client.V1VolumeMount,
        name=_volume_name(io, channel.name),
        mount_path=channel.mounted_path,
        read_only=io == "inputs",
        sub_path=sub_path or None,
    )


def _resources(instance: TaskInstance) -> client.V1ResourceRequirements:
    def strings(values: dict[str, str | float] | None) -> dict[str, str] | None:
        return {k: str(v) for k, v in values.items()} if values else None

    return build(
        client.V1ResourceRequirements,
        requests=strings(instance.resources.requests),
        limits=strings(instance.resources.limits),
    )


def _tolerations(instance: TaskInstance, settings: PodSettings) -> list[client.V1Toleration] | None:
    found = [t.to_v1() for t in settings.tolerations] + (
        extended_resource_tolerations(instance) or []
    )
    return found or None


def extended_resource_tolerations(instance: TaskInstance) -> list[client.V1Toleration] | None:
    """Tolerate the taint named after each extended resource the task requests.

    What Kubernetes' ExtendedResourceToleration admission plugin does, done here so that a
    GPU task reaches GPU nodes tainted ``nvidia.com/gpu`` on any cluster (and so that the
    resource ledger sees the same tolerations the pod will have).
    """
    names = {
        name
        for part in (instance.resources.requests, instance.resources.limits)
        for name in (part or {})
        if "/" in name
    }
    tolerations = [
        build(client.V1Toleration, key=name, operator="Exists", effect="NoSchedule")
        for name in sorted(names)
    ]
    return tolerations or None


def _env(instance: TaskInstance, settings: PodSettings) -> list[client.V1EnvVar]:
    """The task's env, then the platform's; a platform variable replaces a task's of the
    same name (as in Kaapana: the platform's values are not the user's to change)."""
    platform = {var.name for var in settings.platform_env}
    own = [
        build(client.V1EnvVar, name=e.name, value=e.value)
        for e in instance.env
        if e.name not in platform
    ]
    return own + [var.to_v1() for var in settings.platform_env]


def build_pod(
    instance: TaskInstance,
    identity: PodIdentity,
    settings: PodSettings,
    namespace: str,
    deadline_seconds: int | None = None,
) -> client.V1Pod:
    """The complete pod for ``instance`` in ``namespace``; no I/O.

    ``deadline_seconds`` is the task's execution timeout as ``activeDeadlineSeconds``: the
    kubelet stops the pod that long after it started on its node (time spent waiting for
    resources or for a node does not count; pulling the image does), whether or not the
    scheduler is up.
    """
    channels = [("inputs", c) for c in instance.inputs] + [("outputs", c) for c in instance.outputs]
    pull_secrets = [*settings.image_pull_secrets, *(instance.config.imagePullSecrets or [])]
    container = build(
        client.V1Container,
        name=CONTAINER_NAME,
        image=instance.image,
        image_pull_policy=settings.image_pull_policy,
        command=instance.command,
        env=_env(instance, settings) or None,
        volume_mounts=[_mount(io, c) for io, c in channels] or None,
        resources=_resources(instance),
        security_context=settings.security_context or None,
    )
    pod_labels = {  # the executor's own keys last: they always win
        **settings.extra_labels,
        **(instance.config.labels or {}),
        **identity.labels,
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.COMPONENT: labels.COMPONENT_VALUE,
    }
    annotations = {**(instance.config.annotations or {}), **identity.annotations}
    return build(
        client.V1Pod,
        api_version="v1",
        kind="Pod",
        metadata=build(
            client.V1ObjectMeta,
            name=identity.name,
            namespace=namespace,
            labels=pod_labels,
            annotations=annotations or None,
        ),
        spec=build(
            client.V1PodSpec,
            restart_policy="Never",
            active_deadline_seconds=deadline_seconds,
            service_account_name=settings.service_account_name,
            automount_service_account_token=False,
            image_pull_secrets=[
                build(client.V1LocalObjectReference, name=s) for s in dict.fromkeys(pull_secrets)
            ]
            or None,
            containers=[container],
            tolerations=_tolerations(instance, settings),
            node_selector=dict(settings.node_selector) or None,
            volumes=[_volume(io, c) for io, c in channels] or None,
        ),
    )


def pin_to_node(pod: client.V1Pod, node: str) -> None:
    """Require ``node`` for ``pod`` (the node the resource ledger reserved room on).

    kube-scheduler still checks and binds the pod, but can no longer put it on another node
    whose room the ledger promised to a different task (seen in bench.admission: a small pod
    landing on the node planned for a larger one left the larger one Unschedulable).
    """
    term = build(
        client.V1NodeSelectorTerm,
        match_fields=[
            build(
                client.V1NodeSelectorRequirement, key="metadata.name", operator="In", values=[node]
            )
        ],
    )
    affinity = pod.spec.affinity or build(client.V1Affinity)
    node_affinity = affinity.node_affinity or build(client.V1NodeAffinity)
    required = node_affinity.required_during_scheduling_ignored_during_execution
    if required is None or not required.node_selector_terms:
        required = build(client.V1NodeSelector, node_selector_terms=[term])
    else:  # terms are ORed: the node requirement must hold in each of them
        for existing in required.node_selector_terms:
            existing.match_fields = [*(existing.match_fields or []), *term.match_fields]
    node_affinity.required_during_scheduling_ignored_during_execution = required
    affinity.node_affinity = node_affinity
    pod.spec.affinity = affinity


def to_dict(pod: client.V1Pod) -> dict[str, Any]:
    """The pod as the API server's JSON (camelCase), for printing and comparisons."""
    result: dict[str, Any] = client.ApiClient().sanitize_for_serialization(pod)
    return result
