"""A podman API service of its own (storage, config, socket, working directory) for tests that
need Docker's API.

There is no Docker on these machines; ``podman system service`` speaks the Docker Engine API.
Configured as the test-cluster guide found necessary here: runc (crun fails on the hybrid
cgroup tree), cgroupfs, explicit ulimits; plain-http registries can be allowed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

HOW_TO_INSTALL = "run scripts/install-podman (as root: apt-get install podman runc busybox-static)"


def service_workdir(root: Path) -> Path:
    """The working directory of the service started on ``root`` (conmon's too)."""
    return root / "service-cwd"


@contextmanager
def podman_service(root: Path, insecure_registries: Sequence[str] = ()) -> Iterator[str]:
    """Run ``podman system service`` on ``root/podman.sock``; yields its ``unix://`` URL."""
    podman = shutil.which("podman")
    if podman is None or shutil.which("runc") is None:
        pytest.fail(f"this test needs podman and runc: {HOW_TO_INSTALL}", pytrace=False)
    assert podman is not None
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root}/run"\ngraphroot = "{root}/graph"\n'
    )
    (root / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n'
    )
    (root / "registries.conf").write_text(
        "".join(f'[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in insecure_registries)
    )
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(root),
        "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
        "CONTAINERS_CONF": str(root / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
    }
    socket_path = root / "podman.sock"
    # conmon (podman's container monitor) writes an empty ``oom`` marker into its working
    # directory when the kernel OOM-kills a container; it inherits the service's. So the
    # service runs in a directory of its own, never in the directory the tests started in.
    workdir = service_workdir(root)
    workdir.mkdir(exist_ok=True)
    with (root / "service.log").open("wb") as log:
        process = subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{socket_path}"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists() and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.1)
        if not socket_path.exists():
            raise RuntimeError(
                f"podman service did not start:\n{(root / 'service.log').read_text()}"
            )
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
