"""What the executor measures, and where it sends it: Airflow's Stats (statsd or OpenTelemetry).

The engine reports through this small interface; ``airflow_compat.AirflowMetrics`` sends to
Airflow's metrics backend (whatever ``[metrics]`` configures), ``NoMetrics`` drops them (tests,
benchmarks). Every name starts with ``kaapana_executor.``:

| name | kind | what |
|---|---|---|
| ``launch.queued_to_created`` | timing | from the workload's arrival to its pod existing |
| ``launch.created_to_running`` | timing | from the pod's creation to its container running |
| ``create_errors`` (``.<status>``) | counter | failed pod creations, by the API server's status |
| ``admission.waiting`` | gauge | prepared tasks waiting for room |
| ``admission.wait`` | timing | how long an admitted task waited for room |
| ``watch.restarts`` (``.<watch>``) | counter | relists after a broken watch or a 410 |
| ``tracked`` | gauge | task instances the executor is responsible for |
| ``heartbeat.round`` | timing | one heartbeat round over every running task |
| ``node.free.<resource>.<node>`` | gauge | free room per node (CPU in millicores, bytes, GPUs) |

Dimensions go into the name as well as into tags, so plain statsd (which drops tags) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

PREFIX = "kaapana_executor."


class Metrics(Protocol):
    """Where the engine's measurements go (names without the prefix)."""

    def incr(self, name: str, tags: Mapping[str, str] | None = None) -> None: ...

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None: ...

    def timing(self, name: str, seconds: float, tags: Mapping[str, str] | None = None) -> None: ...


class NoMetrics:
    """Measures nothing."""

    def incr(self, name: str, tags: Mapping[str, str] | None = None) -> None:
        return None

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        return None

    def timing(self, name: str, seconds: float, tags: Mapping[str, str] | None = None) -> None:
        return None


def metric_name(*parts: str) -> str:
    """A statsd-safe name from parts (dots inside a part, such as a node name, become _)."""
    return ".".join(part.replace(".", "_").replace("/", "_") for part in parts)
