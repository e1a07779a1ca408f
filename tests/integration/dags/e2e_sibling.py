"""A DAG the link policy refuses: ``reader`` mounts ``writer``'s outputs without depending on it.

Its own file, because a refused DAG makes its whole file an import error.
"""

from __future__ import annotations

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator

IMAGE = "{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:1"


def task(template: str, **fields: object) -> dict[str, object]:
    return {"name": "e2e", "image": IMAGE, "taskTemplate": template, **fields}


with DAG("e2e_sibling", schedule=None, catchup=False) as sibling:  # a link without a dependency
    KaapanaTaskOperator(task_id="writer", task_json=task("upstream"))
    KaapanaTaskOperator(
        task_id="reader",
        task_json=task(
            "downstream",
            inputs=[
                {"name": "channel1", "from": {"task": "writer", "channel": "channel1"}},
                {"name": "channel2", "from": {"task": "writer", "channel": "channel2"}},
            ],
        ),
    )
