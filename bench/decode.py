"""Watch-event decoding: the official client's watch against ``k8s/decode``, in one run.

Run: ``.venv/bin/python -m bench.decode [--events 2000 --rounds 5]`` (no cluster needed). One
watch line for a pod as the API server sends it for a running KWOK pod (labels, annotations,
managedFields of two managers, env, a volume, four conditions, a container status) is decoded
into a ``V1Pod`` by ``kubernetes.watch.Watch().unmarshal_event`` (what the executor used
before) and by ``decode.read_events``' per-line work (parse once, drop managedFields, build the
model), and slim (also without env, mounts, volumes: what lists and watches of pods use).
Prints µs per event for each, median of the rounds, and their ratios; the installed
client version decides which path ``decode`` takes (37+: the model's ``from_dict``; 36 and
older: the walk with a shared Configuration), so run it in both venvs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes import watch

from kaapana_executor.k8s import decode

STAMP = "2026-12-02T12:00:00Z"


def pod() -> dict[str, Any]:
    """A running pod as a KWOK node reports it, with the executor's labels."""
    conditions = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    managed = [
        {"manager": "kaapana-executor", "operation": "Update", "apiVersion": "v1", "time": STAMP,
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {f"f:l{i}": {} for i in range(6)}}}},
        {"manager": "kwok", "operation": "Update", "apiVersion": "v1", "time": STAMP,
         "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {f"k:{c}": {} for c in conditions}}}},
    ]  # fmt: skip
    container = {
        "name": "main",
        "image": "localhost:5000/x:1",
        "command": ["/bin/sh", "-c", "echo hi"],
        "env": [{"name": f"E{i}", "value": "v"} for i in range(8)],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/kaapana/mounted/out", "subPath": "a"}],
    }
    status = {
        "name": "main", "ready": True, "restartCount": 0, "image": "x", "imageID": "sha256:a",
        "containerID": "containerd://a", "started": True,
        "state": {"running": {"startedAt": STAMP}},
    }  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "t-abc",
            "namespace": "ns",
            "uid": "1b6a0f7e",
            "resourceVersion": "12345",
            "creationTimestamp": STAMP,
            "managedFields": managed,
            "labels": {f"kaapana.io/l{i}": "v" for i in range(5)},
            "annotations": {"kaapana.io/key": json.dumps({"dag_id": "d", "task_id": "t"})},
        },
        "spec": {
            "containers": [container],
            "volumes": [{"name": "data", "hostPath": {"path": "/data", "type": "Directory"}}],
            "restartPolicy": "Never",
            "nodeName": "kwok-cpu-1",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": c, "status": "True", "lastTransitionTime": STAMP} for c in conditions
            ],
            "startTime": STAMP,
            "containerStatuses": [status],
        },
    }


def per_event(work: Callable[[], object], events: int, rounds: int) -> float:
    """Median µs per call of ``work`` over ``rounds`` rounds of ``events`` calls."""
    work()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(events):
            work()
        times.append((time.perf_counter() - began) / events * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.decode")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    line = json.dumps({"type": "MODIFIED", "object": pod()})
    client_watch = watch.Watch()

    def ours() -> object:
        event = json.loads(line)
        return decode.decode(event["object"], "V1Pod")

    def slim() -> object:
        event = json.loads(line)
        return decode.decode(event["object"], "V1Pod", slim=True)

    def clients() -> object:
        return client_watch.unmarshal_event(line, "V1Pod")

    theirs = per_event(clients, args.events, args.rounds)
    mine = per_event(ours, args.events, args.rounds)
    lean = per_event(slim, args.events, args.rounds)
    print(f"kubernetes client {kubernetes.__version__}, {len(line)} bytes per event")
    print(
        f"client watch: {theirs:.0f} us/event; k8s/decode: {mine:.0f} us/event; "
        f"slim (what lists and watches of pods use): {lean:.0f} us/event"
    )
    print(f"ratio (client / decode): {theirs / mine:.2f}; (client / slim): {theirs / lean:.2f}")


if __name__ == "__main__":
    main()
