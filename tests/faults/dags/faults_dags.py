"""DAGs the fault-injection tests trigger (tests/faults): simulated pods on the KWOK nodes."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator
from tests.support.kwok import lifecycle

IMAGE = "{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:1"
#: Capacity only the node-deletion test's node has, so that its task lands there.
DOOMED_RESOURCE = "kaapana-test.io/doomed"
FINISH_MARKER = "finish-marker-line"


def task(annotations: dict[str, str], **fields: Any) -> dict[str, Any]:
    config = {"annotations": annotations}
    return {
        "name": "faults",
        "image": IMAGE,
        "taskTemplate": "upstream",
        "config": config,
        **fields,
    }


with DAG("faults_burst", schedule=None, catchup=False, max_active_tasks=64) as burst:
    for i in range(12):
        KaapanaTaskOperator(
            task_id=f"t{i:02d}", task_json=task(lifecycle(start_delay="300ms", run="2s"))
        )

with DAG("faults_long", schedule=None, catchup=False, max_active_tasks=64) as long_running:
    for i in range(6):
        KaapanaTaskOperator(
            task_id=f"l{i}", task_json=task(lifecycle(start_delay="300ms", run="25s"))
        )

with DAG("faults_forever", schedule=None, catchup=False) as forever:
    KaapanaTaskOperator(task_id="forever", task_json=task(lifecycle(never_finish=True)))

with DAG("faults_doomed_node", schedule=None, catchup=False) as doomed:
    KaapanaTaskOperator(
        task_id="doomed",
        task_json=task(
            lifecycle(never_finish=True),
            resources={"limits": {DOOMED_RESOURCE: "1", "memory": "128Mi"}},
        ),
    )

with DAG("faults_finish", schedule=None, catchup=False) as finish:
    KaapanaTaskOperator(
        task_id="once", task_json=task(lifecycle(run="1s", log_lines=[FINISH_MARKER]))
    )

ONE_CPU = {"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}

with DAG("faults_ha_burst", schedule=None, catchup=False, max_active_tasks=64) as ha_burst:
    for i in range(40):  # 40 CPUs of work on the 16 schedulable CPUs of the default nodes
        KaapanaTaskOperator(
            task_id=f"b{i:02d}",
            task_json=task(lifecycle(start_delay="200ms", run="4s"), resources=ONE_CPU),
        )

with DAG("faults_ha_long", schedule=None, catchup=False, max_active_tasks=64) as ha_long:
    for i in range(10):
        KaapanaTaskOperator(
            task_id=f"h{i}",
            task_json=task(lifecycle(start_delay="200ms", run="25s"), resources=ONE_CPU),
        )
