"""Access to Kaapana's reference contract files (third-party data; read in place, never copied).

The files sit in ``../shared/reference/kaapana-contract`` on a developer machine and in CI, but
not beside a plain ``git clone``. Tests that need them carry the ``reference`` marker: without
the folder they are reported as not run (pytest's summary says why and how many), unless
``KAAPANA_REQUIRE_REFERENCE=1`` (set by ``.ci/run``) makes their absence an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "KAAPANA_REQUIRE_REFERENCE"


def contract_path() -> Path:
    """``../shared/reference/kaapana-contract`` (or ``$KAAPANA_CONTRACT_DIR``), present or not."""
    default = REPO.parent / "shared/reference/kaapana-contract"
    return Path(os.environ.get("KAAPANA_CONTRACT_DIR", default))


def available() -> bool:
    """Whether Kaapana's reference files are here."""
    return contract_path().is_dir()


def missing_reason() -> str:
    """The sentence pytest shows for each reference test that did not run."""
    return (
        f"Kaapana's reference contract files are absent at {contract_path()} (check out "
        "shared/ beside the repository or set KAAPANA_CONTRACT_DIR)"
    )


def contract_dir() -> Path:
    """The folder; only called by tests marked ``reference`` (which do not run without it)."""
    path = contract_path()
    if not path.is_dir():
        raise AssertionError(missing_reason())
    return path


def real_documents() -> list[Path]:
    """The real processing-container and task files (not the schemas); [] when absent."""
    if not available():
        return []
    return sorted(p for p in contract_dir().glob("*.json") if not p.name.endswith(".schema.json"))


def kaapana_schema(name: str) -> dict[str, Any]:
    """One of Kaapana's own schemas: ``Task`` or ``ProcessingContainer``."""
    loaded: dict[str, Any] = json.loads((contract_dir() / f"{name}.schema.json").read_text())
    return loaded
