"""Where the real node keeps its files, and the configuration of containerd, CNI and kubelet.

Every path, name and address is derived from the cluster's state directory, so two clusters
(two state directories) never share a containerd root, a kubelet root, a CNI bridge or a
cgroup, and nothing is written to the host's ``/var/lib/kubelet``, ``/etc/containerd``,
``/etc/cni``, ``/var/lib/cni`` or ``/var/log/pods``. The exceptions, with the reason: the shim
sockets live in ``/run/kaapana-<id>`` (containerd limits that directory to 42 characters, so
it cannot sit below a long state directory), cgroups under ``/sys/fs/cgroup/*/kaapana-<id>``
and the bridge interface ``kpn-<id>``, which by their nature belong to the host.

What each setting is for is in ``docs/local-cluster.md`` ("The real node"); the ones that
were found by a failure on these VMs say so where they are set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from settings import Settings

RUNC = Path("/usr/sbin/runc")
CNI_BIN_DIR = Path("/usr/lib/cni")
#: Taint and label of the real node: only pods that ask for it land there.
TAINT_KEY = "kaapana.io/real-node"
TAINT_VALUE = "true"
#: kubelet's taint with an external cloud provider, until that provider set the node up.
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
LABELS = {TAINT_KEY: TAINT_VALUE, "type": "real"}
PAUSE_REPOSITORY = "kaapana/pause"
PAUSE_TAG = "busybox-1"


@dataclass(frozen=True)
class Layout:
    """The real node's paths and host names, all derived from the state directory."""

    settings: Settings

    @property
    def node(self) -> str:
        assert self.settings.real_node_name is not None
        return self.settings.real_node_name

    @property
    def ident(self) -> str:
        """Eight hex digits of the state directory's hash: names on the host that must differ
        between clusters and be short (interface names have at most 15 characters)."""
        return hashlib.sha256(str(self.settings.state_dir).encode()).hexdigest()[:8]

    @property
    def root(self) -> Path:
        return self.settings.real_node_dir

    @property
    def containerd_root(self) -> Path:
        """Images and snapshots: kept across ``down``/``up`` (warm pulls)."""
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        """Runtime state of containerd and runc: removed by ``down``."""
        return self.root / "run"

    @property
    def socket(self) -> Path:
        return self.containerd_state / "containerd.sock"

    @property
    def shim_socket_dir(self) -> Path:
        return Path(f"/run/kaapana-{self.ident}")

    @property
    def certs_dir(self) -> Path:
        """containerd's registry hosts (``certs.d/HOST:PORT/hosts.toml``)."""
        return self.root / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        """host-local IPAM's leases (default /var/lib/cni/networks)."""
        return self.containerd_state / "cni-ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs_dir(self) -> Path:
        return self.root / "pod-logs"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def containerd_config(self) -> Path:
        return self.config_dir / "containerd.toml"

    @property
    def kubelet_config(self) -> Path:
        return self.config_dir / "kubelet.yaml"

    @property
    def cgroup_root(self) -> str:
        """kubelet's ``cgroupRoot``; its QoS cgroups and every pod live below it."""
        return f"/kaapana-{self.ident}"

    @property
    def bridge(self) -> str:
        return f"kpn-{self.ident}"

    @property
    def subnet(self) -> str:
        """A /24 in 127.64.0.0/10: loopback addresses, so nothing sent to a pod leaves the host."""
        digest = bytes.fromhex(self.ident)
        return f"127.{64 + digest[0] % 64}.{digest[1]}.0/24"

    @property
    def pause_image(self) -> str:
        return f"{self.settings.registry_address}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def containerd_toml(layout: Layout) -> str:
    """containerd 2.x configuration (version 3), everything below the layout's paths."""
    q = _toml_string
    certs = q(str(layout.certs_dir))
    return f"""version = 3
root = {q(str(layout.containerd_root))}
state = {q(str(layout.containerd_state))}

[grpc]
  address = {q(str(layout.socket))}

[ttrpc]
  address = {q(str(layout.socket) + ".ttrpc")}

[plugins.'io.containerd.internal.v1.opt']
  path = {q(str(layout.containerd_root / "opt"))}

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = {q(str(layout.shim_socket_dir))}

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.transfer.v1.local']
  config_path = {certs}

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = {q(layout.pause_image)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = {certs}

[plugins.'io.containerd.cri.v1.runtime']
  # runc cannot lower its own oom_score_adj here (the pause container asks for -998):
  # "failed to update /proc/self/oom_score_adj: Permission denied".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    BinaryName = {q(str(RUNC))}
    Root = {q(str(layout.containerd_state / "runc"))}
    SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [{q(str(CNI_BIN_DIR))}]
    conf_dir = {q(str(layout.cni_conf_dir))}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def hosts_toml(address: str) -> str:
    """certs.d entry for a registry on ``address`` served over plain HTTP."""
    return (
        f'server = "http://{address}"\n\n'
        f'[host."http://{address}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def cni_conflist(layout: Layout) -> dict[str, Any]:
    """A bridge without gateway or masquerading and loopback-range addresses.

    containerd wants an address per pod ("failed to find network info for sandbox" with a
    loopback-only network); pods need no network here and must reach nothing outside.
    """
    return {
        "cniVersion": "1.0.0",
        "name": f"kaapana-{layout.ident}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": False,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": layout.subnet}]],
                    "dataDir": str(layout.cni_data_dir),
                },
            }
        ],
    }


def kubelet_configuration(layout: Layout) -> dict[str, Any]:
    """KubeletConfiguration of the real node (a test node: anonymous, AlwaysAllow)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # Served on loopback and a port of its own; KWOK's kubelets are the KWOK controller.
        "address": "127.0.0.1",
        "port": layout.settings.kubelet_port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{layout.socket}",
        "podLogsDir": str(layout.pod_logs_dir),
        # These VMs run cgroup v1 (hybrid); kubelet >= 1.35 refuses it unless told not to.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": True,
        "cgroupRoot": layout.cgroup_root,
        "failSwapOn": False,
        "resolvConf": "",
        "registerWithTaints": [{"key": TAINT_KEY, "value": TAINT_VALUE, "effect": "NoSchedule"}],
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        # A pod may use an image the node already has only with credentials that can pull it
        # (the default trusts any image pulled before the kubelet last started).
        "imagePullCredentialsVerificationPolicy": "AlwaysVerify",
        "maxPods": 110,
        "rotateCertificates": False,
        "shutdownGracePeriod": "0s",
        "nodeStatusUpdateFrequency": "5s",
    }


def kubelet_argv(layout: Layout) -> tuple[str, ...]:
    labels = ",".join(f"{k}={v}" for k, v in LABELS.items())
    return (
        layout.settings.tool("kubelet"),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.settings.kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.kubelet_root / 'pki'}",
        f"--hostname-override={layout.node}",
        f"--node-labels={labels}",
        # We are this node's "cloud provider" (real_node.py): kubelet then leaves the node's
        # addresses to us instead of publishing the host's default-route address, where it
        # does not listen (it serves on loopback only).
        "--cloud-provider=external",
        "--v=1",
    )


def containerd_argv(layout: Layout) -> tuple[str, ...]:
    return (layout.settings.tool("containerd"), "--config", str(layout.containerd_config))


def write_configs(layout: Layout) -> str:
    """Write every configuration file; returns their digest (a change restarts the node)."""
    files: dict[Path, str] = {
        layout.containerd_config: containerd_toml(layout),
        layout.kubelet_config: yaml.safe_dump(kubelet_configuration(layout), sort_keys=False),
        layout.cni_conf_dir / "10-kaapana.conflist": json.dumps(cni_conflist(layout), indent=2),
    }
    for address in (layout.settings.registry_address, layout.settings.registry_auth_address):
        files[layout.certs_dir / address / "hosts.toml"] = hosts_toml(address)
    digest = hashlib.sha256()
    for path, text in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        digest.update(str(path).encode() + b"\0" + text.encode() + b"\0")
    for argv in (containerd_argv(layout), kubelet_argv(layout)):
        digest.update("\0".join(argv).encode())
        # The versioned builds behind the links: a version bump restarts the node.
        digest.update(str(Path(argv[0]).resolve()).encode())
    return digest.hexdigest()
