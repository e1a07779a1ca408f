"""The executor's published status: written by the scheduler, read by the api-server plugin.

A JSON file next to the task logs (both processes share base_log_folder), replaced
atomically, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def status_path(log_folder: Path) -> Path:
    """``{base_log_folder}/kaapana_executor/status.json``."""
    return log_folder / "kaapana_executor" / "status.json"


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".status-")
    with os.fdopen(fd, "w") as f:
        json.dump(status, f, default=str)
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The last published status, or None when there is none."""
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded
