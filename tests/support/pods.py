"""Small builders and waits for pods in cluster tests (plain manifests, official client)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client

from tests.support.polling import wait_until

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def pod_manifest(
    name: str,
    *,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    image: str = "registry.invalid/kaapana/noop:1",
    requests: Mapping[str, str] | None = None,
    limits: Mapping[str, str] | None = None,
    tolerations: Sequence[client.V1Toleration] = (),
    node_selector: Mapping[str, str] | None = None,
    service_account: str | None = None,
) -> client.V1Pod:
    """One-container pod that never restarts; on KWOK the image is never pulled."""
    resources = None
    if requests or limits:
        resources = client.V1ResourceRequirements(
            requests=dict(requests) if requests else None,
            limits=dict(limits) if limits else None,
        )
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(
            name=name, annotations=dict(annotations or {}), labels=dict(labels or {})
        ),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[client.V1Container(name="main", image=image, resources=resources)],
            tolerations=list(tolerations) or None,
            node_selector=dict(node_selector) if node_selector else None,
            service_account_name=service_account,
        ),
    )


def describe_pod(pod: Any) -> str:
    """Phase, conditions and container states: what a timeout message should show."""
    status = pod.status
    conditions = [f"{c.type}={c.status}({c.reason or ''})" for c in (status.conditions or [])]
    states = [f"{s.name}:{s.state}" for s in (status.container_statuses or [])]
    return f"phase={status.phase} conditions={conditions} containers={states}"


def wait_for_pod(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    until: Callable[[Any], bool],
    *,
    what: str,
    timeout: float = 30.0,
) -> Any:
    """Poll the pod until ``until(pod)`` holds; return it."""
    return wait_until(
        lambda: core.read_namespaced_pod(name, namespace),
        until,
        what=f"pod {namespace}/{name}: {what}",
        timeout=timeout,
        describe=describe_pod,
    )


def wait_for_phase(
    core: client.CoreV1Api, namespace: str, name: str, phase: str, *, timeout: float = 30.0
) -> Any:
    return wait_for_pod(
        core, namespace, name, lambda pod: pod.status.phase == phase, what=phase, timeout=timeout
    )


def terminated_state(pod: Any) -> Any:
    """``state.terminated`` of the pod's first container (None while it runs)."""
    statuses = pod.status.container_statuses or []
    return statuses[0].state.terminated if statuses else None


def waiting_reason(pod: Any) -> str | None:
    statuses = pod.status.container_statuses or []
    if not statuses or statuses[0].state.waiting is None:
        return None
    reason: str | None = statuses[0].state.waiting.reason
    return reason


def condition(pod: Any, kind: str) -> Any:
    """The pod condition of type ``kind``, or None."""
    return next((c for c in pod.status.conditions or [] if c.type == kind), None)
