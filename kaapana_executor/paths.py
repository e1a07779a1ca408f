"""Where the project keeps files of its own on a machine: one default for each, in one place.

XDG base directories, so nothing lands in a user's working directory uninvited.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/kaapana-executor`` (``~/.cache/kaapana-executor``)."""
    values = os.environ if env is None else env
    return Path(values.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kaapana-executor"


def image_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The processing-container.json cache (by manifest digest): executor and CLI alike."""
    return cache_home(env) / "images"
