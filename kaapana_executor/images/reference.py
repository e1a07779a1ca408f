"""Image references (``registry/repo:tag``, ``repo@sha256:...``) parsed into typed values.

Follows the grammar of ``github.com/distribution/reference``: the first path component is a
registry only if it looks like a host (has a dot or a port, or is ``localhost``); otherwise
the image is on Docker Hub, where single names live under ``library/``. A reference with both
a tag and a digest is pinned by the digest (the tag is kept for messages only).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from kaapana_executor.images.errors import InvalidReference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"(sha256:[a-f0-9]{64})|(sha512:[a-f0-9]{128})")
_MAX_NAME = 255


def is_digest(value: str) -> bool:
    """True for a digest this package can verify (``sha256:`` or ``sha512:`` in lower hex)."""
    return _DIGEST.fullmatch(value) is not None


def digest_hasher(digest: str) -> hashlib._Hash:
    """A fresh hash object for the algorithm ``digest`` names (checked by ``is_digest``)."""
    algorithm, _, _ = digest.partition(":")
    return hashlib.new(algorithm)


def normalize_registry(host: str) -> str:
    """The name credentials and caches use for a registry: Docker Hub's aliases fold to one."""
    lowered = host.lower()
    return DOCKER_HUB if lowered in _DOCKER_HUB_ALIASES else lowered


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference: registry host, repository path, and a tag or a digest (or both)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """Where the distribution API answers (Docker Hub serves it on another host)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``text`` or raise ``InvalidReference`` saying which part is wrong."""
    raw = text.strip()
    if not raw:
        raise InvalidReference(text, "empty image reference")
    remainder, at, digest = raw.partition("@")
    if at and not is_digest(digest):
        raise InvalidReference(text, f"invalid digest {digest!r} (expected sha256:<64 hex>)")
    registry, path = _split_registry(text, remainder)
    tag: str | None = None
    name, colon, maybe_tag = path.rpartition(":")
    if colon:
        if not _TAG.fullmatch(maybe_tag):
            raise InvalidReference(text, f"invalid tag {maybe_tag!r}")
        path, tag = name, maybe_tag
    if not path or len(path) > _MAX_NAME:
        raise InvalidReference(text, "missing or too long repository name")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise InvalidReference(
                text,
                f"invalid repository component {component!r} "
                "(lowercase letters, digits and single separators . _ __ -)",
            )
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not tag and not at:
        tag = DEFAULT_TAG
    return ImageReference(registry, path, tag, digest if at else None)


def _split_registry(text: str, remainder: str) -> tuple[str, str]:
    first, slash, rest = remainder.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost" or first != first.lower()
    if not slash or not looks_like_host:
        return DOCKER_HUB, remainder
    if not _HOST.fullmatch(first):
        raise InvalidReference(text, f"invalid registry host {first!r}")
    return normalize_registry(first), rest
