"""Preparing a task's output destinations before it runs — and never touching anything else.

A retry or a cleared task must start on empty outputs, or it mixes results of two tries. The
only directories ever touched are below the run's own data directory
``{data_root}/{dag_id}/{run_id}``; a destination outside it, a path with ``..``, or one that passes
through a symbolic link is refused (the task fails with that reason) rather than cleaned.

Who may write an output: the executor, not the kubelet, creates every output directory, and
it creates it fresh for each try with mode 0777 (``OUTPUT_DIR_MODE``, set with ``chmod`` so
the process umask cannot narrow it). The container's user is whatever its image or
securityContext says (Kaapana images run as root or as an unprivileged uid; capabilities are
dropped, so even root cannot write a directory it does not own without the mode allowing it),
and the executor can neither know that uid in advance nor ``chown`` to it when it does not run
as root. A hostPath the kubelet creates itself (``DirectoryOrCreate``) is ``root:root 0755``:
"Permission denied" for a non-root container. ``fsGroup`` does not apply to hostPath volumes.
So the output directory itself is world-writable; its parents keep the default mode and the
data root's own permissions decide who on the node can reach it. Inputs are mounted read-only
and need only be readable (files a container writes get its umask, normally 0644).

Recreating the directory (rather than emptying it) also means a container of an earlier try
that is still shutting down keeps writing into the removed directory, never into the new one.
Cleaning files that a container wrote into subdirectories of its own needs the executor to
be allowed to delete them: as root, or when the container leaves its subdirectories writable.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from kaapana_executor.errors import KaapanaError

#: Mode of a freshly created output directory: writable by the container whatever its uid.
OUTPUT_DIR_MODE = 0o777


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
    """Remove what a previous try left at ``node_target`` and create it empty, mode 0777.

    Returns the local path. ``node_*`` paths are as the nodes see them (hostPath),
    ``local_run_dir`` is where this process sees the same run directory.
    """
    relative = _inside(node_run_dir, node_target)
    if local_run_dir.is_symlink():
        raise UnsafeOutputError(f"run directory {local_run_dir} is a symbolic link")
    _no_symlinks(local_run_dir, relative)
    target = local_run_dir.joinpath(*relative.parts)
    if target.is_dir():
        shutil.rmtree(target)  # symlinks inside are removed, never followed
    elif target.exists():
        target.unlink()  # a file where the directory belongs: a broken earlier try
    target.parent.mkdir(parents=True, exist_ok=True)
    target.mkdir()
    target.chmod(OUTPUT_DIR_MODE)
    return target
