"""A fan-in workflow: two producers feed one combiner, whose result is summarized."""

from __future__ import annotations

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator

with DAG("kaapana_fan_in", schedule=None, catchup=False, tags=["kaapana", "example"]) as dag:
    series_a = KaapanaTaskOperator(task_id="produce_a", task_json="tasks/produce-a.json")
    series_b = KaapanaTaskOperator(task_id="produce_b", task_json="tasks/produce-b.json")
    combine = KaapanaTaskOperator(task_id="combine", task_json="tasks/combine.json")
    summarize = KaapanaTaskOperator(task_id="summarize", task_json="tasks/summarize.json")
    [series_a, series_b] >> combine >> summarize
