"""processing-container.json read through the real registries: label and layer paths, indexes,
whiteouts, the digest cache, corrupt blobs, basic and bearer auth, pull secrets, limits.

Byte and request counts come from the client's own meter, so "the base layer was not read"
is asserted as a number, not assumed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.images import (
    LABEL,
    CorruptBlob,
    DockerConfig,
    ImageMetadata,
    ImageNotFound,
    InvalidProcessingContainer,
    KubernetesPullSecrets,
    LimitExceeded,
    Limits,
    NoProcessingContainer,
    Unauthorized,
    UnsupportedImage,
)
from kaapana_executor.images.credentials import PullAccess
from kaapana_executor.images.transport import Reading
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.oci.build import ImageBuilder, ImageFormat, Platform, build_index
from tests.support.cluster import LocalEnv
from tests.support.images import (  # noqa: F401  (fixtures)
    PC,
    PUBLIC_PREFIX,
    TOKEN_USER,
    LocalRegistry,
    Reply,
    ScriptedServer,
    TokenRegistry,
    corrupt_blob,
    create_pull_secret,
    document,
    push,
    scratch_registry,
    scripted,
    text,
    token_registry,
)
from tests.support.registry import PushClient, unique_repository

pytestmark = pytest.mark.cluster
MiB = 1024 * 1024


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[ImageMetadata]:
    opened = ImageMetadata(tmp_path / "cache")
    yield opened
    opened.close()


def read(metadata: ImageMetadata, image: str) -> tuple[str, Reading]:
    """The document's name and what reading it cost."""
    before = metadata.meter.reading()
    name = metadata.get(image).name
    return name, metadata.meter.reading() - before


def with_base(size: int = 2 * MiB) -> ImageBuilder:
    """An image builder whose first layer holds ``size`` incompressible bytes."""
    return ImageBuilder().layer({"opt/base.bin": os.urandom(size)})


def basic_config(host: str, user: str, password: str) -> DockerConfig:
    return DockerConfig.parse({"auths": {host: {"username": user, "password": password}}}, "test")


# --- where the document is -------------------------------------------------------------


def test_label_path_reads_only_manifest_and_config(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    image = with_base().labels({LABEL: text("from-label")}).build()
    reference = push(registry, image)

    name, cost = read(metadata, reference)

    assert name == "from-label"
    assert cost == Reading(requests=3, bytes=image.manifest.size + image.config.size)
    assert metadata.fetch(reference).origin == f"label {LABEL}"


def test_layer_path_stops_at_the_newest_layer_holding_the_file(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    image = with_base().layer({PC: text("in-layer")}).layer({"etc/motd": "hello"}).build()
    reference = push(registry, image)

    name, cost = read(metadata, reference)

    _base, middle, top = image.layers
    assert name == "in-layer"
    assert cost.bytes == image.manifest.size + image.config.size + top.size + middle.size
    assert cost.requests == 5
    assert metadata.fetch(reference).origin == f"/{PC} in layer 2/3 ({middle.digest})"


def test_an_upper_copy_wins_and_a_whiteout_deletes(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    replaced = ImageBuilder().layer({PC: text("old")}).layer({PC: text("new")}).build()
    deleted = ImageBuilder().layer({PC: text("old")}).layer({"a": "b"}, deletions=[PC]).build()
    replaced_reference, deleted_reference = push(registry, replaced), push(registry, deleted)

    assert metadata.get(replaced_reference).name == "new"
    with pytest.raises(NoProcessingContainer) as raised:
        metadata.get(deleted_reference)

    assert str(raised.value) == (
        f"{deleted_reference} ({deleted.digest}): no processing-container.json: "
        f"/{PC} is deleted in layer 2/2 ({deleted.layers[1].digest}) by .wh.{PC}"
    )


def test_an_image_without_label_or_file_says_so(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    image = ImageBuilder().layer({"etc/a": "1"}).layer({"etc/b": "2"}).build()
    reference = push(registry, image)

    with pytest.raises(NoProcessingContainer) as raised:
        metadata.get(reference)

    assert str(raised.value) == (
        f"{reference} ({image.digest}): no processing-container.json: no label {LABEL} in the "
        f"image config and no /{PC} in its 2 layers"
    )


@pytest.mark.parametrize("image_format", list(ImageFormat))
def test_multi_platform_index_picks_the_configured_platform(
    image_format: ImageFormat, registry: PushClient, tmp_path: Path
) -> None:
    images = [
        ImageBuilder(format=image_format, platform=Platform(architecture=arch))
        .layer({PC: text(f"for-{arch}")})
        .build()
        for arch in ("amd64", "arm64")
    ]
    repository = unique_repository("images")
    registry.push_index(repository, "multi", build_index(images, image_format))
    reference = registry.reference(repository, "multi")
    amd = ImageMetadata(tmp_path / "cache")
    arm = ImageMetadata(tmp_path / "cache", platform="linux/arm64/v8")
    s390x = ImageMetadata(tmp_path / "cache", platform="linux/s390x")

    assert amd.fetch(reference).digest == images[0].digest
    assert amd.get(reference).name == "for-amd64"
    assert arm.get(reference).name == "for-arm64"
    assert read(arm, reference)[1] == Reading(requests=1, bytes=0)  # HEAD; index is cached
    with pytest.raises(UnsupportedImage, match=r"no image for platform linux/s390x \(index has: "):
        s390x.get(reference)


def test_docker_v2_images_work_on_both_paths(registry: PushClient, metadata: ImageMetadata) -> None:
    labelled = ImageBuilder(format=ImageFormat.DOCKER).labels({LABEL: text("docker-label")})
    layered = ImageBuilder(format=ImageFormat.DOCKER).layer({PC: text("docker-layer")})

    assert metadata.get(push(registry, labelled.layer({"a": "1"}).build())).name == "docker-label"
    assert metadata.get(push(registry, layered.build())).name == "docker-layer"


# --- the cache -------------------------------------------------------------------------


def test_each_digest_is_read_once_and_tags_are_re_resolved(
    registry: PushClient, tmp_path: Path
) -> None:
    first = ImageBuilder().layer({PC: text("first")}).build()
    repository = unique_repository("images")
    registry.push_image(repository, "v1", first)
    reference = registry.reference(repository, "v1")
    warm, other_process = ImageMetadata(tmp_path / "cache"), ImageMetadata(tmp_path / "cache")

    cold_cost = read(warm, reference)[1]
    assert read(warm, reference) == ("first", Reading(requests=1, bytes=0))
    assert read(other_process, reference) == ("first", Reading(requests=1, bytes=0))
    assert read(other_process, f"{reference}@{first.digest}") == ("first", Reading(0, 0))
    assert cold_cost.bytes > 0

    registry.push_image(repository, "v1", ImageBuilder().layer({PC: text("second")}).build())

    assert read(warm, reference)[0] == "second"


def test_no_document_is_remembered_too(registry: PushClient, metadata: ImageMetadata) -> None:
    reference = push(registry, with_base().build())
    for _ in range(2):
        before = metadata.meter.reading()
        with pytest.raises(NoProcessingContainer):
            metadata.get(reference)
    assert metadata.meter.reading() - before == Reading(requests=1, bytes=0)


def test_concurrent_lookups_of_one_image_read_it_once(registry: PushClient, tmp_path: Path) -> None:
    reference = push(registry, with_base().layer({PC: text("shared")}).build())
    single = ImageMetadata(tmp_path / "single")
    one = read(single, reference)[1]
    shared = ImageMetadata(tmp_path / "shared")
    start = threading.Barrier(8)

    def lookup(_: int) -> str:
        start.wait()
        return shared.get(reference).name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lookup, range(8)))

    assert names == ["shared"] * 8
    assert shared.meter.reading() == Reading(requests=one.requests + 7, bytes=one.bytes)


# --- damage and bad documents ----------------------------------------------------------


def test_corrupt_blobs_are_rejected_and_not_cached(
    scratch_registry: LocalRegistry,  # noqa: F811
    tmp_path: Path,
) -> None:
    pusher = PushClient(scratch_registry.address)
    labelled = ImageBuilder().labels({LABEL: text("aaaa")}).layer({"a": "1"}).build()
    layered = ImageBuilder().layer({PC: text("layer"), "pad": os.urandom(4096)}).build()
    annotated = ImageBuilder().annotations({"note": "aaaa"}).labels({LABEL: text()}).build()
    references = [push(pusher, image) for image in (labelled, layered, annotated)]
    corrupt_blob(scratch_registry.storage, labelled.config.digest, b"aaaa", b"aaab")
    corrupt_blob(scratch_registry.storage, layered.layers[0].digest)
    corrupt_blob(scratch_registry.storage, annotated.digest, b"aaaa", b"aaab")
    metadata = ImageMetadata(tmp_path / "cache")

    messages = []
    for reference in references:
        with pytest.raises(CorruptBlob) as raised:
            metadata.get(reference)
        messages.append(str(raised.value))

    assert messages[0].startswith(
        f"{references[0]} ({labelled.digest}): corrupt content: config blob "
        f"{labelled.config.digest} does not match its digest (content is sha256:"
    )
    assert messages[1].startswith(
        f"{references[1]} ({layered.digest}): corrupt content: layer 1/1 "
        f"({layered.layers[0].digest}) does not match its digest"
    )
    assert messages[2].startswith(
        f"{references[2]} ({annotated.digest}): corrupt content: manifest served for "
        f"{annotated.digest} has digest sha256:"
    )
    assert metadata.cache.entry(labelled.digest) is None
    assert metadata.cache.entry(layered.digest) is None


def test_invalid_documents_name_image_digest_and_field_path(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    broken_json = ImageBuilder().layer({PC: '{"name": "x",\n  oops}'}).build()
    bad_schema = document()
    bad_schema["templates"][0]["env"] = [{"name": "A=B", "value": "1"}]
    wrong_field = ImageBuilder().layer({PC: json.dumps(bad_schema)}).build()
    bad_label = ImageBuilder().labels({LABEL: "{"}).layer({PC: text()}).build()

    lines = {}
    for key, image in {"json": broken_json, "schema": wrong_field, "label": bad_label}.items():
        reference = push(registry, image)
        with pytest.raises(InvalidProcessingContainer) as raised:
            metadata.get(reference)
        lines[key] = (f"{reference}@{image.digest}", raised.value.lines())

    source, found = lines["json"]
    assert found == [
        f"{source}:/{PC}: invalid JSON at line 2 column 3: Expecting property name "
        "enclosed in double quotes"
    ]
    source, found = lines["schema"]
    assert found == [f"{source}:/{PC}: templates[0].env[0].name: 'A=B' does not match '^[^=]+$'"]
    source, found = lines["label"]
    assert found[0].startswith(f"{source}:label {LABEL}: invalid JSON at line 1 column 2")


def test_missing_repositories_tags_and_digests_are_not_found(
    registry: PushClient, metadata: ImageMetadata
) -> None:
    reference = push(registry, ImageBuilder().layer({PC: text()}).build())
    repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
    missing_digest = f"{registry.address}/{repository}@sha256:{'0' * 64}"

    for image, message in [
        (f"{registry.address}/{repository}:nope", f"tag nope not found in {registry.address}/"),
        (f"{registry.address}/nobody/here:v1", "tag v1 not found in"),
        (missing_digest, f"manifest sha256:{'0' * 64} not found"),
    ]:
        with pytest.raises(ImageNotFound, match=message) as raised:
            metadata.get(image)
        assert str(raised.value).startswith(f"{image}")


# --- limits and retries ----------------------------------------------------------------


def test_size_limits_stop_the_search_with_a_clear_reason(
    registry: PushClient, tmp_path: Path
) -> None:
    without = push(registry, with_base(2 * MiB).build())
    large = push(registry, ImageBuilder().layer({PC: json.dumps(document()) + " " * 2000}).build())

    with pytest.raises(LimitExceeded, match=f"read more than {MiB} bytes of layers"):
        ImageMetadata(None, limits=Limits(max_layer_bytes=MiB)).get(without)
    with pytest.raises(LimitExceeded, match=rf"/{PC} in layer 1/1 \(.*\) has 2\d\d\d bytes"):
        ImageMetadata(None, limits=Limits(max_document_bytes=1000)).get(large)


def test_retries_pass_429_and_503_honouring_retry_after(
    registry: PushClient,
    scripted: list[ScriptedServer],  # noqa: F811
) -> None:
    reference = push(registry, ImageBuilder().layer({PC: text("through")}).build())
    front = ScriptedServer([Reply(429, {"Retry-After": "1"}), Reply(503)], registry.address)
    scripted.append(front)
    via_front = reference.replace(registry.address, front.address)

    started = time.monotonic()
    assert ImageMetadata(None).get(via_front).name == "through"

    assert time.monotonic() - started >= 1.0
    assert [method for method, _ in front.seen[:3]] == ["HEAD", "HEAD", "HEAD"]


def test_the_time_limit_covers_retries(
    registry: PushClient,
    scripted: list[ScriptedServer],  # noqa: F811
) -> None:
    front = ScriptedServer([Reply(503, {"Retry-After": "5"})], registry.address, repeat_last=True)
    scripted.append(front)
    image = f"{front.address}/any/image:v1"

    with pytest.raises(LimitExceeded) as raised:
        ImageMetadata(None, limits=Limits(max_seconds=2)).get(image)

    assert str(raised.value).startswith(f"{image}: limit exceeded: HEAD http://{front.address}")
    assert "time limit of 2 s reached (last attempt: 503 Service Unavailable)" in str(raised.value)


# --- authentication ----------------------------------------------------------------------


def test_basic_auth_with_right_wrong_and_no_credentials(
    registry_auth: PushClient, local_env: LocalEnv
) -> None:
    reference = push(registry_auth, ImageBuilder().layer({PC: text("private")}).build())
    host, user = local_env.registry_auth, local_env.registry_user
    right = basic_config(host, user, local_env.registry_password)
    wrong = basic_config(host, user, "not-the-password")
    repository = reference.split("/", 1)[1].rsplit(":", 1)[0]

    assert ImageMetadata(None, right).get(reference).name == "private"
    with pytest.raises(Unauthorized) as refused:
        ImageMetadata(None, wrong).get(reference)
    with pytest.raises(Unauthorized) as anonymous:
        ImageMetadata(None).get(reference)

    assert str(refused.value) == (
        f"{reference}: unauthorized: {host} refused user {user!r} for {repository} "
        "(401 Unauthorized)"
    )
    assert str(anonymous.value) == (
        f"{reference}: unauthorized: {host} requires basic auth; no credentials are set for it"
    )


def test_bearer_token_flow_against_a_token_auth_registry(
    token_registry: TokenRegistry,  # noqa: F811
) -> None:
    pusher = token_registry.client()
    private = push(pusher, ImageBuilder().layer({PC: text("private")}).build())
    repository = unique_repository(PUBLIC_PREFIX.rstrip("/"))
    pusher.push_image(repository, "v1", ImageBuilder().layer({PC: text("public")}).build())
    public = pusher.reference(repository, "v1")
    host, tokens = token_registry.address, token_registry.tokens
    right = ImageMetadata(None, basic_config(host, TOKEN_USER, tokens.password))
    wrong = ImageMetadata(None, basic_config(host, TOKEN_USER, "wrong"))

    issued = len(tokens.issued)
    assert right.get(private).name == "private"
    assert right.fetch(private).text == text("private")
    assert len(tokens.issued) == issued + 1  # one token, reused by the second lookup
    assert tokens.issued[-1]["access"] == [
        {"type": "repository", "name": private.split("/", 1)[1][:-3], "actions": ["pull"]}
    ]
    assert ImageMetadata(None).get(public).name == "public"  # anonymous token
    with pytest.raises(Unauthorized) as refused:
        wrong.get(private)
    with pytest.raises(Unauthorized) as anonymous:
        ImageMetadata(None).get(private)

    assert str(refused.value) == (
        f"{private}: unauthorized: token server {token_registry.realm} "
        f"refused the credentials of user {TOKEN_USER!r} (401)"
    )
    assert str(anonymous.value) == (
        f"{private}: unauthorized: {host} refused anonymous for {private.split('/', 1)[1][:-3]} "
        "(insufficient_scope)"
    )


def test_credentials_from_the_clusters_pull_secrets(
    registry_auth: PushClient, local_env: LocalEnv, core_v1: client.CoreV1Api, namespace: str
) -> None:
    reference = push(registry_auth, ImageBuilder().layer({PC: text("via-secret")}).build())
    host, user = local_env.registry_auth, local_env.registry_user
    auth = base64.b64encode(f"{user}:{local_env.registry_password}".encode()).decode()
    create_pull_secret(core_v1, namespace, "regcred", {"auths": {host: {"auth": auth}}})
    create_pull_secret(core_v1, namespace, "stale", {"auths": {host: {"auth": "dXNlcjpvbGQ="}}})
    core_v1.patch_namespaced_service_account(
        "default", namespace, {"imagePullSecrets": [{"name": "regcred"}]}
    )

    def get(*names: str) -> str:
        return (
            ImageMetadata(
                None, KubernetesPullSecrets(KubeGateway(core_v1.api_client), namespace, names)
            )
            .get(reference)
            .name
        )

    assert get("regcred") == "via-secret"
    assert get() == "via-secret"  # the ServiceAccount's imagePullSecrets
    with pytest.raises(Unauthorized, match=f"cannot read pull secret {namespace}/gone: 404"):
        get("gone")
    with pytest.raises(Unauthorized, match="refused user 'user'"):
        get("stale")


def test_a_pull_secret_named_only_by_the_task_reads_its_image(
    registry_auth: PushClient,
    local_env: LocalEnv,
    core_v1: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The executor reads processing-container.json with what the task's pod pulls with."""
    reference = push(registry_auth, ImageBuilder().layer({PC: text("task-secret")}).build())
    create_pull_secret(core_v1, namespace, "mine", local_env.docker_config())
    settings = ExecutorSettings(namespace=namespace, cache_dir=str(tmp_path / "cache"))
    metadata = ImageMetadata.from_settings(settings, KubeGateway(core_v1.api_client))

    with pytest.raises(Unauthorized, match="no credentials are set"):
        metadata.get(reference)  # the deployment's own credentials: none
    assert metadata.get(reference, PullAccess(namespace, ("mine",))).name == "task-secret"


def test_the_executors_instance_uses_its_namespaces_pull_secrets(
    registry_auth: PushClient,
    local_env: LocalEnv,
    core_v1: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    reference = push(registry_auth, ImageBuilder().layer({PC: text("executor")}).build())
    create_pull_secret(core_v1, namespace, "pull", local_env.docker_config())
    settings = ExecutorSettings(
        namespace=namespace, image_pull_secrets=["pull"], cache_dir=str(tmp_path / "cache")
    )

    metadata = ImageMetadata.from_settings(settings, KubeGateway(core_v1.api_client))

    assert metadata.get(reference).name == "executor"
    assert list((tmp_path / "cache" / "v1" / "manifests" / "sha256").glob("*.json"))
