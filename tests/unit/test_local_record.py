"""Run records are JSON that round-trips, and a broken one is one readable line."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kaapana_executor.contract.instance import ResolvedEnv, TaskInstance
from kaapana_executor.local.record import (
    RUNS_DIR_ENV,
    DockerTarget,
    PodTarget,
    RecordError,
    RunRecord,
    find,
    load,
    runs_dir,
    save,
)
from kaapana_executor.resources.scale import ScaleResult

INSTANCE = TaskInstance(
    name="t", image="reg/i:1", template="m", env=[ResolvedEnv(name="A", value="1")]
)
STARTED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_a_docker_record_round_trips_through_plain_json(tmp_path: Path) -> None:
    record = RunRecord(
        target=DockerTarget(container_id="abc", container_name="n", docker_host="unix:///s"),
        image="reg/i:1",
        task_instance=INSTANCE,
        scale_rules=[
            ScaleResult(channel="c", type="limit", mode="sum", measured_bytes=1, needed_bytes=2)
        ],
        started_at=STARTED,
        finished_at=STARTED,
        exit_code=137,
        reason="OOMKilled",
        memory_limit_bytes=50 * 2**20,
        peak_memory_bytes=52428800,
        peak_memory_source="cgroup v1 memory.max_usage_in_bytes",
    )
    path = tmp_path / "runs" / "r.json"

    save(record, path)

    assert load(path) == record
    document = json.loads(path.read_text())
    assert document["target"] == {
        "mode": "docker",
        "container_id": "abc",
        "container_name": "n",
        "docker_host": "unix:///s",
    }
    assert document["task_instance"]["env"] == [{"name": "A", "value": "1"}]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left


def test_a_pod_record_of_a_run_not_watched(tmp_path: Path) -> None:
    record = RunRecord(
        target=PodTarget(pod_name="p", namespace="ns"),
        image="reg/i:1",
        task_instance=INSTANCE,
        started_at=STARTED,
    )
    save(record, tmp_path / "r.json")

    loaded = load(tmp_path / "r.json")

    assert loaded.mode == "k8s"
    assert (loaded.exit_code, loaded.finished_at, loaded.peak_memory_bytes) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a run record: (document): Invalid JSON"),
        ('{"target": {"mode": "vm"}}', "not a run record: target: Input tag 'vm'"),
    ],
)
def test_broken_records_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)

    with pytest.raises(RecordError) as raised:
        load(path)

    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_a_missing_record(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="cannot read the run record"):
        load(tmp_path / "nope.json")


def test_records_go_to_the_xdg_state_directory_unless_told_otherwise(tmp_path: Path) -> None:
    home = str(Path("~").expanduser())
    assert runs_dir({}) == Path(home) / ".local/state/kaapana-task/runs"
    assert runs_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/kaapana-task/runs")
    assert runs_dir({"XDG_STATE_HOME": "/s", RUNS_DIR_ENV: str(tmp_path)}) == tmp_path


def test_a_record_is_found_by_path_or_by_the_runs_name(tmp_path: Path) -> None:
    environ = {RUNS_DIR_ENV: str(tmp_path / "runs")}
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "task-run-1.json").write_text("{}")
    assert find("task-run-1", environ) == tmp_path / "runs" / "task-run-1.json"
    assert find("task-run-1.json", environ) == tmp_path / "runs" / "task-run-1.json"
    assert find(str(tmp_path / "elsewhere.json"), environ) == tmp_path / "elsewhere.json"
    assert find("missing", environ) == Path("missing")  # load() then names what is missing
