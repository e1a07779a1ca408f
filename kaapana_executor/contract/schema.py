"""JSON Schema validation against the project's own versioned schemas (``schemas/v1``).

The schemas are the source of truth of the contract. Validation here turns jsonschema's errors
into :class:`~kaapana_executor.errors.Problem` values with readable messages, choosing for each
failing location the most specific explanation (``anyOf``/``oneOf`` noise is descended into).
"""

from __future__ import annotations

import enum
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError
from referencing.jsonschema import DRAFT202012

from kaapana_executor.errors import Problem

API_VERSION = 1


class Kind(str, enum.Enum):
    """The two document kinds of the contract, named as the CLI names them."""

    TASK = "task"
    PROCESSING_CONTAINER = "processing-container"

    @property
    def schema_file(self) -> str:
        """File name of this kind's schema inside ``schemas/v1``."""
        return f"{self.value}.schema.json"


def schema_text(kind: Kind) -> str:
    """The schema of ``kind`` exactly as shipped (for ``kaapana-task schema``)."""
    root = resources.files("kaapana_executor") / "schemas" / f"v{API_VERSION}"
    return (root / kind.schema_file).read_text(encoding="utf-8")


@cache
def schema(kind: Kind) -> dict[str, Any]:
    """The parsed schema of ``kind``."""
    loaded: dict[str, Any] = json.loads(schema_text(kind))
    return loaded


@cache
def _validator(kind: Kind) -> jsonschema.protocols.Validator:
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (schema(k)["$id"], DRAFT202012.create_resource(schema(k))) for k in Kind
    )
    cls = jsonschema.validators.validator_for(schema(kind))
    return cls(schema(kind), registry=registry)


#: Fields the schemas make mutually exclusive (with ``if``/``else: not required``).
_EXCLUSIVE = {"volume_source": ("volume_source", "from"), "host_path": ("host_path", "pvc")}


def _depth(error: ValidationError) -> tuple[int, bool]:
    """How far an error got into the instance (and whether it is more than a type mismatch)."""
    return len(error.absolute_path), error.validator != "type"


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The specific errors below a combinator error (anyOf/oneOf/if), all of them.

    For ``anyOf: [X, null]`` the branch that got furthest into the instance says why (the
    reasons X failed, not "is not of type 'null'"); every error of that branch is kept, so an
    env entry with three mistakes reports three. Ties keep schema order.
    """
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branch = sub.schema_path[0] if isinstance(sub.schema_path[0], int) else 0
        branches.setdefault(branch, []).append(sub)
    best = max(branches.values(), key=lambda errors: max(_depth(e) for e in errors))
    return [leaf for sub in best for leaf in _leaves(sub)]


def _reason(error: ValidationError) -> str:
    """A user-facing sentence for one validation error."""
    validator = error.validator
    if validator == "required":
        missing = error.message.split(" is a required property")[0]
        return f"{missing} is required"
    if validator == "additionalProperties":
        schema_props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        instance = error.instance if isinstance(error.instance, dict) else {}
        unknown = sorted(set(instance) - set(schema_props))
        allowed = ", ".join(sorted(schema_props))
        return f"unknown field {', '.join(map(repr, unknown))} (allowed: {allowed})"
    if validator == "const" and error.path and error.path[-1] == "api_version":
        return f"unsupported api_version {error.instance!r}: this version reads {API_VERSION}"
    if validator == "pattern" and isinstance(error.schema, dict):
        title = error.schema.get("title") or error.schema.get("description")
        if title:
            return f"{error.instance!r} is not a valid {title.split(':')[0].lower()}"
    if validator == "not" and isinstance(error.schema, dict):
        excluded = error.schema.get("not", {}).get("required", [])
        pairs = [_EXCLUSIVE[name] for name in excluded if name in _EXCLUSIVE]
        if pairs:
            return f"give either {pairs[0][0]!r} or {pairs[0][1]!r}, not both"
    return error.message


def validate(kind: Kind, document: Any) -> list[Problem]:
    """All schema problems of ``document`` as ``kind``, in document order; empty if valid."""
    problems = []
    for error in _validator(kind).iter_errors(document):
        for leaf in _leaves(error):
            problems.append(Problem(tuple(leaf.absolute_path), _reason(leaf)))
    unique = {(p.path, p.reason): p for p in problems}
    return sorted(unique.values(), key=lambda p: [str(x) for x in p.path])


def detect_kind(document: Any) -> Kind | None:
    """Guess the kind from content: templates mean a processing container; image a task."""
    if not isinstance(document, dict):
        return None
    if "templates" in document:
        return Kind.PROCESSING_CONTAINER
    if "taskTemplate" in document or "image" in document:
        return Kind.TASK
    return None
