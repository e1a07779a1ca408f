"""Images built in Python are served back by the real registries, by tag and by digest."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest
import requests

from tests.support.cluster import LocalEnv
from tests.support.registry import (
    Blob,
    Image,
    ImageBuilder,
    ImageFormat,
    MediaType,
    Platform,
    PushClient,
    RegistryError,
    build_index,
    unique_repository,
)


def _sample_image(image_format: ImageFormat = ImageFormat.OCI) -> Image:
    return (
        ImageBuilder(format=image_format)
        .layer({"etc/app.conf": "level=1\n", "opt/app/run.sh": b"#!/bin/sh\necho hi\n"})
        .layer({"etc/app.conf": "level=2\n"}, deletions=["opt/app/run.sh"])
        .labels({"org.kaapana.task": "segment", "org.kaapana.version": "0.1"})
        .entrypoint("/opt/app/run.sh")
        .build()
    )


def _members(layer: bytes) -> dict[str, bytes]:
    """Each entry of a gzip layer tar with its content (empty for directories, links)."""
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member) if member.isfile() else None
            members[member.name] = content.read() if content is not None else b""
    return members


def test_builder_is_deterministic_and_writes_whiteouts() -> None:
    first, second = _sample_image(), _sample_image()

    assert first.digest == second.digest
    upper = _members(first.layers[1].data)
    assert upper["opt/app/.wh.run.sh"] == b""
    assert upper["etc/app.conf"] == b"level=2\n"
    config = first.config.json()
    assert config["config"]["Labels"]["org.kaapana.task"] == "segment"
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(layer.data)).hexdigest()
        for layer in first.layers
    ]


def _assert_pulled_back(client: PushClient, repository: str, tag: str, image: Image) -> None:
    assert client.manifest_digest(repository, tag) == image.digest
    by_tag = client.get_manifest(repository, tag)
    by_digest = client.get_manifest(repository, image.digest)
    assert by_tag.data == by_digest.data == image.manifest.data
    assert by_digest.media_type == MediaType.OCI_MANIFEST
    manifest = by_digest.json()
    assert client.get_blob(repository, manifest["config"]["digest"]) == image.config.data
    layers = [client.get_blob(repository, layer["digest"]) for layer in manifest["layers"]]
    assert layers == [blob.data for blob in image.layers]
    assert _members(layers[0])["opt/app/run.sh"] == b"#!/bin/sh\necho hi\n"


@pytest.mark.cluster
def test_pushed_image_is_pulled_back_by_manifest_and_blob_digest(
    registry: PushClient,
) -> None:
    repository, image = unique_repository(), _sample_image()

    assert registry.push_image(repository, "v1", image) == image.digest

    _assert_pulled_back(registry, repository, "v1", image)
    assert registry.tags(repository) == ["v1"]


@pytest.mark.cluster
def test_basic_auth_registry_refuses_anonymous_and_serves_the_test_user(
    registry_auth: PushClient, local_env: LocalEnv
) -> None:
    repository, image = unique_repository(), _sample_image()
    anonymous = PushClient(local_env.registry_auth)
    wrong = PushClient(local_env.registry_auth, credentials=(local_env.registry_user, "nope"))
    try:
        assert anonymous.ping() == 401
        with pytest.raises(RegistryError) as refused:
            anonymous.push_blob(repository, image.config)
        assert refused.value.status == 401
        assert wrong.ping() == 401

        registry_auth.push_image(repository, "v1", image)

        _assert_pulled_back(registry_auth, repository, "v1", image)
        with pytest.raises(RegistryError):
            anonymous.get_manifest(repository, image.digest)
    finally:
        anonymous.close()
        wrong.close()
    challenge = requests.get(f"http://{local_env.registry_auth}/v2/", timeout=10)
    assert challenge.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.cluster
def test_multi_platform_index_points_at_each_platform_image(registry: PushClient) -> None:
    repository = unique_repository()
    images = [
        ImageBuilder(platform=Platform(architecture=arch)).layer({"arch": arch}).build()
        for arch in ("amd64", "arm64")
    ]
    index = build_index(images)

    registry.push_index(repository, "multi", index)

    served = registry.get_manifest(repository, "multi")
    assert served.media_type == MediaType.OCI_INDEX
    assert served.digest == index.digest
    entries = {m["platform"]["architecture"]: m["digest"] for m in served.json()["manifests"]}
    assert entries == {"amd64": images[0].digest, "arm64": images[1].digest}
    arm = registry.get_manifest(repository, entries["arm64"])
    layer = registry.get_blob(repository, arm.json()["layers"][0]["digest"])
    assert _members(layer)["arch"] == b"arm64"


@pytest.mark.cluster
def test_docker_media_types_are_served_as_pushed(registry: PushClient) -> None:
    repository, image = unique_repository(), _sample_image(ImageFormat.DOCKER)

    registry.push_image(repository, "docker", image)

    served = registry.get_manifest(repository, "docker")
    assert served.media_type == MediaType.DOCKER_MANIFEST
    assert served.digest == image.digest
    config_digest = served.json()["config"]["digest"]
    assert Blob(MediaType.DOCKER_CONFIG, registry.get_blob(repository, config_digest)).json()[
        "config"
    ]["Entrypoint"] == ["/opt/app/run.sh"]


@pytest.mark.cluster
def test_push_files_builds_and_pushes_in_one_call(registry: PushClient) -> None:
    repository = unique_repository()

    image = registry.push_files(
        repository, "v1", {"app/task.json": '{"name": "x"}'}, labels={"k": "v"}
    )

    manifest = registry.get_manifest(repository, "v1").json()
    assert manifest["config"]["digest"] == image.config.digest
    layer = registry.get_blob(repository, manifest["layers"][0]["digest"])
    assert _members(layer)["app/task.json"] == b'{"name": "x"}'
