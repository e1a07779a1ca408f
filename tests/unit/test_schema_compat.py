"""Our schemas accept what Kaapana's accept, apart from a short list of deliberate deviations.

Documents are generated from Kaapana's own schemas (hypothesis-jsonschema), after applying
exactly the restrictions we chose to add (listed in ``DEVIATIONS``; the README repeats them).
Every such document must pass our schema. If our schema rejected anything else, this fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from kaapana_executor.contract import schema
from kaapana_executor.contract.schema import Kind
from tests.unit.reference import kaapana_schema

pytestmark = pytest.mark.reference

QUANTITY = copy.deepcopy(schema.schema(Kind.PROCESSING_CONTAINER)["$defs"]["Quantity"])
QUANTITY.pop("title")
NON_EMPTY = {"type": "string", "minLength": 1}


def _close_objects(node: Any) -> None:
    """Deviation 1: unknown fields are rejected (Kaapana silently ignores typos)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def _resource_maps(defs: dict[str, Any]) -> None:
    """Deviation 2: resource names are non-empty, values non-negative Kubernetes quantities."""
    for kind in ("limits", "requests"):
        defs["Resources"]["properties"][kind]["anyOf"][0] = {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": QUANTITY,
        }


def _strings(defs: dict[str, Any]) -> None:
    """Deviation 3: names are non-empty, env names have no '=', mount paths are absolute,
    scale factors are positive, api_version is 1."""
    defs["IOMount"]["properties"]["mounted_path"] = {"type": "string", "pattern": "^/"}
    defs["IOMount"]["properties"]["name"] = NON_EMPTY
    defs["TaskTemplate"]["properties"]["identifier"] = NON_EMPTY
    defs["TaskTemplateEnv"]["properties"]["name"] = {"type": "string", "pattern": "^[^=]+$"}
    defs["ScaleRule"]["properties"]["scale_factor"] = {"type": "integer", "minimum": 1}


def _task(document: dict[str, Any]) -> None:
    defs = document["$defs"]
    defs["BaseEnv"]["properties"]["name"] = {"type": "string", "pattern": "^[^=]+$"}
    defs["IOVolume"]["properties"]["name"] = NON_EMPTY
    defs["HostPathVolume"]["properties"]["host_path"] = NON_EMPTY
    for config in ("BaseConfig", "DockerConfig"):
        defs[config]["properties"]["labels"]["anyOf"][0] = {
            "type": "object",
            "additionalProperties": {"type": "string"},
        }
    document["properties"]["image"] = NON_EMPTY


def restricted(name: str, extra: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Kaapana's schema ``name`` with exactly our deviations applied."""
    document = copy.deepcopy(kaapana_schema(name))
    _close_objects(document)
    _resource_maps(document["$defs"])
    _strings(document["$defs"])
    document["properties"]["api_version"] = {"const": 1}
    if extra:
        extra(document)
    return document


DEVIATIONS = (_close_objects, _resource_maps, _strings, _task)

# Shrinking these large documents is slow; a failure prints its document unshrunk instead.
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@SETTINGS
@given(document=st.deferred(lambda: from_schema(restricted("ProcessingContainer"))))
def test_processing_containers_kaapana_accepts_are_accepted(document: dict[str, Any]) -> None:
    assert schema.validate(Kind.PROCESSING_CONTAINER, document) == []


@SETTINGS
@given(document=st.deferred(lambda: from_schema(restricted("Task", _task))))
def test_tasks_kaapana_accepts_are_accepted(document: dict[str, Any]) -> None:
    assert schema.validate(Kind.TASK, document) == []
