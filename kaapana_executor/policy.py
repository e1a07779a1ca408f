"""A DAG policy (Airflow's cluster-policy hook): a channel link must point upstream.

A ``from`` link (or a Kaapana ``IOMapping``) mounts another task's outputs; if that task is
not upstream of the linking one, its outputs may still be written or cleaned while they are
read. The operator cannot check this when it is constructed (dependencies are set later, with
``>>``), but Airflow hands every parsed DAG to the ``dag_policy`` hooks before storing it, so
the mistake becomes a DAG import error naming both tasks. Registered with the ``airflow.policy``
entry point, beside any policy of the deployment's own ``airflow_local_settings``. The
executor checks the same again at launch.
"""

from __future__ import annotations

from typing import Any

from airflow.policies import hookimpl

#: Attribute on processing-container operators: (input channel, upstream task id) pairs.
LINKS_ATTRIBUTE = "kaapana_links"


def link_problems(dag: Any) -> list[str]:
    """A sentence per link whose task is not upstream of the linking task."""
    problems = []
    for task in dag.tasks:
        links = getattr(task, LINKS_ATTRIBUTE, ())
        if not links:
            continue
        upstream = task.get_flat_relative_ids(upstream=True)
        for channel, source in links:
            if source not in upstream:
                problems.append(
                    f"{task.task_id}: input channel {channel!r} links to task {source!r}, "
                    f"which is not upstream of it (add {source} >> {task.task_id})"
                )
    return problems


@hookimpl  # type: ignore[untyped-decorator]  # pluggy's marker is untyped
def dag_policy(dag: Any) -> None:
    """Refuse a DAG whose processing-container tasks link to tasks that are not upstream."""
    problems = link_problems(dag)
    if problems:
        from airflow.exceptions import AirflowClusterPolicyViolation

        raise AirflowClusterPolicyViolation(f"DAG {dag.dag_id}: " + "; ".join(problems))
