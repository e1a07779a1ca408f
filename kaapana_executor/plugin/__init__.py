"""The Airflow plugin: a page and a JSON endpoint showing the executor's view of the cluster.

The scheduler's executor writes its status (the resource ledger's snapshot: per node
capacity, requested, reserved and free; the waiting tasks with their reasons) to a file
next to the task logs, which the api-server shares; this plugin serves it under
``/kaapana-executor/`` to logged-in users with Airflow's permission to view the cluster
(``plugin/app.py`` says which and why). Registered through the ``airflow.plugins`` entry point
(``plugins/kaapana_executor_plugin.py`` does the same for a plugins folder).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from kaapana_executor.plugin.app import create_app

URL_PREFIX = "/kaapana-executor"


class KaapanaExecutorPlugin(AirflowPlugin):  # type: ignore[misc]  # Airflow is untyped here
    """Mounts the status app and links it from the Airflow UI's navigation."""

    name = "kaapana_executor"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Kaapana executor"}]
    external_views = [
        {
            "name": "Kaapana executor",
            "href": f"{URL_PREFIX}/",
            "url_route": "kaapana-executor",  # shown inside the Airflow UI (an iframe)
            "destination": "nav",
            "category": "admin",
        }
    ]
