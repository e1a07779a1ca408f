"""``kaapana-task run --mode k8s`` on the local (KWOK) cluster, and the same task in both modes:
what the Docker API and the API server store must agree (env, mounts, command, limit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import pytest
from kubernetes import client

from kaapana_executor import quantity
from kaapana_executor.cli import main
from kaapana_executor.k8s import labels
from kaapana_executor.launch.pod import to_dict
from kaapana_executor.local import record
from tests.support import kwok
from tests.support.cluster import Cluster
from tests.support.local_images import IMAGE

pytestmark = pytest.mark.cluster

PROCESSING_CONTAINER = {
    "name": "spec-check",
    "description": "one template with every kind of field",
    "templates": [
        {
            "identifier": "main",
            "description": "prints its env",
            "command": ["sh", "-c", 'echo "$MODE_CHECK"; ls /in'],
            "env": [{"name": "MODE_CHECK", "value": "template"}, {"name": "KEEP", "value": "k"}],
            "inputs": [{"name": "in", "mounted_path": "/in"}],
            "outputs": [{"name": "out", "mounted_path": "/out"}],
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
        }
    ],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pc.json").write_text(json.dumps(PROCESSING_CONTAINER))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    return tmp_path


def write_task(directory: Path, annotations: dict[str, str], **fields: Any) -> Path:
    document = {
        "name": "check",
        "image": IMAGE,
        "taskTemplate": "main",
        "env": [{"name": "MODE_CHECK", "value": "task"}],
        "inputs": [{"name": "in", "volume_source": {"host_path": str(directory / "in")}}],
        "config": {"annotations": annotations, "labels": {"team": "kaapana"}},
        **fields,
    }
    path = directory / "check.json"
    path.write_text(json.dumps(document))
    return path


def k8s_args(cluster: Cluster, namespace: str) -> list[str]:
    return [
        *("--mode", "k8s", "--kubeconfig", cluster.kubeconfig, "--namespace", namespace),
        *("--processing-container", "pc.json"),  # the image is in no registry: KWOK runs none
    ]


def without_ti_id(values: dict[str, str]) -> dict[str, str]:
    """Labels without the per-run ``ti-id`` (each run has its own, as each try has)."""
    assert values[labels.ANN_TI_ID]
    return {k: v for k, v in values.items() if k != labels.ANN_TI_ID}


def pod_view(pod: client.V1Pod) -> dict[str, Any]:
    """The fields both modes must agree on, as the API server stored them."""
    document = to_dict(pod)
    (container,) = document["spec"]["containers"]
    volumes = {v["name"]: v for v in document["spec"]["volumes"]}
    metadata = document["metadata"]
    return {
        "name": metadata["name"],
        "image": container["image"],
        "command": container["command"],
        "env": {e["name"]: e["value"] for e in container["env"]},
        "mounts": sorted(
            (m["mountPath"], volumes[m["name"]]["hostPath"]["path"], bool(m.get("readOnly")))
            for m in container["volumeMounts"]
        ),
        "memory": quantity.whole(container["resources"]["limits"]["memory"]),
        "nano_cpus": quantity.millicores(container["resources"]["limits"]["cpu"]) * 10**6,
        "labels": without_ti_id({**metadata["labels"], **metadata["annotations"]}),
    }


def container_view(attrs: dict[str, Any], env_names: set[str]) -> dict[str, Any]:
    """The same fields from ``docker inspect`` (the engine adds PATH, TERM, HOSTNAME...)."""
    env = dict(entry.split("=", 1) for entry in attrs["Config"]["Env"])
    return {
        "name": attrs["Name"].lstrip("/"),
        "image": attrs["Config"]["Image"],
        "command": attrs["Config"]["Entrypoint"],
        "env": {name: env[name] for name in env_names if name in env},
        "mounts": sorted((m["Destination"], m["Source"], not m["RW"]) for m in attrs["Mounts"]),
        "memory": attrs["HostConfig"]["Memory"],
        "nano_cpus": attrs["HostConfig"]["NanoCpus"],
        "labels": without_ti_id(attrs["Config"]["Labels"]),
    }


def test_the_same_task_gives_the_same_container_in_docker_and_k8s_mode(
    workdir: Path,
    cluster: Cluster,
    namespace: str,
    core_v1: client.CoreV1Api,
    podman_runner_api: str,
    busybox_image: str,
    docker_client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_runner_api)
    task = write_task(workdir, kwok.lifecycle(log_lines=["task", "a.txt"], run=0.5))
    common = ["--run-id", "same", "--watch"]
    docker_args = ["--mode", "docker", "--processing-container", "pc.json"]

    docker_code = main(["run", str(task), *docker_args, *common, "--record", "d.json"])
    docker_out = capsys.readouterr().out
    k8s_code = main(
        ["run", str(task), *k8s_args(cluster, namespace), *common, "--record", "k.json"]
    )
    k8s_out = capsys.readouterr().out

    assert (docker_code, k8s_code) == (0, 0)
    assert docker_out == k8s_out == "task\na.txt\n"  # the real container and KWOK's script
    docker_target, pod_target = (
        record.load(Path("d.json")).target,
        record.load(Path("k.json")).target,
    )
    assert isinstance(docker_target, record.DockerTarget)
    assert isinstance(pod_target, record.PodTarget)
    pod = pod_view(core_v1.read_namespaced_pod(pod_target.pod_name, namespace))
    container = docker_client.containers.get(docker_target.container_id).attrs
    assert container_view(container, set(pod["env"])) == pod
    assert pod["env"] == {"MODE_CHECK": "task", "KEEP": "k"}
    assert pod["mounts"] == [
        ("/in", str(workdir / "in"), True),
        ("/out", str(workdir / "kaapana-data" / "kaapana-task" / "same" / "check" / "out"), False),
    ]


def test_k8s_mode_streams_the_log_exits_with_the_code_and_logs_reads_it_again(
    workdir: Path, cluster: Cluster, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    task = write_task(workdir, kwok.lifecycle(log_lines=["one", "two"], exit_code=3, run=0.5))

    code = main(["run", str(task), *k8s_args(cluster, namespace), "--watch", "--record", "r.json"])

    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == "one\ntwo\n"
    assert "exit code 3 (Error)" in err
    run = record.load(Path("r.json"))
    assert (run.mode, run.exit_code, run.reason) == ("k8s", 3, "Error")
    assert run.finished_at is not None and run.finished_at >= run.started_at

    assert main(["logs", "r.json"]) == 0

    out, err = capsys.readouterr()
    assert out == "one\ntwo\n"
    assert "failed, exit code 3" in err


def test_k8s_mode_reports_an_oom_kill(
    workdir: Path, cluster: Cluster, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    task = write_task(workdir, kwok.lifecycle(reason=kwok.TerminationReason.OOM_KILLED, run=0.5))

    code = main(["run", str(task), *k8s_args(cluster, namespace), "--watch", "--record", "r.json"])

    assert code == 137
    assert "exit code 137 (OOMKilled)" in capsys.readouterr().err
    assert record.load(Path("r.json")).reason == "OOMKilled"
