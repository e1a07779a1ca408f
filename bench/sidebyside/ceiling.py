"""The plain-client ceiling: what the API server takes from ``create_namespaced_pod`` alone.

Sequential (one call after another) and with a pool of threads, creating exactly the pods the
launch pipeline built. Nothing else runs in the process, so this is the rate any executor
built on the same Python client can at best reach on this machine at this moment.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client

from bench.sidebyside import shape
from bench.sidebyside.common import Arrivals, Run, fill, namespace
from bench.sidebyside.pool import Pool
from kaapana_executor.k8s.client import load_api_client


def run_ceiling(kubeconfig: str, pool: Pool, tasks: int, threads: int, data: Path) -> Run:
    """Create ``tasks`` pods with ``threads`` threads (1: sequential); timed by the watch."""
    api = load_api_client(kubeconfig, pool_size=threads + 4)
    setting = "sequential" if threads == 1 else f"{threads} threads"
    run = Run("API server, plain client", setting, tasks)
    with namespace(api) as ns:
        config = shape.settings(ns, data, pool)
        pods = shape.built_pods(config, shape.refs(tasks, "ceiling"))
        core = client.CoreV1Api(api)
        with Arrivals(api, ns) as arrivals:
            start = time.perf_counter()
            queued = {pod.metadata.name: start for pod in pods}
            with ThreadPoolExecutor(threads) as workers:
                for _ in workers.map(lambda p: core.create_namespaced_pod(ns, p), pods):
                    pass
            arrivals.wait_for(tasks, timeout=60)
        return fill(run, arrivals, queued, start)
