"""Reading contract documents: template, parse JSON, validate against the schema, check.

This is the one entry point for turning text into a Task or ProcessingContainer; the CLI, the
DAG-side loader and the executor all go through it, so every rejection looks the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from kaapana_executor.contract import checks, schema, templating
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError, Problem
from kaapana_executor.models import ProcessingContainer, Task


@dataclass
class Parsed:
    """A validated document with its kind and what could not be checked."""

    kind: Kind
    model: Task | ProcessingContainer
    unresolved: list[str] = field(default_factory=list)


def read_text(path: Path) -> str:
    """The file's text, or a ContractError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError.single(path.name, f"cannot read file: {exc}") from None


def parse_json(text: str, source: str) -> Any:
    """JSON with a located error message."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError.single(
            source, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def build(kind: Kind, document: Any, source: str) -> Task | ProcessingContainer:
    """Validate a parsed document as ``kind`` and return its model, or raise ContractError."""
    problems = schema.validate(kind, document)
    if problems:
        raise ContractError(source, problems)
    model_cls: type[Task] | type[ProcessingContainer] = (
        Task if kind is Kind.TASK else ProcessingContainer
    )
    try:
        model = model_cls.model_validate(document)
    except pydantic.ValidationError as exc:  # the schema should have caught it; stay readable
        raise ContractError(
            source,
            [Problem(tuple(e["loc"]), e["msg"]) for e in exc.errors()],
        ) from None
    found = (
        checks.check_task(model)
        if isinstance(model, Task)
        else checks.check_processing_container(model)
    )
    if found:
        raise ContractError(source, found)
    return model


def parse(
    text: str,
    source: str,
    *,
    kind: Kind | None = None,
    variables: templating.Variables | None = None,
    lenient: bool = False,
) -> Parsed:
    """Template, parse and validate ``text``; ``kind=None`` detects it from the content."""
    variables = variables or templating.Variables()
    unresolved: list[str] = []
    if lenient:
        rendered, unresolved = templating.render_lenient(text, source, variables)
    else:
        rendered = templating.render(text, source, variables)
    document = parse_json(rendered, source)
    kind = kind or schema.detect_kind(document)
    if kind is None:
        raise ContractError.single(
            source,
            "cannot tell whether this is a task or a processing-container "
            "(no 'templates', 'taskTemplate' or 'image' field); name the kind",
        )
    return Parsed(kind, build(kind, document, source), unresolved)


def load_task(path: Path, variables: templating.Variables | None = None) -> Task:
    """Read a task.json strictly (every template variable must be known)."""
    model = parse(read_text(path), path.name, kind=Kind.TASK, variables=variables).model
    assert isinstance(model, Task)
    return model


def load_processing_container(
    path: Path, variables: templating.Variables | None = None
) -> ProcessingContainer:
    """Read a processing-container.json strictly."""
    parsed = parse(read_text(path), path.name, kind=Kind.PROCESSING_CONTAINER, variables=variables)
    assert isinstance(parsed.model, ProcessingContainer)
    return parsed.model
