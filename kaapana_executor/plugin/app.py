"""The status app: ``GET /status.json`` (what the executor last published) and ``GET /``."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from kaapana_executor import airflow_compat
from kaapana_executor.status import read_status, status_path


def _status() -> dict[str, Any]:
    status = read_status(status_path(airflow_compat.base_log_folder()))
    if status is None:
        raise HTTPException(503, "no status published yet: is KaapanaExecutor running?")
    return status


def _rows(cells: list[list[str]]) -> str:
    return "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells
    )


def _fmt(resources: dict[str, int]) -> str:
    cpu = resources.get("cpu", 0) / 1000
    memory = resources.get("memory", 0) / 2**30
    extra = ", ".join(
        f"{k} {v}" for k, v in resources.items() if k not in {"cpu", "memory", "pods"}
    )
    return f"{cpu:g} CPU, {memory:.1f}Gi" + (f", {extra}" if extra else "")


def render(status: dict[str, Any]) -> str:
    """The page: nodes with free room, then the waiting tasks and why they wait."""
    ledger = status.get("ledger") or {}
    nodes = [
        [
            n["name"],
            _fmt(n["allocatable"]),
            _fmt(n["requested"]),
            _fmt(n["reserved"]),
            _fmt(n["free"]),
        ]
        for n in ledger.get("nodes", [])
    ]
    waiting = [[task, reason] for task, reason in sorted(status.get("waiting", {}).items())]
    return (
        "<html><head><title>Kaapana executor</title></head><body>"
        f"<h1>Kaapana executor</h1><p>published {html.escape(str(status.get('time')))}; "
        f"{status.get('tracked', 0)} tasks tracked, {len(waiting)} waiting for resources</p>"
        "<h2>Nodes</h2><table border=1><tr><th>node</th><th>allocatable</th><th>requested</th>"
        f"<th>reserved</th><th>free</th></tr>{_rows(nodes)}</table>"
        "<h2>Waiting</h2><table border=1><tr><th>task</th><th>waits for</th></tr>"
        f"{_rows(waiting)}</table>"
        f"<details><summary>raw</summary><pre>{html.escape(json.dumps(status, indent=2))}</pre>"
        "</details></body></html>"
    )


def create_app() -> FastAPI:
    """The FastAPI app Airflow's api-server mounts."""
    app = FastAPI(title="Kaapana executor")

    @app.get("/status.json")
    def status() -> dict[str, Any]:
        return _status()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return render(_status())

    return app
