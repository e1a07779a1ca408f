"""Cleaning a task's output destinations before it runs — and never anything else.

A retry or a cleared task must start on empty outputs, or it mixes results of two tries. The
only directories ever touched are below the run's own data directory
``{data_root}/{dag_id}/{run_id}``; a destination outside it, a path with ``..``, or one that passes
through a symbolic link is refused (the task fails with that reason) rather than cleaned.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from kaapana_executor.errors import KaapanaError


class UnsafeOutputError(KaapanaError):
    """An output destination the executor refuses to clean."""


def _inside(run_dir: PurePosixPath, target: PurePosixPath) -> PurePosixPath:
    if ".." in target.parts or ".." in run_dir.parts:
        raise UnsafeOutputError(f"output {target} contains '..'")
    try:
        relative = target.relative_to(run_dir)
    except ValueError:
        raise UnsafeOutputError(
            f"output {target} is outside the run's data directory {run_dir}; it is not cleaned "
            "and the task does not run"
        ) from None
    if not relative.parts:
        raise UnsafeOutputError(f"output {target} is the run directory itself")
    return relative


def _no_symlinks(base: Path, relative: PurePosixPath) -> None:
    current = base
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise UnsafeOutputError(
                f"output path {current} is a symbolic link; refusing to clean it"
            )


def clean_output(
    local_run_dir: Path, node_run_dir: PurePosixPath, node_target: PurePosixPath
) -> Path:
    """Empty (or create) the local view of ``node_target``; returns the local path.

    ``node_*`` paths are as the nodes see them (hostPath), ``local_run_dir`` is where this
    process sees the same run directory.
    """
    relative = _inside(node_run_dir, node_target)
    if local_run_dir.is_symlink():
        raise UnsafeOutputError(f"run directory {local_run_dir} is a symbolic link")
    _no_symlinks(local_run_dir, relative)
    target = local_run_dir.joinpath(*relative.parts)
    if target.exists():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    return target
