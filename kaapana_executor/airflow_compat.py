"""Everything that depends on the Airflow version, in one module (Airflow 3.3 today).

Airflow 2.11 support will add its branches here: 2.x has no Execution API (state is written
through the ORM), no workload objects and no task instance UUID.
"""

from __future__ import annotations

import functools
import getpass
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kaapana_executor.config import SECTION, ConfigError, ExecutorSettings
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.runtime.metrics import PREFIX
from kaapana_executor.runtime.refs import FinalState, ReportRejected, StartContext, TaskRef
from kaapana_executor.runtime.spec import UpstreamConfig


def load_settings() -> ExecutorSettings:
    """``[kaapana_executor]`` from Airflow's configuration, validated."""
    from airflow.configuration import conf

    def get(option: str) -> str | None:
        if not conf.has_option(SECTION, option):
            return None
        value = conf.get(SECTION, option)
        return None if value is None else str(value)

    known = set(ExecutorSettings.model_fields)
    unknown = sorted(set(conf.getsection(SECTION) or {}) - known)
    if unknown:  # a typo must not silently fall back to a default
        raise ConfigError(f"[{SECTION}] unknown option(s): {', '.join(unknown)}")
    return ExecutorSettings.load(get)


def _run_context(ti: Any) -> RunContext:
    """The run context of a task instance (workload DTO or ORM object alike)."""
    return RunContext(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        try_number=int(ti.try_number),
        map_index=int(ti.map_index if ti.map_index is not None else -1),
    )


def parse_workload(workload: Any) -> TaskRef:
    """An ``ExecuteTask`` workload as a TaskRef."""
    ti = workload.ti
    run = _run_context(ti)
    return TaskRef(
        key=ti.key,
        ti_id=str(ti.id),
        token=workload.token,
        run=run,
        executor_config=dict(ti.executor_config or {}),
        log_path=str(workload.log_path) if workload.log_path else None,
        priority_weight=int(ti.priority_weight or 1),
        dag_version_id=_optional_str(getattr(ti, "dag_version_id", None)),
    )


def ref_from_task_instance(ti: Any, token: str) -> tuple[TaskRef, bool]:
    """A TaskRef for a running task instance found in the database (adoption), and whether a
    failure may still be retried."""
    from airflow.utils.helpers import log_filename_template_renderer

    run = _run_context(ti)
    ref = TaskRef(
        key=ti.key,
        ti_id=str(ti.id),
        token=token,
        run=run,
        executor_config=dict(ti.executor_config or {}),
        log_path=str(log_filename_template_renderer()(ti=ti)),
        priority_weight=int(ti.priority_weight or 1),
        dag_version_id=_optional_str(getattr(ti, "dag_version_id", None)),
    )
    return ref, int(ti.try_number) <= int(ti.max_tries or 0)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def execution_api_url() -> str:
    """Base URL of the Execution API as the scheduler's configuration says."""
    from airflow.executors.base_executor import get_execution_api_server_url

    return str(get_execution_api_server_url())


def adoption_timers() -> tuple[float, float]:
    """``[scheduler] scheduler_health_check_threshold`` and ``orphaned_tasks_check_interval``."""
    from airflow.configuration import conf

    return (
        conf.getfloat("scheduler", "scheduler_health_check_threshold"),
        conf.getfloat("scheduler", "orphaned_tasks_check_interval", fallback=300.0),
    )


def base_log_folder() -> Path:
    """Where task logs live locally (shared with the api-server)."""
    from airflow.configuration import conf

    return Path(conf.get("logging", "base_log_folder"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


#: The "pid" recorded for every task: the container's main process. Together with the pod
#: name as "hostname" it identifies the task's execution independently of the scheduler
#: process, so a restarted scheduler that adopts the pod can keep heartbeating it.
POD_PID = 1


class ExecutionApi:
    """One Execution API client (one connection pool) for every task the executor runs.

    The task SDK's client binds one token per client; thousands of running tasks would each
    hold a client and its pool. Here each call carries its task's own token (and picks up the
    refreshed one the server returns), so all tasks share one pool sized for the heartbeat
    concurrency. The SDK client still gives the versioned header and retries on 5xx.
    """

    def __init__(self, base_url: str, connections: int) -> None:
        import httpx
        from airflow.sdk.api.client import Client

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        # 30 s, not the task runner's 5 s: one scheduler speaks for many tasks at once, and a
        # timed-out /run under load failed a task that would have started a moment later.
        self._client = Client(base_url=base_url, token="", limits=limits, timeout=30.0)

    def reporter(self, ti_id: str, token: str, pod_name: str) -> ExecutionApiReporter:
        """The reporter of one task instance."""
        return ExecutionApiReporter(self._client, ti_id, token, pod_name)

    def close(self) -> None:
        self._client.close()


class ExecutionApiReporter:
    """The Execution API calls the task runner would make, made on the task's behalf.

    ``/run`` records the pod name as the hostname (what the UI shows: where the task runs);
    heartbeats must repeat exactly what ``/run`` recorded. Thread-safe: the token is replaced
    under a lock when the server refreshes it.
    """

    def __init__(self, client: Any, ti_id: str, token: str, pod_name: str) -> None:
        self._client = client
        self._ti_id = ti_id
        self._token = token
        self._hostname = pod_name
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: Any) -> Any:
        from airflow.sdk.api.client import BearerAuth, ServerResponseError

        with self._lock:
            auth = BearerAuth(self._token)
        try:
            response = self._client.request(method, path, content=body.model_dump_json(), auth=auth)
        except ServerResponseError as exc:
            raise ReportRejected(exc.response.status_code, str(exc.detail)) from None
        if refreshed := response.headers.get("Refreshed-API-Token"):
            with self._lock:
                self._token = refreshed
        return response

    def start(self) -> StartContext:
        from airflow.sdk.api.datamodels._generated import TIEnterRunningPayload, TIRunContext

        body = TIEnterRunningPayload(
            hostname=self._hostname, unixname=getpass.getuser(), pid=POD_PID, start_date=_now()
        )
        response = self._call("PATCH", f"task-instances/{self._ti_id}/run", body)
        ctx = TIRunContext.model_validate_json(response.read())
        conf = ctx.dag_run.conf if ctx.dag_run and ctx.dag_run.conf else {}
        return StartContext(
            conf=dict(conf), should_retry=bool(ctx.should_retry), max_tries=ctx.max_tries
        )

    def heartbeat(self) -> None:
        from airflow.sdk.api.datamodels._generated import TIHeartbeatInfo

        body = TIHeartbeatInfo(hostname=self._hostname, pid=POD_PID)
        self._call("PUT", f"task-instances/{self._ti_id}/heartbeat", body)

    def finish(self, state: FinalState, reason: str) -> None:
        from airflow.sdk.api.datamodels._generated import (
            TerminalStateNonSuccess,
            TIRetryStatePayload,
            TISuccessStatePayload,
            TITerminalStatePayload,
        )

        body: Any
        if state is FinalState.SUCCESS:
            body = TISuccessStatePayload(end_date=_now(), task_outlets=[], outlet_events=[])
        elif state is FinalState.UP_FOR_RETRY:
            body = TIRetryStatePayload(end_date=_now(), retry_reason=reason[:500] or None)
        else:
            body = TITerminalStatePayload(
                state=TerminalStateNonSuccess(state.value), end_date=_now()
            )
        self._call("PATCH", f"task-instances/{self._ti_id}/state", body)

    def close(self) -> None:
        """Nothing to release: the connection pool is the executor's (ExecutionApi)."""


class AirflowMetrics:
    """The engine's metrics through Airflow's Stats (statsd, OpenTelemetry: ``[metrics]``)."""

    def __init__(self) -> None:
        from airflow._shared.observability.metrics import stats

        self._stats = stats

    def incr(self, name: str, tags: Mapping[str, str] | None = None) -> None:
        self._stats.incr(PREFIX + name, tags=dict(tags) if tags else None)

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        self._stats.gauge(PREFIX + name, value, tags=dict(tags) if tags else None)

    def timing(self, name: str, seconds: float, tags: Mapping[str, str] | None = None) -> None:
        delta = timedelta(seconds=seconds)
        self._stats.timing(PREFIX + name, delta, tags=dict(tags) if tags else None)


def upload_remote_log(relative_path: str) -> bool:
    """Upload a task's log file with Airflow's configured remote log store, if any.

    The task runner does this after a task ends; with no task runner, the executor does.
    """
    from airflow.logging_config import get_remote_task_log

    handler = get_remote_task_log()
    if handler is None:
        return False
    handler.upload(relative_path, None)
    return True


def mint_token(executor: Any, ti_id: str) -> str:
    """An execution-scope token for an adopted task (its workload token is gone)."""
    return str(executor.jwt_generator.generate(extras={"sub": ti_id, "scope": "execution"}))


def upstream_task(ref: TaskRef, task_id: str) -> UpstreamConfig | None:
    """Another task instance of the linking task's run, and whether it is upstream of it."""
    run = ref.run
    config = _executor_config(run.dag_id, run.run_id, task_id, run.map_index)
    if config is None:
        return None
    if ref.dag_version_id is None:  # cannot check (not seen with Airflow 3.3): allow
        return UpstreamConfig(config, is_upstream=True)
    upstreams = _upstream_index(ref.dag_version_id).get(run.task_id, frozenset())
    return UpstreamConfig(config, is_upstream=task_id in upstreams)


@functools.lru_cache(maxsize=128)
def _upstream_index(dag_version_id: str) -> dict[str, frozenset[str]]:
    """Every task's transitive upstream task ids in one DAG version (from its serialized
    form: a version never changes, so this is cached)."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalar(
            select(SerializedDagModel).where(
                SerializedDagModel.dag_version_id == uuid.UUID(dag_version_id)
            )
        )
        data = row.data if row is not None else None
    downstream: dict[str, list[str]] = {}
    for item in ((data or {}).get("dag") or {}).get("tasks", []):
        fields = item.get("__var", item)
        downstream[fields["task_id"]] = list(fields.get("downstream_task_ids") or [])
    return transitive_upstreams(downstream)


def transitive_upstreams(downstream: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    """From each task's direct downstream ids, each task's transitive upstream ids."""
    direct: dict[str, set[str]] = {task: set() for task in downstream}
    for task, children in downstream.items():
        for child in children:
            direct.setdefault(child, set()).add(task)
    closed: dict[str, frozenset[str]] = {}

    def close(task: str) -> frozenset[str]:
        if task not in closed:
            closed[task] = frozenset()  # a cycle cannot recurse forever (DAGs have none)
            found = set(direct.get(task, ()))
            for parent in list(found):
                found |= close(parent)
            closed[task] = frozenset(found)
        return closed[task]

    return {task: close(task) for task in direct}


def ti_states(ti_ids: Iterable[str]) -> dict[str, str | None]:
    """The state of each task instance by id; None for ids not in the table (cleared away)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted = {str(i): uuid.UUID(str(i)) for i in ti_ids}
    found: dict[str, str | None] = dict.fromkeys(wanted)
    if not wanted:
        return found
    query = select(TaskInstance.id, TaskInstance.state).where(TaskInstance.id.in_(wanted.values()))
    with create_session() as session:
        for ti_id, state in session.execute(query):
            found[str(ti_id)] = None if state is None else str(getattr(state, "value", state))
    return found


def _executor_config(
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
