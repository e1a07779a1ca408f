"""The option reference in ``helm/kaapana-executor/values.yaml`` and the chart's
``values.schema.json``, generated from the model.

The chart's ``config:`` map takes ``[kaapana_executor]`` options by their airflow.cfg names.
Their reference (name, default, description) is a comment block in values.yaml, and their
types and bounds are the ``config`` part of values.schema.json (helm validates every install
against it); both are written from ``ExecutorSettings`` by this module, so they cannot drift
from ``kaapana_executor/config.py``; a unit test fails when either is stale. Rewrite with::

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
SCHEMA = CHART / "values.schema.json"

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


# Names as the API server checks them (RFC 1123 label; subdomain for Secrets, accounts).
_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = {"type": "string", "pattern": f"^{_LABEL}$", "maxLength": 63}
DNS_SUBDOMAIN = {"type": "string", "pattern": f"^{_LABEL}(\\.{_LABEL})*$", "maxLength": 253}
# What the executor parses from airflow.cfg strings (numbers and booleans may come quoted).
_INTEGER = "^[-+]?[0-9]+$"
_NUMBER = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
_BOOLEAN_WORDS = ["True", "False", "true", "false", "1", "0", "yes", "no", "on", "off"]
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _items(prop: dict[str, Any]) -> dict[str, Any]:
    """Items of a list option: strings, or objects (``pod_env``'s EnvVars, checked in full by
    the executor at start)."""
    items = prop.get("items", {})
    return {"type": "object"} if "$ref" in items else {"type": "string"}


def _option(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One ``config`` option: the model's type and bounds, or the string airflow.cfg holds."""
    described = {"description": prop.get("description", "")}
    if "$ref" in prop:
        return {**described, "type": "string", "enum": defs[prop["$ref"].split("/")[-1]]["enum"]}
    types = [t["type"] for t in prop["anyOf"]] if "anyOf" in prop else [prop["type"]]
    base = next(t for t in types if t != "null")
    bounds = {key: prop[key] for key in _BOUNDS if key in prop}
    by_type: dict[str, list[dict[str, Any]]] = {
        "integer": [{"type": "integer", **bounds}, {"type": "string", "pattern": _INTEGER}],
        "number": [{"type": "number", **bounds}, {"type": "string", "pattern": _NUMBER}],
        "boolean": [{"type": "boolean"}, {"type": "string", "enum": _BOOLEAN_WORDS}],
        "array": [{"type": "array", "items": _items(prop)}, {"type": "string"}],
        "object": [{"type": "object"}, {"type": "string"}],
    }
    alternatives = list(by_type.get(base, [{"type": "string"}]))
    if "null" in types:
        alternatives.append({"type": "null"})
    if len(alternatives) == 1:
        return {**described, **alternatives[0]}
    return {**described, "anyOf": alternatives}


def _config_schema() -> dict[str, Any]:
    model = ExecutorSettings.model_json_schema()
    options: dict[str, Any] = {}
    for name, prop in model["properties"].items():
        if name in TOP_LEVEL_OPTIONS:  # the template refuses it, naming the value to use
            options[name] = {"description": f"Set {TOP_LEVEL_OPTIONS[name]} instead."}
        else:
            options[name] = _option(prop, model.get("$defs", {}))
    return {
        "description": "[kaapana_executor] options by their airflow.cfg names "
        "(see values.yaml); unknown names are refused.",
        "type": "object",
        "additionalProperties": False,
        "properties": options,
    }


def values_schema() -> dict[str, Any]:
    """The chart's values.schema.json (JSON Schema draft-07, as helm reads it)."""
    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    names = {"type": "array", "uniqueItems": True}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Values of the kaapana-executor chart",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "namespace": {
                "description": "Namespace of the pods; empty: the release namespace.",
                "anyOf": [DNS_LABEL, {"type": "string", "maxLength": 0}],
            },
            "allowedNamespaces": {**names, "items": DNS_LABEL},
            "createNamespaces": {"type": "boolean"},
            "imagePullSecrets": {**names, "items": DNS_SUBDOMAIN},
            "serviceAccount": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "create": {"type": "boolean"},
                    "name": {"anyOf": [DNS_SUBDOMAIN, {"type": "string", "maxLength": 0}]},
                    "annotations": strings,
                },
            },
            "ledger": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"enabled": {"type": "boolean"}},
            },
            "nameOverride": {"type": "string", "maxLength": 63},
            "fullnameOverride": {"type": "string", "maxLength": 63},
            "config": _config_schema(),
            "airflowScheduler": {
                "description": "[scheduler] timers of Airflow that bound adoption after a "
                "crash (README, 'Scheduler restarts'); null keeps Airflow's defaults.",
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "scheduler_health_check_threshold": {"type": "number", "minimum": 1},
                            "orphaned_tasks_check_interval": {"type": "number", "minimum": 1},
                        },
                    },
                    {"type": "null"},
                ],
            },
            "global": {"type": "object", "description": "Set by a parent chart."},
        },
    }


def schema_text() -> str:
    return json.dumps(values_schema(), indent=2) + "\n"


def main() -> None:
    text = VALUES.read_text()
    VALUES.write_text(text.replace(current_reference(text), option_reference()))
    SCHEMA.write_text(schema_text())


if __name__ == "__main__":
    main()
