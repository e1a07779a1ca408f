"""The KWOK control plane: created, restarted and deleted through ``kwokctl`` (binary runtime).

kwokctl runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the KWOK
controller as local processes (our builds, linked, never downloaded) below
``KWOK_WORKDIR``. Its configuration is generated here from the settings; a digest of it and
of ``stages.yaml`` is stored with the cluster, so ``up`` recreates the cluster when either
changed instead of silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from settings import CONFIG_DIR, Settings

STAGES_FILE = CONFIG_DIR / "stages.yaml"
#: The nodes KWOK simulates (nodes.yaml and tests/support/nodes.py set this annotation).
KWOK_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"
NODES_FILE = CONFIG_DIR / "nodes.yaml"


class KwokError(RuntimeError):
    """kwokctl failed; the message carries the end of its output."""


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    # kwokctl runs `kubectl` and friends from PATH; ours come first.
    env["PATH"] = f"{settings.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["KWOK_WORKDIR"] = str(settings.kwok_workdir)
    return env


def _binary(settings: Settings, name: str) -> str:
    # The versioned build, not the `current` link: a version bump then changes the digest.
    return str(Path(settings.tool(name)).resolve())


def _kwokctl_config(settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            # kwokctl's default is 0.0.0.0; everything stays on loopback.
            "bindAddress": "127.0.0.1",
            "kubeApiserverPort": settings.apiserver_port,
            "kubeAuthorization": True,
            "kubeAdmission": True,
            # Per-pod Logs objects attach log files to pods (see log_agent.py).
            "enableCRDs": ["Logs"],
            "kubeApiserverBinary": _binary(settings, "kube-apiserver"),
            "kubeControllerManagerBinary": _binary(settings, "kube-controller-manager"),
            "kubeSchedulerBinary": _binary(settings, "kube-scheduler"),
            "kubectlBinary": _binary(settings, "kubectl"),
            "etcdBinary": _binary(settings, "etcd"),
            "kwokControllerBinary": _binary(settings, "kwok"),
            # kwokctl stretches every heartbeat by 5 (for thousands of fake nodes): a node
            # whose kubelet died would look Ready for over 3 minutes. Real timings instead:
            # leases renewed every 10 s, a node NotReady 60 s after its last renewal.
            "heartbeatFactor": 1,
            "kubeControllerManagerNodeMonitorGracePeriodMilliseconds": 60000,
        },
        "componentsPatches": [
            {
                # Nodes carry a Hostname address (their name) that does not resolve; the
                # API server must reach KWOK's kubelet endpoint (logs) by InternalIP.
                "name": "kube-apiserver",
                "extraArgs": [{"key": "kubelet-preferred-address-types", "value": "InternalIP"}],
            },
            # One instance each: leader election only costs time. After a restart the new
            # process would wait out the old one's 15 s lease, and no pod gets scheduled and
            # no node untainted meanwhile.
            {"name": "kube-scheduler", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
            {
                "name": "kube-controller-manager",
                "extraArgs": [{"key": "leader-elect", "value": "false"}],
            },
            {
                # kwokctl runs the controller with --manage-all-nodes=true: it would take the
                # real node's lease and apply its simulated stages there (a node Ready after
                # its kubelet died, pods finished by a stage). It manages the fake nodes only.
                "name": "kwok-controller",
                "extraArgs": [
                    {"key": "manage-all-nodes", "value": "false", "override": True},
                    {"key": "manage-nodes-with-annotation-selector", "value": KWOK_NODE_SELECTOR},
                ],
            },
        ],
    }


def _write_config(settings: Settings) -> tuple[Path, str]:
    text = yaml.safe_dump(_kwokctl_config(settings), sort_keys=False)
    path = settings.kwok_workdir / "kwokctl.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    digest = hashlib.sha256(text.encode() + STAGES_FILE.read_bytes()).hexdigest()
    return path, digest


def _digest_file(settings: Settings) -> Path:
    return settings.kwok_workdir / f"{settings.cluster_name}.config-digest"


def _kwokctl(settings: Settings, *args: str, timeout: float = 300) -> str:
    # --kubeconfig: kwokctl would otherwise add a context to the developer's kubeconfig
    # ($KUBECONFIG or ~/.kube/config); it gets a file of its own that nothing reads.
    command = [settings.tool("kwokctl"), "--name", settings.cluster_name, *args]
    log = settings.run_dir / "kwokctl.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        command,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise KwokError(f"kwokctl {' '.join(args)} failed ({result.returncode}):\n{tail}")
    return result.stdout


def _scratch_kubeconfig(settings: Settings) -> str:
    return str(settings.kwok_workdir / "kwokctl-contexts.yaml")


def exists(settings: Settings) -> bool:
    return (settings.kwok_cluster_dir / "kwok.yaml").exists()


def apiserver_ready(settings: Settings, timeout: float = 3.0) -> bool:
    """True if the API server answers ``/readyz`` with ok (anonymous access allows it)."""
    ca = settings.kwok_cluster_dir / "pki" / "ca.crt"
    if not ca.exists():
        return False
    context = ssl.create_default_context(cafile=str(ca))
    url = f"https://127.0.0.1:{settings.apiserver_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def components(settings: Settings) -> dict[str, str]:
    """Status of each component as kwokctl sees it (``Ready``, ``Stopped``...)."""
    if not exists(settings):
        return {}
    out = _kwokctl(settings, "get", "components", "-o", "wide", timeout=30)
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    return {row[0]: row[1] for row in rows if len(row) >= 2}


def pids(settings: Settings) -> dict[str, int]:
    """Pids kwokctl recorded for each component."""
    found: dict[str, int] = {}
    for pid_file in sorted((settings.kwok_cluster_dir / "pids").glob("*.pid")):
        try:
            found[pid_file.stem] = int(pid_file.read_text().strip())
        except ValueError:
            continue
    return found


def healthy(settings: Settings) -> bool:
    if not exists(settings) or not apiserver_ready(settings):
        return False
    states = components(settings)
    return bool(states) and all(state == "Ready" for state in states.values())


def ensure(settings: Settings) -> bool:
    """Make the cluster run with the current config; True if this call started it."""
    config_path, digest = _write_config(settings)
    digest_file = _digest_file(settings)
    if exists(settings):
        stored = digest_file.read_text().strip() if digest_file.exists() else ""
        if stored != digest:
            print("kwok: configuration or stages changed; recreating the cluster")
            delete(settings)
        elif healthy(settings):
            return False
        else:
            try:
                _kwokctl(settings, "start", "cluster", "--wait", "90s")
            except (KwokError, subprocess.TimeoutExpired) as error:
                print(f"kwok: restart failed, recreating the cluster ({error})")
            else:
                if healthy(settings):
                    return True
            delete(settings)
    _kwokctl(
        settings,
        "create",
        "cluster",
        "--config",
        str(config_path),
        "--config",
        str(STAGES_FILE),
        "--kubeconfig",
        _scratch_kubeconfig(settings),
        "--wait",
        "120s",
    )
    # Restart once, so the API server's watch caches start after the bootstrap, as on any
    # cluster that has run for a while: a watch from an old resourceVersion (such as "1")
    # then gets 410 Gone. On a fresh apiserver every resourceVersion is still servable.
    _kwokctl(settings, "stop", "cluster")
    _kwokctl(settings, "start", "cluster", "--wait", "90s")
    digest_file.write_text(digest + "\n")
    return True


def delete(settings: Settings) -> bool:
    """Stop every component and remove the cluster's data; True if there was a cluster."""
    if not exists(settings):
        return False
    _kwokctl(settings, "delete", "cluster", "--kubeconfig", _scratch_kubeconfig(settings))
    _digest_file(settings).unlink(missing_ok=True)
    return True


def api_client(settings: Settings) -> client.ApiClient:
    """A ``kubernetes.client.ApiClient`` for the cluster."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call, unused-ignore]
        config_file=settings.kubeconfig
    )
    return api


def default_nodes() -> list[dict[str, Any]]:
    """The Node manifests of ``nodes.yaml``."""
    return [doc for doc in yaml.safe_load_all(NODES_FILE.read_text()) if doc]


def apply_nodes(api: client.ApiClient, nodes: Iterable[dict[str, Any]]) -> list[str]:
    """Create the nodes that do not exist; return the names created."""
    core = client.CoreV1Api(api)
    created = []
    for node in nodes:
        try:
            core.create_node(client.V1Node.model_validate(node))
        except ApiException as error:
            if error.status != 409:
                raise
        else:
            created.append(node["metadata"]["name"])
    return created


# Set by the node lifecycle controller until it has seen the node Ready.
NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def _schedulable(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    taints = (node.spec.taints if node.spec else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready and not any(t.key in NOT_READY_TAINTS for t in taints)


def wait_nodes_ready(api: client.ApiClient, names: Iterable[str], timeout: float = 60) -> None:
    """Wait until every named node is Ready (KWOK's first node stage) and untainted by the
    node lifecycle controller, so pods created right after ``up`` schedule at once."""
    core = client.CoreV1Api(api)
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending:
        for node in core.list_node().items:
            if node.metadata and _schedulable(node):
                pending.discard(node.metadata.name or "")
        if not pending:
            return
        if time.monotonic() > deadline:
            raise KwokError(f"nodes not Ready after {timeout:.0f}s: {sorted(pending)}")
        time.sleep(0.2)
