"""Manifests and indexes as registries serve them, parsed into typed values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kaapana_executor.images.errors import RegistryProtocolError, UnsupportedImage
from kaapana_executor.images.manifest import (
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
    select_platform,
)
from kaapana_executor.oci.build import ImageBuilder, ImageFormat, build_index
from kaapana_executor.oci.build import Platform as BuiltPlatform

DIGEST = "sha256:" + "0" * 64


def _parse(document: Any, content_type: str = "") -> ImageManifest | ImageIndex:
    return parse_manifest(json.dumps(document).encode(), content_type, "img", DIGEST)


@pytest.mark.parametrize("image_format", list(ImageFormat))
def test_built_manifests_and_indexes_parse_in_both_formats(image_format: ImageFormat) -> None:
    images = [
        ImageBuilder(format=image_format, platform=BuiltPlatform(architecture=arch))
        .layer({"a": arch})
        .layer({"b": "2"})
        .build()
        for arch in ("amd64", "arm64")
    ]
    index = build_index(images, image_format)

    manifest = _parse(images[0].manifest.json())
    parsed_index = _parse(index.manifest.json())

    assert isinstance(manifest, ImageManifest)
    assert manifest.config.digest == images[0].config.digest
    assert [layer.digest for layer in manifest.layers] == [b.digest for b in images[0].layers]
    assert isinstance(parsed_index, ImageIndex)
    assert [(e.digest, e.platform) for e in parsed_index.manifests] == [
        (images[0].digest, Platform("linux", "amd64")),
        (images[1].digest, Platform("linux", "arm64")),
    ]


def test_media_type_falls_back_to_the_header_then_to_the_shape() -> None:
    layerless = {"config": {"mediaType": "x", "digest": DIGEST, "size": 2}, "layers": []}

    assert isinstance(_parse(layerless, OCI_MANIFEST + "; charset=utf-8"), ImageManifest)
    assert isinstance(_parse({"manifests": []}), ImageIndex)
    assert isinstance(_parse({"manifests": []}, OCI_INDEX), ImageIndex)


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ({"mediaType": DOCKER_SCHEMA1_SIGNED}, UnsupportedImage, "schema 1"),
        ({"mediaType": "application/vnd.example+json"}, UnsupportedImage, "vnd.example"),
        ({"mediaType": OCI_MANIFEST, "layers": {}}, RegistryProtocolError, "'layers'"),
        (
            {
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "x", "digest": "md5:1", "size": 1},
                "layers": [],
            },
            RegistryProtocolError,
            "md5:1",
        ),
        (
            {
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "x", "digest": DIGEST, "size": -1},
                "layers": [],
            },
            RegistryProtocolError,
            "bad size -1",
        ),
        ([1, 2], RegistryProtocolError, "not a JSON object"),
    ],
)
def test_bad_manifests_are_rejected_with_the_image_and_digest(
    document: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        _parse(document)

    assert message in str(raised.value)
    assert str(raised.value).startswith(f"img ({DIGEST}): ")


def _entry(architecture: str, variant: str | None = None, os: str = "linux") -> Descriptor:
    digest = f"sha256:{architecture[:1] * 63}{(variant or '0')[-1]}"
    return Descriptor(OCI_MANIFEST, digest, 10, Platform(os, architecture, variant))


INDEX = ImageIndex(
    (
        _entry("amd64"),
        _entry("arm", "v6"),
        _entry("arm", "v7"),
        _entry("arm64"),
        _entry("amd64", os="windows"),
        Descriptor("application/vnd.in-toto+json", "sha256:" + "f" * 64, 1, None),
    )
)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("linux/amd64", _entry("amd64")),
        ("linux/x86_64", _entry("amd64")),
        ("linux/arm/v7", _entry("arm", "v7")),
        ("linux/arm", _entry("arm", "v6")),
        ("linux/arm64/v8", _entry("arm64")),
        ("linux/aarch64", _entry("arm64")),
        ("windows/amd64", _entry("amd64", os="windows")),
    ],
)
def test_platform_selection(wanted: str, expected: Descriptor) -> None:
    assert select_platform(INDEX, Platform.parse(wanted), "img", DIGEST) == expected


def test_a_missing_platform_lists_what_the_index_has() -> None:
    with pytest.raises(UnsupportedImage) as raised:
        select_platform(INDEX, Platform.parse("linux/s390x"), "img", DIGEST)

    assert "no image for platform linux/s390x (index has: linux/amd64, linux/arm/v6, " in str(
        raised.value
    )


@pytest.mark.parametrize("text", ["linux", "linux/", "a/b/c/d", ""])
def test_bad_platforms_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="os/architecture"):
        Platform.parse(text)
