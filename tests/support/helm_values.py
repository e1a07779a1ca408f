"""The option reference in ``helm/kaapana-executor/values.yaml``, generated from the model.

The chart's ``config:`` map takes ``[kaapana_executor]`` options by their airflow.cfg names.
Their reference (name, default, description) is a comment block in values.yaml written from
``ExecutorSettings`` by this module, so it cannot drift from ``kaapana_executor/config.py``;
a unit test fails when it is stale. Rewrite it with::

    .venv/bin/python -m tests.support.helm_values
"""

from __future__ import annotations

import enum
import json
import textwrap
from pathlib import Path
from typing import Any

from kaapana_executor.config import ExecutorSettings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "kaapana-executor"
VALUES = CHART / "values.yaml"

TOP_LEVEL_OPTIONS = {
    "namespace": "namespace",
    "allowed_namespaces": "allowedNamespaces",
    "image_pull_secrets": "imagePullSecrets",
}
"""Options the chart derives from top-level values (its RBAC rules follow from them)."""

BEGIN = "# BEGIN generated option reference"
END = "# END generated option reference"
_WIDTH = 96


def _default(value: Any) -> str:
    """A default as YAML would spell it; the home directory is the scheduler user's."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return '""'
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value).replace(str(Path.home()), "$HOME")


def option_reference() -> str:
    """The comment block (BEGIN to END line) documenting every option of ``config:``."""
    defaults = ExecutorSettings()
    lines = [BEGIN]
    for name, field in ExecutorSettings.model_fields.items():
        if name in TOP_LEVEL_OPTIONS:
            continue
        lines.append(f"#   {name}: {_default(getattr(defaults, name))}")
        for text in textwrap.wrap(field.description or "", _WIDTH - 8):
            lines.append(f"#       {text}")
    lines.append(END)
    return "\n".join(lines)


def current_reference(text: str) -> str:
    """The block as values.yaml has it now."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main() -> None:
    text = VALUES.read_text()
    VALUES.write_text(text.replace(current_reference(text), option_reference()))


if __name__ == "__main__":
    main()
