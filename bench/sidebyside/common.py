"""What every measurement shares: the cluster, a node pool of our own, namespaces, timings.

Every system is judged by the same clock: an :class:`Arrivals` watch on the run's namespace
notes when the API server reports each pod added, so "created" means the same for the plain
client, KaapanaExecutor and KubernetesExecutor. The watch reads raw JSON lines and keeps only
the pod's name: decoding V1Pod objects would cost GIL time in the measured process.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

REPO = Path(__file__).resolve().parents[2]
#: Label (and taint key) of the KWOK nodes this bench creates; only nodes with it are deleted.
POOL_LABEL = "kaapana.io/bench-sidebyside"
#: Label of the namespaces this bench creates.
NAMESPACE_LABEL = "kaapana.io/bench-sidebyside-ns"


def cluster_env(name: str) -> str:
    """``name`` from the environment (``eval "$(scripts/cluster env)"``), else from
    ``scripts/cluster env`` (KUBECONFIG, KAAPANA_REGISTRY)."""
    if os.environ.get(name):
        return os.environ[name]
    out = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], check=True, capture_output=True, text=True
    ).stdout
    return str(json.loads(out)[name])


def kubeconfig() -> str:
    return cluster_env("KUBECONFIG")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``nan`` for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Run:
    """One measured launch of ``tasks`` pods by one system and setting."""

    system: str
    setting: str
    tasks: int
    created: int = 0
    seconds: float = float("nan")  # first queued → last pod added
    latencies: list[float] = field(default_factory=list)  # queued → added, per pod
    syncs: list[float] = field(default_factory=list)  # scheduler-thread time per loop
    handover: float = float("nan")  # of which: handing every task to the executor
    note: str = ""

    @property
    def rate(self) -> float:
        return self.created / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "rate": self.rate,
            "p99": percentile(self.latencies, 0.99),
            "sync_p50": percentile(self.syncs, 0.5),
            "sync_p99": percentile(self.syncs, 0.99),
            "sync_max": max(self.syncs) if self.syncs else float("nan"),
            "handover": self.handover,
        }


def scheduler_loop(
    tick: Callable[[], object], done: Callable[[], bool], period: float, timeout: float
) -> list[float]:
    """Play the scheduler loop: ``tick`` every ``period`` s until ``done``; each tick's time.

    Like Airflow's scheduler, the next loop starts ``period`` after the last one ended, less
    the time the tick itself took.
    """
    durations: list[float] = []
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        began = time.perf_counter()
        tick()
        took = time.perf_counter() - began
        durations.append(took)
        time.sleep(max(0.0, period - took))
    return durations


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


class Arrivals:
    """When each pod of ``namespace`` was first reported added (``time.perf_counter``)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self._core, self._namespace = client.CoreV1Api(api), namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-arrivals", daemon=True)
        self._version = ""

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch_once()
            except ApiException as exc:
                if exc.status == 410:  # too old: start over (only new pods matter anyway)
                    self._version = ""
                time.sleep(0.1)

    def _watch_once(self) -> None:
        response = self._core.list_namespaced_pod(
            self._namespace,
            watch=True,
            timeout_seconds=2,
            resource_version=self._version or None,
            allow_watch_bookmarks=False,
            _preload_content=False,
        )
        try:
            for line in iter_resp_lines(response):
                event = json.loads(line)
                meta = event["object"]["metadata"]
                self._version = meta.get("resourceVersion", self._version)
                if event["type"] == "ADDED":
                    self.seen.setdefault(meta["name"], time.perf_counter())
        finally:
            response.release_conn()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.seen) >= count

    def __enter__(self) -> Arrivals:
        self._thread.start()
        time.sleep(0.3)  # the watch is open before anything is created
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def fill(run: Run, arrivals: Arrivals, queued: dict[str, float], start: float) -> Run:
    """Creation figures of ``run`` from what ``arrivals`` saw of the ``queued`` pods."""
    times = {name: arrivals.seen[name] for name in queued if name in arrivals.seen}
    run.created = len(times)
    if times:
        run.seconds = max(times.values()) - start
        run.latencies = [times[name] - queued[name] for name in times]
    return run


@contextmanager
def namespace(api: client.ApiClient, prefix: str = "bench-perf2") -> Iterator[str]:
    """A fresh namespace, deleted afterwards; waits until its pods are gone, so the next
    run does not share the API server with this one's deletions."""
    core = client.CoreV1Api(api)
    name = f"{prefix}-{secrets.token_hex(3)}"
    meta = client.V1ObjectMeta(name=name, labels={NAMESPACE_LABEL: "1"})
    core.create_namespace(client.V1Namespace(metadata=meta))
    _wait_default_account(core, name)
    try:
        yield name
    finally:
        delete_namespace(core, name)


def _wait_default_account(core: client.CoreV1Api, name: str) -> None:
    """Admission refuses pods until the controller-manager made the default ServiceAccount."""
    for _ in range(300):
        try:
            core.read_namespaced_service_account("default", name)
            return
        except ApiException:
            time.sleep(0.1)


def delete_namespace(core: client.CoreV1Api, name: str, timeout: float = 180) -> None:
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return
        time.sleep(1)
