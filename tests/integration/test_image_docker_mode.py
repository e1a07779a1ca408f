"""``--mode docker`` against a real Docker-compatible API (podman's service): local images by
file and label, whiteouts, pulling what the daemon lacks, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import docker
import pytest

from kaapana_executor.cli import main
from kaapana_executor.images import LABEL, ImageNotFound, NoProcessingContainer
from kaapana_executor.images.docker_mode import DockerImageMetadata
from kaapana_executor.oci.build import ImageBuilder
from tests.support.images import (  # noqa: F401  (fixture)
    PC,
    docker_archive,
    podman_api,
    push,
    text,
)
from tests.support.registry import PushClient, unique_repository

pytestmark = pytest.mark.cluster


@pytest.fixture
def api(podman_api: str) -> Iterator[docker.DockerClient]:  # noqa: F811
    opened = docker.DockerClient(base_url=podman_api)
    yield opened
    opened.close()


def _mode(url: str) -> DockerImageMetadata:
    return DockerImageMetadata(connect=lambda: docker.DockerClient(base_url=url))


def test_local_images_by_file_and_label_and_a_whiteout(
    api: docker.DockerClient,
    podman_api: str,  # noqa: F811
) -> None:
    name = f"localhost/{unique_repository('local')}"
    images = {
        "file": ImageBuilder().layer({"bin/x": "1"}).layer({PC: text("from-file")}).build(),
        "label": ImageBuilder().labels({LABEL: text("from-label")}).layer({"a": "1"}).build(),
        "deleted": ImageBuilder().layer({PC: text()}).layer({"a": "1"}, deletions=[PC]).build(),
    }
    for tag, image in images.items():
        api.images.load(docker_archive(image, f"{name}:{tag}"))
    mode = _mode(podman_api)

    assert mode.get(f"{name}:file").name == "from-file"
    assert mode.get(f"{name}:label").name == "from-label"
    assert mode.fetch(f"{name}:file").digest == images["file"].config.digest
    with pytest.raises(NoProcessingContainer) as raised:
        mode.get(f"{name}:deleted")
    assert str(raised.value) == (
        f"{name}:deleted ({images['deleted'].config.digest}): no processing-container.json: "
        f"no label {LABEL} and no /{PC} in the image"
    )
    assert api.containers.list(all=True) == []  # the probe containers are gone


def test_images_the_daemon_lacks_are_pulled(
    registry: PushClient,
    podman_api: str,  # noqa: F811
) -> None:
    reference = push(registry, ImageBuilder().layer({PC: text("pulled")}).build())

    assert _mode(podman_api).get(reference).name == "pulled"
    with pytest.raises(ImageNotFound, match="pull failed"):
        _mode(podman_api).get(reference.replace(":v1", ":missing"))


def test_cli_docker_mode_finds_the_api_through_docker_host(
    api: docker.DockerClient,
    podman_api: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"localhost/{unique_repository('cli')}:v1"
    api.images.load(docker_archive(ImageBuilder().layer({PC: text("cli")}).build(), name))
    monkeypatch.setenv("DOCKER_HOST", podman_api)

    code = main(["processing-container", name, "--mode", "docker"])

    assert code == 0
    assert json.loads(capsys.readouterr().out)["name"] == "cli"
