"""Airflow provider metadata: registers the executor and its ``[kaapana_executor]`` options."""

from __future__ import annotations

from typing import Any

from kaapana_executor.config import SECTION, provider_config_options


def get_provider_info() -> dict[str, Any]:
    """Entry point ``apache_airflow_provider``: what ``airflow providers`` and ``config`` show."""
    return {
        "package-name": "kaapana-executor",
        "name": "Kaapana executor",
        "description": "Runs Kaapana processing containers as Kubernetes pods.",
        "executors": ["kaapana_executor.KaapanaExecutor"],
        "config": {
            SECTION: {
                "description": "KaapanaExecutor: processing-container pods on Kubernetes.",
                "options": provider_config_options(),
            }
        },
    }
