"""KaapanaExecutor end to end on the real node: real Airflow, real containers, real files.

The KWOK suite (test_executor_e2e.py) covers the executor's bookkeeping at scale; here the
same paths run real processing containers (the examples' images, uid 1000, all capabilities
dropped, ``runAsNonRoot``): outputs written and verified by checksums, ScaleRules measured
on files a container wrote, kernel OOM kills, kubelet image pulls with and without a pull
secret, the kubelet refusing a root image, SIGTERM on clear, and the container's own output in
the live and the persisted log. DAGs: examples/dags and tests/integration/real_dags.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kaapana_executor import quantity
from kaapana_executor.k8s.names import pod_name
from tests.support.airflow import E2E, wait_until
from tests.support.cluster import Cluster, pod_phase, start_local_env, watch_events
from tests.support.polling import wait_until as wait_for
from tests.support.real_node import labelled_namespace, node_ready

pytestmark = pytest.mark.cluster

UID = 1000  # the examples' images run as this user


def _pod(core: client.CoreV1Api, e2e: E2E, dag: str, task: str, run: str, n: int) -> client.V1Pod:
    return core.read_namespaced_pod(pod_name(dag, task, run, -1, n), e2e.namespace)


def _phase(core: client.CoreV1Api, e2e: E2E, name: str) -> str | None:
    return pod_phase(core, e2e.namespace, name)


def _run(e2e: E2E, dag: str, run: str, conf: dict[str, object] | None = None) -> str:
    """Trigger and wait; the run's state, with every task's log appended when it failed."""
    e2e.rest.wait_for_dag(dag)
    e2e.rest.trigger(dag, run, conf)
    state = e2e.rest.wait_run(dag, run, timeout=300)
    if state != "success":
        for task, ti in e2e.rest.task_instances(dag, run).items():
            for try_number in range(1, int(ti["try_number"] or 0) + 1):
                print(f"--- {dag}/{run}/{task} try {try_number}")
                print(e2e.rest.log(dag, run, task, try_number))
    return state


def _log_so_far(e2e: E2E, dag: str, run: str, task: str, try_number: int) -> str:
    """The task's log, or "" while the try does not exist yet (the API answers 404)."""
    try:
        return e2e.rest.log(dag, run, task, try_number)
    except AssertionError:
        return ""


def _verify_sums(directory: Path) -> list[str]:
    """Check a SHA256SUMS file the way ``sha256sum -c`` does; returns the names checked."""
    names = []
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name
        names.append(name)
    return names


def test_outputs_are_real_files_and_downstream_verifies_them(
    real_e2e: E2E, core_v1: client.CoreV1Api, real_node: str
) -> None:
    conf: dict[str, object] = {"task_form": {"upstream": {"env": {"MODE": "thorough"}}}}
    assert _run(real_e2e, "kaapana_dummy", "dummy-real", conf) == "success"
    up = _pod(core_v1, real_e2e, "kaapana_dummy", "upstream", "dummy-real", 1)
    assert up.spec.node_name == real_node
    run = real_e2e.data_root / "kaapana_dummy" / "dummy-real"
    for channel in ("channel1", "channel2"):
        directory = run / "upstream" / channel
        names = _verify_sums(directory)
        assert names == [*(f"item-{i}.txt" for i in range(1, 7)), "payload.bin"]
        assert (directory / "payload.bin").stat().st_size == 64 * 1024
        # written by the container's unprivileged user into a directory the executor made
        assert (directory / "payload.bin").stat().st_uid == UID
    result = run / "downstream" / "result" / "verified.txt"
    assert result.read_text().splitlines() == [
        f"channel{n}: 7 files verified, {6 * 37 + 64 * 1024} bytes" for n in (1, 2)
    ]
    assert result.stat().st_uid == UID
    upstream_log = real_e2e.rest.log("kaapana_dummy", "dummy-real", "upstream", 1)
    assert f"upstream: uid {UID} (kaapana), MODE=thorough" in upstream_log
    assert "producing channel1: 8 files" in upstream_log
    downstream_log = real_e2e.rest.log("kaapana_dummy", "dummy-real", "downstream", 1)
    assert "channel2: 7 files verified" in downstream_log


def test_fan_in_combines_two_real_producers(real_e2e: E2E) -> None:
    assert _run(real_e2e, "kaapana_fan_in", "fan-real") == "success"
    run = real_e2e.data_root / "kaapana_fan_in" / "fan-real"
    combined = run / "combine" / "combined"
    assert len(_verify_sums(combined)) == 2 + 4 + 6  # two series.txt, 4 + 6 slices
    report = (run / "summarize" / "report" / "report.txt").read_text().splitlines()
    assert report == [
        "dataset report",
        "series a: 4 slices, 131072 bytes",
        "series b: 6 slices, 196608 bytes",
        "files verified: 12",
    ]
    assert "report written" in real_e2e.rest.log("kaapana_fan_in", "fan-real", "summarize", 1)


def test_scale_rule_measures_what_the_upstream_container_wrote(
    real_e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    assert _run(real_e2e, "real_scale", "scale-1") == "success"
    channel = real_e2e.data_root / "real_scale" / "scale-1" / "upstream" / "channel1"
    written = sum(p.stat().st_size for p in channel.iterdir())
    assert written > 40 * 2**20  # 40 MiB payload, written by the container
    log = real_e2e.rest.log("real_scale", "scale-1", "downstream", 1)
    found = re.search(r"scale rule on channel1: sum measured (\d+) bytes, needs (\d+) bytes", log)
    assert found, log
    assert int(found.group(1)) == written
    needed = int(found.group(2))
    assert needed >= 4 * written  # scale_factor 4 (plus headroom)
    down = _pod(core_v1, real_e2e, "real_scale", "downstream", "scale-1", 1)
    limit = down.spec.containers[0].resources.limits["memory"]
    assert quantity.whole(limit) == needed > quantity.whole("128Mi")  # raised from the template's


def test_nonzero_exit_fails_with_the_code(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_exit3", "exit3-1") == "failed"
    first = real_e2e.rest.log("real_exit3", "exit3-1", "exit3", 1)
    second = real_e2e.rest.log("real_exit3", "exit3-1", "exit3", 2)
    assert "container failed with exit code 3" in first and "reporting up_for_retry" in first
    assert "container failed with exit code 3" in second and "reporting failed" in second
    assert "about to fail" in first and "about to fail" in second


def test_kernel_oom_kill_fails_with_the_limit(real_e2e: E2E, core_v1: client.CoreV1Api) -> None:
    assert _run(real_e2e, "real_oom", "oom-1") == "failed"
    pod = _pod(core_v1, real_e2e, "real_oom", "oom", "oom-1", 1)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)
    log = real_e2e.rest.log("real_oom", "oom-1", "oom", 1)
    assert "container was OOMKilled at its memory limit 64Mi (exit code 137)" in log


def test_oom_kill_behind_exit_code_0_is_a_failure(real_e2e: E2E, core_v1: client.CoreV1Api) -> None:
    """The kernel killed a process of the task: its result cannot be trusted, whatever the
    shell's exit code says."""
    assert _run(real_e2e, "real_oom_exit0", "oom0-1") == "failed"
    pod = _pod(core_v1, real_e2e, "real_oom_exit0", "oom", "oom0-1", 1)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 0)
    log = real_e2e.rest.log("real_oom_exit0", "oom0-1", "oom", 1)
    assert "after the kill" in log  # the shell went on
    assert "container was OOMKilled at its memory limit 64Mi (exit code 0)" in log


def test_kubelet_pulls_with_the_tasks_pull_secret(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_pull_secret_inline", "secret-inline-1") == "success"
    log = real_e2e.rest.log("real_pull_secret_inline", "secret-inline-1", "private", 1)
    assert f"pulled with a secret, uid {UID}" in log


def test_tasks_pull_secret_also_reads_the_processing_container(real_e2e: E2E) -> None:
    """The template is named, so the executor reads processing-container.json from the
    basic-auth registry itself: with the same secret the kubelet gets."""
    assert _run(real_e2e, "real_pull_secret", "secret-1") == "success"
    channel = real_e2e.data_root / "real_pull_secret" / "secret-1" / "private" / "channel1"
    assert "payload.bin" in _verify_sums(channel)
    assert "producing channel1" in real_e2e.rest.log("real_pull_secret", "secret-1", "private", 1)


def test_without_the_secret_the_kubelet_cannot_pull(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_no_secret", "nosecret-1") == "failed"
    log = real_e2e.rest.log("real_no_secret", "nosecret-1", "private", 1)
    assert "pod could not start: image pull error" in log
    assert "authorization failed: no basic auth credentials" in log, log


def test_missing_tag_fails_after_the_pull_grace(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_missing_tag", "missing-1") == "failed"
    log = real_e2e.rest.log("real_missing_tag", "missing-1", "missing", 1)
    assert "pod could not start: image pull error" in log
    assert re.search(r"(ErrImagePull|ImagePullBackOff).*no-such-tag.*not found", log), log


def test_root_image_under_run_as_non_root_fails_with_the_kubelets_reason(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_root_image", "root-1") == "failed"
    log = real_e2e.rest.log("real_root_image", "root-1", "root", 1)
    assert "pod could not start: config error, CreateContainerConfigError" in log
    assert "container has runAsNonRoot and image will run as root" in log


class LastState:
    """Follows one pod until it is deleted, keeping its last terminated container state."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str) -> None:
        self.terminated: Any = None
        self.deleted = threading.Event()
        self._args = (core, namespace, name)
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        core, namespace, name = self._args
        selector = f"metadata.name={name}"
        for event in watch_events(
            core.list_namespaced_pod, namespace, field_selector=selector, timeout_seconds=120
        ):
            for status in event["object"].status.container_statuses or []:
                if status.state.terminated is not None:
                    self.terminated = status.state.terminated
            if event["type"] == "DELETED":
                self.deleted.set()
                return


def test_clear_stops_the_container_and_the_next_try_starts_clean(
    real_e2e: E2E, core_v1: client.CoreV1Api
) -> None:
    dag, run, task = "real_clear", "clear-1", "forever"
    real_e2e.rest.wait_for_dag(dag)
    real_e2e.rest.trigger(dag, run)
    first, second = pod_name(dag, task, run, -1, 1), pod_name(dag, task, run, -1, 2)
    work = real_e2e.data_root / dag / run / task / "work"

    def live(try_number: int, text: str) -> bool:
        return text in _log_so_far(real_e2e, dag, run, task, try_number)

    # the live log, while the pod runs, holds what the container printed
    wait_until(lambda: live(1, "working"), 120, "try 1's live log")
    assert live(1, "entries at start: 0")
    assert [p.name for p in work.iterdir()] == [f"written-by-{first}"]
    follow = LastState(core_v1, real_e2e.namespace, first)
    real_e2e.rest.clear(dag, run, [task])
    assert follow.deleted.wait(90), "try 1's pod was not deleted"
    # The container's trap answered SIGTERM (exit 143): it was stopped within the grace
    # period, not killed at its end (137).
    assert follow.terminated is not None and follow.terminated.exit_code == 143
    wait_until(lambda: live(2, "working"), 120, "try 2's live log")
    assert live(2, "entries at start: 0")  # the executor cleaned try 1's file
    assert [p.name for p in work.iterdir()] == [f"written-by-{second}"]
    # try 1's pod is gone; its persisted log has its real output
    persisted = real_e2e.rest.log(dag, run, task, 1)
    assert "entries at start: 0" in persisted and "working" in persisted
    real_e2e.rest.mark(dag, run, task, "success")
    wait_until(lambda: _phase(core_v1, real_e2e, second) is None, 60, "try 2's pod to go")
    assert real_e2e.rest.wait_run(dag, run) == "success"
    assert "working" in real_e2e.rest.log(dag, run, task, 2)


def test_kaapana_task_run_k8s_on_the_real_node(
    cluster: Cluster, core_v1: client.CoreV1Api, real_node: str, real_e2e: E2E, tmp_path: Path
) -> None:
    namespace = labelled_namespace(core_v1, cluster.env, "t-cli-real")
    try:
        task = tmp_path / "upstream.json"
        task.write_text(
            json.dumps(
                {
                    "name": "cli upstream",
                    "image": f"{cluster.registry}/kaapana/dummy:1",
                    "taskTemplate": "upstream",
                    "env": [{"name": "TIME_SLEEP", "value": "0"}],
                }
            )
        )
        command = [
            sys.executable, "-m", "kaapana_executor.cli", "run", "--mode", "k8s", "--watch",
            "--namespace", namespace, "--kubeconfig", cluster.kubeconfig,
            "--data-dir", str(tmp_path / "data"), "--run-id", "cli-1", "--record",
            str(tmp_path / "record.json"), str(task),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "producing channel1" in done.stdout
        channel = tmp_path / "data" / "kaapana-task" / "cli-1" / "upstream" / "channel1"
        assert "payload.bin" in _verify_sums(channel)
        pods = core_v1.list_namespaced_pod(namespace).items
        assert [p.spec.node_name for p in pods] == [real_node]
    finally:
        core_v1.delete_namespace(namespace)


def test_the_platform_secret_is_resolved_by_the_kubelet(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_platform_env", "platform-1") == "success"
    log = real_e2e.rest.log("real_platform_env", "platform-1", "env", 1)
    assert "aii=http://aii-service.services.svc:8080 secret=the-client-secret" in log


def test_a_5_s_execution_timeout_stops_a_container_that_never_ends(real_e2e: E2E) -> None:
    assert _run(real_e2e, "real_timeout", "timeout-1") == "failed"
    log = real_e2e.rest.log("real_timeout", "timeout-1", "hang", 1)
    assert "hanging" in log
    assert "timed out after 5 s (execution_timeout)" in log
    assert "DeadlineExceeded" in log or "deadline" in log  # the kubelet's, not our backstop's
    duration = real_e2e.rest.task_instances("real_timeout", "timeout-1")["hang"]["duration"]
    assert duration < 5 + 20, duration  # from /run to the final state: about the 5 s


def test_a_task_on_a_node_whose_kubelet_stopped_fails_naming_the_node(
    real_e2e: E2E, core_v1: client.CoreV1Api, real_node: str, cluster: Cluster
) -> None:
    """The node turns NotReady, the pod is evicted but stays Terminating (no kubelet to stop
    it): the executor takes the pod for lost instead of waiting for it forever."""
    dag, run = "real_kubelet", "kubelet-1"
    real_e2e.rest.wait_for_dag(dag)
    real_e2e.rest.trigger(dag, run)
    name = pod_name(dag, "forever", run, -1, 1)
    wait_until(lambda: _phase(core_v1, real_e2e, name) == "Running", 180, "the pod to run")
    pid = int((cluster.env.state_dir / "run" / "kubelet.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    try:
        assert real_e2e.rest.wait_run(dag, run, timeout=600) == "failed"
    finally:
        start_local_env()  # `scripts/cluster up`: the kubelet again
    wait_for(
        lambda: core_v1.read_node(real_node), node_ready, what="the node Ready again", timeout=180
    )
    log = real_e2e.rest.log(dag, run, "forever", 1)
    assert f"pod lost on node {real_node}" in log
    assert "the node is gone or its kubelet stopped" in log
