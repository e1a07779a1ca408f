"""The identity of a task instance's pod: name, labels and annotations from the run context."""

from __future__ import annotations

from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.names import pod_name
from kaapana_executor.launch.pod import PodIdentity


def pod_name_of(run: RunContext) -> str:
    """The deterministic pod name of a task instance try."""
    return pod_name(run.dag_id, run.task_id, run.run_id, run.map_index, run.try_number)


def pod_identity(run: RunContext, template: str, ti_id: str | None = None) -> PodIdentity:
    """Deterministic name plus ownership labels (selectable) and annotations (exact)."""
    name = pod_name_of(run)
    pod_labels = {
        labels.DAG_ID: labels.label_value(run.dag_id),
        labels.TASK_ID: labels.label_value(run.task_id),
        labels.RUN_ID: labels.label_value(run.run_id),
        labels.TRY_NUMBER: str(run.try_number),
    }
    if run.map_index >= 0:  # "-1" is not a valid label value; unmapped tasks carry none
        pod_labels[labels.MAP_INDEX] = str(run.map_index)
    annotations = {
        labels.ANN_DAG_ID: run.dag_id,
        labels.ANN_TASK_ID: run.task_id,
        labels.ANN_RUN_ID: run.run_id,
        labels.ANN_TRY_NUMBER: str(run.try_number),
        labels.ANN_MAP_INDEX: str(run.map_index),
        labels.ANN_TEMPLATE: template,
    }
    if ti_id:
        annotations[labels.ANN_TI_ID] = ti_id
    return PodIdentity(name=name, labels=pod_labels, annotations=annotations)
