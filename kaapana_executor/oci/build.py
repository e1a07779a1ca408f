"""OCI images without Docker: built in memory from dicts of files, reproducibly.

``ImageBuilder`` makes an image: each ``layer`` is a gzip tar with parent directories,
explicit directories (with their mode), whiteouts (``.wh.NAME``) for deleted paths and
opaque-directory markers; the config carries labels, env, entrypoint, user; the manifest uses
OCI (default) or Docker v2 media types. ``build_index`` groups per-platform images into an
image index (manifest list). The same input always gives the same digests (fixed mtimes,
sorted entries, canonical JSON), so callers can compare digests and a registry stores a
shared layer once. :mod:`kaapana_executor.oci.push` pushes and reads back the results.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from kaapana_executor.images import manifest as served


class MediaType(str, Enum):
    """Media types of the OCI image spec and their Docker v2 equivalents.

    The manifest types are the reader's (:mod:`kaapana_executor.images.manifest`): what is
    built here is what the executor reads.
    """

    OCI_MANIFEST = served.OCI_MANIFEST
    OCI_INDEX = served.OCI_INDEX
    OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
    DOCKER_MANIFEST = served.DOCKER_MANIFEST
    DOCKER_MANIFEST_LIST = served.DOCKER_MANIFEST_LIST
    DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
    DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class ImageFormat(Enum):
    """Which family of media types an image and its index use."""

    OCI = (
        MediaType.OCI_MANIFEST,
        MediaType.OCI_INDEX,
        MediaType.OCI_CONFIG,
        MediaType.OCI_LAYER_GZIP,
    )
    DOCKER = (
        MediaType.DOCKER_MANIFEST,
        MediaType.DOCKER_MANIFEST_LIST,
        MediaType.DOCKER_CONFIG,
        MediaType.DOCKER_LAYER_GZIP,
    )

    @property
    def manifest(self) -> MediaType:
        return self.value[0]

    @property
    def index(self) -> MediaType:
        return self.value[1]

    @property
    def config(self) -> MediaType:
        return self.value[2]

    @property
    def layer(self) -> MediaType:
        return self.value[3]


MANIFEST_MEDIA_TYPES = (
    MediaType.OCI_MANIFEST,
    MediaType.OCI_INDEX,
    MediaType.DOCKER_MANIFEST,
    MediaType.DOCKER_MANIFEST_LIST,
)
ACCEPT_MANIFESTS = tuple(media_type.value for media_type in MANIFEST_MEDIA_TYPES)
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
EPOCH = "1970-01-01T00:00:00Z"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """Content plus its media type; the digest is computed, never passed around separately."""

    media_type: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}

    def json(self) -> Any:
        return json.loads(self.data)


def json_blob(media_type: str, document: Mapping[str, Any]) -> Blob:
    """Canonical enough JSON (sorted keys, no spaces) so equal documents give equal digests."""
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return Blob(media_type, data)


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_json(self) -> dict[str, str]:
        platform = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            platform["variant"] = self.variant
        return platform


@dataclass(frozen=True)
class File:
    """A file with a mode other than 0644 (or a symlink when ``link`` is set)."""

    content: bytes | str = b""
    mode: int = 0o644
    link: str | None = None


FileContent = bytes | str | File


@dataclass(frozen=True)
class Layer:
    """One layer: the gzip blob pushed, and the digest of the plain tar (the diff id)."""

    blob: Blob
    diff_id: str


def _tar_info(path: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def layer_tar(
    files: Mapping[str, FileContent],
    *,
    deletions: Iterable[str] = (),
    opaque_dirs: Iterable[str] = (),
    directories: Mapping[str, int] | None = None,
) -> bytes:
    """An uncompressed, reproducible layer tar.

    ``files`` maps paths (``"opt/app/run.sh"``) to content; parent directories are added
    (mode 0755). ``directories`` maps further directories to their mode (``{"tmp": 0o1777}``),
    e.g. empty ones a root filesystem needs. ``deletions`` become whiteouts (``dir/.wh.name``)
    hiding a path of a lower layer; ``opaque_dirs`` get ``.wh..wh..opq``, hiding everything
    below them from lower layers.
    """
    entries: dict[str, tuple[bytes, FileContent]] = {}
    modes = {path.strip("/") + "/": mode for path, mode in (directories or {}).items()}

    def add_dirs(path: str) -> None:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:depth]) + "/", (tarfile.DIRTYPE, b""))

    for directory in modes:
        add_dirs(directory)

    for raw_path, content in files.items():
        path = raw_path.strip("/")
        add_dirs(path)
        entries[path] = (tarfile.REGTYPE, content)
    for raw_path in deletions:
        parent, _, name = raw_path.strip("/").rpartition("/")
        whiteout = f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name
        add_dirs(whiteout)
        entries[whiteout] = (tarfile.REGTYPE, b"")
    for raw_dir in opaque_dirs:
        marker = f"{raw_dir.strip('/')}/{OPAQUE_WHITEOUT}"
        add_dirs(marker)
        entries[marker] = (tarfile.REGTYPE, b"")

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            kind, content = entries[path]
            if kind == tarfile.DIRTYPE:
                tar.addfile(_tar_info(path, tarfile.DIRTYPE, modes.get(path, 0o755)))
                continue
            file = content if isinstance(content, File) else File(content)
            if file.link is not None:
                info = _tar_info(path, tarfile.SYMTYPE, 0o777)
                info.linkname = file.link
                tar.addfile(info)
                continue
            data = file.content.encode() if isinstance(file.content, str) else file.content
            tar.addfile(_tar_info(path, tarfile.REGTYPE, file.mode, len(data)), io.BytesIO(data))
    return buffer.getvalue()


@dataclass(frozen=True)
class Image:
    """A built image: config and layer blobs, and the manifest that names them."""

    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    platform: Platform

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


@dataclass(frozen=True)
class Index:
    """An image index (manifest list) and the images it points to."""

    manifest: Blob
    images: tuple[Image, ...]

    @property
    def digest(self) -> str:
        return self.manifest.digest


@dataclass
class ImageBuilder:
    """Collects layers and config, then ``build()`` makes the image. Methods chain."""

    format: ImageFormat = ImageFormat.OCI
    platform: Platform = field(default_factory=Platform)
    _layers: list[Layer] = field(default_factory=list)
    _config: dict[str, Any] = field(default_factory=dict)
    _annotations: dict[str, str] = field(default_factory=dict)

    def layer(
        self,
        files: Mapping[str, FileContent],
        *,
        deletions: Iterable[str] = (),
        opaque_dirs: Iterable[str] = (),
        directories: Mapping[str, int] | None = None,
    ) -> ImageBuilder:
        """Add a layer on top of the previous ones (see ``layer_tar``)."""
        tar = layer_tar(
            files, deletions=deletions, opaque_dirs=opaque_dirs, directories=directories
        )
        compressed = gzip.compress(tar, mtime=0)
        self._layers.append(Layer(Blob(self.format.layer, compressed), sha256_digest(tar)))
        return self

    def labels(self, labels: Mapping[str, str]) -> ImageBuilder:
        self._config.setdefault("Labels", {}).update(labels)
        return self

    def env(self, env: Mapping[str, str]) -> ImageBuilder:
        self._config.setdefault("Env", []).extend(f"{k}={v}" for k, v in env.items())
        return self

    def entrypoint(self, *argv: str) -> ImageBuilder:
        self._config["Entrypoint"] = list(argv)
        return self

    def cmd(self, *argv: str) -> ImageBuilder:
        self._config["Cmd"] = list(argv)
        return self

    def workdir(self, path: str) -> ImageBuilder:
        self._config["WorkingDir"] = path
        return self

    def user(self, user: str) -> ImageBuilder:
        self._config["User"] = user
        return self

    def annotations(self, annotations: Mapping[str, str]) -> ImageBuilder:
        """Manifest annotations (OCI only; Docker manifests have none)."""
        self._annotations.update(annotations)
        return self

    def build(self) -> Image:
        config = json_blob(
            self.format.config,
            {
                **self.platform.as_json(),
                "created": EPOCH,
                "config": self._config,
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self._layers]},
                "history": [
                    {"created": EPOCH, "created_by": "kaapana_executor.oci.ImageBuilder"}
                    for _ in self._layers
                ],
            },
        )
        layers = tuple(layer.blob for layer in self._layers)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.format.manifest.value,
            "config": config.descriptor(),
            "layers": [blob.descriptor() for blob in layers],
        }
        if self._annotations and self.format is ImageFormat.OCI:
            manifest["annotations"] = dict(self._annotations)
        return Image(json_blob(self.format.manifest, manifest), config, layers, self.platform)


def build_index(images: Sequence[Image], image_format: ImageFormat = ImageFormat.OCI) -> Index:
    """An index of per-platform images (``docker manifest list`` for Docker format)."""
    document = {
        "schemaVersion": 2,
        "mediaType": image_format.index.value,
        "manifests": [
            image.manifest.descriptor(platform=image.platform.as_json()) for image in images
        ],
    }
    return Index(json_blob(image_format.index, document), tuple(images))
