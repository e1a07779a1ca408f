"""k8s mode: the executor's pod, created on a cluster, its log streamed until it ends.

Creation goes through the executor's :class:`~kaapana_executor.runtime.KubeGateway`
(same retries, and a stale pod of the same name is replaced, as the executor does); pod
states are read with the executor's pure :func:`~kaapana_executor.k8s.podstate.classify`.
The log is followed on a thread while the main thread polls the pod: a kubelet ends the
follow stream when the container exits, a simulated cluster (KWOK) never does, so the
stream is closed once the pod is terminal and had a moment to deliver its last lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kaapana_executor.errors import KaapanaError
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.gateway import KubeError, KubeGateway
from kaapana_executor.k8s.podstate import PodPhase, PodStatus, classify
from kaapana_executor.launch.pod import CONTAINER_NAME
from kaapana_executor.local import report

LogSink = Callable[[bytes], None]
Note = Callable[[str], None]

#: How long a terminal pod's log stream may go on delivering its last lines.
DRAIN_SECONDS = 2.0


class PodRunError(KaapanaError):
    """The pod could not be created, did not start in time, or disappeared."""


@dataclass(frozen=True)
class Timing:
    """Polling interval and how long a pod may stay pending (stuck or not) before we give up."""

    poll: float = 0.5
    start_timeout: float = 300.0


class _LogFollower:
    """Follows one pod's log on a daemon thread; ``close`` ends a stream that never ends.

    The request itself runs on the thread too: a simulated kubelet sends no response at all
    until the container prints something, and the main thread must keep watching the pod.
    """

    def __init__(self, gateway: KubeGateway, name: str, namespace: str, sink: LogSink) -> None:
        self._gateway, self._name, self._namespace, self._sink = gateway, name, namespace, sink
        self._lock = threading.Lock()
        self._response: Any = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pod-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            response = self._gateway.log_response(
                self._name, self._namespace, CONTAINER_NAME, follow=True
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return  # no log (yet): ``close`` reports that nothing was streamed
        with self._lock:
            if self._closed:
                response.release_conn()
                return
            self._response = response
        try:
            for chunk in response.stream(4096):
                with self._lock:
                    if self._closed:
                        return
                    self._sink(chunk)
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            return  # closed by ``close`` (urllib3 raises one of these mid-read)

    def close(self, drain: float) -> bool:
        """Stop following after ``drain`` seconds; False when no stream ever opened."""
        self._thread.join(drain)
        with self._lock:
            self._closed = True
            response = self._response
        if response is None:
            return False
        if self._thread.is_alive():
            response.shutdown()
            self._thread.join(5)
        response.release_conn()
        return True


class PodRunner:
    """Creates and watches the pod of one local run."""

    def __init__(self, gateway: KubeGateway, note: Note, timing: Timing | None = None) -> None:
        self._gateway = gateway
        self._note = note
        self._timing = timing or Timing()

    def start(self, pod: client.V1Pod) -> None:
        """Create ``pod`` (a stale pod of the same name is deleted first)."""
        try:
            self._gateway.create_pod(pod, labels.ANN_TI_ID)
        except KubeError as exc:
            raise PodRunError(str(exc)) from None

    def status(self, name: str, namespace: str) -> PodStatus:
        try:
            pod = self._gateway.read_pod(name, namespace)
        except ApiException as exc:
            raise PodRunError(f"cannot read pod {namespace}/{name}: {exc.reason}") from None
        if pod is None:
            return PodStatus(PodPhase.GONE, "the pod was deleted")
        return classify(pod)

    def _wait_started(self, name: str, namespace: str) -> PodStatus:
        deadline = time.monotonic() + self._timing.start_timeout
        told = ""
        while True:
            status = self.status(name, namespace)
            if status.phase is PodPhase.RUNNING or status.phase.terminal:
                return status
            if status.reason and status.reason != told:
                self._note(f"pod {name}: {status.describe()}")
                told = status.reason
            if time.monotonic() > deadline:
                raise PodRunError(
                    f"pod {namespace}/{name} did not start within "
                    f"{self._timing.start_timeout:g}s: {status.describe()}"
                )
            time.sleep(self._timing.poll)

    def watch(self, name: str, namespace: str, sink: LogSink) -> report.Termination:
        """Stream the log until the pod ends; how it ended, in the local runner's terms."""
        status = self._wait_started(name, namespace)
        if status.phase is PodPhase.GONE:
            raise PodRunError(f"pod {namespace}/{name}: {status.reason}")
        follower = _LogFollower(self._gateway, name, namespace, sink)
        try:
            while not status.phase.terminal:
                time.sleep(self._timing.poll)
                status = self.status(name, namespace)
        finally:
            streamed = follower.close(DRAIN_SECONDS)
        if not streamed:
            sink(read_log(self._gateway, name, namespace))
        return termination(status, name)


def termination(status: PodStatus, name: str) -> report.Termination:
    """A terminal :class:`PodStatus` as a :class:`report.Termination`."""
    if status.phase is PodPhase.GONE or status.exit_code is None:
        raise PodRunError(f"pod {name} ended without an exit code: {status.describe()}")
    result = report.classify(status.exit_code, status.phase is PodPhase.OOM_KILLED, None, None)
    if status.phase is PodPhase.SKIPPED:
        return report.Termination(
            result.exit_code, result.reason, "exit code 126 asks Airflow to skip the task"
        )
    return result


def stream_logs(
    gateway: KubeGateway, name: str, namespace: str, sink: LogSink, follow: bool
) -> str:
    """Write a pod's log to ``sink``; returns its state in a few words."""
    runner = PodRunner(gateway, lambda _line: None)
    status = runner.status(name, namespace)
    if status.phase is PodPhase.GONE:
        raise PodRunError(f"pod {namespace}/{name} no longer exists")
    if follow and not status.phase.terminal:
        runner.watch(name, namespace, sink)
        return runner.status(name, namespace).describe()
    sink(read_log(gateway, name, namespace))
    return status.describe()


def read_log(gateway: KubeGateway, name: str, namespace: str) -> bytes:
    """The whole log as bytes; empty when the container never started (the API says 400)."""
    try:
        response = gateway.log_response(name, namespace, CONTAINER_NAME, follow=False)
    except ApiException as exc:
        if exc.status == 400:
            return b""
        raise PodRunError(f"cannot read the log of pod {namespace}/{name}: {exc.reason}") from None
    return bytes(response.data)
