"""The local cleaning rule: only output directories are emptied, and every doubtful one is
refused before anything is touched. Inputs must exist; their sizes ignore symbolic links."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaapana_executor.contract.instance import ResolvedChannel, TaskInstance
from kaapana_executor.local.channels import (
    ChannelError,
    InputSize,
    check_inputs,
    input_sizes,
    prepare_outputs,
)
from kaapana_executor.models import PvcSource, VolumeSource


def channel(name: str, path: Path | str) -> ResolvedChannel:
    return ResolvedChannel(
        name=name, mounted_path=f"/{name}", volume=VolumeSource(host_path=str(path))
    )


def instance(inputs: list[ResolvedChannel], outputs: list[ResolvedChannel]) -> TaskInstance:
    return TaskInstance(name="t", image="i", template="m", inputs=inputs, outputs=outputs)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("keep")
    return tmp_path


def test_outputs_are_emptied_or_created_and_links_inside_are_removed_not_followed(
    work: Path,
) -> None:
    out = work / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "old.txt").write_text("old")
    (out / "old.txt").write_text("old")
    (out / "to-input").symlink_to(work / "in")

    cleaned = prepare_outputs(
        instance([channel("in", work / "in")], [channel("out", out), channel("new", work / "n")])
    )

    assert cleaned == [out, work / "n"]
    assert list(out.iterdir()) == [] and (work / "n").is_dir()
    assert (work / "in" / "a.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("{work}/in", "overlaps the input {work}/in"),
        ("{work}/in/results", "overlaps the input {work}/in"),
        ("{work}", "overlaps the input {work}/in"),
        ("{work}/link/out", "passes through the symbolic link {work}/link"),
        ("{work}/file.txt", "exists and is not a directory"),
        ("/tmp", "is / or a top-level directory"),
        ("/", "is / or a top-level directory"),
        ("{work}/home/..", "contains '..'"),
        ("relative/out", "is not an absolute path"),
    ],
)
def test_doubtful_outputs_are_refused_and_nothing_is_cleaned(
    work: Path, output: str, why: str
) -> None:
    (work / "link").symlink_to(work / "in")
    (work / "file.txt").write_text("x")
    (work / "fine").mkdir()
    (work / "fine" / "keep.txt").write_text("x")
    outputs = [channel("fine", work / "fine"), channel("bad", output.format(work=work))]

    with pytest.raises(ChannelError) as raised:
        prepare_outputs(instance([channel("in", work / "in")], outputs))

    assert why.format(work=work) in str(raised.value)
    assert (work / "fine" / "keep.txt").exists()  # refused before anything was touched


def test_the_home_and_working_directories_are_protected(work: Path) -> None:
    home = work / "users" / "me"
    home.mkdir(parents=True)

    with pytest.raises(ChannelError, match=f"contains {home}"):
        prepare_outputs(instance([], [channel("out", work / "users")]), protected=[home])
    prepare_outputs(instance([], [channel("out", home / "results")]), protected=[home])


def test_pvc_channels_need_k8s_mode(work: Path) -> None:
    pvc = ResolvedChannel(
        name="out", mounted_path="/o", volume=VolumeSource(pvc=PvcSource(claim_name="c"))
    )

    with pytest.raises(ChannelError, match="bound to a PVC; docker mode mounts host paths"):
        prepare_outputs(instance([], [pvc]))


def test_inputs_must_be_existing_directories(work: Path) -> None:
    assert check_inputs(instance([channel("in", work / "in")], [])) == [work / "in"]
    with pytest.raises(ChannelError, match="does not exist"):
        check_inputs(instance([channel("x", work / "missing")], []))
    with pytest.raises(ChannelError, match="is not a directory"):
        check_inputs(instance([channel("x", work / "in" / "a.txt")], []))


def test_input_sizes_count_regular_files_only(work: Path) -> None:
    (work / "in" / "deep").mkdir()
    (work / "in" / "deep" / "b.bin").write_bytes(b"x" * 1000)
    (work / "in" / "elsewhere").symlink_to(work)

    sizes = input_sizes(instance([channel("in", work / "in")], []))

    assert sizes == [InputSize("in", work / "in", files=2, bytes=1004)]
