"""ScaleRules: memory that grows with the size of an input channel.

Semantics, as Kaapana intends them (its KubernetesRunner compares the enum to a string, so the
rules never apply there, and ``max_item_sum`` crashes on an empty channel):

* the measured directory is ``<channel>/<target_dir>`` (``max_item_sum``: each immediate
  subdirectory of the channel, then ``<item>/<target_dir>``);
* a file counts when its path relative to that directory matches ``target_glob`` (right-anchored,
  like ``Path.rglob``) and fully matches ``target_regex``;
* ``sum`` adds the matching files, ``max_file_size`` takes the largest, ``max_item_sum`` the
  largest per-item sum (0 for a channel without items);
* the need is ``scale_factor × size`` plus 10 %, rounded up to MiB; the resulting request or
  limit is the larger of the declared value and the need.

Only regular files count; symbolic links are neither followed nor counted, so a rule can never
measure data outside its channel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict

from kaapana_executor.contract.checks import complexity_factor
from kaapana_executor.models import ScaleRule
from kaapana_executor.quantity import round_up_bytes

HEADROOM = Decimal("1.1")  # exact: 25 × 4 MiB × 1.1 must not round up a byte


def _matching_files(root: Path, glob: str, regex: re.Pattern[str]) -> Iterator[int]:
    """Sizes of regular files below ``root`` matching the rule's glob and regex."""
    if not root.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for filename in filenames:
            full = Path(dirpath, filename)
            relative = full.relative_to(root).as_posix()
            if not PurePosixPath(relative).match(glob) or not regex.fullmatch(relative):
                continue
            stat = full.lstat()
            if full.is_file() and not full.is_symlink():
                yield stat.st_size


def measure(channel_root: Path, rule: ScaleRule) -> int:
    """The size in bytes the rule scales with, for the channel stored at ``channel_root``."""
    glob = rule.target_glob or "*"
    regex = re.compile(rule.target_regex if rule.target_regex is not None else ".*")
    target_dir = rule.target_dir or ""
    if rule.mode == "max_item_sum":
        if not channel_root.is_dir():
            return 0
        items = [p for p in channel_root.iterdir() if p.is_dir() and not p.is_symlink()]
        return max(
            (sum(_matching_files(item / target_dir, glob, regex)) for item in items), default=0
        )
    sizes = _matching_files(channel_root / target_dir, glob, regex)
    if rule.mode == "sum":
        return sum(sizes)
    return max(sizes, default=0)


def factor(rule: ScaleRule) -> Decimal:
    """Memory bytes per measured input byte: ``scale_factor``, or the older ``complexity``."""
    if rule.scale_factor is not None:
        return Decimal(str(rule.scale_factor))
    found = complexity_factor(rule.complexity or "")
    if found is None:  # the contract checks refuse such files when they are read
        raise ValueError(f"scale rule without a usable factor: {rule.complexity!r}")
    return found


def need(rule: ScaleRule, size: int) -> int:
    """Bytes of memory the rule asks for: factor × size + 10 %, rounded up to MiB (0 for 0)."""
    if size == 0:
        return 0
    exact = factor(rule) * size * HEADROOM
    return round_up_bytes(int(exact.to_integral_value(rounding=ROUND_CEILING)))


class ScaleResult(BaseModel):
    """What one channel's rule measured and asked for; kept for logs, run records and the
    monitor (a model, so run records serialise it as it is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    type: str
    mode: str
    measured_bytes: int
    needed_bytes: int
    note: str = ""
