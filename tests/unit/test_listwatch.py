"""The list+watch loop relists after 410 Gone and on its resync interval, and survives errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kaapana_executor.k8s.listwatch import ListWatch
from tests.support.polling import wait_until


def named(name: str, version: str) -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, resource_version=version))


class Server:
    """An in-memory API: lists, then answers watches from a script of outcomes."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.watched_from: list[str] = []

    def list(self) -> tuple[list[Any], str]:
        return [named("listed", "10")], "10"

    def watch(self, version: str, timeout: int) -> Iterator[dict[str, Any]]:
        self.watched_from.append(version)
        step = self.script.pop(0) if self.script else []
        if isinstance(step, Exception):
            raise step
        yield from step


def test_relists_after_410_and_errors_and_delivers_events() -> None:
    server = Server(
        [
            ApiException(status=410),
            RuntimeError("connection reset"),
            [
                {"type": "ADDED", "object": named("a", "11")},
                {
                    "type": "BOOKMARK",
                    "object": {},
                    "raw_object": {"metadata": {"resourceVersion": "15"}},
                },
                {"type": "DELETED", "object": named("a", "16")},
            ],
        ]
    )
    lists: list[list[str]] = []
    events: list[tuple[str, str]] = []
    loop = ListWatch(
        "test",
        server.list,
        server.watch,
        on_list=lambda items: lists.append([i.metadata.name for i in items]),
        on_event=lambda kind, obj: events.append((kind, obj.metadata.name)),
        backoff=0.01,
    )
    loop.start()
    try:
        wait_until(lambda: list(events), lambda e: len(e) == 2, what="two events", timeout=5)
        wait_until(
            lambda: list(server.watched_from), lambda w: "16" in w, what="rewatch", timeout=5
        )
    finally:
        loop.stop(5)

    assert loop.relists == 3 and lists == [["listed"]] * 3
    assert events == [("ADDED", "a"), ("DELETED", "a")]
    assert server.watched_from[:4] == ["10", "10", "10", "16"]
    assert not loop.alive


def test_resync_relists_periodically_and_bounds_the_watch() -> None:
    server = Server([])
    timeouts: list[int] = []

    def watch(version: str, timeout: int) -> Iterator[dict[str, Any]]:
        timeouts.append(timeout)
        return server.watch(version, timeout)

    now = [0.0]

    def clock() -> float:
        now[0] += 40.0  # every look at the clock: 40 s later
        return now[0]

    loop = ListWatch(
        "test",
        server.list,
        watch,
        lambda _: None,
        lambda *_: None,
        watch_timeout=60,
        resync=100.0,
        clock=clock,
    )
    loop.start()
    try:
        wait_until(lambda: loop.relists, lambda n: n >= 3, what="resyncs", timeout=5)
    finally:
        loop.stop(5)
    assert max(timeouts) <= 60 and min(timeouts) >= 1
