"""DAGs the end-to-end tests trigger: failures, OOM, image pull errors, a task to clear."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from kaapana_executor.authoring import KaapanaTaskOperator

IMAGE = "{{ env.KAAPANA_REGISTRY }}/kaapana/dummy:1"


def task(
    annotations: dict[str, str], template: str = "upstream", **fields: object
) -> dict[str, object]:
    config = {"annotations": annotations}
    return {"name": "e2e", "image": IMAGE, "taskTemplate": template, "config": config, **fields}


with DAG("e2e_exit3", schedule=None, catchup=False) as exit3:
    KaapanaTaskOperator(
        task_id="exit3",
        retries=1,
        retry_delay=timedelta(seconds=0),
        task_json=task(
            {"kwok.kaapana.io/exit-code": "3", "kwok.kaapana.io/log-lines": '["about to fail"]'}
        ),
    )

with DAG("e2e_twin", schedule=None, catchup=False) as twin:  # same task id as kaapana_dummy's
    KaapanaTaskOperator(task_id="upstream", task_json=task({}))

with DAG("e2e_secret", schedule=None, catchup=False) as secret:  # a hostile task.json
    KaapanaTaskOperator(
        task_id="steal",
        task_json=task(
            {}, env=[{"name": "LOOT", "value": "{{ env.AIRFLOW__API_AUTH__JWT_SECRET }}"}]
        ),
    )

with DAG("e2e_oom", schedule=None, catchup=False) as oom:
    KaapanaTaskOperator(
        task_id="oom", task_json=task({"kwok.kaapana.io/termination-reason": "OOMKilled"})
    )

with DAG("e2e_pull", schedule=None, catchup=False) as pull:
    KaapanaTaskOperator(
        task_id="pull", task_json=task({"kwok.kaapana.io/image-pull-error": "ImagePullBackOff"})
    )

with DAG("e2e_clear", schedule=None, catchup=False) as clear:
    KaapanaTaskOperator(
        task_id="forever",
        task_json=task(
            {"kwok.kaapana.io/never-finish": "true", "kwok.kaapana.io/log-lines": '["working"]'}
        ),
    )

with DAG("e2e_adopt", schedule=None, catchup=False) as adopt:
    KaapanaTaskOperator(task_id="long", task_json=task({"kwok.kaapana.io/never-finish": "true"}))

GPU = {"limits": {"nvidia.com/gpu": "1", "memory": "128Mi"}}

with DAG("e2e_wait", schedule=None, catchup=False) as wait:
    for name in ("gpu_a", "gpu_b", "gpu_c"):  # three GPU tasks, two GPUs in the cluster
        KaapanaTaskOperator(
            task_id=name,
            task_json=task({"kwok.kaapana.io/never-finish": "true"}, resources=GPU),
        )
