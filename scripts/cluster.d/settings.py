"""Where the local cluster keeps things and which ports it uses: read once from the environment.

Every knob of ``scripts/cluster`` is here, with its default, so ``docs/local-cluster.md``
and this file are the whole list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(__file__).resolve().parent

# Ports on 127.0.0.1; high and fixed, so a developer's tools keep working across restarts.
DEFAULT_APISERVER_PORT = 36443
DEFAULT_REGISTRY_PORT = 35000
DEFAULT_REGISTRY_AUTH_PORT = 35001
DEFAULT_CLUSTER_NAME = "kaapana-executor"
DEFAULT_REAL_NODE_NAME = "real-1"
# The real node's kubelet API (KWOK's simulated kubelets are served by the KWOK controller).
DEFAULT_KUBELET_PORT = 10350

# Tools `scripts/build-bins` links into <cache>/bin/current.
REQUIRED_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "kwok",
    "kwokctl",
    "registry",
    "helm",
)
# The real node's, linked there too (runc and the CNI plugins come from Debian).
REAL_NODE_BINARIES = ("kubelet", "containerd", "containerd-shim-runc-v2")


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class SettingsError(ValueError):
    """An environment variable holds a value the cluster cannot use."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, not {raw!r}") from None
    if not 1024 <= port <= 65535:
        raise SettingsError(f"{name} must be within 1024..65535, not {port}")
    return port


def _real_node_name(env: Mapping[str, str], existing: str | None) -> str | None:
    """The real node's name, or None when there is none: ``KAAPANA_NO_REAL_NODE=1``, or a
    cluster of the developer's own (a kubelet of ours must never join it)."""
    if existing is not None or env.get("KAAPANA_NO_REAL_NODE", "") in ("1", "true", "yes"):
        return None
    name = env.get("KAAPANA_REAL_NODE_NAME", "") or DEFAULT_REAL_NODE_NAME
    if not _DNS_LABEL.fullmatch(name):
        raise SettingsError(f"KAAPANA_REAL_NODE_NAME must be a DNS label, not {name!r}")
    return name


@dataclass(frozen=True)
class Settings:
    """Paths and ports of one local cluster.

    ``existing_kubeconfig`` is set when the developer asked to use their own cluster
    (``KAAPANA_EXISTING_CLUSTER=1`` with ``KUBECONFIG``): then KWOK is not started and only
    the registries are. ``real_node_name`` is None when no real node runs (see
    ``_real_node_name``).
    """

    state_dir: Path
    cache_dir: Path
    cluster_name: str
    apiserver_port: int
    registry_port: int
    registry_auth_port: int
    existing_kubeconfig: str | None
    real_node_name: str | None = DEFAULT_REAL_NODE_NAME
    kubelet_port: int = DEFAULT_KUBELET_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings; raise ``SettingsError`` with the variable's name if one is bad."""
        home = Path(env.get("HOME", str(Path.home())))
        cache = Path(env.get("KAAPANA_EXECUTOR_CACHE", "") or home / ".cache/kaapana-executor")
        state = Path(env.get("KAAPANA_EXECUTOR_STATE", "") or cache / "state")
        existing: str | None = None
        if env.get("KAAPANA_EXISTING_CLUSTER", "") in ("1", "true", "yes"):
            existing = env.get("KUBECONFIG", "")
            if not existing:
                raise SettingsError("KAAPANA_EXISTING_CLUSTER=1 needs KUBECONFIG to be set")
        return cls(
            state_dir=state.expanduser().absolute(),
            cache_dir=cache.expanduser().absolute(),
            cluster_name=env.get("KAAPANA_CLUSTER_NAME", "") or DEFAULT_CLUSTER_NAME,
            apiserver_port=_port(env, "KAAPANA_APISERVER_PORT", DEFAULT_APISERVER_PORT),
            registry_port=_port(env, "KAAPANA_REGISTRY_PORT", DEFAULT_REGISTRY_PORT),
            registry_auth_port=_port(env, "KAAPANA_REGISTRY_AUTH_PORT", DEFAULT_REGISTRY_AUTH_PORT),
            existing_kubeconfig=existing,
            real_node_name=_real_node_name(env, existing),
            kubelet_port=_port(env, "KAAPANA_KUBELET_PORT", DEFAULT_KUBELET_PORT),
        )

    @property
    def bin_dir(self) -> Path:
        """Every tool, linked to its versioned build by ``scripts/build-bins``."""
        return self.cache_dir / "bin" / "current"

    @property
    def run_dir(self) -> Path:
        """Pid files, logs and owner markers of the processes ``scripts/cluster`` starts."""
        return self.state_dir / "run"

    @property
    def kwok_workdir(self) -> Path:
        """``KWOK_WORKDIR``: kwokctl keeps each cluster (etcd data, pki, logs) below it."""
        return self.state_dir / "kwok"

    @property
    def kwok_cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.cluster_name

    @property
    def kubeconfig(self) -> str:
        """The kubeconfig clients use: the developer's own, or the one kwokctl wrote."""
        if self.existing_kubeconfig is not None:
            return self.existing_kubeconfig
        return str(self.kwok_cluster_dir / "kubeconfig.yaml")

    @property
    def pod_logs_dir(self) -> Path:
        """CRI log files the log agent writes for simulated pods."""
        return self.state_dir / "pod-logs"

    @property
    def registry_address(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    @property
    def registry_auth_address(self) -> str:
        return f"127.0.0.1:{self.registry_auth_port}"

    @property
    def credentials_file(self) -> Path:
        """User and password of the basic-auth registry, generated on first ``up``."""
        return self.state_dir / "registry-credentials.json"

    def tool(self, name: str) -> str:
        """Absolute path of a built tool (which may not exist yet)."""
        return str(self.bin_dir / name)

    @property
    def real_node_dir(self) -> Path:
        """Everything of the real node: containerd's root and state, kubelet's root, CNI."""
        return self.state_dir / "real-node"

    def missing_binaries(self) -> list[str]:
        wanted = REQUIRED_BINARIES + (REAL_NODE_BINARIES if self.real_node_name else ())
        return [name for name in wanted if not (self.bin_dir / name).exists()]
