"""Image references parse like the docker CLI parses them; bad ones say which part is wrong."""

from __future__ import annotations

import pytest

from kaapana_executor.images.errors import InvalidReference
from kaapana_executor.images.reference import ImageReference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ubuntu", ImageReference("docker.io", "library/ubuntu", "latest")),
        ("ubuntu:22.04", ImageReference("docker.io", "library/ubuntu", "22.04")),
        ("kaapana/dummy:0.1", ImageReference("docker.io", "kaapana/dummy", "0.1")),
        ("index.docker.io/kaapana/x", ImageReference("docker.io", "kaapana/x", "latest")),
        ("127.0.0.1:35000/test/x:v1", ImageReference("127.0.0.1:35000", "test/x", "v1")),
        ("localhost/x", ImageReference("localhost", "x", "latest")),
        ("localhost:5000/a/b/c:t", ImageReference("localhost:5000", "a/b/c", "t")),
        ("reg.example.com/x@" + DIGEST, ImageReference("reg.example.com", "x", None, DIGEST)),
        ("reg.example.com/x:v1@" + DIGEST, ImageReference("reg.example.com", "x", "v1", DIGEST)),
        ("[::1]:5000/x:v1", ImageReference("[::1]:5000", "x", "v1")),
        ("Registry.Example.com/x", ImageReference("registry.example.com", "x", "latest")),
        (
            "reg.io/a_b/c-d/e.f/g__h:T_1.x-y",
            ImageReference("reg.io", "a_b/c-d/e.f/g__h", "T_1.x-y"),
        ),
    ],
)
def test_references_parse_like_docker(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_digest_pins_the_request_and_docker_hub_has_its_own_api_host() -> None:
    pinned = parse_reference("reg.io/x:v1@" + DIGEST)
    hub = parse_reference("busybox")

    assert pinned.reference == DIGEST
    assert str(pinned) == f"reg.io/x:v1@{DIGEST}"
    assert hub.api_host == "registry-1.docker.io"
    assert hub.reference == "latest"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("reg.io/x@sha256:abc", "invalid digest"),
        ("reg.io/x@md5:" + "a" * 32, "invalid digest"),
        ("reg.io/X", "invalid repository component 'X'"),
        ("reg.io/x:bad tag", "invalid tag"),
        ("reg.io/x:-bad", "invalid tag"),
        ("reg.io//x", "invalid repository component ''"),
        ("reg.io/a--/b", "invalid repository component 'a--'"),
        ("bad_host.io:x:1/a", "invalid registry host"),
    ],
)
def test_bad_references_name_the_wrong_part(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        parse_reference(text)

    assert reason in str(raised.value)
    assert str(raised.value).startswith(f"{text}: invalid image reference: ")
