"""Access to Kaapana's reference contract files (third-party data; read in place, never copied).

CI lays ``shared/`` beside the clone, as on a developer machine. When the folder is missing the
tests fail with this message rather than skip: they are the compatibility target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def contract_dir() -> Path:
    """``../shared/reference/kaapana-contract`` (or ``$KAAPANA_CONTRACT_DIR``)."""
    path = Path(
        os.environ.get("KAAPANA_CONTRACT_DIR", REPO.parent / "shared/reference/kaapana-contract")
    )
    if not path.is_dir():
        raise AssertionError(
            f"Kaapana's reference contract files are missing at {path}: check out shared/ beside "
            "the repository or set KAAPANA_CONTRACT_DIR"
        )
    return path


def real_documents() -> list[Path]:
    """The real processing-container and task files (not the schemas)."""
    return sorted(p for p in contract_dir().glob("*.json") if not p.name.endswith(".schema.json"))


def kaapana_schema(name: str) -> dict[str, Any]:
    """One of Kaapana's own schemas: ``Task`` or ``ProcessingContainer``."""
    loaded: dict[str, Any] = json.loads((contract_dir() / f"{name}.schema.json").read_text())
    return loaded
