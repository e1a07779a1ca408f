"""Watch the pods this executor owns and tell the engine what each one's status means.

One :class:`~kaapana_executor.k8s.listwatch.ListWatch` (relist on 410 or any error; the thread
never dies). Each pod is classified here, on the watch thread, into a small
:class:`~kaapana_executor.runtime.messages.PodChanged`; the scheduler thread never sees a
V1Pod. The watcher remembers which pods exist (as the API server does: bounded by the
cluster's own state), so a pod deleted while the watch was broken is reported gone by the
next list instead of being waited for forever. Callbacks only enqueue.

With a resource ledger, the watcher also hands every pod it decoded to the ledger (the feed
``EXECUTOR_PODS``), whose own pod watch then skips the executors' pods (``OTHER_PODS``): each
event of our pods is decoded once, where two watches decoded it twice (39% of the executor's
GIL time during a launch of 500, profiled). It then watches every namespace, as the ledger
must count every executor's pods, and relists as often as the ledger's watches do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kaapana_executor.k8s import labels
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.k8s.listwatch import ListWatch
from kaapana_executor.k8s.podstate import classify
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.watch import PodFeed
from kaapana_executor.runtime.messages import Message, PodChanged, PodGone

#: Selects the pods of every KaapanaExecutor (the annotation says which task instance).
POD_SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
#: The ledger's feed of the pods this watcher hands it.
EXECUTOR_PODS = "executor-pods"
#: What the ledger's own pod watch takes when this watcher feeds it: every other pod.
OTHER_PODS = PodFeed("other-pods", f"{labels.MANAGED_BY}!={labels.MANAGED_BY_VALUE}")


def pod_changed(pod: Any) -> PodChanged:
    """The message for one observed pod."""
    meta = pod.metadata
    ti_id = (meta.annotations or {}).get(labels.ANN_TI_ID)
    return PodChanged(meta.name, meta.namespace, ti_id, classify(pod))


class PodWatcher:
    """A daemon thread keeping the engine informed about its pods."""

    def __init__(
        self,
        gateway: KubeGateway,
        namespace: str | None,
        post: Callable[[Message], None],
        watch_timeout: int = 60,
        backoff: float = 1.0,
        on_restart: Callable[[str], None] | None = None,
        ledger: Ledger | None = None,
        resync: float | None = None,
    ) -> None:
        self._post = post
        self._ledger = ledger
        self._known: dict[tuple[str, str], str | None] = {}  # (namespace, name) → ti id
        if ledger is not None:
            namespace = None
            ledger.expect_pod_feeds(EXECUTOR_PODS, OTHER_PODS.name)
        self._loop = ListWatch(
            "kaapana-pod-watcher",
            lister=lambda: gateway.list_pods(namespace, POD_SELECTOR),
            watcher=lambda version, timeout: gateway.watch_pods(
                namespace, POD_SELECTOR, version, timeout
            ),
            on_list=self._listed,
            on_event=self._event,
            watch_timeout=watch_timeout,
            backoff=backoff,
            resync=resync if ledger is not None else None,
            on_restart=on_restart,
        )

    @property
    def relists(self) -> int:
        return self._loop.relists

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (a watch returns within its timeout)."""
        self._loop.stop(timeout)

    def _listed(self, pods: list[Any]) -> None:
        if self._ledger is not None:
            self._ledger.replace_pods(pods, EXECUTOR_PODS)
        listed = {}
        for pod in pods:
            message = pod_changed(pod)
            listed[(message.namespace, message.name)] = message.ti_id
            self._post(message)
        for (namespace, name), ti_id in self._known.items():
            if (namespace, name) not in listed:  # deleted while the watch was down
                self._post(PodGone(name, ti_id))
        self._known = listed

    def _event(self, kind: str, pod: Any) -> None:
        if self._ledger is not None:
            feed = self._ledger.delete_pod if kind == "DELETED" else self._ledger.apply_pod
            feed(pod, EXECUTOR_PODS)
        message = pod_changed(pod)
        where = (message.namespace, message.name)
        if kind == "DELETED":
            self._known.pop(where, None)
            self._post(PodGone(message.name, message.ti_id))
        else:
            self._known[where] = message.ti_id
            self._post(message)
