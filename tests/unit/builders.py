"""Small builders for contract documents used across unit tests (plain dicts → models)."""

from __future__ import annotations

from typing import Any

from kaapana_executor.contract import documents
from kaapana_executor.contract.schema import Kind
from kaapana_executor.models import ProcessingContainer, Task, TaskTemplate


def template(identifier: str = "main", **fields: Any) -> dict[str, Any]:
    """A task template dict with sensible defaults."""
    return {"identifier": identifier, "description": "test template", **fields}


def mount(name: str, path: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": name, "mounted_path": path or f"/mnt/{name}", **fields}


def host(name: str, path: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "volume_source": {"host_path": path}, **fields}


def processing_container(*templates: dict[str, Any]) -> ProcessingContainer:
    model = documents.build(
        Kind.PROCESSING_CONTAINER,
        {"name": "pc", "description": "test", "templates": list(templates)},
        "pc.json",
    )
    assert isinstance(model, ProcessingContainer)
    return model


def task(template_ref: str | dict[str, Any] = "main", **fields: Any) -> Task:
    model = documents.build(
        Kind.TASK,
        {"name": "t", "image": "reg/img:1", "taskTemplate": template_ref, **fields},
        "task.json",
    )
    assert isinstance(model, Task)
    return model


def template_model(**fields: Any) -> TaskTemplate:
    return processing_container(template(**fields)).templates[0]
