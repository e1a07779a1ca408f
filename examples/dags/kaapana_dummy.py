"""Kaapana's dummy workflow: an upstream task writes two channels, a downstream task reads them.

Each task is a plain Airflow task tagged with a task.json; KaapanaExecutor runs it as a
processing-container pod. The downstream task's inputs are linked to the upstream outputs
(``"from"`` in its task.json), so it mounts exactly the directories the upstream wrote.
Try user input: trigger with conf ``{"task_form": {"upstream": {"env": {"MODE": "thorough"}}}}``.
"""

from __future__ import annotations

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator

with DAG("kaapana_dummy", schedule=None, catchup=False, tags=["kaapana", "example"]) as dag:
    upstream = KaapanaTaskOperator(
        task_id="upstream", task_json="tasks/dummy-upstream.json", retries=1
    )
    downstream = KaapanaTaskOperator(task_id="downstream", task_json="tasks/dummy-downstream.json")
    upstream >> downstream
