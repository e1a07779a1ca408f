"""The local cluster behaves like a real one where the executor depends on it.

Everything here goes through the official client to the real API server; the outcomes come
from the real kube-scheduler, RBAC and watch cache, and from KWOK's stages for containers.
"""

from __future__ import annotations

import json
from typing import cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.response import HTTPResponse

from tests.support import kwok
from tests.support.cluster import Cluster, close_api_client, watch_events
from tests.support.pods import (
    condition,
    pod_manifest,
    terminated_state,
    wait_for_phase,
    wait_for_pod,
    waiting_reason,
)
from tests.support.polling import WaitTimeoutError, wait_until

pytestmark = pytest.mark.cluster


def test_pod_goes_pending_running_succeeded(kwok_cluster: Cluster, namespace: str) -> None:
    core = kwok_cluster.core_v1()
    start = core.list_namespaced_pod(namespace).metadata
    assert start is not None
    core.create_namespaced_pod(namespace, pod_manifest("ok", annotations=kwok.lifecycle(run="1s")))

    phases: list[str] = []
    stream = watch_events(
        core.list_namespaced_pod,
        namespace,
        field_selector="metadata.name=ok",
        resource_version=start.resource_version,
        timeout_seconds=30,
    )
    for event in stream:
        pod = event["object"]
        if not phases or phases[-1] != pod.status.phase:
            phases.append(pod.status.phase)
        if pod.status.phase in ("Succeeded", "Failed"):
            break

    assert phases == ["Pending", "Running", "Succeeded"]
    final = core.read_namespaced_pod("ok", namespace)
    state = terminated_state(final)
    assert (state.exit_code, state.reason) == (0, "Completed")
    assert final.spec is not None and final.spec.node_name in {"kwok-cpu-1", "kwok-cpu-2"}


@pytest.mark.parametrize(
    ("annotations", "exit_code", "reason"),
    [
        (kwok.lifecycle(run="200ms", exit_code=3), 3, "Error"),
        (kwok.lifecycle(run="200ms", reason=kwok.TerminationReason.OOM_KILLED), 137, "OOMKilled"),
    ],
    ids=["exit-3", "oom-killed"],
)
def test_pod_fails_with_exit_code_and_reason(
    kwok_cluster: Cluster, namespace: str, annotations: dict[str, str], exit_code: int, reason: str
) -> None:
    core = kwok_cluster.core_v1()
    core.create_namespaced_pod(namespace, pod_manifest("failing", annotations=annotations))

    pod = wait_for_phase(core, namespace, "failing", "Failed")

    state = terminated_state(pod)
    assert (state.exit_code, state.reason) == (exit_code, reason)


def test_pod_larger_than_any_node_stays_unschedulable(
    kwok_cluster: Cluster, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    core.create_namespaced_pod(namespace, pod_manifest("huge", requests={"cpu": "100"}))

    pod = wait_for_pod(
        core,
        namespace,
        "huge",
        lambda p: condition(p, "PodScheduled") is not None,
        what="a scheduling decision",
    )

    scheduled = condition(pod, "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert "Insufficient cpu" in scheduled.message
    assert pod.status is not None and pod.status.phase == "Pending"
    assert pod.spec is not None and pod.spec.node_name is None


def test_pod_waits_with_image_pull_back_off(kwok_cluster: Cluster, namespace: str) -> None:
    core = kwok_cluster.core_v1()
    annotations = kwok.lifecycle(
        start_delay="100ms", image_pull_error=kwok.ImagePullError.IMAGE_PULL_BACK_OFF
    )
    core.create_namespaced_pod(namespace, pod_manifest("pull", annotations=annotations))

    wait_for_pod(
        core,
        namespace,
        "pull",
        lambda p: waiting_reason(p) == "ImagePullBackOff",
        what="ImagePullBackOff",
    )
    # It never starts: still waiting well after a normal pod would have finished.
    with pytest.raises(WaitTimeoutError):
        wait_for_pod(
            core,
            namespace,
            "pull",
            lambda p: waiting_reason(p) != "ImagePullBackOff",
            what="anything but ImagePullBackOff",
            timeout=3,
        )
    pod = core.read_namespaced_pod("pull", namespace)
    assert pod.status is not None and pod.status.phase == "Pending"
    with pytest.raises(ApiException) as no_logs:  # a container that never started
        core.read_namespaced_pod_log("pull", namespace)
    assert no_logs.value.status == 400


def test_never_finishing_pod_runs_until_deleted_then_disappears(
    kwok_cluster: Cluster, namespace: str
) -> None:
    core = kwok_cluster.core_v1()
    annotations = kwok.lifecycle(start_delay="100ms", never_finish=True)
    core.create_namespaced_pod(namespace, pod_manifest("forever", annotations=annotations))
    wait_for_phase(core, namespace, "forever", "Running")

    with pytest.raises(WaitTimeoutError):
        wait_for_phase(core, namespace, "forever", "Succeeded", timeout=3)

    core.delete_namespaced_pod("forever", namespace)
    wait_until(
        lambda: [p.metadata.name for p in core.list_namespaced_pod(namespace).items if p.metadata],
        lambda names: "forever" not in names,
        what="the deleted pod to disappear",
        timeout=15,
    )


def test_pod_logs_are_served_through_the_api(kwok_cluster: Cluster, namespace: str) -> None:
    if kwok_cluster.env.existing_cluster:
        pytest.skip("log lines come from the log agent of a cluster `scripts/cluster` started")
    core = kwok_cluster.core_v1()
    lines = ["starting", "processed 3 series", "done"]
    annotations = kwok.lifecycle(run="2s", log_lines=lines)
    core.create_namespaced_pod(namespace, pod_manifest("talker", annotations=annotations))
    wait_for_phase(core, namespace, "talker", "Running")

    # As with a kubelet: once the pod runs, its log is there.
    assert core.read_namespaced_pod_log("talker", namespace) == "".join(
        f"{line}\n" for line in lines
    )
    assert core.read_namespaced_pod_log("talker", namespace, tail_lines=1) == "done\n"

    # follow streams the lines; on KWOK the stream does not end by itself, so stop reading.
    # Without preloading, the client hands back the raw urllib3 response to stream from.
    response = cast(
        HTTPResponse,
        core.read_namespaced_pod_log(
            "talker", namespace, follow=True, _preload_content=False, _request_timeout=30
        ),
    )
    received: list[str] = []
    buffer = b""
    for chunk in response.stream(64):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        received.extend(part.decode() for part in complete)
        if len(received) >= len(lines):
            break
    response.close()
    assert received == lines


def test_watch_from_an_expired_resource_version_gets_410_gone(
    cluster: Cluster, namespace: str
) -> None:
    core = cluster.core_v1()

    raw = cast(
        HTTPResponse,
        core.list_namespaced_pod(
            namespace, watch=True, resource_version="1", timeout_seconds=5, _preload_content=False
        ),
    )
    first = json.loads(raw.readline())
    raw.close()
    assert first["type"] == "ERROR"
    assert (first["object"]["code"], first["object"]["reason"]) == (410, "Expired")

    with pytest.raises(ApiException) as raised:
        for _ in watch_events(
            core.list_namespaced_pod, namespace, resource_version="1", timeout_seconds=5
        ):
            pass
    assert raised.value.status == 410


def test_rbac_denies_create_pods_without_a_role_and_allows_it_with_one(
    cluster: Cluster, namespace: str
) -> None:
    core = cluster.core_v1()
    rbac = client.RbacAuthorizationV1Api(cluster.api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="runner"))
    )
    token = cluster.service_account_token(namespace, "runner")
    as_runner = cluster.client_with_token(token)
    try:
        runner_core = client.CoreV1Api(as_runner)
        with pytest.raises(ApiException) as denied:
            runner_core.create_namespaced_pod(namespace, pod_manifest("by-runner"))
        assert denied.value.status == 403
        assert 'cannot create resource \\"pods\\"' in (denied.value.body or "")

        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="pod-creator"),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["create"])],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="runner-creates-pods"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="pod-creator"
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name="runner", namespace=namespace)
                ],
            ),
        )
        # The authorizer reads roles from an informer: allowed within moments, not at once.
        created = wait_until(
            lambda: _try_create(runner_core, namespace, "by-runner"),
            lambda pod: pod is not None,
            what="create pods to be allowed",
            timeout=15,
        )
        assert created is not None and created.metadata is not None
        assert created.metadata.name == "by-runner"
    finally:
        close_api_client(as_runner)


def _try_create(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod | None:
    try:
        return core.create_namespaced_pod(namespace, pod_manifest(name))
    except ApiException as error:
        if error.status == 403:
            return None
        raise
