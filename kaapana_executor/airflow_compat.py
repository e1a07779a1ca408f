"""Everything that depends on the Airflow version, in one module (Airflow 3.3 today).

Airflow 2.11 support will add its branches here: 2.x has no Execution API (state is written
through the ORM), no workload objects and no task instance UUID.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kaapana_executor.config import SECTION, ExecutorSettings
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.runtime.refs import FinalState, ReportRejected, StartContext, TaskRef


def load_settings() -> ExecutorSettings:
    """``[kaapana_executor]`` from Airflow's configuration, validated."""
    from airflow.configuration import conf

    def get(option: str) -> str | None:
        if not conf.has_option(SECTION, option):
            return None
        value = conf.get(SECTION, option)
        return None if value is None else str(value)

    return ExecutorSettings.load(get)


def parse_workload(workload: Any) -> TaskRef:
    """An ``ExecuteTask`` workload as a TaskRef."""
    ti = workload.ti
    run = RunContext(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        try_number=int(ti.try_number),
        map_index=int(ti.map_index if ti.map_index is not None else -1),
    )
    return TaskRef(
        key=ti.key,
        ti_id=str(ti.id),
        token=workload.token,
        run=run,
        executor_config=dict(ti.executor_config or {}),
        log_path=str(workload.log_path) if workload.log_path else None,
        priority_weight=int(ti.priority_weight or 1),
    )


def execution_api_url() -> str:
    """Base URL of the Execution API as the scheduler's configuration says."""
    from airflow.executors.base_executor import get_execution_api_server_url

    return str(get_execution_api_server_url())


def base_log_folder() -> Path:
    """Where task logs live locally (shared with the api-server)."""
    from airflow.configuration import conf

    return Path(conf.get("logging", "base_log_folder"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ExecutionApiReporter:
    """The Execution API calls the task runner would make, made on the task's behalf.

    Uses the task SDK's client (versioned header, refreshed tokens, retries on 5xx). The
    hostname and pid are the scheduler's: heartbeats must repeat what ``/run`` said.
    """

    def __init__(self, base_url: str, ti_id: str, token: str) -> None:
        from airflow.sdk.api.client import Client

        self._client = Client(base_url=base_url, token=token)
        self._ti_id = ti_id
        self._pid = os.getpid()
        self._should_retry = False

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from airflow.sdk.api.client import ServerResponseError

        try:
            return fn(*args, **kwargs)
        except ServerResponseError as exc:
            raise ReportRejected(exc.response.status_code, str(exc.detail)) from None

    def start(self) -> StartContext:
        import uuid

        ctx = self._call(
            self._client.task_instances.start, uuid.UUID(self._ti_id), self._pid, _now()
        )
        self._should_retry = bool(ctx.should_retry)
        conf = ctx.dag_run.conf if ctx.dag_run and ctx.dag_run.conf else {}
        return StartContext(
            conf=dict(conf), should_retry=self._should_retry, max_tries=ctx.max_tries
        )

    def heartbeat(self) -> None:
        import uuid

        self._call(self._client.task_instances.heartbeat, uuid.UUID(self._ti_id), self._pid)

    def finish(self, state: FinalState, reason: str) -> None:
        import uuid

        from airflow.sdk.api.datamodels._generated import TerminalStateNonSuccess

        ti = uuid.UUID(self._ti_id)
        ops = self._client.task_instances
        if state is FinalState.SUCCESS:
            self._call(ops.succeed, ti, _now(), [], [], None)
        elif state is FinalState.UP_FOR_RETRY:
            self._call(ops.retry, ti, _now(), None, retry_reason=reason[:500] or None)
        else:
            self._call(ops.finish, ti, TerminalStateNonSuccess(state.value), _now(), None)

    def close(self) -> None:
        self._client.close()


def upstream_executor_config(
    dag_id: str, run_id: str, task_id: str, map_index: int
) -> dict[str, Any] | None:
    """The executor_config of another task instance of the same run (for channel links)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    def query(index: int) -> Any:
        return select(TaskInstance.executor_config).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == index,
        )

    with create_session() as session:
        row = session.execute(query(map_index)).first()
        if row is None and map_index >= 0:  # an unmapped upstream of a mapped task
            row = session.execute(query(-1)).first()
    if row is None:
        return None
    return dict(row[0] or {})


def hostname() -> str:
    """This process's host and user, for log lines."""
    return f"{getpass.getuser()}@{socket.gethostname()}"
