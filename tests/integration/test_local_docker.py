"""``kaapana-task run --mode docker`` with real containers (podman's Docker-compatible API):
peak memory, the OOM killer, outputs and read-only inputs, logs of an earlier run."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from kaapana_executor.cli import main
from kaapana_executor.local import record
from tests.support.local_images import IMAGE
from tests.support.podman import service_workdir

MiB = 2**20


@pytest.fixture
def workdir(
    tmp_path: Path, podman_runner_api: str, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A working directory (the default data dir) with DOCKER_HOST on podman; run records
    go to ``$XDG_STATE_HOME/kaapana-task/runs`` with XDG_STATE_HOME beside it."""
    assert busybox_image == IMAGE
    monkeypatch.setenv("DOCKER_HOST", podman_runner_api)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv(record.RUNS_DIR_ENV, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_task(directory: Path, name: str, document: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"name": name, "image": IMAGE, **document}))
    return path


def record_path(directory: Path) -> Path:
    """The one run record of the test (``directory`` is its working directory)."""
    (path,) = (directory.parent / "state" / "kaapana-task" / "runs").glob("*.json")
    return path


def only_record(directory: Path) -> record.RunRecord:
    return record.load(record_path(directory))


def test_peak_memory_of_a_100_mib_allocation_and_the_scale_rule_warning(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = workdir / "data"
    data.mkdir()
    (data / "image.nrrd").write_bytes(b"\0" * 10 * MiB)
    rule = {"scale_factor": 2, "type": "limit", "mode": "sum"}
    task = write_task(
        workdir,
        "alloc",
        {
            "taskTemplate": "alloc",  # from the image's processing-container.json
            "inputs": [
                {"name": "data", "volume_source": {"host_path": str(data)}, "scale_rule": rule}
            ],
        },
    )

    code = main(["run", str(task), "--mode", "docker", "--monitor-container"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "allocated 100M" in out
    run = only_record(workdir)
    assert run.peak_memory_bytes is not None
    assert abs(run.peak_memory_bytes - 100 * MiB) <= 10 * MiB, run.peak_memory_bytes / MiB
    assert run.peak_memory_source == "cgroup v1 memory.max_usage_in_bytes"
    assert (run.exit_code, run.reason, run.memory_limit_bytes) == (0, "Completed", 200 * MiB)
    peak = re.search(r"peak memory: ([\d.]+) MiB", err)
    assert peak is not None and abs(float(peak.group(1)) - 100) <= 10
    assert f"input data: 10.0 MiB in 1 file ({data})" in err
    assert "ScaleRule limit sum ×2: measured 10.0 MiB → 22.0 MiB" in err
    assert "warning: the ScaleRule of input data under-provisions: peak" in err


def test_over_the_memory_limit_is_oom_killed_and_no_file_lands_in_a_working_directory(
    workdir: Path,
    podman_runner_api: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks = workdir.parent / "tasks"  # the user's files live elsewhere: cwd starts empty
    tasks.mkdir()
    task = write_task(
        tasks, "greedy", {"taskTemplate": "alloc", "resources": {"limits": {"memory": "50Mi"}}}
    )
    started = time.time()

    code = main(["run", str(task), "--mode", "docker", "--watch"])

    err = capsys.readouterr().err
    assert code == 137
    assert "exit code 137 (OOMKilled)" in err
    run = only_record(workdir)
    assert (run.exit_code, run.reason, run.memory_limit_bytes) == (137, "OOMKilled", 50 * MiB)
    assert run.peak_memory_bytes is not None and run.peak_memory_bytes <= 50 * MiB
    assert f"run record {record_path(workdir)}" in err
    assert list(workdir.iterdir()) == []  # the CLI's working directory
    # conmon writes an ``oom`` marker into its working directory, inherited from the podman
    # service: that is the service's own directory, not where the tests were started
    started_in = request.config.invocation_params.dir / "oom"
    written = started_in.exists() and started_in.stat().st_mtime >= started - 1
    assert not written, f"{started_in} was written by this run"
    service = service_workdir(Path(podman_runner_api.removeprefix("unix://")).parent)
    assert (service / "oom").exists()


def test_outputs_land_inputs_are_read_only_and_logs_come_back(
    workdir: Path, capsys: pytest.CaptureFixture[str], docker_client: docker.DockerClient
) -> None:
    inputs, outputs = workdir / "in", workdir / "out"
    inputs.mkdir()
    (inputs / "a.txt").write_text("payload\n")
    outputs.mkdir()
    (outputs / "stale.txt").write_text("from an earlier try")
    task = write_task(
        workdir,
        "copy",
        {
            "taskTemplate": "copy",
            "env": [{"name": "GREETING", "value": "hi there"}],
            "inputs": [{"name": "in", "volume_source": {"host_path": str(inputs)}}],
            "outputs": [{"name": "out", "volume_source": {"host_path": str(outputs)}}],
        },
    )

    code = main(["run", str(task), "--mode", "docker", "--watch", "--run-id", "r1"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Read-only file system" in out and "input is read-only" in out
    assert sorted(p.name for p in outputs.iterdir()) == ["copy.txt"]  # stale.txt cleaned
    assert (outputs / "copy.txt").read_text() == "payload\n"
    assert sorted(p.name for p in inputs.iterdir()) == ["a.txt"]
    default_output = (
        workdir / "kaapana-data" / "kaapana-task" / "r1" / "copy" / "logs" / "greeting.txt"
    )
    assert default_output.read_text() == "hi there\n"
    run = only_record(workdir)
    assert isinstance(run.target, record.DockerTarget)
    container = docker_client.containers.get(run.target.container_id)
    assert container.attrs["State"]["ExitCode"] == 0

    code = main(["logs", record_path(workdir).stem])  # a run's name finds its record

    again, err = capsys.readouterr()
    assert code == 0
    assert again == out
    assert f"container {run.target.container_name}: exited with code 0" in err


def test_without_watch_the_run_starts_and_logs_follow_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = write_task(
        workdir, "alloc", {"taskTemplate": "alloc", "env": [{"name": "SIZE", "value": "1M"}]}
    )

    assert main(["run", str(task), "--mode", "docker"]) == 0
    path = record_path(workdir)
    assert only_record(workdir).exit_code is None  # not watched: the end is not recorded
    capsys.readouterr()

    assert main(["logs", str(path), "--follow"]) == 0

    out, err = capsys.readouterr()
    assert "allocated 1M" in out
    assert "exited with code 0" in err
