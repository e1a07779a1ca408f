"""The models a Kaapana DAG passes to its operator, as ``task_api``'s ``pc_models`` names them.

Only what DAG files construct: ``BaseEnv`` (an env override) and ``Resources`` (requests and
limits). Our own definitions with Kaapana's field names, so a Kaapana workflow file keeps its
``pc_models.BaseEnv(name=..., value=...)`` lines unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class BaseEnv(BaseModel):
    """One environment variable for the task: overrides the template's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    value: str


class Resources(BaseModel):
    """Kubernetes requests and limits, e.g. ``Resources(limits={"memory": "4Gi"})``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: dict[str, Any] | None = None
    requests: dict[str, Any] | None = None
