"""Watch the pods this executor owns: list, then watch from the list's resourceVersion.

A 410 Gone (expired resourceVersion) or any broken stream leads to a fresh list, which also
reconciles whatever was missed; the thread never dies of an API error (KubernetesExecutor's
watcher did, leaving slots stuck). Every pod seen is handed to ``on_pod``; deletions to
``on_deleted``. Callbacks must be cheap: they only enqueue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kaapana_executor.runtime.kube import KubeGateway

log = logging.getLogger(__name__)

PodCallback = Callable[[client.V1Pod], None]


class PodWatcher:
    """A daemon thread keeping the executor informed about its pods."""

    def __init__(
        self,
        gateway: KubeGateway,
        namespace: str | None,
        selector: str,
        on_pod: PodCallback,
        on_deleted: PodCallback,
        watch_timeout: int = 60,
        backoff: float = 1.0,
    ) -> None:
        self._gateway = gateway
        self._namespace = namespace
        self._selector = selector
        self._on_pod = on_pod
        self._on_deleted = on_deleted
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaapana-pod-watcher", daemon=True)
        self.relists = 0

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (a watch returns within its timeout)."""
        self._stop.set()
        self._thread.join(timeout)

    def _relist(self) -> str:
        pods, version = self._gateway.list_pods(self._namespace, self._selector)
        self.relists += 1
        for pod in pods:
            self._on_pod(pod)
        return version

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                version = self._watch(version)
            except urllib3.exceptions.ProtocolError:
                continue  # the server ended the stream early: watch on from the same version
            except ApiException as exc:
                if exc.status != 410:
                    log.warning("pod watch failed (%s); relisting", exc.status)
                    self._stop.wait(self._backoff)
                version = None
            except Exception:  # the watcher must survive anything the network throws at it
                log.exception("pod watch broke; relisting")
                version = None
                self._stop.wait(self._backoff)

    def _watch(self, version: str) -> str:
        timeout = self._watch_timeout
        for event in self._gateway.watch_pods(self._namespace, self._selector, version, timeout):
            pod = event["object"]
            kind = event["type"]
            if kind == "BOOKMARK" or isinstance(pod, dict):  # bookmarks only move the version
                raw = event.get("raw_object") or {}
                version = raw.get("metadata", {}).get("resourceVersion", version)
                continue
            if pod.metadata and pod.metadata.resource_version:
                version = pod.metadata.resource_version
            if kind == "DELETED":
                self._on_deleted(pod)
            elif kind in ("ADDED", "MODIFIED"):
                self._on_pod(pod)
            if self._stop.is_set():
                break
        return version
