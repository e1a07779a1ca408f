"""A remote task-log store on the local disk, for tests of remote logging with real Airflow.

Airflow reads ``[logging] logging_config_class``; a module that also exports
``REMOTE_TASK_LOG`` provides the remote log store all components use (the scheduler's
executor uploads to it, the api-server reads from it). This one keeps the "remote" copies in
``$KAAPANA_TEST_REMOTE_LOG_DIR``, so a test can see what was uploaded and delete the local
copies to prove the logs are served from remote.
"""

from __future__ import annotations

import os
import shutil
from copy import deepcopy
from pathlib import Path
from typing import Any

from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG
from airflow.configuration import conf

LOGGING_CONFIG = deepcopy(DEFAULT_LOGGING_CONFIG)


class LocalRemoteLogIO:
    """Airflow's RemoteLogIO protocol over a local directory."""

    processors: tuple[Any, ...] = ()

    def __init__(self, base_log_folder: Path, remote: Path) -> None:
        self.base_log_folder = base_log_folder
        self.remote = remote

    def upload(self, path: os.PathLike[str] | str, ti: Any = None) -> None:
        local = Path(path)
        if not local.is_absolute():
            local = self.base_log_folder / local
        target = self.remote / local.relative_to(self.base_log_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)

    def read(self, relative_path: str, ti: Any) -> tuple[list[str], list[str] | None]:
        source = self.remote / relative_path
        if not source.is_file():
            return [f"no remote log at {source}"], None
        return [f"remote log {source}"], [source.read_text()]


_remote = os.environ.get("KAAPANA_TEST_REMOTE_LOG_DIR")
REMOTE_TASK_LOG = (
    LocalRemoteLogIO(Path(conf.get("logging", "base_log_folder")), Path(_remote))
    if _remote
    else None
)
