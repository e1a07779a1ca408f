"""Load for checking that the suite holds on a busy machine (issue 13: "green twice on a
loaded machine"): CPU burners and a second client that keeps creating and deleting pods.

Run beside the suite::

    eval "$(scripts/cluster env)"
    .venv/bin/python -m bench.background_load --burners 1 --pods 6 &
    scripts/test; kill %1

The client's pods go to a namespace of their own on the KWOK nodes (small requests, so the
cluster is shared, not filled) and are removed when it stops (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import signal
import sys
import threading
import time
from types import FrameType

from kubernetes import client

from bench.sidebyside.common import namespace
from kaapana_executor.k8s.client import load_api_client


def burn() -> None:
    """One CPU busy until killed."""
    while True:
        sum(i * i for i in range(10_000))


def tenant_pod(name: str) -> client.V1Pod:
    """A small pod for the KWOK nodes (they run nothing: it only takes room and API calls)."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": "background-load"}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox",
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "100m", "memory": "64Mi"}
                    ),
                )
            ],
            node_selector={"type": "kwok"},
        ),
    )


def churn(core: client.CoreV1Api, namespace: str, pods: int, stop: threading.Event) -> int:
    """Create ``pods`` pods, delete them, again, until ``stop``; returns the pods created."""
    created = 0
    while not stop.is_set():
        names = [f"load-{secrets.token_hex(4)}" for _ in range(pods)]
        for name in names:
            core.create_namespaced_pod(namespace, tenant_pod(name))
            created += 1
        stop.wait(2.0)
        for name in names:
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burners", type=int, default=1, help="CPU burner processes")
    parser.add_argument("--pods", type=int, default=6, help="pods created per round")
    args = parser.parse_args(argv)
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.burners)]
    for process in burners:
        process.start()
    api = load_api_client()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        with namespace(api, "background-load") as name:
            created = churn(client.CoreV1Api(api), name, args.pods, stop)
    finally:
        for process in burners:
            process.terminate()
    minutes = (time.monotonic() - started) / 60
    print(f"background load: {created} pods created in {minutes:.1f} min, {args.burners} burners")
    return 0


if __name__ == "__main__":
    sys.exit(main())
