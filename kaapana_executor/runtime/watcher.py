"""Watch the pods this executor owns (a :class:`~kaapana_executor.k8s.listwatch.ListWatch`).

A 410 Gone (expired resourceVersion) or any broken stream leads to a fresh list, which also
reconciles whatever was missed; the thread never dies of an API error (KubernetesExecutor's
watcher did, leaving slots stuck). Every pod seen is handed to ``on_pod``; deletions to
``on_deleted``. Callbacks must be cheap: they only enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.k8s.listwatch import ListWatch

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
        self._on_pod = on_pod
        self._on_deleted = on_deleted
        self._loop = ListWatch(
            "kaapana-pod-watcher",
            lister=lambda: gateway.list_pods(namespace, selector),
            watcher=lambda version, timeout: gateway.watch_pods(
                namespace, selector, version, timeout
            ),
            on_list=self._listed,
            on_event=self._event,
            watch_timeout=watch_timeout,
            backoff=backoff,
        )

    @property
    def relists(self) -> int:
        return self._loop.relists

    def start(self) -> None:
        """Start watching."""
        self._loop.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (a watch returns within its timeout)."""
        self._loop.stop(timeout)

    def _listed(self, pods: list[Any]) -> None:
        for pod in pods:
            self._on_pod(pod)

    def _event(self, kind: str, pod: Any) -> None:
        if kind == "DELETED":
            self._on_deleted(pod)
        else:
            self._on_pod(pod)
