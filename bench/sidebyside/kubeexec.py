"""Airflow's KubernetesExecutor (cncf.kubernetes provider) on the same pool, same pod, same loop.

Driven the way its own tests drive it: ``start()``, ``queue_workload`` for every task, then the
scheduler's loop calling ``heartbeat()`` (``trigger_tasks`` then ``sync()``: it builds and
creates pods inside that call, up to ``worker_pods_creation_batch_size`` per loop, one after
another or, with ``async_pod_creation``, concurrently on an asyncio client). Its pod template
is our pod (:func:`bench.sidebyside.shape.pod_template`).

Each setting runs in a child process (``python -m bench.sidebyside.kubeexec``) with a
temporary AIRFLOW_HOME (SQLite) and its settings as ``AIRFLOW__*`` variables: Airflow reads its
configuration once per process. Differences from a deployment, all in its favour: the job id
is not numeric, so it skips its per-pod database check that the task instance is still queued
(no task instance rows exist here); ``[core] parallelism`` is raised so that it does not cap
the 500 running tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.sidebyside import shape
from bench.sidebyside.common import REPO, Arrivals, Run, fill, namespace, scheduler_loop
from bench.sidebyside.kaapana import loop_label
from bench.sidebyside.pool import Pool
from kaapana_executor.k8s.client import load_api_client


def tuning_env(batch: int, concurrency: int | None) -> dict[str, str]:
    """``[kubernetes_executor]`` settings: the batch size and, if given, async creation."""
    env = {"AIRFLOW__KUBERNETES_EXECUTOR__WORKER_PODS_CREATION_BATCH_SIZE": str(batch)}
    if concurrency is not None:
        env["AIRFLOW__KUBERNETES_EXECUTOR__ASYNC_POD_CREATION"] = "True"
        env["AIRFLOW__KUBERNETES_EXECUTOR__POD_CREATION_MAX_CONCURRENCY"] = str(concurrency)
    return env


def run_kubernetes_executor(
    kubeconfig: str,
    pool: Pool,
    tasks: int,
    period: float,
    data: Path,
    batch: int,
    concurrency: int | None,
    budget: float,
) -> Run:
    """One launch by KubernetesExecutor in a child process; its Run comes back as JSON."""
    tuning = f"batch {batch}" + (f", async x{concurrency}" if concurrency else ", sequential")
    api = load_api_client(kubeconfig)
    with namespace(api) as ns:
        home = data / f"airflow-{ns}"
        home.mkdir()
        template = home / "pod_template.json"  # JSON is YAML: the provider reads it with PyYAML
        template.write_text(json.dumps(shape.pod_template(shape.settings(ns, data, pool))))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
            **_airflow_env(home, ns, template, kubeconfig),
            **tuning_env(batch, concurrency),
        }
        cmd = [sys.executable, "-m", "bench.sidebyside.kubeexec", ns, str(tasks), str(period)]
        cmd += [str(budget), kubeconfig]
        out = subprocess.run(
            cmd,
            check=False,
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=budget + 300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"KubernetesExecutor run failed:\n{out.stderr[-3000:]}")
        fields = json.loads(out.stdout.strip().splitlines()[-1])
    run = Run(**fields)
    run.setting = f"{tuning}, {loop_label(period)}"
    return run


def _airflow_env(home: Path, ns: str, template: Path, kubeconfig: str) -> dict[str, str]:
    section = "AIRFLOW__KUBERNETES_EXECUTOR__"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor",
        "AIRFLOW__CORE__PARALLELISM": "100000",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        f"{section}NAMESPACE": ns,
        f"{section}POD_TEMPLATE_FILE": str(template),
        f"{section}WORKER_CONTAINER_REPOSITORY": "registry.invalid/kaapana/dummy",
        f"{section}WORKER_CONTAINER_TAG": "1",
        f"{section}IN_CLUSTER": "False",
        f"{section}CONFIG_FILE": kubeconfig,
        f"{section}DELETE_WORKER_PODS": "True",
    }


def workload(i: int, run_id: str) -> Any:
    """An ExecuteTask as the scheduler queues it (the fields its pod is built from)."""
    from airflow.executors.workloads import BundleInfo, ExecuteTask, TaskInstanceDTO

    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id=f"t{i:05d}",
        dag_id="bench",
        run_id=run_id,
        try_number=1,
        dag_version_id=uuid.uuid4(),
        map_index=-1,
        pool_slots=1,
        priority_weight=1,
        queue="default",
        executor_config={},
    )
    return ExecuteTask(
        ti=ti,
        dag_rel_path=Path("bench.py"),
        token="",
        log_path=f"dag_id=bench/run_id={run_id}/task_id={ti.task_id}/attempt=1.log",
        bundle_info=BundleInfo(name="dags-folder"),
    )


def child(ns: str, tasks: int, period: float, budget: float, kubeconfig: str) -> Run:
    """In the child process: start the executor, queue everything, loop until all exist."""
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor import (
        KubernetesExecutor,
    )

    executor = KubernetesExecutor()
    executor.job_id = "bench"  # see the module docstring
    executor.start()
    handing = [0.0]
    trigger = executor.trigger_tasks

    def timed_trigger(open_slots: int) -> None:  # the hand-over part of heartbeat()
        began = time.perf_counter()
        trigger(open_slots)
        handing[0] += time.perf_counter() - began

    executor.trigger_tasks = timed_trigger
    api = load_api_client(kubeconfig)
    run = Run("KubernetesExecutor", "", tasks)
    try:
        with Arrivals(api, ns) as seen:
            start = time.perf_counter()
            for i in range(tasks):
                executor.queue_workload(workload(i, "kexec"), session=None)
            done = lambda: len(seen.seen) >= tasks  # noqa: E731
            run.syncs = scheduler_loop(executor.heartbeat, done, period, budget)
            seen.wait_for(tasks, timeout=5)
        fill(run, seen, dict.fromkeys(seen.seen, start), start)
        run.handover = handing[0]
    finally:
        executor.end()
    if run.created < tasks:
        run.note = f"{run.created} of {tasks} created in {budget:g} s"
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description="one KubernetesExecutor launch (child)")
    parser.add_argument("namespace")
    parser.add_argument("tasks", type=int)
    parser.add_argument("period", type=float)
    parser.add_argument("budget", type=float)
    parser.add_argument("kubeconfig")
    args = parser.parse_args()
    run = child(args.namespace, args.tasks, args.period, args.budget, args.kubeconfig)
    print(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
