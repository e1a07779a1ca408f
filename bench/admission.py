"""Over-commit with and without resource admission, on the local cluster (issue 6, bench c).

Run: ``scripts/cluster up && .venv/bin/python -m bench.admission [--tasks 150]``.
The same mixed workload (1-6 CPU, 2-4 s) far above the cluster's 16 schedulable CPUs goes
through the executor's engine twice: with the ledger gating launches, and without (every pod
created at once, as KubernetesExecutor does). The real kube-scheduler is the judge: pods it
reports Unschedulable are over-commit. Also: makespan and the peak CPU running at once.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.ledger.ledger import Ledger
from tests.support.engine import PodJudge, drive, engine, ref, task_config
from tests.support.kwok import lifecycle

REPO = Path(__file__).resolve().parents[1]


def run(kubeconfig: str, tasks: int, gated: bool) -> dict[str, float]:
    api = load_api_client(kubeconfig)
    core = client.CoreV1Api(api)
    namespace = f"bench-adm-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    rng = random.Random(11)
    work = []
    for i in range(tasks):
        resources = {
            "requests": {"cpu": rng.choice(["1", "2", "4", "6"]), "memory": "512Mi"},
            "limits": {"memory": "1Gi"},
        }
        annotations = lifecycle(run=rng.choice(["2s", "3s", "4s"]), start_delay="200ms")
        work.append(ref("bench", namespace, f"t{i:03d}", task_config(annotations, resources)))
    try:
        with tempfile.TemporaryDirectory() as data:
            settings = ExecutorSettings(
                namespace=namespace, data_root=data, unschedulable_timeout=3600
            )
            eng = engine(settings, KubeGateway(api), Ledger() if gated else None)
            with PodJudge(core, namespace) as judge:
                eng.start()
                started = time.monotonic()
                for task in work:
                    eng.submit(task)
                drive(eng, {t.key for t in work}, timeout=1800)
                makespan = time.monotonic() - started
                eng.stop()
        for name, message in sorted(judge.messages.items())[:5]:
            print(f"  unschedulable {name}: {message}")
        return {
            "unschedulable_pods": float(len(judge.unschedulable)),
            "makespan_s": makespan,
            "peak_cpu_running": judge.peak_cpu / 1000,
        }
    finally:
        core.delete_namespace(namespace)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=150)
    args = parser.parse_args()
    out = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], check=True, capture_output=True, text=True
    )
    kubeconfig = json.loads(out.stdout)["KUBECONFIG"]
    for gated in (True, False):
        result = run(kubeconfig, args.tasks, gated)
        label = "ledger admission" if gated else "no admission"
        print(label + ": " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
