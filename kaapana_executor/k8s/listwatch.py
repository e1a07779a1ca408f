"""One list-then-watch loop for any kind of object, on a daemon thread that never dies.

List, hand the whole list over (a list is the truth: whatever it lacks is gone), then
watch from the list's resourceVersion and hand over each event. A 410 Gone (expired
resourceVersion), any API error or any broken stream leads to a fresh list, which also
reconciles whatever was missed (KubernetesExecutor's watcher died on 410 and left slots
stuck). With ``resync`` set, the loop also relists that often when nothing went wrong,
to correct drift no event announced. The pod watcher of the engine and the ledger's
watchers (nodes, pods of every namespace, quotas) are all this loop.

Callbacks run on the loop's thread and must be cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kaapana_executor.k8s.retry import retry_after

log = logging.getLogger(__name__)

Lister = Callable[[], tuple[list[Any], str]]
Watcher = Callable[[str, int], Iterable[dict[str, Any]]]


class ListWatch:
    """``on_list(items)`` after every list; ``on_event(type, object)`` for ADDED, MODIFIED
    and DELETED events (bookmarks only move the resourceVersion)."""

    def __init__(
        self,
        name: str,
        lister: Lister,
        watcher: Watcher,
        on_list: Callable[[list[Any]], None],
        on_event: Callable[[str, Any], None],
        watch_timeout: int = 60,
        backoff: float = 1.0,
        resync: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._lister = lister
        self._watcher = watcher
        self._on_list = on_list
        self._on_event = on_event
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._resync = resync
        self._clock = clock
        self._on_restart = on_restart
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.relists = 0
        self.listed = threading.Event()  # set after the first successful list

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (a watch returns within its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _relist(self) -> str:
        items, version = self._lister()
        self.relists += 1
        if self.relists > 1 and self._on_restart is not None:
            self._on_restart(self.name)
        self._on_list(items)
        self.listed.set()
        return version

    def _run(self) -> None:
        version: str | None = None
        listed_at = 0.0
        while not self._stop.is_set():
            try:
                if version is None or self._resync_due(listed_at):
                    version = self._relist()
                    listed_at = self._clock()
                version = self._watch(version, self._timeout(listed_at))
            except urllib3.exceptions.ProtocolError:
                continue  # the server ended the stream early: watch on from the same version
            except ApiException as exc:
                if exc.status != 410:
                    pause = retry_after(exc) or self._backoff
                    log.warning(
                        "%s: watch failed (%s); relisting in %.1f s", self.name, exc.status, pause
                    )
                    self._stop.wait(pause)
                version = None
            except Exception:  # the loop must survive anything the network throws at it
                log.exception("%s: watch broke; relisting", self.name)
                version = None
                self._stop.wait(self._backoff)

    def _resync_due(self, listed_at: float) -> bool:
        return self._resync is not None and self._clock() - listed_at >= self._resync

    def _timeout(self, listed_at: float) -> int:
        if self._resync is None:
            return self._watch_timeout
        left = self._resync - (self._clock() - listed_at)
        return max(1, min(self._watch_timeout, int(left + 0.999)))

    def _watch(self, version: str, timeout: int) -> str:
        for event in self._watcher(version, timeout):
            obj = event["object"]
            kind = event["type"]
            if kind == "BOOKMARK" or isinstance(obj, dict):  # bookmarks only move the version
                raw = event.get("raw_object") or {}
                version = raw.get("metadata", {}).get("resourceVersion", version)
                continue
            if obj.metadata and obj.metadata.resource_version:
                version = obj.metadata.resource_version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._on_event(kind, obj)
            if self._stop.is_set():
                break
        return version
