"""A queued task instance as a launch request: the executor's side of the launch pipeline.

The pipeline itself is :mod:`kaapana_executor.launch.pipeline` (shared with the CLI); this
module reads the task.json out of Airflow's ``executor_config`` and turns the executor's
upstream lookup (another task instance's executor_config, and whether it is upstream in the
DAG) into what the pipeline asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kaapana_executor.launch.pipeline import (
    Launch,
    LaunchRequest,
    ProcessingContainerSource,
    Upstream,
    UpstreamLookup,
    resolve,
)
from kaapana_executor.launch.policy import LaunchPolicy, SpecError
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY, TaskRef

__all__ = [
    "SpecError",
    "Timeouts",
    "UpstreamConfig",
    "UpstreamConfigLookup",
    "request_for",
    "resolve_task",
    "task_text",
    "timeouts",
    "upstream_lookup",
]


@dataclass(frozen=True)
class UpstreamConfig:
    """Another task instance of the same run, as Airflow has it."""

    executor_config: dict[str, Any]
    is_upstream: bool


#: (ref of the linking task, upstream task id) → that task instance, or None when missing.
UpstreamConfigLookup = Callable[[TaskRef, str], UpstreamConfig | None]


def task_text(executor_config: Mapping[str, Any]) -> tuple[str, str]:
    """The task.json text and its file name, as the DAG stored them."""
    entry = executor_config.get(EXECUTOR_CONFIG_KEY)
    if not isinstance(entry, dict) or not isinstance(entry.get("task"), str):
        raise SpecError(
            f"executor_config has no {EXECUTOR_CONFIG_KEY!r} task: "
            "define the task with kaapana_executor.authoring.KaapanaTaskOperator"
        )
    return entry["task"], str(entry.get("source", "task.json"))


@dataclass(frozen=True)
class Timeouts:
    """A task's timeouts in seconds, as its operator stored them (None: none)."""

    execution: float | None = None  # Airflow's execution_timeout: the pod's deadline
    startup: float | None = None  # Kaapana's startup_timeout_seconds: created → running


def timeouts(executor_config: Mapping[str, Any]) -> Timeouts:
    """The timeouts stored next to the task.json (KaapanaTaskOperator writes them)."""
    entry = executor_config.get(EXECUTOR_CONFIG_KEY)
    if not isinstance(entry, dict):
        return Timeouts()

    def seconds(name: str) -> float | None:
        value = entry.get(name)
        return float(value) if isinstance(value, int | float) and value > 0 else None

    return Timeouts(seconds("execution_timeout"), seconds("startup_timeout"))


def request_for(ref: TaskRef, conf: Mapping[str, Any]) -> LaunchRequest:
    """The launch request of a queued task instance, with its run's conf (user input)."""
    text, source = task_text(ref.executor_config)
    execution = timeouts(ref.executor_config).execution
    return LaunchRequest(
        text, source, ref.run, ti_id=ref.ti_id, conf=conf, execution_timeout=execution
    )


def upstream_lookup(ref: TaskRef, lookup: UpstreamConfigLookup) -> UpstreamLookup:
    """What the pipeline asks about a ``from`` link, answered from Airflow's records."""

    def find(task_id: str) -> Upstream | None:
        found = lookup(ref, task_id)
        if found is None:
            return None
        if EXECUTOR_CONFIG_KEY not in found.executor_config:  # not a processing-container task
            return Upstream(is_upstream=found.is_upstream)
        text, source = task_text(found.executor_config)
        return Upstream(is_upstream=found.is_upstream, task_text=text, source=source)

    return find


def resolve_task(
    ref: TaskRef,
    conf: Mapping[str, Any],
    policy: LaunchPolicy,
    images: ProcessingContainerSource,
    upstream: UpstreamConfigLookup,
) -> Launch:
    """The executor's resolution of a queued task instance (the shared pipeline)."""
    return resolve(request_for(ref, conf), policy, images, upstream_lookup(ref, upstream))
