"""Keep a :class:`Ledger` current from watches: nodes, pods of every namespace, quotas.

Three :class:`~kaapana_executor.k8s.listwatch.ListWatch` loops, one per kind; each
relists on 410 or any error and every ``resync`` seconds, and a list replaces what the
ledger knew of that kind (the periodic full reconcile). Pods are watched without terminal
ones (``status.phase`` field selector): a pod that finishes leaves the watch as a DELETED
event, and completed pods, which Kaapana keeps around, cost nothing.

With ``pods`` set, the pod watch is limited by that label selector and feeds the ledger under
that feed's name: the engine watches the executors' own pods anyway and hands them to the
ledger itself, so this watch takes every other pod and no pod event is decoded twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kaapana_executor.k8s.gateway import ClusterList, KubeGateway
from kaapana_executor.k8s.listwatch import ListWatch
from kaapana_executor.ledger.ledger import ALL_PODS, Ledger

NON_TERMINAL_PODS = "status.phase!=Succeeded,status.phase!=Failed"


@dataclass(frozen=True)
class PodFeed:
    """Which pods the ledger's pod watch takes (a label selector; empty: all) and the feed
    name the ledger knows them by."""

    name: str = ALL_PODS
    labels: str = ""


EVERY_POD = PodFeed()


class LedgerWatcher:
    """Daemon threads feeding ``ledger``; ``start`` once, ``stop`` at shutdown."""

    def __init__(
        self,
        gateway: KubeGateway,
        ledger: Ledger,
        resync: float = 300.0,
        watch_timeout: int = 60,
        backoff: float = 1.0,
        on_restart: Callable[[str], None] | None = None,
        pods: PodFeed = EVERY_POD,
    ) -> None:
        self.ledger = ledger
        self._loops = {
            kind: ListWatch(
                f"kaapana-ledger-{kind.name.lower()}",
                lister=_lister(gateway, kind, pods),
                watcher=_watcher(gateway, kind, pods),
                on_list=_replace(ledger, kind, pods),
                on_event=_apply(ledger, kind, pods),
                watch_timeout=watch_timeout,
                backoff=backoff,
                resync=resync,
                on_restart=on_restart,
            )
            for kind in ClusterList
        }

    def start(self) -> None:
        for loop in self._loops.values():
            loop.start()

    def stop(self, timeout: float | None = None) -> None:
        for loop in self._loops.values():
            loop.stop(0)
        for loop in self._loops.values():
            loop.stop(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """Wait until every kind has been listed once (admission waits for this too)."""
        deadline = time.monotonic() + timeout
        for loop in self._loops.values():
            if not loop.listed.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    @property
    def relists(self) -> dict[str, int]:
        """How often each kind was listed (1 each after start without trouble)."""
        return {kind.name.lower(): loop.relists for kind, loop in self._loops.items()}

    @property
    def alive(self) -> bool:
        return all(loop.alive for loop in self._loops.values())


def _selectors(kind: ClusterList, pods: PodFeed) -> tuple[str, str]:
    """(field selector, label selector) of ``kind``'s list and watch."""
    return (NON_TERMINAL_PODS, pods.labels) if kind is ClusterList.PODS else ("", "")


def _lister(gateway: KubeGateway, kind: ClusterList, pods: PodFeed) -> Any:
    return lambda: gateway.list_cluster(kind, *_selectors(kind, pods))


def _watcher(gateway: KubeGateway, kind: ClusterList, pods: PodFeed) -> Any:
    selectors = _selectors(kind, pods)
    return lambda version, timeout: gateway.watch_cluster(kind, version, timeout, *selectors)


def _replace(ledger: Ledger, kind: ClusterList, pods: PodFeed) -> Any:
    if kind is ClusterList.NODES:
        return ledger.replace_nodes
    if kind is ClusterList.PODS:
        return lambda items: ledger.replace_pods(items, pods.name)
    return ledger.replace_quotas


def _apply(ledger: Ledger, kind: ClusterList, pods: PodFeed) -> Any:
    def on_event(event: str, obj: Any) -> None:
        deleted = event == "DELETED"
        if kind is ClusterList.NODES:
            if deleted:
                ledger.delete_node(obj.metadata.name)
            else:
                ledger.apply_node(obj)
        elif kind is ClusterList.PODS:
            (ledger.delete_pod if deleted else ledger.apply_pod)(obj, pods.name)
        else:
            (ledger.delete_quota if deleted else ledger.apply_quota)(obj)

    return on_event
