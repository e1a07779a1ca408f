"""Real containers for the local-run tests: a podman API that runs them, and a busybox image.

- ``podman_runner_api`` (session): ``unix://`` URL of ``podman system service`` with storage
  of its own, configured to *run* containers on these machines: ``runtime = "runc"`` (crun
  fails on the hybrid cgroup tree: "cgroups in hybrid mode not supported"), the cgroupfs
  manager, and ulimits runc may set. ``podman_api`` (tests/support/images.py) only creates
  containers and uses podman's default runtime, crun, so it cannot be reused for this.
- ``busybox_image`` (session): ``localhost/kaapana-busybox:test``, built from Debian's
  ``busybox-static`` (:mod:`kaapana_executor.oci.busybox`'s userland as one tar, imported
  through the API; no registry). It carries ``/processing-container.json`` with
  the templates the tests name (:data:`PROCESSING_CONTAINER`).
- ``docker_client``: a ``docker.DockerClient`` on that API.

Both fail, saying how to install, when podman, runc or busybox-static are missing
(``scripts/install-podman`` installs them; ``scripts/test`` runs it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NoReturn

import docker
import pytest

from kaapana_executor.oci.build import layer_tar
from kaapana_executor.oci.busybox import DIRECTORIES, BusyboxMissing, userland_files
from tests.support.podman import HOW_TO_INSTALL, podman_service

IMAGE = "localhost/kaapana-busybox:test"

#: The image's processing-container.json.
PROCESSING_CONTAINER: dict[str, Any] = {
    "name": "busybox-test",
    "description": "busybox for local-run tests",
    "templates": [
        {
            "identifier": "alloc",
            "description": "allocates SIZE once (dd's buffer), then reports it",
            "env": [{"name": "SIZE", "value": "100M"}],
            "command": [
                "sh",
                "-c",
                'dd if=/dev/zero of=/dev/null bs="$SIZE" count=1 && echo "allocated $SIZE"',
            ],
            "inputs": [{"name": "data", "mounted_path": "/data", "optional": True}],
            "resources": {"limits": {"memory": "200Mi"}},
        },
        {
            "identifier": "copy",
            "description": "copies the input to the output, then tries to write to the input",
            "env": [{"name": "GREETING", "value": "hello"}],
            "command": [
                "sh",
                "-c",
                'cp /in/a.txt /out/copy.txt && echo "$GREETING" > /logs/greeting.txt && '
                "if touch /in/new.txt; then echo 'input writable'; exit 3; fi; "
                "echo 'input is read-only'",
            ],
            "inputs": [{"name": "in", "mounted_path": "/in"}],
            "outputs": [
                {"name": "out", "mounted_path": "/out"},
                {"name": "logs", "mounted_path": "/logs"},
            ],
        },
    ],
}


def _fail(reason: str) -> NoReturn:
    pytest.fail(f"{reason}: {HOW_TO_INSTALL}", pytrace=False)


@pytest.fixture(scope="session")
def podman_runner_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with podman_service(tmp_path_factory.mktemp("podman-runner")) as url:
        yield url


def rootfs_tar(document: dict[str, Any]) -> bytes:
    """A root filesystem: the busybox userland every image here is built from, and the
    processing-container.json (one uncompressed layer tar, as ``podman import`` wants)."""
    try:
        files = userland_files()
    except BusyboxMissing as missing:
        _fail(str(missing))
    files["processing-container.json"] = json.dumps(document)
    return layer_tar(files, directories=DIRECTORIES)


@pytest.fixture
def docker_client(podman_runner_api: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=podman_runner_api)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(podman_runner_api: str) -> str:
    """Import the rootfs (podman's compatible import ignores repo/tag: tag it afterwards)."""
    client = docker.DockerClient(base_url=podman_runner_api)
    try:
        answer = client.api.import_image_from_data(rootfs_tar(PROCESSING_CONTAINER))
        image_id = json.loads(answer)["id"]
        repository, _, tag = IMAGE.rpartition(":")
        client.images.get(image_id).tag(repository, tag)
    finally:
        client.close()
    return IMAGE
