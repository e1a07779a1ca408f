"""The demo behind ``scripts/demo``: see that script. Run from the repository root."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from examples.images.push import push_examples  # noqa: E402
from tests.support.airflow import EXAMPLE_DAGS, local_settings, running_airflow  # noqa: E402

DEMO_HOME = Path.home() / ".cache" / "kaapana-executor" / "demo"
NAMESPACE = "kaapana-demo"
RUNS = {
    "kaapana_dummy": {"task_form": {"upstream": {"env": {"MODE": "thorough"}}}},
    "kaapana_fan_in": {},
}
LOG_LINES = 3
FILES_SHOWN = 5


def cluster_env() -> dict[str, str]:
    out = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], check=True, capture_output=True, text=True
    )
    values: dict[str, str] = json.loads(out.stdout)
    return values


def ensure_namespace(env: dict[str, str]) -> None:
    """The demo's namespace (its pods are placed on the real node by the executor's settings)."""
    kubectl = [str(Path(env["KAAPANA_BIN_DIR"]) / "kubectl"), "--kubeconfig", env["KUBECONFIG"]]
    subprocess.run([*kubectl, "create", "namespace", NAMESPACE], capture_output=True, check=False)


def container_lines(log_file: Path) -> list[str]:
    """What the container printed, from the task log the executor wrote."""
    if not log_file.exists():
        return []
    lines = []
    for raw in log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("logger") == "container":
            lines.append(str(record.get("event", "")))
    return lines


def show_task(home: Path, dag_id: str, task_id: str, ti: dict[str, object]) -> None:
    """The files the task's container wrote (sizes) and its last log lines."""
    run_dir = home / "data" / dag_id / "demo"  # {data_root}/{dag_id}/{run_id}
    written = sorted(p for p in (run_dir / task_id).rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in written)
    print(f"    wrote {len(written)} files, {total} bytes:")
    for path in written[:FILES_SHOWN]:
        print(f"      {path.relative_to(run_dir)} ({path.stat().st_size} bytes)")
    if len(written) > FILES_SHOWN:
        print(f"      ... and {len(written) - FILES_SHOWN} more")
    log = home / "logs" / f"dag_id={dag_id}" / "run_id=demo" / f"task_id={task_id}"
    lines = container_lines(log / f"attempt={ti.get('try_number', 1)}.log")
    print(f"    last log lines ({len(lines)} in all):")
    for line in lines[-LOG_LINES:]:
        print(f"      | {line}")


def kaapana_settings(env: dict[str, str], home: Path) -> dict[str, str]:
    """Every pod on the real node: it tolerates the node's taint and selects it by name (the
    resource ledger sees both, so it admits the pods onto that node)."""
    toleration = {"key": "kaapana.io/real-node", "operator": "Exists", "effect": "NoSchedule"}
    return local_settings(
        NAMESPACE,
        env["KUBECONFIG"],
        [env["KAAPANA_REGISTRY"]],
        home,
        cache_dir=str(DEMO_HOME / "image-cache"),
        pod_tolerations=json.dumps([toleration]),
        pod_node_selector=json.dumps({"kubernetes.io/hostname": env["KAAPANA_REAL_NODE"]}),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="stop Airflow after the runs")
    args = parser.parse_args()
    env = cluster_env()
    if not env.get("KAAPANA_REAL_NODE"):
        print(
            "the demo runs its containers on the real node; this cluster has none", file=sys.stderr
        )
        return 1
    images = push_examples(env["KAAPANA_REGISTRY"])
    print("pushed example images:", ", ".join(images.values()))
    ensure_namespace(env)
    home = DEMO_HOME / time.strftime("%Y%m%d-%H%M%S")
    (home / "data").mkdir(parents=True)
    extra = {"KUBECONFIG": env["KUBECONFIG"]}
    ok = True
    for airflow, rest in running_airflow(home, [EXAMPLE_DAGS], kaapana_settings(env, home), extra):
        print(f"Airflow is up at {airflow.url} (login admin / admin); home {home}")
        print(f"containers run on node {env['KAAPANA_REAL_NODE']}, namespace {NAMESPACE}")
        for dag_id, conf in RUNS.items():
            rest.wait_for_dag(dag_id)
            rest.trigger(dag_id, "demo", conf)
        for dag_id in RUNS:
            state = rest.wait_run(dag_id, "demo", timeout=300)
            ok = ok and state == "success"
            print(f"\n{dag_id}: run 'demo' {state}")
            for task_id, ti in rest.task_instances(dag_id, "demo").items():
                link = f"{airflow.url}/dags/{dag_id}/runs/demo/tasks/{task_id}"
                print(f"  {task_id:12} {ti['state']:10} {link}")
                show_task(home, dag_id, task_id, ti)
        print(f"\ntask logs: {home / 'logs'}\nrun data:  {home / 'data'}")
        print(f"pods:      KUBECONFIG={env['KUBECONFIG']} kubectl -n {NAMESPACE} get pods")
        if not args.once:
            print("\nAirflow keeps running; Ctrl-C stops it.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
