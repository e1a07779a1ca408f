"""For deployments that load plugins from a plugins folder instead of entry points.

Copy this file into Airflow's plugins folder (or mount this directory there). With the
``kaapana-executor`` package installed, the ``airflow.plugins`` entry point registers the same
plugin; use one of the two, not both.
"""

from kaapana_executor.plugin import KaapanaExecutorPlugin

__all__ = ["KaapanaExecutorPlugin"]
