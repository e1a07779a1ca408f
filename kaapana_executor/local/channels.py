"""The host directories of a local run: inputs must exist, outputs are emptied first.

Cleaning rule (docker mode, where this machine is the node): only directories bound as
*output* channels are emptied, never anything else. An output is refused, and nothing runs,
when its path is relative, contains ``..``, passes through a symbolic link, is not a
directory, is ``/`` or a top-level directory, is (or contains) the home or working
directory, or overlaps an input channel (cleaning would delete the inputs). Inside an
output, symbolic links are removed, never followed. The emptying itself is the executor's
:func:`~kaapana_executor.launch.outputs.clean_output`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kaapana_executor.contract.instance import ResolvedChannel, TaskInstance
from kaapana_executor.errors import KaapanaError
from kaapana_executor.launch.outputs import clean_output


class ChannelError(KaapanaError):
    """A channel that cannot be mounted or cleaned; the message names channel and path."""


@dataclass(frozen=True)
class InputSize:
    """Regular files below one input channel (symbolic links are not counted)."""

    channel: str
    path: Path
    files: int
    bytes: int


def _host_path(io: str, channel: ResolvedChannel) -> PurePosixPath:
    volume = channel.volume
    if volume is None or volume.host_path is None:
        kind = "a PVC" if volume is not None and volume.pvc is not None else "no volume"
        raise ChannelError(
            f"{io[:-1]} channel {channel.name!r} is bound to {kind}; docker mode mounts host "
            "paths only (use --mode k8s)"
        )
    path = PurePosixPath(volume.host_path)
    if not path.is_absolute():
        raise ChannelError(f"{io[:-1]} channel {channel.name!r}: {path} is not an absolute path")
    if ".." in path.parts:
        raise ChannelError(f"{io[:-1]} channel {channel.name!r}: {path} contains '..'")
    return path


def check_inputs(instance: TaskInstance) -> list[Path]:
    """The input directories; each must exist (a pod's hostPath type ``Directory``)."""
    found = []
    for channel in instance.inputs:
        path = Path(_host_path("inputs", channel))
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise ChannelError(
                f"input channel {channel.name!r}: {path} {what} (a linked input needs its "
                "upstream task run first with the same --run-id and --data-dir)"
            )
        found.append(path)
    return found


def input_sizes(instance: TaskInstance) -> list[InputSize]:
    """Size of every host-path input, for the memory report."""
    sizes = []
    for channel in instance.inputs:
        if channel.volume is None or channel.volume.host_path is None:
            continue
        root = Path(channel.volume.host_path)
        files = total = 0
        for dirpath, _dirs, names in os.walk(root, followlinks=False):
            for name in names:
                info = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(info.st_mode):
                    files += 1
                    total += info.st_size
        sizes.append(InputSize(channel.name, root, files, total))
    return sizes


def _first_symlink(path: PurePosixPath) -> Path | None:
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return current
    return None


def _overlaps(a: PurePosixPath, b: PurePosixPath) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _refusal(
    path: PurePosixPath, inputs: Iterable[PurePosixPath], protected: Iterable[PurePosixPath]
) -> str | None:
    """Why ``path`` must not be emptied, or None when it may."""
    if len(path.parts) < 3:
        return "is / or a top-level directory"
    link = _first_symlink(path)
    if link is not None:
        return f"passes through the symbolic link {link}"
    if os.path.lexists(path) and not Path(path).is_dir():
        return "exists and is not a directory"
    for keep in protected:
        if keep.is_relative_to(path):
            return f"contains {keep}"
    for other in inputs:
        if _overlaps(path, other):
            return f"overlaps the input {other}"
    return None


def prepare_outputs(
    instance: TaskInstance, protected: Iterable[Path] = (), *, host_paths_only: bool = False
) -> list[Path]:
    """Empty (or create) every output directory; refuse all of them before touching one.

    ``host_paths_only`` (k8s mode): channels on a PVC are the cluster's, left alone.
    """
    if host_paths_only:
        instance = instance.model_copy(
            update={
                "inputs": [c for c in instance.inputs if c.volume and c.volume.host_path],
                "outputs": [c for c in instance.outputs if c.volume and c.volume.host_path],
            }
        )
    inputs = [_host_path("inputs", c) for c in instance.inputs]
    keep = [PurePosixPath(p) for p in protected]
    targets = []
    for channel in instance.outputs:
        path = _host_path("outputs", channel)
        why = _refusal(path, inputs, keep)
        if why is not None:
            raise ChannelError(f"output channel {channel.name!r}: {path} {why}; not cleaned")
        targets.append(path)
    return [clean_output(Path(t.parent), t.parent, t) for t in targets]
