"""Pod startup on the real node: created → running, queued → running, and the first pull.

Run: ``scripts/cluster up && .venv/bin/python -m bench.real_node_startup [--pods 20]``.

Kubernetes' pod-startup SLO (sig-scalability): p99 ≤ 5 s from pod creation to all containers
started *as observed via watch*, for stateless pods with images already pulled. Measured here
the same way, with client-side clocks (the API's timestamps have one-second resolution):

- **created → running**, the baseline: ``create_namespaced_pod`` returns → a watch sees the
  pod ``Running``; one pod at a time, then ``--rounds`` batches of ``--pods`` created at
  once, alternating with the executor's batches; each batch starts on an empty node (the
  previous pods finished and deleted), so none pays for another's teardown.
- **queued → running**: the same pods through the executor's engine (tests/support/engine.py:
  real spec, pod building, gateway and watches; only the Execution API is in-process), from
  ``submit`` → a watch sees ``Running``. Its ratio to the baseline is the executor's cost.
- **first pull**: created → running for an image the node has never seen: a fresh layer of
  ``--pull-mib`` random MiB over the busybox layer every image here shares (local registry).

Pods run ``sleep 2`` from the example dummy image (uid 1000, 10m CPU) in a namespace
labelled for the real node. The machine is shared: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from examples.images.push import push_examples
from kaapana_executor.config import ExecutorSettings, PodDeletion
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.oci.build import ImageBuilder
from kaapana_executor.oci.busybox import USER, with_userland
from kaapana_executor.oci.push import PushClient
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY
from tests.support.cluster import LocalEnv
from tests.support.engine import drive, engine, ref
from tests.support.real_node import labelled_namespace

REPO = Path(__file__).resolve().parents[1]
SLO_P99_S = 5.0
COMMAND = ["/bin/sh", "-c", "sleep 2"]


class RunningWatch:
    """Records, per pod name, the monotonic time a watch first saw it ``Running``."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self._core, self._namespace = core, namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call, unused-ignore]
                self._core.list_namespaced_pod, self._namespace, timeout_seconds=5
            )
            for event in stream:
                pod = event["object"]
                if pod.status.phase in ("Running", "Succeeded"):
                    self.seen.setdefault(pod.metadata.name, time.monotonic())

    def wait(self, names: set[str], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not names <= set(self.seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"never Running: {sorted(names - set(self.seen))}")
            time.sleep(0.02)

    def __enter__(self) -> RunningWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _pod(name: str, image: str) -> client.V1Pod:
    container = client.V1Container(
        name="main",
        image=image,
        command=COMMAND,
        resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(restart_policy="Never", containers=[container]),
    )


def direct(core: client.CoreV1Api, namespace: str, image: str, names: list[str]) -> list[float]:
    """Create the pods at once; seconds from each create's return to Running."""
    with RunningWatch(core, namespace) as seen:
        created = {}
        for name in names:
            core.create_namespaced_pod(namespace, _pod(name, image))
            created[name] = time.monotonic()
        seen.wait(set(names))
    return [seen.seen[n] - created[n] for n in names]


def _task(image: str) -> dict[str, Any]:
    task = {
        "name": "bench",
        "image": image,
        "taskTemplate": {"identifier": "sleep", "description": "bench", "command": COMMAND},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    return {EXECUTOR_CONFIG_KEY: {"task": json.dumps(task), "source": "bench.json"}}


def through_executor(api: client.ApiClient, namespace: str, image: str, tasks: int) -> list[float]:
    """Submit ``tasks`` at once to the engine; seconds from each submit to Running."""
    core = client.CoreV1Api(api)
    run = f"r{secrets.token_hex(3)}"
    work = [ref("bench", run, f"t{i:03d}", _task(image)) for i in range(tasks)]
    with tempfile.TemporaryDirectory() as data, RunningWatch(core, namespace) as seen:
        settings = ExecutorSettings(
            namespace=namespace,
            data_root=data,
            resource_admission=False,
            pod_deletion=PodDeletion.NEVER,  # listed afterwards, to match pods to tasks
        )
        eng = engine(settings, KubeGateway(api), None)
        eng.start()
        submitted = {}
        for task in work:
            eng.submit(task)
            submitted[task.key] = time.monotonic()
        drive(eng, {t.key for t in work}, timeout=600)
        eng.stop()
        by_key = {}
        for pod in core.list_namespaced_pod(namespace).items:
            key = (pod.metadata.annotations or {}).get(labels.ANN_TI_ID)
            by_key[pod.metadata.name] = key
    latencies = []
    names = {t.ti_id: t.key for t in work}
    for name, ti_id in by_key.items():
        if ti_id in names and name in seen.seen:
            latencies.append(seen.seen[name] - submitted[names[ti_id]])
    if len(latencies) != tasks:
        raise RuntimeError(f"matched {len(latencies)} of {tasks} pods to their tasks")
    return latencies


def fresh_image(registry: str, mib: int) -> str:
    """An image no node has pulled: the userland plus ``mib`` MiB of random bytes in a layer
    unique to this run (random, so gzip cannot shrink what the node downloads)."""
    nonce = secrets.token_bytes(mib * 2**20)
    image = with_userland(ImageBuilder()).layer({"bench/nonce": nonce}).user(USER).build()
    client_ = PushClient(registry)
    try:
        client_.push_image("bench/fresh", image.digest.split(":")[1][:16], image)
        return client_.reference("bench/fresh", image.digest.split(":")[1][:16])
    finally:
        client_.close()


def summary(label: str, values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    result = {"n": float(len(values)), "p50": statistics.median(values), "p99": p99}
    print(f"{label:50} n={len(values):3d}  p50 {result['p50']:6.2f} s  p99 {p99:6.2f} s")
    return result


def settle(core: client.CoreV1Api, namespace: str, timeout: float = 300) -> None:
    """Wait for the namespace's pods to finish, delete them and wait until they are gone, so
    that one measurement does not pay for the teardown of the one before."""
    deadline = time.monotonic() + timeout
    while any(
        p.status.phase not in ("Succeeded", "Failed")
        for p in core.list_namespaced_pod(namespace).items
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("pods did not finish")
        time.sleep(0.5)
    core.delete_collection_namespaced_pod(namespace)
    while core.list_namespaced_pod(namespace).items:
        if time.monotonic() > deadline:
            raise TimeoutError("pods were not deleted")
        time.sleep(0.5)


def _verdict(p99: float) -> str:
    return "met" if p99 <= SLO_P99_S else "missed"


def measure(api: client.ApiClient, namespace: str, image: str, fresh: str, args: Any) -> None:
    core = client.CoreV1Api(api)
    direct(core, namespace, image, ["warm-up"])  # the node pulls the image once
    first_pull = direct(core, namespace, fresh, ["first-pull"])
    settle(core, namespace)
    one: list[float] = []
    for i in range(args.sequential):
        one += direct(core, namespace, image, [f"one-{i}"])
    settle(core, namespace)
    batch: list[float] = []
    executor: list[float] = []
    for round_ in range(args.rounds):  # alternated, so that drift hits both alike
        names = [f"batch-{round_}-{i}" for i in range(args.pods)]
        batch += direct(core, namespace, image, names)
        settle(core, namespace)
        executor += through_executor(api, namespace, image, args.pods)
        settle(core, namespace)
    print(f"image pulled, command sleep 2; SLO: p99 <= {SLO_P99_S} s")
    summary(f"first pull ({args.pull_mib} MiB layer): created -> running", first_pull)
    seq = summary("one at a time: created -> running", one)
    base = summary(f"batches of {args.pods}: created -> running (baseline)", batch)
    through = summary(f"batches of {args.pods}: queued -> running (executor)", executor)
    print(
        f"executor / baseline: p50 {through['p50'] / base['p50']:.2f}x, "
        f"p99 {through['p99'] / base['p99']:.2f}x; SLO: one at a time {_verdict(seq['p99'])}, "
        f"batch {_verdict(base['p99'])}, executor {_verdict(through['p99'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=20, help="batch size")
    parser.add_argument("--sequential", type=int, default=10, help="pods one at a time")
    parser.add_argument("--pull-mib", type=int, default=32, help="size of the fresh layer")
    parser.add_argument("--rounds", type=int, default=2, help="batches of each kind")
    args = parser.parse_args()
    out = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], check=True, capture_output=True, text=True
    )
    env = json.loads(out.stdout)
    if not env.get("KAAPANA_REAL_NODE"):
        print("this cluster has no real node", file=sys.stderr)
        return 1
    print(f"real node {env['KAAPANA_REAL_NODE']}")
    image = push_examples(env["KAAPANA_REGISTRY"])["dummy"]
    fresh = fresh_image(env["KAAPANA_REGISTRY"], args.pull_mib)
    api = load_api_client(env["KUBECONFIG"])
    core = client.CoreV1Api(api)
    namespace = labelled_namespace(core, LocalEnv.from_json(env), "bench-start")
    try:
        measure(api, namespace, image, fresh, args)
    finally:
        core.delete_namespace(namespace)
        api.close()  # type: ignore[no-untyped-call, unused-ignore]
    return 0


if __name__ == "__main__":
    sys.exit(main())
