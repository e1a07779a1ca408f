"""Every pod that ever existed in a namespace during a test, by name and UID.

Finished pods are deleted, so the pods left at the end say little. A ``PodRecorder``
watches the namespace (directly, never through a fault proxy) and keeps every pod it saw, by
UID, with the task try it ran (the executor's dag/task/run/map-index/try annotations) and
the phases it went through: two pods for one try are a duplicate; a ``Succeeded`` pod of
try 1 followed by a try 2 is a rerun of a task that had already succeeded.

If the watch's resourceVersion expires (410) the recorder relists; pods created and deleted
inside such a gap are not seen, so ``relists_after_gone`` is reported with the counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from kaapana_executor.k8s import labels

TryKey = tuple[str, str, str, int, int]  # dag_id, task_id, run_id, map_index, try_number


@dataclass
class PodRecord:
    """One pod (one UID): its name, the task try it ran (from the executor's annotations),
    the phases it went through, its node, and whether it was seen deleted."""

    uid: str
    name: str
    key: TryKey | None
    phases: list[str] = field(default_factory=list)
    node: str | None = None
    deleted: bool = False
    unschedulable: bool = False  # kube-scheduler found no room for it at some point

    @property
    def succeeded(self) -> bool:
        return "Succeeded" in self.phases


def _try_key(annotations: dict[str, str]) -> TryKey | None:
    try:
        return (
            annotations[labels.ANN_DAG_ID],
            annotations[labels.ANN_TASK_ID],
            annotations[labels.ANN_RUN_ID],
            int(annotations.get(labels.ANN_MAP_INDEX, "-1")),
            int(annotations[labels.ANN_TRY_NUMBER]),
        )
    except (KeyError, ValueError):
        return None


def _unschedulable(status: Any) -> bool:
    return any(
        c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
        for c in (status.conditions if status else None) or []
    )


class PodRecorder:
    """A daemon thread recording the pods of ``namespace``; ``start``/``stop`` or ``with``."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self._core = core
        self._namespace = namespace
        self._lock = threading.Lock()
        self._pods: dict[str, PodRecord] = {}  # by UID
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-recorder", daemon=True)
        self.relists_after_gone = 0
        self.ready = threading.Event()
        self._waiting: set[str] = set()  # UIDs kube-scheduler has no room for right now
        self.peak_unschedulable = 0  # the most pods without room at one instant

    def start(self) -> PodRecorder:
        self._thread.start()
        self.ready.wait(60)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(40)

    def __enter__(self) -> PodRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pods(self) -> list[PodRecord]:
        """Every pod seen so far, in the order first seen."""
        with self._lock:
            return [
                PodRecord(p.uid, p.name, p.key, list(p.phases), p.node, p.deleted, p.unschedulable)
                for p in self._pods.values()
            ]

    def by_try(self) -> dict[TryKey, list[PodRecord]]:
        """The pods of each task try (more than one: a duplicated pod)."""
        found: dict[TryKey, list[PodRecord]] = {}
        for pod in self.pods():
            if pod.key is not None:
                found.setdefault(pod.key, []).append(pod)
        return found

    def _record(self, pod: Any, deleted: bool = False) -> None:
        meta, status = pod.metadata, pod.status
        phase = (status.phase if status else None) or ""
        with self._lock:
            record = self._pods.get(meta.uid)
            if record is None:
                key = _try_key(dict(meta.annotations or {}))
                record = self._pods[meta.uid] = PodRecord(meta.uid, meta.name, key)
            if phase and (not record.phases or record.phases[-1] != phase):
                record.phases.append(phase)
            record.node = (pod.spec.node_name if pod.spec else None) or record.node
            record.deleted = record.deleted or deleted
            record.unschedulable = record.unschedulable or _unschedulable(status)
            self._track_waiting(
                record, _unschedulable(status) and not deleted and phase == "Pending"
            )

    def _track_waiting(self, record: PodRecord, waiting_now: bool) -> None:
        """Keep the set of pods that are Unschedulable at this instant (not bound, not gone)
        and its largest size: over-commit is bounded per instant, not per burst (a pod that
        waited and was bound leaves the set). Called with the lock held."""
        if waiting_now and record.node is None:
            self._waiting.add(record.uid)
        else:
            self._waiting.discard(record.uid)
        self.peak_unschedulable = max(self.peak_unschedulable, len(self._waiting))

    def _list(self) -> str:
        found = self._core.list_namespaced_pod(self._namespace, _request_timeout=60)
        with self._lock:
            self._waiting.clear()  # a list is the truth: the listed waiting pods come back
        for pod in found.items:
            self._record(pod)
        return str(found.metadata.resource_version)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                    self.ready.set()
                version = self._watch(version)
            except ApiException as exc:
                if exc.status == 410:
                    self.relists_after_gone += 1
                    version = None
                else:
                    self._stop.wait(0.5)
            except Exception:  # a frozen or restarting API server: watch on from the version
                self._stop.wait(0.5)

    def _watch(self, version: str) -> str:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call, unused-ignore]
            self._core.list_namespaced_pod,
            self._namespace,
            resource_version=version,
            timeout_seconds=10,
            allow_watch_bookmarks=True,
            _request_timeout=90,
        )
        for event in stream:
            obj = event["object"]
            if event["type"] == "BOOKMARK" or isinstance(obj, dict):
                raw = event.get("raw_object") or {}
                version = raw.get("metadata", {}).get("resourceVersion", version)
                continue
            version = obj.metadata.resource_version or version
            self._record(obj, deleted=event["type"] == "DELETED")
            if self._stop.is_set():
                break
        return version


@contextmanager
def recording(core: client.CoreV1Api, namespace: str) -> Iterator[PodRecorder]:
    recorder = PodRecorder(core, namespace).start()
    try:
        yield recorder
    finally:
        recorder.stop()
