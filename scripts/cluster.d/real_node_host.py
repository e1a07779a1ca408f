"""What the real node leaves on the host, found and removed — only what is provably its own.

Stopping containerd does not stop containers: each pod runs under a
``containerd-shim-runc-v2`` that outlives it. So after both daemons are stopped this module
kills what is left, by two exact marks: processes in the node's cgroup tree
(``/kaapana-<id>``, kubelet's ``cgroupRoot``) and shims started with the node's containerd
socket as ``-address``. Then it lazily unmounts every mount below the node's own directories
(container root filesystems, network namespaces, secret volumes), removes the cgroup tree
(``rmdir`` only: a cgroup with processes stays and is reported) and deletes the bridge.
Nothing is matched by a broad name; nothing outside the node's directories is unmounted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from real_node_config import CNI_BIN_DIR, RUNC, Layout

CGROUP_FS = Path("/sys/fs/cgroup")


def _pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def _in_cgroup_tree(pid: int, root: str) -> bool:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        if path == root or path.startswith(root + "/"):
            return True
    return False


def _is_our_shim(pid: int, socket: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not argv or not argv[0].endswith(b"containerd-shim-runc-v2"):
        return False
    wanted = str(socket).encode()
    return any(a == b"-address" and b == wanted for a, b in itertools.pairwise(argv))


def leftover_processes(layout: Layout) -> list[int]:
    """Pids of the node's containers and shims that still run."""
    own = os.getpid()
    return [
        pid
        for pid in _pids()
        if pid != own
        and (_in_cgroup_tree(pid, layout.cgroup_root) or _is_our_shim(pid, layout.socket))
    ]


def kill_leftovers(layout: Layout, timeout: float = 10.0) -> list[int]:
    """SIGKILL the node's leftover processes and wait for them; returns the pids killed."""
    killed = leftover_processes(layout)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and leftover_processes(layout):
        time.sleep(0.1)
    return killed


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # field 5 is the mount point, with spaces etc. escaped as octal (\040)
        point = line.split(" ")[4].encode().decode("unicode_escape")
        points.append(point)
    return points


def _below(path: str, roots: Iterable[Path]) -> bool:
    return any(path == str(root) or path.startswith(str(root) + "/") for root in roots)


def unmount_all(layout: Layout) -> int:
    """Lazily unmount every mount below the node's directories, deepest first."""
    roots = (layout.root, layout.shim_socket_dir)
    count = 0
    for _ in range(5):  # stacked mounts need more than one pass
        points = sorted({p for p in _mount_points() if _below(p, roots)}, key=len, reverse=True)
        if not points:
            break
        for point in points:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
            count += 1
    return count


def cgroup_dirs(layout: Layout) -> list[Path]:
    """The node's cgroup root in every mounted hierarchy where it exists."""
    if not CGROUP_FS.is_dir():
        return []
    found = []
    for hierarchy in sorted(CGROUP_FS.iterdir()):
        path = hierarchy / layout.cgroup_root.lstrip("/")
        if path.is_dir():
            found.append(path)
    return found


def remove_cgroups(layout: Layout) -> list[str]:
    """``rmdir`` the node's cgroup trees bottom-up; returns the ones that stayed (busy)."""
    stayed = []
    for top in cgroup_dirs(layout):
        for dirpath, _dirnames, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                stayed.append(dirpath)
    return stayed


def create_cgroups(layout: Layout) -> None:
    """kubelet wants its ``cgroupRoot`` to exist in every v1 hierarchy it uses.

    A new cpuset cgroup has no CPUs or memory nodes; it gets its parent's, or no task could
    ever join the pods below it.
    """
    for hierarchy in sorted(CGROUP_FS.iterdir()):
        if not (hierarchy / "cgroup.procs").exists() or hierarchy.name == "unified":
            continue
        path = hierarchy / layout.cgroup_root.lstrip("/")
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (path / name).read_text().strip():
                    (path / name).write_text((hierarchy / name).read_text())


def delete_bridge(layout: Layout) -> bool:
    """Remove the node's CNI bridge (the pods' veths went with their namespaces)."""
    if not Path(f"/sys/class/net/{layout.bridge}").exists():
        return False
    subprocess.run(["ip", "link", "delete", layout.bridge], capture_output=True, check=False)
    return True


def missing_host_parts() -> list[str]:
    """What the real node needs from the host and Debian, with how to get it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (kubelet and runc need it; or set KAAPANA_NO_REAL_NODE=1)")
    if not RUNC.exists():
        missing.append(f"{RUNC} (Debian package runc)")
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN_DIR / plugin).exists():
            missing.append(f"{CNI_BIN_DIR / plugin} (Debian package containernetworking-plugins)")
    if not (CGROUP_FS / "memory" / "cgroup.procs").exists():
        missing.append(f"the cgroup v1 memory hierarchy at {CGROUP_FS / 'memory'}")
    return missing
