"""The checked-in models are exactly what generation from the schemas gives today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.reference import REPO


def test_models_match_schemas() -> None:
    codegen = Path(sys.executable).parent / "datamodel-codegen"
    result = subprocess.run(
        [str(REPO / "scripts/generate-models"), "--check"],
        env={"DATAMODEL_CODEGEN": str(codegen), "PATH": f"{codegen.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
