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
from tests.support.airflow import EXAMPLE_DAGS, running_airflow  # noqa: E402

DEMO_HOME = Path.home() / ".cache" / "kaapana-executor" / "demo"
NAMESPACE = "kaapana-demo"
RUNS = {
    "kaapana_dummy": {"task_form": {"upstream": {"env": {"MODE": "thorough"}}}},
    "kaapana_fan_in": {},
}


def cluster_env() -> dict[str, str]:
    out = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], check=True, capture_output=True, text=True
    )
    values: dict[str, str] = json.loads(out.stdout)
    return values


def ensure_namespace(kubeconfig: str) -> None:
    subprocess.run(
        [
            str(Path(cluster_env()["KAAPANA_BIN_DIR"]) / "kubectl"),
            "--kubeconfig",
            kubeconfig,
            "create",
            "namespace",
            NAMESPACE,
        ],
        capture_output=True,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="stop Airflow after the runs")
    args = parser.parse_args()
    env = cluster_env()
    images = push_examples(env["KAAPANA_REGISTRY"])
    print("pushed example images:", ", ".join(images.values()))
    ensure_namespace(env["KUBECONFIG"])
    home = DEMO_HOME / time.strftime("%Y%m%d-%H%M%S")
    (home / "data").mkdir(parents=True)
    kaapana = {
        "namespace": NAMESPACE,
        "kubeconfig": env["KUBECONFIG"],
        "data_root": str(home / "data"),
        "insecure_registries": env["KAAPANA_REGISTRY"],
        "cache_dir": str(DEMO_HOME / "image-cache"),
        # what the example task.json files template as {{ env.KAAPANA_REGISTRY }}
        "template_env": json.dumps({"KAAPANA_REGISTRY": env["KAAPANA_REGISTRY"]}),
    }
    extra = {"KUBECONFIG": env["KUBECONFIG"]}
    ok = True
    for airflow, rest in running_airflow(home, [EXAMPLE_DAGS], kaapana, extra):
        print(f"Airflow is up at {airflow.url} (login admin / admin); home {home}")
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
