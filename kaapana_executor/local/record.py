"""The run record: what ``kaapana-task run`` started, as JSON, for ``kaapana-task logs`` later.

JSON (a pydantic model), never pickle: a record is read back by a later command, maybe by
another version, and must not be able to run code. Unknown fields are rejected, so a record
from an incompatible version fails with a readable line instead of half-working.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.errors import KaapanaError
from kaapana_executor.resources.scale import ScaleResult

#: Where ``kaapana-task run`` keeps its records unless ``--record FILE`` names one.
RUNS_DIR_ENV = "KAAPANA_TASK_RUNS"


def runs_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$KAAPANA_TASK_RUNS``, else ``$XDG_STATE_HOME/kaapana-task/runs`` (XDG's default
    ``~/.local/state``): records are state a later command reads, never files the user
    asked for in their working directory."""
    if environ.get(RUNS_DIR_ENV):
        return Path(environ[RUNS_DIR_ENV]).expanduser()
    state = environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(state) / "kaapana-task" / "runs"


def find(name: str, environ: Mapping[str, str] = os.environ) -> Path:
    """A record given as a path, or as a run's name (``NAME`` or ``NAME.json``) in ``runs_dir``."""
    path = Path(name)
    if path.exists() or path.parent != Path("."):
        return path
    candidate = runs_dir(environ) / (name if name.endswith(".json") else f"{name}.json")
    return candidate if candidate.exists() else path


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DockerTarget(_Frozen):
    """A container on a Docker-compatible API; ``docker_host`` is where that API was."""

    mode: Literal["docker"] = "docker"
    container_id: str
    container_name: str
    docker_host: str | None = None


class PodTarget(_Frozen):
    """A pod; ``kubeconfig`` is the file given at run time (None: the default lookup)."""

    mode: Literal["k8s"] = "k8s"
    pod_name: str
    namespace: str
    kubeconfig: str | None = None


Target = Annotated[DockerTarget | PodTarget, Field(discriminator="mode")]


class RunRecord(_Frozen):
    """One local run: where it runs, what it runs, and how it ended (once known)."""

    record_version: Literal[1] = 1
    target: Target
    image: str
    task_instance: TaskInstance
    scale_rules: list[ScaleResult] = []
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    memory_limit_bytes: int | None = None
    peak_memory_bytes: int | None = None
    peak_memory_source: str | None = None

    @property
    def mode(self) -> str:
        return self.target.mode


class RecordError(KaapanaError):
    """A run record that cannot be read or written."""


def save(record: RunRecord, path: Path) -> None:
    """Write ``record`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = record.model_dump_json(indent=2, exclude_none=True) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise RecordError(f"{path}: cannot write the run record: {exc}") from None


def load(path: Path) -> RunRecord:
    """Read a record; every problem is one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read the run record: {exc}") from None
    try:
        return RunRecord.model_validate_json(text)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise RecordError(f"{path}: not a run record: {where}: {first['msg']}") from None
