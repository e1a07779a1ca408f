"""The per-run data layout: ``{data_root}/{dag_id}/{run_id}/{task_id}/{channel}``.

Kaapana's layout is ``{data_root}/{run_id}/{task_id}/{channel}``; it relies on run ids being
unique, which Airflow guarantees per DAG only (every DAG scheduled for the same logical date
gets the same ``scheduled__<date>`` id). Two DAGs with a task of the same id would then share,
clean and read each other's output directories, so the DAG id comes first here. Below the run
directory the layout is Kaapana's.

Every component comes from Airflow ids or channel names; one that could climb out of the run
directory (``..``, a slash, an empty string) is refused, so a path built here always stays
inside ``{data_root}/{dag_id}/{run_id}``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from kaapana_executor.errors import KaapanaError


class UnsafePathError(KaapanaError, ValueError):
    """A path component that would leave the run's data directory."""


def safe_component(value: str, what: str) -> str:
    """``value`` if it is a single, harmless path component."""
    if not value or value in {".", ".."} or "/" in value or "\x00" in value:
        raise UnsafePathError(f"{what} {value!r} cannot be used as a directory name")
    return value


def run_dir(data_root: str, dag_id: str, run_id: str) -> PurePosixPath:
    """The DAG run's own data directory: nothing outside it is ever cleaned."""
    return (
        PurePosixPath(data_root)
        / safe_component(dag_id, "DAG id")
        / safe_component(run_id, "run id")
    )


def channel_dir(
    data_root: str, dag_id: str, run_id: str, task_id: str, channel: str, map_index: int = -1
) -> PurePosixPath:
    """Where a task's output channel lives by default; mapped tasks get one folder per index."""
    task_part = task_id if map_index < 0 else f"{task_id}.{map_index}"
    return (
        run_dir(data_root, dag_id, run_id)
        / safe_component(task_part, "task id")
        / safe_component(channel, "channel")
    )
