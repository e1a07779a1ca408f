"""The real node of the local cluster: a real kubelet runs real containers, KWOK stays away.

Pods reach the node only from namespaces labelled for it (the ``real_namespace`` fixture);
anything else is kept off by its taint, so the KWOK-based tests see the cluster they always
saw. One test stops the kubelet and starts the node again (``scripts/cluster up``): it takes
about a minute, most of it the node lifecycle controller's grace period.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from kubernetes import client

from tests.support.cluster import Cluster, start_local_env
from tests.support.pods import describe_pod, pod_manifest
from tests.support.polling import wait_until
from tests.support.real_node import REAL_NODE_KEY, node_ready

pytestmark = pytest.mark.cluster


def _busybox_pod(name: str, image: str, script: str) -> client.V1Pod:
    pod = pod_manifest(name, image=image)
    pod.spec.containers[0].command = ["/bin/sh", "-c", script]
    return pod


def _phase(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    return core.read_namespaced_pod(name, namespace)


def test_a_pod_runs_a_real_container_there(
    core_v1: client.CoreV1Api, real_namespace: str, real_node: str, busybox_pushed: str
) -> None:
    script = 'echo "hello from $(hostname)"; uname -s; id -u; ls /proc/self/fd | wc -l; echo done'
    core_v1.create_namespaced_pod(real_namespace, _busybox_pod("hello", busybox_pushed, script))
    pod = wait_until(
        lambda: _phase(core_v1, real_namespace, "hello"),
        lambda p: p.status.phase in ("Succeeded", "Failed"),
        what="the pod to finish",
        timeout=120,
        describe=describe_pod,
    )
    assert pod.status.phase == "Succeeded", describe_pod(pod)
    assert pod.spec.node_name == real_node
    # the manifest asked for nothing: the namespace's admission policy added both
    assert any(t.key == REAL_NODE_KEY for t in pod.spec.tolerations)
    assert pod.spec.node_selector == {REAL_NODE_KEY: "true"}
    assert pod.status.pod_ip.startswith("127.")  # the node's loopback-range pod network
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    log = core_v1.read_namespaced_pod_log("hello", real_namespace)
    assert log.splitlines()[:3] == ["hello from hello", "Linux", "0"]
    assert log.splitlines()[-1] == "done"


def test_other_namespaces_never_reach_it(
    core_v1: client.CoreV1Api, namespace: str, real_node: str
) -> None:
    pod = pod_manifest("wants-real", node_selector={REAL_NODE_KEY: "true"})
    core_v1.create_namespaced_pod(namespace, pod)

    def unschedulable(found: client.V1Pod) -> bool:
        conditions = found.status.conditions or []
        return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in conditions)

    found = wait_until(
        lambda: _phase(core_v1, namespace, "wants-real"),
        unschedulable,
        what="the scheduler to refuse the real node",
        timeout=60,
        describe=describe_pod,
    )
    message = next(c.message for c in found.status.conditions if c.type == "PodScheduled")
    # only the real node has the label; its taint kept the pod off
    assert "had untolerated taint" in message, message
    assert found.spec.node_name is None


def test_kwok_leaves_its_lease_alone(cluster: Cluster, real_node: str) -> None:
    leases = client.CoordinationV1Api(cluster.api_client)
    node = cluster.core_v1().read_node(real_node)
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    first = leases.read_namespaced_lease(real_node, "kube-node-lease")
    assert first.spec.holder_identity == real_node  # the kubelet's own identity
    renewed = wait_until(
        lambda: leases.read_namespaced_lease(real_node, "kube-node-lease"),
        lambda lease: lease.spec.renew_time > first.spec.renew_time,
        what="the kubelet to renew its lease",
        timeout=60,
        interval=1,
    )
    assert renewed.spec.holder_identity == real_node
    kwok = leases.read_namespaced_lease("kwok-cpu-1", "kube-node-lease")
    assert kwok.spec.holder_identity != "kwok-cpu-1"  # KWOK holds its own nodes' leases


def _stop_kubelet(cluster: Cluster) -> None:
    pid = int((cluster.env.state_dir / "run" / "kubelet.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)


def test_a_stopped_kubelet_makes_the_node_not_ready_and_kwok_writes_nothing(
    cluster: Cluster,
    core_v1: client.CoreV1Api,
    real_namespace: str,
    real_node: str,
    busybox_pushed: str,
) -> None:
    core_v1.create_namespaced_pod(
        real_namespace, _busybox_pod("sleeper", busybox_pushed, "echo started; sleep 3600")
    )
    running = wait_until(
        lambda: _phase(core_v1, real_namespace, "sleeper"),
        lambda p: p.status.phase == "Running",
        what="the pod to run",
        timeout=120,
        describe=describe_pod,
    )
    _stop_kubelet(cluster)
    try:
        node = wait_until(
            lambda: core_v1.read_node(real_node),
            lambda n: not node_ready(n),
            what="the node to turn NotReady",
            timeout=180,
            interval=1,
        )
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.reason == "NodeStatusUnknown"  # the node lifecycle controller's verdict
        pod = _phase(core_v1, real_namespace, "sleeper")
        # What the kubelet last reported, untouched: KWOK's stages would have finished it
        # (phase Succeeded) and given it an address from KWOK's range.
        assert pod.status.phase == "Running", describe_pod(pod)
        assert pod.status.pod_ip == running.status.pod_ip
        assert pod.status.container_statuses[0].state.running is not None
    finally:
        start_local_env()  # `scripts/cluster up`: starts the node again
    wait_until(
        lambda: core_v1.read_node(real_node), node_ready, what="the node Ready again", timeout=120
    )
