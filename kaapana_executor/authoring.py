"""DAG authoring: a plain Airflow task tagged with a task.json.

``KaapanaTaskOperator(task_id=..., task_json="tasks/segment.json")`` is all a DAG author writes.
The file is read and validated when the DAG file is parsed, so a broken task.json is a DAG
import error naming the file, the field and the reason. The operator itself never runs code:
KaapanaExecutor turns it into a processing-container pod (EmptyOperator would not do, since
Airflow finishes those without any executor).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from kaapana_executor.contract import documents
from kaapana_executor.contract.schema import Kind
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.errors import ContractError
from kaapana_executor.models import Task
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY

EXECUTOR_NAME = "KaapanaExecutor"
_KNOWN_NAMESPACES = ("env.", "custom.")


INLINE_PASSWORD = (
    "an inline registry password would be stored in Airflow's database and shown to everyone "
    "who may view this task; put the credentials into a Kubernetes pull secret "
    "(kubernetes.io/dockerconfigjson) and name it in config.imagePullSecrets"
)


def check_task_text(text: str, source: str, dag_id: str, task_id: str) -> Task:
    """Validate a task.json as it will be rendered: ``run.*`` is known, env may be missing.

    ``env`` values come from the executor's ``template_env``, not known here, so missing ones
    are not errors; an unknown ``run.*`` field or top-level name always is. The text is what
    Airflow stores (executor_config, visible to viewers), so a literal registry password is
    refused; Kaapana's templated ``{{ env.registryPassword }}`` stores no secret and passes.
    """
    probe = RunContext(dag_id=dag_id, run_id="parse-check", task_id=task_id)
    parsed = documents.parse(
        text, source, kind=Kind.TASK, variables=Variables(run=probe), lenient=True
    )
    unknown = [name for name in parsed.unresolved if not name.startswith(_KNOWN_NAMESPACES)]
    if unknown:
        raise ContractError.single(source, f"undefined template variable(s): {', '.join(unknown)}")
    assert isinstance(parsed.model, Task)
    config = parsed.model.config  # the field is deprecated: read it without the warning
    if config is not None and config.model_dump(include={"registryPassword"}).get(
        "registryPassword"
    ):
        raise ContractError.single(source, INLINE_PASSWORD, ("config", "registryPassword"))
    return parsed.model


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class KaapanaTaskOperator(BaseOperator):  # type: ignore[misc]  # Airflow is untyped here
    """A processing-container task; runs only on KaapanaExecutor."""

    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        task_json: str | os.PathLike[str] | dict[str, Any],
        startup_timeout: timedelta | float | None = None,
        executor: str | None = EXECUTOR_NAME,
        **kwargs: Any,
    ) -> None:
        """``startup_timeout``: how long the pod may take from creation to running (image
        pull, mounts) before the try fails; Airflow's ``execution_timeout`` becomes the pod's
        deadline (``activeDeadlineSeconds``), counted from when it started on its node."""
        executor_config = dict(kwargs.pop("executor_config", None) or {})
        super().__init__(executor=executor, **kwargs)
        text, source = self._read(task_json)
        dag_id = self.dag.dag_id if self.has_dag() else "dag"
        task = check_task_text(text, source, dag_id, self.task_id)
        # checked against the DAG's dependencies by the DAG policy (kaapana_executor.policy)
        self.kaapana_links = tuple((c.name, c.from_.task) for c in task.inputs if c.from_)
        entry: dict[str, Any] = {"task": text, "source": source}
        for name, value in (
            ("execution_timeout", self.execution_timeout),
            ("startup_timeout", startup_timeout),
        ):
            if value is not None:
                entry[name] = _seconds(value)
        executor_config[EXECUTOR_CONFIG_KEY] = entry
        self.executor_config = executor_config

    def _read(self, task_json: str | os.PathLike[str] | dict[str, Any]) -> tuple[str, str]:
        if isinstance(task_json, dict):
            import json

            return json.dumps(task_json), f"{self.task_id}.task.json"
        path = Path(task_json)
        if not path.is_absolute() and self.has_dag() and self.dag.fileloc:
            path = Path(self.dag.fileloc).parent / path
        return documents.read_text(path), path.name

    def execute(self, context: Any) -> None:
        """Never called on KaapanaExecutor; elsewhere it is a configuration mistake."""
        raise RuntimeError(
            f"{self.task_id} is a processing-container task: set executor={EXECUTOR_NAME!r} "
            "(or make KaapanaExecutor the default executor)"
        )
