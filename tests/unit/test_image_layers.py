"""Finding a file in one layer: whiteouts, opaque directories and odd entries, on real tars."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from collections.abc import Callable

import pytest

from kaapana_executor.images.layers import Effect, Outcome, Verdict, effect, normalize, scan
from kaapana_executor.oci.build import File, layer_tar

TARGET = "/processing-container.json"
DOC = b'{"name": "pc"}'


def _scan(tar: bytes, target: str = TARGET, max_size: int = 1024) -> Verdict:
    return scan(io.BytesIO(tar), target, max_size)


def _tar_with(*members: tuple[str, bytes, bytes]) -> bytes:
    """A tar with entries in this exact order: (name, type, content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, content in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(content) if kind == tarfile.REGTYPE else 0
            info.linkname = content.decode() if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "is_dir", "is_file", "target", "expected"),
    [
        ("processing-container.json", False, True, "processing-container.json", Effect.FILE),
        ("processing-container.json", True, False, "processing-container.json", Effect.OTHER),
        (".wh.processing-container.json", False, True, "processing-container.json", Effect.DELETES),
        (".wh..wh..opq", False, True, "processing-container.json", Effect.DELETES),
        ("opt/.wh..wh..opq", False, True, "opt/kaapana/pc.json", Effect.DELETES),
        ("opt/kaapana/.wh..wh..opq", False, True, "opt/kaapana/pc.json", Effect.DELETES),
        ("opt/other/.wh..wh..opq", False, True, "opt/kaapana/pc.json", Effect.NONE),
        ("opt/.wh.kaapana", False, True, "opt/kaapana/pc.json", Effect.DELETES),
        ("opt/.wh.kaapana-old", False, True, "opt/kaapana/pc.json", Effect.NONE),
        ("opt/kaapana", False, True, "opt/kaapana/pc.json", Effect.DELETES),
        ("opt/kaapana", True, False, "opt/kaapana/pc.json", Effect.NONE),
        (
            ".wh.processing-container.json.bak",
            False,
            True,
            "processing-container.json",
            Effect.NONE,
        ),
        ("etc/processing-container.json", False, True, "processing-container.json", Effect.NONE),
    ],
)
def test_effect_of_one_entry(
    name: str, is_dir: bool, is_file: bool, target: str, expected: Effect
) -> None:
    assert effect(name, is_dir, is_file, target) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("./a/b", "a/b"), ("/a//b/", "a/b"), ("a/./b/../c", "a/c"), (".", ""), ("/", "")],
)
def test_entry_names_are_normalized(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lambda data: data])
def test_file_is_found_in_compressed_and_plain_layers(compress: Callable[[bytes], bytes]) -> None:
    tar = layer_tar({"processing-container.json": DOC, "etc/a": "x"})

    verdict = _scan(compress(tar))

    assert verdict == Verdict(Outcome.FOUND, DOC, "processing-container.json")


def test_whiteout_deletes_and_a_layer_without_the_file_is_absent() -> None:
    deleting = layer_tar({"etc/a": "x"}, deletions=["processing-container.json"])

    assert _scan(deleting).outcome is Outcome.DELETED
    assert _scan(deleting).detail == ".wh.processing-container.json"
    assert _scan(layer_tar({"etc/a": "x"})) == Verdict(Outcome.ABSENT)


def test_opaque_directory_hides_files_below_it_only() -> None:
    opaque = layer_tar({"opt/kaapana/other": "x"}, opaque_dirs=["opt/kaapana"])

    assert _scan(opaque, "/opt/kaapana/pc.json").outcome is Outcome.DELETED
    assert _scan(opaque, "/opt/elsewhere/pc.json").outcome is Outcome.ABSENT
    assert _scan(opaque, TARGET).outcome is Outcome.ABSENT


def test_file_wins_over_a_whiteout_in_the_same_layer() -> None:
    both = layer_tar({"processing-container.json": DOC}, deletions=["processing-container.json"])

    assert _scan(both).outcome is Outcome.FOUND


def test_the_last_copy_of_a_duplicated_entry_wins() -> None:
    tar = _tar_with(
        ("processing-container.json", tarfile.REGTYPE, b"old"),
        ("./processing-container.json", tarfile.REGTYPE, b"new"),
    )

    assert _scan(tar).content == b"new"


def test_links_and_directories_at_the_path_are_not_documents() -> None:
    link = layer_tar({"processing-container.json": File(link="/etc/pc.json")})
    directory = _tar_with(("processing-container.json/", tarfile.DIRTYPE, b""))
    hard = _tar_with(
        ("etc/pc.json", tarfile.REGTYPE, DOC),
        ("processing-container.json", tarfile.LNKTYPE, b"etc/pc.json"),
    )

    assert _scan(link) == Verdict(Outcome.NOT_A_FILE, detail="a link to /etc/pc.json")
    assert _scan(directory) == Verdict(Outcome.NOT_A_FILE, detail="a directory")
    assert _scan(hard).outcome is Outcome.NOT_A_FILE


def test_a_document_over_the_limit_is_not_read() -> None:
    verdict = _scan(layer_tar({"processing-container.json": b"x" * 2048}), max_size=1024)

    assert verdict == Verdict(Outcome.TOO_LARGE, detail="2048 bytes")


def test_bytes_that_are_no_tar_raise_a_tar_error() -> None:
    with pytest.raises(tarfile.TarError):
        _scan(gzip.compress(b"this is not a tar archive" * 40))
