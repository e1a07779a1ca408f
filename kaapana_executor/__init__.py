"""Kaapana executor for Apache Airflow and the Kaapana task API.

``kaapana_executor.KaapanaExecutor`` is imported lazily so that the task API (CLI, contract)
works without Airflow installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KaapanaExecutor"]


def __getattr__(name: str) -> Any:
    if name == "KaapanaExecutor":
        from kaapana_executor.executor import KaapanaExecutor

        return KaapanaExecutor
    raise AttributeError(name)
