"""Manifests and image indexes (OCI and Docker v2) parsed into small typed values.

Parsing happens once, at the boundary: everything after this module works with
``ImageManifest``, ``ImageIndex`` and ``Descriptor`` and never with raw JSON. Fields the
reader does not need (annotations, artifact types, subject) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kaapana_executor.images.errors import RegistryProtocolError, UnsupportedImage
from kaapana_executor.images.reference import is_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
#: The ``Accept`` header for manifests: without it a registry may convert to schema 1.
ACCEPT_MANIFESTS = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}
#: Variants an absent variant stands for (as containerd's platform matcher assumes).
_DEFAULT_VARIANTS = {"arm64": "v8"}


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]``, with architectures in Go's spelling."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/amd64``, ``linux/arm64/v8``; raises ValueError for anything else."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform {text!r} is not os/architecture[/variant]")
        architecture = _ARCH_ALIASES.get(parts[1], parts[1])
        return cls(parts[0], architecture, parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        """True if an index entry for ``other`` is an image for this (wanted) platform."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None:
            return True
        default = _DEFAULT_VARIANTS.get(self.architecture)
        return (other.variant or default) == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says about another object: its type, digest and exact size."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


@dataclass(frozen=True)
class ImageManifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageIndex:
    manifests: tuple[Descriptor, ...]


def parse_manifest(
    data: bytes, content_type: str, image: str, digest: str
) -> ImageManifest | ImageIndex:
    """Decode a manifest or index served with ``content_type``; errors name image and digest."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryProtocolError(image, f"manifest is not JSON: {exc}", digest) from None
    if not isinstance(document, dict):
        raise RegistryProtocolError(image, "manifest is not a JSON object", digest)
    media_type = _media_type(document, content_type)
    try:
        if media_type in INDEXES:
            entries = document.get("manifests")
            if not isinstance(entries, list):
                raise ValueError("'manifests' is not a list")
            return ImageIndex(tuple(_descriptor(entry) for entry in entries))
        if media_type in IMAGE_MANIFESTS:
            layers = document.get("layers")
            if not isinstance(layers, list):
                raise ValueError("'layers' is not a list")
            config = _descriptor(document.get("config"))
            return ImageManifest(config, tuple(_descriptor(layer) for layer in layers))
    except ValueError as exc:
        raise RegistryProtocolError(image, f"malformed manifest: {exc}", digest) from None
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        raise UnsupportedImage(image, "Docker schema 1 manifests are not supported", digest)
    raise UnsupportedImage(image, f"unsupported manifest media type {media_type!r}", digest)


def select_platform(index: ImageIndex, platform: Platform, image: str, digest: str) -> Descriptor:
    """The index entry for ``platform``, or ``UnsupportedImage`` listing what the index has."""
    for entry in index.manifests:
        if entry.platform is not None and platform.matches(entry.platform):
            return entry
    offered = sorted({str(e.platform) for e in index.manifests if e.platform is not None})
    raise UnsupportedImage(
        image,
        f"no image for platform {platform} (index has: {', '.join(offered) or 'none'})",
        digest,
    )


def _media_type(document: Mapping[str, Any], content_type: str) -> str:
    """The declared type; OCI lets it be absent, then the header or the shape decides."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    header = content_type.split(";", maxsplit=1)[0].strip()
    if header in INDEXES | IMAGE_MANIFESTS:
        return header
    return OCI_INDEX if "manifests" in document else OCI_MANIFEST


def _descriptor(value: Any) -> Descriptor:
    if not isinstance(value, dict):
        raise ValueError("a descriptor is not an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str) or not is_digest(digest):
        raise ValueError(f"descriptor with bad mediaType or digest: {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"descriptor {digest} has a bad size {size!r}")
    platform = value.get("platform")
    parsed: Platform | None = None
    if isinstance(platform, dict):
        os_name, architecture = platform.get("os"), platform.get("architecture")
        if isinstance(os_name, str) and isinstance(architecture, str):
            variant = platform.get("variant")
            parsed = Platform(
                os_name.lower(),
                _ARCH_ALIASES.get(architecture.lower(), architecture.lower()),
                variant if isinstance(variant, str) and variant else None,
            )
    return Descriptor(media_type, digest, size, parsed)
