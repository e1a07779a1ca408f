"""A local run's pod is the executor's pod: same pipeline, same functions, same result."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kaapana_executor.cli import main
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.launch.pod import to_dict
from kaapana_executor.launch.policy import LaunchPolicy
from kaapana_executor.local.prepare import local_run_id, prepare
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY, TaskRef
from kaapana_executor.runtime.spec import UpstreamConfig, resolve_task
from tests.unit import builders

PC = builders.processing_container(
    builders.template(
        "seg",
        command=["seg", "--fast"],
        env=[{"name": "MODE", "value": "a", "choices": ["a", "b"]}],
        inputs=[builders.mount("images", "/in/images"), builders.mount("prior", "/in/prior")],
        outputs=[builders.mount("masks", "/out/masks")],
        resources={"limits": {"memory": "1Gi"}, "requests": {"memory": "512Mi"}},
    )
)


def images(image: str, access: object = None) -> ProcessingContainer:
    assert image == "reg/seg:1"
    return PC


def task_document(images_dir: Path) -> dict[str, Any]:
    return {
        "name": "segment",
        "image": "reg/seg:1",
        "taskTemplate": "seg",
        "env": [{"name": "MODE", "value": "b"}],
        "inputs": [
            {
                "name": "images",
                "volume_source": {"host_path": str(images_dir)},
                "scale_rule": {"scale_factor": 100, "type": "limit", "mode": "sum"},
            },
            {"name": "prior", "from": {"task": "convert", "channel": "nrrd"}},
        ],
        "config": {"annotations": {"note": "{{ run.run_id }}"}, "labels": {"team": "x"}},
    }


def test_the_local_pod_equals_the_executors_pod(tmp_path: Path) -> None:
    data = tmp_path / "data"
    images_dir = data / "incoming" / "images"  # below data_root: the executor reads it too
    images_dir.mkdir(parents=True)
    (images_dir / "a.nrrd").write_bytes(b"x" * 16 * 2**20)  # 16 MiB × 100 × 1.1 > 1 GiB
    document = task_document(images_dir)
    task_file = tmp_path / "segment.json"
    task_file.write_text(json.dumps(document))
    run = RunContext("dag", "run-7", "segment", try_number=1)
    ref = TaskRef(
        key=("segment",),
        ti_id="ti-42",
        token="t",
        run=run,
        executor_config={EXECUTOR_CONFIG_KEY: {"task": json.dumps(document), "source": "t"}},
    )
    settings = ExecutorSettings(namespace="default", data_root=str(data))

    launch = resolve_task(
        ref,
        {},
        LaunchPolicy.from_settings(settings),
        images,
        lambda _ref, _task: UpstreamConfig({}, is_upstream=True),
    )
    local = prepare(task_file, Variables(env={}, run=run), data, images, ti_id="ti-42")

    assert to_dict(local.pod) == to_dict(launch.pod)
    assert local.instance == launch.instance
    assert local.scale == launch.scale
    volumes = {v["hostPath"]["path"] for v in to_dict(local.pod)["spec"]["volumes"]}
    assert volumes == {
        str(images_dir),
        str(data / "dag" / "run-7" / "convert" / "nrrd"),  # linked to the upstream default output
        str(data / "dag" / "run-7" / "segment" / "masks"),  # bound by default
    }
    assert local.instance.resources.limits == {"memory": "1760Mi"}  # raised by the rule


def test_namespace_comes_from_the_option_then_the_task_then_default(tmp_path: Path) -> None:
    document = {**task_document(tmp_path), "inputs": [], "config": {"namespace": "proj"}}
    document["inputs"] = [
        {"name": "images", "volume_source": {"host_path": "/x"}},
        {"name": "prior", "volume_source": {"host_path": "/y"}},
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    variables = Variables(env={}, run=RunContext("d", "r", "t"))

    assert prepare(path, variables, tmp_path, images).pod.metadata.namespace == "proj"
    chosen = prepare(path, variables, tmp_path, images, namespace="mine")
    assert chosen.pod.metadata.namespace == "mine"


def test_every_run_gets_a_fresh_run_id() -> None:
    moment = datetime(2025, 3, 1, 12, 30, 5, tzinfo=timezone.utc)

    first, second = local_run_id(moment), local_run_id(moment)

    assert re.fullmatch(r"local-20250301T123005-[0-9a-f]{4}", first)
    assert re.fullmatch(r"local-20250301T123005-[0-9a-f]{4}", second)
    assert len({local_run_id(moment) for _ in range(50)}) > 1  # the same second differs


def test_an_output_overlapping_an_input_stops_the_run_before_any_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")  # never reached
    monkeypatch.setenv("KAAPANA_TASK_RUNS", str(tmp_path / "runs"))
    shared = tmp_path / "work" / "shared"
    (shared / "in").mkdir(parents=True)
    (shared / "in" / "keep.txt").write_text("precious")
    template = builders.template(
        "t",
        inputs=[builders.mount("in", "/in")],
        outputs=[builders.mount("out", "/out")],
    )
    task = {
        "name": "t",
        "image": "x:1",
        "taskTemplate": template,
        "inputs": [{"name": "in", "volume_source": {"host_path": str(shared / "in")}}],
        "outputs": [{"name": "out", "volume_source": {"host_path": str(shared)}}],
    }
    (tmp_path / "t.json").write_text(json.dumps(task))

    code = main(["run", "t.json", "--mode", "docker", "--watch"])

    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"kaapana-task: output channel 'out': {shared} overlaps the input {shared / 'in'}; "
        "not cleaned"
    ]
    assert (shared / "in" / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "runs").exists()  # no run record either


def test_monitoring_in_k8s_mode_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", str(tmp_path / "t.json"), "--mode", "k8s", "--monitor-container"])

    assert exited.value.code == 2
    assert "--monitor-container needs --mode docker" in capsys.readouterr().err


def test_an_invalid_task_is_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"name": "t", "image": "", "taskTemplate": 3}))

    code = main(["run", str(tmp_path / "t.json"), "--processing-container", "none.json"])

    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("t.json: ") for line in lines)
