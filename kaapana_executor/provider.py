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
        # Airflow's CLI imports every executor that declares no "cli" section, looking for
        # its commands, and warns on stdout of every command (`airflow config list` too).
        "cli": ["kaapana_executor.provider.get_cli_commands"],
        "config": {
            SECTION: {
                "description": "KaapanaExecutor: processing-container pods on Kubernetes.",
                "options": provider_config_options(),
            }
        },
    }


def get_cli_commands() -> list[Any]:
    """No ``airflow`` subcommands: the task API has its own CLI (``kaapana-task``)."""
    return []
