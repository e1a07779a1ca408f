"""KaapanaExecutor end to end: real Airflow 3.3, the local KWOK cluster and the registry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from kaapana_executor.k8s import labels
from kaapana_executor.k8s.names import pod_name
from tests.support.airflow import E2E, QUEUED_TIMEOUT, wait_until
from tests.support.cluster import pod_phase

pytestmark = pytest.mark.cluster


def _pod(
    core: client.CoreV1Api, e2e: E2E, dag: str, task: str, run: str, try_number: int
) -> client.V1Pod:
    return core.read_namespaced_pod(pod_name(dag, task, run, -1, try_number), e2e.namespace)


def _volumes(pod: client.V1Pod) -> dict[str, str]:
    by_name = {v.name: v.host_path.path for v in pod.spec.volumes}
    return {m.mount_path: by_name[m.name] for m in pod.spec.containers[0].volume_mounts}


def _mounts(pod: client.V1Pod) -> list[client.V1VolumeMount]:
    return list(pod.spec.containers[0].volume_mounts or [])


def _env(pod: client.V1Pod) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env or []}


def test_dummy_workflow_links_channels_and_targets_user_input(
    e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    conf: dict[str, Any] = {"task_form": {"upstream": {"env": {"MODE": "thorough"}}}}
    e2e.rest.wait_for_dag("kaapana_dummy")
    e2e.rest.trigger("kaapana_dummy", "dummy-1", conf)
    assert e2e.rest.wait_run("kaapana_dummy", "dummy-1") == "success"
    up = _pod(core_v1, e2e, "kaapana_dummy", "upstream", "dummy-1", 1)
    down = _pod(core_v1, e2e, "kaapana_dummy", "downstream", "dummy-1", 1)
    root = str(e2e.data_root / "kaapana_dummy" / "dummy-1" / "upstream")
    assert _volumes(up) == {
        "/home/upstream/channel1": f"{root}/channel1",
        "/home/upstream/channel2": f"{root}/channel2",
    }
    assert _volumes(down) == {
        "/home/downstream/channel1": f"{root}/channel1",
        "/home/downstream/channel2": f"{root}/channel2",
        "/home/downstream/result": str(
            e2e.data_root / "kaapana_dummy" / "dummy-1" / "downstream" / "result"
        ),
    }
    read_only = {m.mount_path: bool(m.read_only) for m in down.spec.containers[0].volume_mounts}
    assert read_only == {
        "/home/downstream/channel1": True,
        "/home/downstream/channel2": True,
        "/home/downstream/result": False,
    }
    assert _env(up)["MODE"] == "thorough"
    assert _env(down)["MODE"] == "fast"
    assert down.metadata.labels[labels.MANAGED_BY] == labels.MANAGED_BY_VALUE
    # On KWOK the container prints nothing; its real output is checked on the real node
    # (test_real_node_e2e.py).
    log = e2e.rest.log("kaapana_dummy", "dummy-1", "upstream", 1)
    assert "container exited with code 0" in log


def test_two_dags_with_the_same_run_and_task_id_keep_separate_data(
    e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    """Airflow run ids are unique per DAG only: the run directory must include the DAG."""
    run = "twin-1"  # both DAGs get the same run id, both have a task "upstream"
    e2e.rest.wait_for_dag("kaapana_dummy")
    e2e.rest.wait_for_dag("e2e_twin")
    e2e.rest.trigger("kaapana_dummy", run)
    assert e2e.rest.wait_run("kaapana_dummy", run) == "success"
    mine = e2e.data_root / "kaapana_dummy" / run / "upstream" / "channel1" / "result.txt"
    mine.write_text("kaapana_dummy's result")

    e2e.rest.trigger("e2e_twin", run)
    assert e2e.rest.wait_run("e2e_twin", run) == "success"

    assert mine.read_text() == "kaapana_dummy's result"  # the twin's cleaning did not touch it
    twin = _pod(core_v1, e2e, "e2e_twin", "upstream", run, 1)
    root = e2e.data_root / "e2e_twin" / run / "upstream"
    assert sorted(_volumes(twin).values()) == [str(root / "channel1"), str(root / "channel2")]


def test_templates_cannot_read_the_schedulers_environment(e2e: E2E) -> None:
    dag, run = "e2e_secret", "secret-1"
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run)
    assert e2e.rest.wait_run(dag, run) == "failed"
    log = e2e.rest.log(dag, run, "steal", 1)
    assert "undefined variable 'env.AIRFLOW__API_AUTH__JWT_SECRET'" in log
    assert e2e.airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"] not in log


def test_a_link_to_a_task_that_is_not_upstream_is_a_dag_import_error(e2e: E2E) -> None:
    def refused() -> str | None:
        for error in e2e.rest.call("GET", "/importErrors")["import_errors"]:
            if error["filename"] == "e2e_sibling.py":
                return str(error["stack_trace"])
        return None

    trace = wait_until(refused, 120, "the import error of e2e_sibling.py")
    assert (
        "AirflowClusterPolicyViolation: DAG e2e_sibling: reader: input channel 'channel1' links "
        "to task 'writer', which is not upstream of it (add writer >> reader)"
    ) in trace


def _raw_env(pod: client.V1Pod) -> dict[str, Any]:
    return {e.name: e for e in pod.spec.containers[0].env or []}


def test_a_kaapana_workflow_runs_with_only_its_imports_changed(
    e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    dag, run = "kaapana-workflow", "kaapana-1"
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(
        dag, run, {"task_form": {"downstream": {"env": [{"name": "MODE", "value": "fast"}]}}}
    )
    assert e2e.rest.wait_run(dag, run) == "success"
    up = _pod(core_v1, e2e, dag, "upstream", run, 1)
    down = _pod(core_v1, e2e, dag, "downstream", run, 1)
    root = e2e.data_root / dag / run / "upstream"
    inputs = {m.mount_path: _volumes(down)[m.mount_path] for m in _mounts(down) if m.read_only}
    assert sorted(inputs.values()) == [str(root / "channel1"), str(root / "channel2")]
    assert _env(up)["MODE"] == "thorough" and _env(down)["MODE"] == "fast"
    # the platform environment, with its secret left to the kubelet
    secret = _raw_env(down)["KAAPANA_CLIENT_SECRET"]
    assert secret.value is None
    assert secret.value_from.secret_key_ref.name == "oidc-client-secret"
    assert _env(down)["KAAPANA_AII_URL"] == "http://aii-service.services.svc:8080"
    assert down.metadata.labels["kaapana.ai/type"] == "processing-container"
    assert down.spec.active_deadline_seconds == 30 * 60  # its execution_timeout


def test_the_runs_conf_chooses_an_allowed_project_namespace(
    e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    dag = "kaapana_dummy"
    e2e.rest.wait_for_dag(dag)
    allowed = {"project_form": {"kubernetes_namespace": e2e.project_namespace}}
    e2e.rest.trigger(dag, "project-1", allowed)
    refused = {"project_form": {"kubernetes_namespace": "kube-system"}}
    e2e.rest.trigger(dag, "project-2", refused)
    assert e2e.rest.wait_run(dag, "project-1") == "success"
    name = pod_name(dag, "upstream", "project-1", -1, 1)
    assert core_v1.read_namespaced_pod(name, e2e.project_namespace).metadata.name == name
    assert e2e.rest.wait_run(dag, "project-2") == "failed"
    log = e2e.rest.log(dag, "project-2", "upstream", 1)
    conf_path = "dag_run.conf project_form.kubernetes_namespace"
    assert f"namespace 'kube-system' ({conf_path}) is not allowed" in log


def test_plugin_shows_the_ledger(e2e: E2E) -> None:
    def published() -> dict[str, Any] | None:
        response = e2e.rest.session.get(
            f"{e2e.airflow.url}/kaapana-executor/status.json", timeout=10
        )
        return response.json() if response.status_code == 200 else None

    status = wait_until(published, 60, "the executor's published status")
    assert (status["version"], status["admission"]) == (2, True)
    nodes = {n["name"]: n for n in status["ledger"]["nodes"]}
    assert nodes, status
    assert all({"allocatable", "requested", "reserved", "free"} <= set(n) for n in nodes.values())
    page = e2e.rest.session.get(f"{e2e.airflow.url}/kaapana-executor/", timeout=10)
    assert page.status_code == 200
    assert "<h2>Nodes</h2>" in page.text and next(iter(nodes)) in page.text


def test_logs_are_uploaded_to_remote_logging(e2e: E2E) -> None:
    dag, run = "kaapana_fan_in", "remote-1"
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run)
    assert e2e.rest.wait_run(dag, run) == "success"
    relative = f"dag_id={dag}/run_id={run}/task_id=combine/attempt=1.log"
    remote = e2e.airflow.home / "remote-logs" / relative
    assert "container exited with code 0" in remote.read_text()
    (e2e.airflow.home / "logs" / relative).unlink()  # only the remote copy is left
    assert "container exited with code 0" in e2e.rest.log(dag, run, "combine", 1)


def test_invalid_choice_fails_only_that_task(e2e: E2E) -> None:
    conf = {"task_form": {"downstream": {"env": {"MODE": "bogus"}}}}
    e2e.rest.wait_for_dag("kaapana_dummy")
    e2e.rest.trigger("kaapana_dummy", "dummy-bad-input", conf)
    assert e2e.rest.wait_run("kaapana_dummy", "dummy-bad-input") == "failed"
    states = {
        t: ti["state"]
        for t, ti in e2e.rest.task_instances("kaapana_dummy", "dummy-bad-input").items()
    }
    assert states == {"upstream": "success", "downstream": "failed"}
    log = e2e.rest.log("kaapana_dummy", "dummy-bad-input", "downstream", 1)
    assert "'bogus' is not a valid choice for MODE (choices: fast, thorough)" in log


def test_fan_in_workflow(e2e: E2E, core_v1: client.CoreV1Api) -> None:
    e2e.rest.wait_for_dag("kaapana_fan_in")
    e2e.rest.trigger("kaapana_fan_in", "fan-1")
    assert e2e.rest.wait_run("kaapana_fan_in", "fan-1") == "success"
    combine = _pod(core_v1, e2e, "kaapana_fan_in", "combine", "fan-1", 1)
    run = e2e.data_root / "kaapana_fan_in" / "fan-1"
    assert _volumes(combine) == {
        "/in/left": str(run / "produce_a" / "series"),
        "/in/right": str(run / "produce_b" / "series"),
        "/out/combined": str(run / "combine" / "combined"),
    }


def test_failing_container_retries_then_fails_with_exit_code(e2e: E2E) -> None:
    e2e.rest.wait_for_dag("e2e_exit3")
    e2e.rest.trigger("e2e_exit3", "exit3-1")
    assert e2e.rest.wait_run("e2e_exit3", "exit3-1") == "failed"
    assert e2e.rest.task_instances("e2e_exit3", "exit3-1")["exit3"]["try_number"] == 2
    first = e2e.rest.log("e2e_exit3", "exit3-1", "exit3", 1)
    second = e2e.rest.log("e2e_exit3", "exit3-1", "exit3", 2)
    assert "container failed with exit code 3" in first and "reporting up_for_retry" in first
    assert "container failed with exit code 3" in second and "reporting failed" in second
    assert "about to fail" in second


def test_oom_killed_is_reported(e2e: E2E) -> None:
    e2e.rest.wait_for_dag("e2e_oom")
    e2e.rest.trigger("e2e_oom", "oom-1")
    assert e2e.rest.wait_run("e2e_oom", "oom-1") == "failed"
    log = e2e.rest.log("e2e_oom", "oom-1", "oom", 1)
    assert "container was OOMKilled at its memory limit 128Mi (exit code 137)" in log


def test_image_pull_error_fails_after_grace(e2e: E2E, core_v1: client.CoreV1Api) -> None:
    e2e.rest.wait_for_dag("e2e_pull")
    e2e.rest.trigger("e2e_pull", "pull-1")
    assert e2e.rest.wait_run("e2e_pull", "pull-1") == "failed"
    log = e2e.rest.log("e2e_pull", "pull-1", "pull", 1)
    assert "pod could not start: image pull error, ImagePullBackOff" in log
    with pytest.raises(client.ApiException) as gone:
        _pod(core_v1, e2e, "e2e_pull", "pull", "pull-1", 1)
    assert gone.value.status == 404


def test_clear_and_mark_failed_delete_pods_and_keep_logs(
    e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    dag, run, task = "e2e_clear", "clear-1", "forever"
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run)
    first = pod_name(dag, task, run, -1, 1)
    wait_until(lambda: _phase(core_v1, e2e, first) == "Running", 120, "the first try's pod to run")
    stale = e2e.data_root / dag / run / task / "channel1" / "stale.txt"
    stale.write_text("written by try 1")
    e2e.rest.clear(dag, run, [task])
    second = pod_name(dag, task, run, -1, 2)
    wait_until(
        lambda: _phase(core_v1, e2e, second) == "Running", 120, "the second try's pod to run"
    )
    wait_until(lambda: _phase(core_v1, e2e, first) is None, 60, "the first try's pod to be deleted")
    assert not stale.exists()
    # while it runs, the api-server shows the live container log through get_task_log
    wait_until(lambda: "working" in e2e.rest.log(dag, run, task, 2), 60, "the live log")
    e2e.rest.mark(dag, run, task, "failed")  # a user marks it: the executor deletes the pod
    wait_until(lambda: _phase(core_v1, e2e, second) is None, 60, "the marked try's pod to go")
    assert e2e.rest.wait_run(dag, run) == "failed"
    # The guarantee is "kept", not "kept before the pod is gone": the finisher writes a stopped
    # try's lines after its stop wait (pod polled every 0.5 s) and one last read, so the kept
    # log can lag the pod's disappearance; on a loaded machine this test once read it first.
    wait_until(lambda: "working" in e2e.rest.log(dag, run, task, 1), 60, "try 1's kept log")
    wait_until(lambda: "working" in e2e.rest.log(dag, run, task, 2), 60, "try 2's kept log")


def test_restarted_scheduler_adopts_running_pod(e2e: E2E, core_v1: client.CoreV1Api) -> None:
    dag, run, task = "e2e_adopt", "adopt-1", "long"
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run)
    first = pod_name(dag, task, run, -1, 1)
    wait_until(lambda: _phase(core_v1, e2e, first) == "Running", 120, "the task's pod to run")
    uid = core_v1.read_namespaced_pod(first, e2e.namespace).metadata.uid
    e2e.airflow.restart("scheduler")
    log_file = next(
        e2e.airflow.home.glob(f"logs/dag_id={dag}/run_id={run}/task_id={task}/attempt=1.log")
    )
    wait_until(lambda: "adopted pod" in log_file.read_text(), 120, "the new scheduler to adopt")
    time.sleep(5)  # a few heartbeats of the adopted task
    assert e2e.rest.task_state(dag, run, task) == "running"
    assert core_v1.read_namespaced_pod(first, e2e.namespace).metadata.uid == uid  # same pod
    assert _phase(core_v1, e2e, pod_name(dag, task, run, -1, 2)) is None  # no second try
    e2e.rest.mark(dag, run, task, "success")
    wait_until(lambda: _phase(core_v1, e2e, first) is None, 60, "the marked task's pod to go")
    assert e2e.rest.wait_run(dag, run) == "success"


def test_waiting_for_resources_outlives_queued_timeout(e2e: E2E, core_v1: client.CoreV1Api) -> None:
    dag, run, tasks = "e2e_wait", "wait-1", ("gpu_a", "gpu_b", "gpu_c")
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run)
    logs = {
        t: e2e.airflow.home
        / "logs"
        / f"dag_id={dag}"
        / f"run_id={run}"
        / f"task_id={t}"
        / "attempt=1.log"
        for t in tasks
    }

    def waiting() -> list[str]:
        return [
            t for t, p in logs.items() if p.exists() and "waiting for resources" in p.read_text()
        ]

    def running_pods() -> list[str]:
        return [t for t in tasks if _phase(core_v1, e2e, pod_name(dag, t, run, -1, 1)) == "Running"]

    wait_until(
        lambda: len(running_pods()) == 2 and len(waiting()) == 1, 120, "two GPU pods and one waiter"
    )
    (waiter,) = waiting()
    assert "nvidia.com/gpu" in logs[waiter].read_text()
    time.sleep(2 * QUEUED_TIMEOUT + 5)  # well past Airflow's task_queued_timeout
    instances = e2e.rest.task_instances(dag, run)
    assert {t: (ti["state"], ti["try_number"]) for t, ti in instances.items()} == {
        t: ("running", 1) for t in tasks
    }
    assert _phase(core_v1, e2e, pod_name(dag, waiter, run, -1, 1)) is None  # still not created
    first_done = next(t for t in tasks if t != waiter)
    e2e.rest.mark(dag, run, first_done, "success")  # frees one GPU
    wait_until(
        lambda: _phase(core_v1, e2e, pod_name(dag, waiter, run, -1, 1)) == "Running",
        120,
        "the waiter to start",
    )
    for t in tasks:
        if t != first_done:
            e2e.rest.mark(dag, run, t, "success")
    assert e2e.rest.wait_run(dag, run) == "success"
    assert all(ti["try_number"] == 1 for ti in e2e.rest.task_instances(dag, run).values())
    assert _phase(core_v1, e2e, pod_name(dag, waiter, run, -1, 2)) is None  # never duplicated


def _phase(core: client.CoreV1Api, e2e: E2E, name: str) -> str | None:
    return pod_phase(core, e2e.namespace, name)


def test_the_executor_reports_its_metrics_to_statsd(e2e: E2E) -> None:
    """Airflow's Stats carries them: statsd here, OpenTelemetry likewise by configuration."""
    statsd = e2e.statsd
    assert statsd is not None
    e2e.rest.wait_for_dag("kaapana_dummy")
    e2e.rest.trigger("kaapana_dummy", "metrics-1")
    assert e2e.rest.wait_run("kaapana_dummy", "metrics-1") == "success"
    expected = {
        "airflow.kaapana_executor.launch.queued_to_created",
        "airflow.kaapana_executor.launch.created_to_running",
        "airflow.kaapana_executor.admission.wait",
        "airflow.kaapana_executor.admission.waiting",
        "airflow.kaapana_executor.tracked",
        "airflow.kaapana_executor.node.free.cpu.kwok-cpu-1",
    }
    wait_until(lambda: expected <= statsd.names(), 60, f"metrics {sorted(expected)}")
