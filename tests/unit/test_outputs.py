"""Output cleaning never touches anything outside the run's own data directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from kaapana_executor.launch.outputs import OUTPUT_DIR_MODE, UnsafeOutputError, clean_output

NODE_RUN = PurePosixPath("/kaapana/data/run1")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "run1"
    (path / "seg" / "out" / "sub").mkdir(parents=True)
    (path / "seg" / "out" / "old.txt").write_text("previous try")
    (path / "seg" / "out" / "sub" / "deep.txt").write_text("previous try")
    (path / "other" / "out").mkdir(parents=True)
    (path / "other" / "out" / "keep.txt").write_text("other task")
    return path


def test_cleans_only_the_target(run_dir: Path) -> None:
    target = clean_output(run_dir, NODE_RUN, NODE_RUN / "seg" / "out")
    assert target == run_dir / "seg" / "out"
    assert list(target.iterdir()) == []
    assert (run_dir / "other" / "out" / "keep.txt").read_text() == "other task"


def test_creates_missing_target(run_dir: Path) -> None:
    target = clean_output(run_dir, NODE_RUN, NODE_RUN / "new" / "out")
    assert target.is_dir()


@pytest.mark.parametrize(
    "node_target",
    [
        PurePosixPath("/kaapana/data/run2/seg/out"),
        PurePosixPath("/etc"),
        PurePosixPath("/kaapana/data/run1/../run2/x"),
        PurePosixPath("/kaapana/data/run1"),
    ],
)
def test_refuses_outside_the_run(run_dir: Path, node_target: PurePosixPath) -> None:
    sentinel = run_dir.parent / "sentinel.txt"
    sentinel.write_text("keep")
    with pytest.raises(UnsafeOutputError):
        clean_output(run_dir, NODE_RUN, node_target)
    assert sentinel.read_text() == "keep"


def test_refuses_symlinked_component(run_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    os.symlink(victim, run_dir / "evil")
    with pytest.raises(UnsafeOutputError, match="symbolic link"):
        clean_output(run_dir, NODE_RUN, NODE_RUN / "evil" / "out")
    with pytest.raises(UnsafeOutputError, match="symbolic link"):
        clean_output(run_dir, NODE_RUN, NODE_RUN / "evil")
    assert (victim / "precious.txt").read_text() == "keep"


def test_symlink_inside_output_is_removed_not_followed(run_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    os.symlink(victim, run_dir / "seg" / "out" / "link")
    clean_output(run_dir, NODE_RUN, NODE_RUN / "seg" / "out")
    assert (victim / "precious.txt").read_text() == "keep"
    assert not (run_dir / "seg" / "out" / "link").exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_output_is_writable_for_any_user_whatever_the_umask(run_dir: Path) -> None:
    previous = os.umask(0o077)
    try:
        target = clean_output(run_dir, NODE_RUN, NODE_RUN / "fresh" / "out")
    finally:
        os.umask(previous)
    assert _mode(target) == OUTPUT_DIR_MODE == 0o777
    assert _mode(target.parent) == 0o700  # parents keep what the umask gives


def test_leftover_directory_is_recreated_writable(run_dir: Path) -> None:
    leftover = run_dir / "seg" / "out"
    leftover.chmod(0o700)  # e.g. created by the kubelet or an older executor, root-only
    target = clean_output(run_dir, NODE_RUN, NODE_RUN / "seg" / "out")
    assert _mode(target) == 0o777
    assert list(target.iterdir()) == []


def test_file_in_place_of_the_output_is_replaced(run_dir: Path) -> None:
    (run_dir / "broken").mkdir()
    (run_dir / "broken" / "out").write_text("not a directory")
    target = clean_output(run_dir, NODE_RUN, NODE_RUN / "broken" / "out")
    assert target.is_dir() and _mode(target) == 0o777
