"""Finding one file in one layer tar, with the OCI whiteout rules. Pure: a file object in,
a verdict out.

A layer is a change set over the layers below it. For a path P, a layer can

- hold P as a regular file: P is found (a whiteout in the same layer applies only to lower
  layers, so the file wins);
- hold P as something else (directory, link): the image has no regular file at P;
- delete P: a whiteout ``.wh.<name>`` of P or of a parent directory, an opaque marker
  ``.wh..wh..opq`` in a parent directory, or a non-directory entry where a parent directory
  was: P is gone, lower layers are not consulted;
- say nothing about P: look in the next lower layer.

The tar is read in stream mode (``r|*``: gzip, bzip2, xz or plain, detected from the bytes),
entry by entry, so memory stays at one buffer whatever the layer size.
"""

from __future__ import annotations

import enum
import posixpath
import tarfile
from dataclasses import dataclass
from typing import IO

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


class Effect(enum.Enum):
    """What one tar entry means for the target path."""

    NONE = "none"
    FILE = "file"  # the target itself, as a regular file
    OTHER = "other"  # the target itself, but a directory, link or device
    DELETES = "deletes"  # hides the target of lower layers


class Outcome(enum.Enum):
    FOUND = "found"
    NOT_A_FILE = "not a regular file"
    DELETED = "deleted"
    ABSENT = "absent"
    TOO_LARGE = "too large"


@dataclass(frozen=True)
class Verdict:
    """The layer's answer; ``content`` for FOUND, ``detail`` says which entry decided."""

    outcome: Outcome
    content: bytes | None = None
    detail: str = ""


def normalize(path: str) -> str:
    """A tar entry name or target as a relative path: ``./a//b/`` and ``/a/b`` are ``a/b``."""
    cleaned = posixpath.normpath("/" + path.strip()).lstrip("/")
    return "" if cleaned == "." else cleaned


def effect(name: str, is_dir: bool, is_file: bool, target: str) -> Effect:
    """The effect of an entry ``name`` (already normalized) on ``target`` (normalized)."""
    parent, base = posixpath.split(name)
    if base == OPAQUE_MARKER:
        return Effect.DELETES if not parent or target.startswith(parent + "/") else Effect.NONE
    if base.startswith(WHITEOUT_PREFIX):
        deleted = posixpath.join(parent, base[len(WHITEOUT_PREFIX) :])
        hides = target == deleted or target.startswith(deleted + "/")
        return Effect.DELETES if hides else Effect.NONE
    if name == target:
        return Effect.FILE if is_file else Effect.OTHER
    if target.startswith(name + "/") and not is_dir:
        return Effect.DELETES  # a file or link now stands where a parent directory was
    return Effect.NONE


def scan(fileobj: IO[bytes], target: str, max_size: int) -> Verdict:
    """Read the whole layer and decide; raises ``tarfile.TarError`` for what is not a tar.

    The whole layer is read even after a find: the caller verifies the blob's digest at its
    end before trusting the content, and a tar may hold the same path twice (the last wins).
    """
    wanted = normalize(target)
    verdict = Verdict(Outcome.ABSENT)
    deleted_by = ""
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            name = normalize(member.name)
            found = effect(name, member.isdir(), member.isreg(), wanted)
            if found is Effect.FILE:
                verdict = _read_member(tar, member, max_size)
            elif found is Effect.OTHER:
                kind = "a link to " + member.linkname if member.issym() or member.islnk() else None
                verdict = Verdict(Outcome.NOT_A_FILE, detail=kind or _type_name(member))
            elif found is Effect.DELETES and not deleted_by:
                deleted_by = member.name
    if verdict.outcome is Outcome.ABSENT and deleted_by:
        return Verdict(Outcome.DELETED, detail=deleted_by)
    return verdict


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, max_size: int) -> Verdict:
    if member.size > max_size:
        return Verdict(Outcome.TOO_LARGE, detail=f"{member.size} bytes")
    extracted = tar.extractfile(member)
    assert extracted is not None  # a regular file always has content
    return Verdict(Outcome.FOUND, content=extracted.read(), detail=member.name)


def _type_name(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "a directory"
    return "a device or special file"
