"""The status app: ``GET /status.json`` (what the executor last published) and ``GET /``.

Airflow mounts plugin apps with ``app.mount()``, which inherits none of the core API's
authentication: every route here declares Airflow's own security dependencies.

Who may read it:

* ``requires_access_view(AccessView.CLUSTER_ACTIVITY)`` for both routes. The page shows
  the cluster as the executor sees it (nodes, their labels, taints and load, quotas): the
  state of the installation, which is what Airflow's "Cluster Activity" view permission
  covers (the FAB auth manager's Viewer role has it; the simple auth manager grants views
  to every role; a user without a role gets 403).
* Waiting tasks and reservations name DAGs, runs and tasks: each is shown only when the
  auth manager lets the user read that DAG (``get_authorized_dag_ids``, as Airflow's own
  task-instance lists filter); the others are counted, not named.

Credentials are Airflow's: the UI's ``_token`` cookie (a user logged into the Airflow UI
opens the page directly) or an ``Authorization: Bearer`` token. Without them the JSON
answers 401 and the page redirects to Airflow's login, which returns here afterwards.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kaapana_executor import airflow_compat
from kaapana_executor.plugin.view import render_missing, render_page
from kaapana_executor.status import ExecutorStatus, StatusUnreadable, read_status, status_path

NOT_PUBLISHED = "No status published yet: is the scheduler running with KaapanaExecutor?"


def _load() -> ExecutorStatus:
    """The published document, or 503 saying why there is none to show."""
    try:
        status = read_status(status_path(airflow_compat.base_log_folder()))
    except StatusUnreadable as error:
        raise HTTPException(503, f"the executor's status cannot be read: {error}") from error
    if status is None:
        raise HTTPException(503, NOT_PUBLISHED)
    return status


def visible_to(status: ExecutorStatus, readable: set[str]) -> ExecutorStatus:
    """``status`` with the tasks of DAGs outside ``readable`` left out (and counted)."""
    waiting = [task for task in status.waiting if task.dag_id in readable]
    ledger = status.ledger
    if ledger is not None:
        reservations = [
            r.model_copy(update={"task": None}) if r.task and r.task.dag_id not in readable else r
            for r in ledger.reservations
        ]
        ledger = ledger.model_copy(update={"reservations": reservations})
    hidden = len(status.waiting) - len(waiting)
    update = {"waiting": waiting, "ledger": ledger, "hidden_waiting": hidden}
    return status.model_copy(update=update)


def create_app() -> FastAPI:
    """The FastAPI app Airflow's api-server mounts (imports Airflow: api-server only)."""
    from airflow.api_fastapi.app import API_ROOT_PATH, get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user, requires_access_view

    app = FastAPI(title="Kaapana executor", docs_url=None, redoc_url=None, openapi_url=None)
    may_view = [Depends(requires_access_view(AccessView.CLUSTER_ACTIVITY))]
    # Airflow's GetUserDep is an Annotated alias; FastAPI resolves annotations from module
    # globals, and Airflow is imported here, so the dependency goes in the default instead.
    user_dep = Depends(get_user)

    def for_user(user: Any) -> ExecutorStatus:
        readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        return visible_to(_load(), set(readable))

    @app.get("/status.json", dependencies=may_view)
    def status(user: Any = user_dep) -> ExecutorStatus:
        return for_user(user)

    @app.get("/", response_class=HTMLResponse, dependencies=may_view)
    def page(user: Any = user_dep) -> HTMLResponse:
        try:
            shown = for_user(user)
        except HTTPException as error:
            return HTMLResponse(render_missing(str(error.detail)), status_code=error.status_code)
        return HTMLResponse(render_page(shown, datetime.now(timezone.utc)))

    @app.exception_handler(HTTPException)
    async def login_first(request: Request, error: HTTPException) -> Response:
        """The page sends a browser without a login to Airflow's login, then back here."""
        if error.status_code == 401 and request.scope.get("endpoint") is page:
            login = f"{API_ROOT_PATH}api/v2/auth/login"
            query = urlencode({"next": request.url.path})
            return RedirectResponse(f"{login}?{query}", status_code=303)
        return await http_exception_handler(request, error)

    return app
