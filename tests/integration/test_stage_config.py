"""The KWOK stage file and tests/support/kwok.py agree (no cluster needed).

The annotation names and defaults live in two languages: Go templates and jq paths in
``scripts/cluster.d/stages.yaml``, and the Python constants tests use. These tests make a
rename or a changed default on one side fail loudly instead of silently doing nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import kwok

STAGES = Path(__file__).resolve().parents[2] / "scripts" / "cluster.d" / "stages.yaml"


def _stages() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(STAGES.read_text()) if doc}


def _milliseconds(go_duration: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s)", go_duration)
    assert match is not None, go_duration
    return int(match[1]) * (1 if match[2] == "ms" else 1000)


def test_stages_use_exactly_the_documented_annotations() -> None:
    used = set(re.findall(re.escape(kwok.PREFIX) + r"[a-z-]+", STAGES.read_text()))

    # Log lines are not a stage's business: the log agent reads them.
    assert used == set(kwok.ALL_ANNOTATIONS) - {kwok.LOG_LINES}


def test_stage_defaults_match_the_documented_defaults() -> None:
    stages = _stages()

    start = stages["kaapana-pod-run"]["spec"]["delay"]
    run = stages["kaapana-pod-terminate"]["spec"]["delay"]
    assert start["durationMilliseconds"] == _milliseconds(kwok.DEFAULT_START_DELAY)
    assert run["durationMilliseconds"] == _milliseconds(kwok.DEFAULT_RUN_DURATION)
    assert kwok.START_DELAY in start["durationFrom"]["expressionFrom"]
    assert kwok.RUN_DURATION in run["durationFrom"]["expressionFrom"]


def test_node_stages_are_kept_and_deleted_pods_are_removed() -> None:
    stages = _stages()

    assert {"node-initialize", "node-heartbeat-with-lease"} <= set(stages)
    assert stages["kaapana-pod-delete"]["spec"]["next"] == {"delete": True}


def test_lifecycle_builds_only_what_is_asked() -> None:
    assert kwok.lifecycle() == {}
    assert kwok.lifecycle(run=1.5, exit_code=3) == {
        kwok.RUN_DURATION: "1500ms",
        kwok.EXIT_CODE: "3",
    }
    assert kwok.lifecycle(reason=kwok.TerminationReason.OOM_KILLED) == {
        kwok.EXIT_CODE: "137",
        kwok.TERMINATION_REASON: "OOMKilled",
    }
    assert kwok.lifecycle(log_lines=["a", "b"]) == {kwok.LOG_LINES: '["a", "b"]'}
    assert kwok.parse_log_annotation(kwok.log_annotation(["x y", "z"])) == ["x y", "z"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"run": "2 seconds"},
        {"exit_code": 256},
        {"never_finish": True, "exit_code": 1},
        {"log_lines": ["two\nlines"]},
    ],
)
def test_lifecycle_rejects_what_kwok_would_silently_ignore(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        kwok.lifecycle(**kwargs)
