"""Freeze the local cluster's kube-apiserver, found from the cluster's own state.

kwokctl writes a pid file per component below the state directory
(``$KAAPANA_EXECUTOR_STATE/kwok/clusters/<name>/pids/kube-apiserver.pid``). The pid is used
only if that process is a kube-apiserver serving the port of the kubeconfig the tests use:
never a process found by name, never another cluster's API server on the same machine.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from tests.support.cluster import LocalEnv


class NoControlPlane(RuntimeError):
    """The cluster's API server process cannot be identified (e.g. an existing cluster)."""


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _server_port(kubeconfig: str) -> int:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    current = config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    cluster_name = contexts[current]["cluster"] if current else config["clusters"][0]["name"]
    server = next(c for c in config["clusters"] if c["name"] == cluster_name)["cluster"]["server"]
    return int(urlsplit(server).port or 443)


def _serves_port(argv: list[str], port: int) -> bool:
    pairs = {f"{a} {b}" for a, b in itertools.pairwise(argv)}
    return f"--secure-port={port}" in argv or f"--secure-port {port}" in pairs


def apiserver_pid(env: LocalEnv) -> int:
    """The pid of this cluster's kube-apiserver; ``NoControlPlane`` if it is not ours to stop."""
    if env.existing_cluster:
        raise NoControlPlane("an existing cluster (KAAPANA_EXISTING_CLUSTER=1) is not ours to stop")
    port = _server_port(env.kubeconfig)
    for pid_file in sorted((env.state_dir / "kwok" / "clusters").glob("*/pids/kube-apiserver.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            continue
        argv = _cmdline(pid)
        if argv and Path(argv[0]).name.startswith("kube-apiserver") and _serves_port(argv, port):
            return pid
    raise NoControlPlane(
        f"no kube-apiserver on port {port} recorded below {env.state_dir}/kwok/clusters "
        "(start the cluster with scripts/cluster up)"
    )


@contextmanager
def apiserver_stopped(env: LocalEnv) -> Iterator[int]:
    """SIGSTOP the API server for the body of the ``with``; SIGCONT whatever happens."""
    pid = apiserver_pid(env)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def freeze_apiserver(env: LocalEnv, seconds: float) -> None:
    """Stop the API server for ``seconds``, then let it go on."""
    with apiserver_stopped(env):
        time.sleep(seconds)
