"""The real node: containerd and kubelet beside the KWOK nodes, registered with the same API.

KWOK nodes run nothing. This node runs real processing containers: images are pulled by
containerd through its certs.d registry hosts (pull secrets go through the kubelet, as in
production), containers run under Debian's runc with cgroup limits, so the kernel OOM-kills
them, and their logs come through the API server and the kubelet. See docs/local-cluster.md
("The real node") for what it needed on these VMs and its limits.

Isolation from the KWOK-based tests: the node registers with the taint
``kaapana.io/real-node=true:NoSchedule``, so only pods that tolerate it land there; the
MutatingAdmissionPolicy in :mod:`real_node_policy` gives that toleration (and a node selector)
to the pods of namespaces labelled ``kaapana.io/real-node-pods=true``. The KWOK controller
manages only nodes annotated ``kwok.x-k8s.io/node: fake`` (kwok_cluster.py), never this one.

``ensure`` is idempotent and restarts the node when its configuration, its binaries or the
cluster (new certificates) changed; ``stop`` leaves nothing running or mounted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from daemons import Daemon
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from real_node_config import (
    PAUSE_REPOSITORY,
    PAUSE_TAG,
    TAINT_KEY,
    UNINITIALIZED_TAINT,
    Layout,
    containerd_argv,
    kubelet_argv,
    write_configs,
)
from real_node_host import (
    create_cgroups,
    delete_bridge,
    kill_leftovers,
    remove_cgroups,
    unmount_all,
)
from settings import Settings

from kaapana_executor.oci.build import ImageBuilder
from kaapana_executor.oci.busybox import with_userland
from kaapana_executor.oci.push import PushClient, RegistryError

CONTAINERD = "containerd"
KUBELET = "kubelet"
COMPONENT = "real-node"
START_TIMEOUT = 120.0


class RealNodeError(RuntimeError):
    """The real node did not come up; the message has the end of the daemon's log."""


def _env() -> dict[str, str]:
    # containerd starts its shim from PATH; runc is Debian's.
    return {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin:/sbin:/bin"}


def containerd_daemon(layout: Layout) -> Daemon:
    env = _env()
    env["PATH"] = f"{layout.settings.bin_dir}:{env['PATH']}"
    return Daemon(CONTAINERD, containerd_argv(layout), layout.settings.run_dir, env=env)


def kubelet_daemon(layout: Layout) -> Daemon:
    return Daemon(KUBELET, kubelet_argv(layout), layout.settings.run_dir, env=_env())


def owner_file(settings: Settings) -> Path:
    return settings.run_dir / f"{COMPONENT}.owner"


def _digest_file(layout: Layout) -> Path:
    return layout.settings.run_dir / f"{COMPONENT}.config-digest"


def push_pause_image(settings: Settings) -> str:
    """The sandbox ("pause") image: busybox's ``sleep``, pushed unless the registry has it."""
    registry = PushClient(settings.registry_address)
    try:
        try:
            registry.manifest_digest(PAUSE_REPOSITORY, PAUSE_TAG)
        except RegistryError:
            image = with_userland(ImageBuilder()).entrypoint("/bin/sleep", "2147483647").build()
            registry.push_image(PAUSE_REPOSITORY, PAUSE_TAG, image)
    finally:
        registry.close()
    return f"{settings.registry_address}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"


def running(layout: Layout) -> bool:
    return containerd_daemon(layout).running() and kubelet_daemon(layout).running()


def ensure(layout: Layout, api: client.ApiClient, fresh_cluster: bool) -> bool:
    """Run the node with the current configuration; True if this call (re)started it."""
    push_pause_image(layout.settings)
    digest = write_configs(layout)
    # kubelet reads its kubeconfig once: a recreated cluster (new certificates) restarts it.
    digest = hashlib.sha256((digest + _kubeconfig_digest(layout)).encode()).hexdigest()
    digest_path = _digest_file(layout)
    stored = digest_path.read_text().strip() if digest_path.exists() else ""
    core = client.CoreV1Api(api)
    if running(layout) and stored == digest and not fresh_cluster:
        _publish_address(core, layout)
        return False
    stop(layout, api=None)
    kubelet = _start(layout)
    _wait_registered(core, layout, kubelet)
    digest_path.write_text(digest + "\n")
    return True


def _kubeconfig_digest(layout: Layout) -> str:
    return hashlib.sha256(Path(layout.settings.kubeconfig).read_bytes()).hexdigest()


def _start(layout: Layout) -> subprocess.Popen[bytes]:
    """Start containerd, then kubelet; returns kubelet's process handle."""
    for path in (layout.containerd_state, layout.kubelet_root, layout.pod_logs_dir):
        path.mkdir(parents=True, exist_ok=True)
    create_cgroups(layout)
    containerd = containerd_daemon(layout)
    handle = containerd.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not layout.socket.exists():
        if handle.poll() is not None or time.monotonic() > deadline:
            raise RealNodeError(f"containerd did not start:\n{containerd.log_tail()}")
        time.sleep(0.1)
    return kubelet_daemon(layout).start()


def _publish_address(core: client.CoreV1Api, layout: Layout) -> bool:
    """Do for the node what a cloud provider would: give it its address, then let pods in.

    kubelet serves on 127.0.0.1 only, and refuses a loopback ``--node-ip``; on its own it would
    publish the host's default-route address, where nothing listens, and the API server could
    not reach it for logs. With ``--cloud-provider=external`` it publishes no InternalIP and
    keeps the addresses it finds; registration adds the ``uninitialized`` taint, removed here.
    False while the node is not registered yet.
    """
    try:
        node = core.read_node(layout.node)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    addresses = {(a.type, a.address) for a in (node.status.addresses or [])}
    if ("InternalIP", "127.0.0.1") not in addresses:
        body = {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": layout.node},
                ]
            }
        }
        core.patch_node_status(layout.node, body)
    taints = (node.spec.taints if node.spec else None) or []
    if any(t.key == UNINITIALIZED_TAINT for t in taints):
        kept = [
            {"key": t.key, "value": t.value, "effect": t.effect}
            for t in taints
            if t.key != UNINITIALIZED_TAINT
        ]
        core.patch_node(layout.node, {"spec": {"taints": kept}})
    return True


def _ready(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    taints = (node.spec.taints if node.spec else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    tainted = any(t.key == TAINT_KEY for t in taints)
    blocked = any(t.key in (UNINITIALIZED_TAINT, "node.kubernetes.io/not-ready") for t in taints)
    return ready and tainted and not blocked


def _wait_registered(
    core: client.CoreV1Api, layout: Layout, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    kubelet = kubelet_daemon(layout)
    while time.monotonic() < deadline:
        # The handle, not the pid file: right after the fork /proc/PID/cmdline is still ours.
        if process.poll() is not None:
            raise RealNodeError(f"kubelet exited ({process.returncode}):\n{kubelet.log_tail(30)}")
        if _publish_address(core, layout) and _ready(core.read_node(layout.node)):
            return
        time.sleep(0.5)
    raise RealNodeError(
        f"node {layout.node} not Ready after {START_TIMEOUT:.0f}s:\n{kubelet.log_tail(30)}"
    )


def stop(layout: Layout, api: client.ApiClient | None) -> bool:
    """Stop kubelet and containerd and remove what they leave; True if anything ran.

    With ``api`` the Node object is deleted too (a stopped node would stay NotReady).
    """
    was_running = False
    for daemon in (kubelet_daemon(layout), containerd_daemon(layout)):
        was_running = daemon.stop(timeout=20) or was_running
    killed = kill_leftovers(layout)
    unmount_all(layout)
    remove_cgroups(layout)
    delete_bridge(layout)
    for path in (layout.containerd_state, layout.shim_socket_dir, layout.kubelet_root):
        shutil.rmtree(path, ignore_errors=True)
    _digest_file(layout).unlink(missing_ok=True)
    if api is not None:
        # The cluster may be gone already; then there is no Node to delete.
        with contextlib.suppress(Exception):
            client.CoreV1Api(api).delete_node(layout.node, _request_timeout=10)
    return was_running or bool(killed)


def status_rows(layout: Layout, api: client.ApiClient | None) -> list[tuple[str, str, int | None]]:
    """``scripts/cluster status`` lines: the daemons, and the node as the API sees it."""
    rows: list[tuple[str, str, int | None]] = []
    for daemon in (containerd_daemon(layout), kubelet_daemon(layout)):
        pid = daemon.pid()
        rows.append((f"{daemon.name} ({layout.node})", "up" if pid else "down", pid))
    state = "absent"
    if api is not None:
        try:
            node = client.CoreV1Api(api).read_node(layout.node, _request_timeout=5)
            state = "Ready" if _ready(node) else "NotReady"
        except Exception:  # status must print something even with the API down
            state = "unknown"
    rows.append((f"node {layout.node}", state, None))
    return rows
