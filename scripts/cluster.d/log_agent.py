"""Give simulated pods the log lines their ``kwok.kaapana.io/log-lines`` annotation asks for.

KWOK serves ``pods/log`` from files in CRI log format, attached to a pod by a ``Logs``
object of the same name and namespace; it has no way to take the text from the pod itself.
This agent closes that gap: it watches all pods and, as soon as a pod is bound to a node,
writes the annotated lines to ``<logs-dir>/<pod uid>.log`` and creates the ``Logs`` object
pointing at it, owned by the pod so the garbage collector removes it with the pod. Pods
without the annotation get an empty log, like a container that printed nothing. Files of
deleted pods are removed.

Why at binding and not when the pod runs: a reader that sees ``Running`` must find the log
there, as with a kubelet; attaching only after ``Running`` would leave a window in which
the API answers 400. The price is that a pod still starting already shows its lines. A pod
whose image "cannot be pulled" never gets a log (the API answers 400, as for a real one).

``scripts/cluster up`` runs it in the background (``run/log-agent.log``); it needs only the
kubeconfig and survives API server restarts by listing and watching again.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.kwok import IMAGE_PULL_ERROR, LOG_LINES, parse_log_annotation

LOGS_GROUP = "kwok.x-k8s.io"
LOGS_VERSION = "v1alpha1"
LOGS_PLURAL = "logs"


def cri_lines(lines: Sequence[str], start: datetime) -> str:
    """Render stdout lines in the CRI log format the kubelet (and KWOK) read.

    Each line gets its own microsecond so ``since_time`` and ordering stay exact.
    """
    records = []
    for index, line in enumerate(lines):
        stamp = (start + timedelta(microseconds=index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        records.append(f"{stamp} stdout F {line}\n")
    return "".join(records)


class LogAgent:
    """Materialises pod logs; ``handle`` is called with every pod event."""

    def __init__(self, api: client.ApiClient, logs_dir: Path) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._logs_dir = logs_dir
        self._attached: set[str] = set()

    def log_file(self, uid: str) -> Path:
        return self._logs_dir / f"{uid}.log"

    def handle(self, event_type: str, pod: client.V1Pod) -> None:
        if pod.metadata is None or pod.metadata.uid is None:
            return
        uid = pod.metadata.uid
        if event_type == "DELETED":
            self.log_file(uid).unlink(missing_ok=True)
            self._attached.discard(uid)
            return
        annotations = pod.metadata.annotations or {}
        bound = pod.spec is not None and bool(pod.spec.node_name)
        if uid in self._attached or not bound or IMAGE_PULL_ERROR in annotations:
            return
        path = self.log_file(uid)
        if not path.exists():
            text = cri_lines(parse_log_annotation(annotations.get(LOG_LINES)), _now())
            partial = path.with_suffix(".tmp")
            partial.write_text(text)
            partial.replace(path)
        self._attach(pod, path)
        self._attached.add(uid)

    def _attach(self, pod: client.V1Pod, path: Path) -> None:
        meta = pod.metadata
        assert meta is not None and meta.name is not None and meta.namespace is not None
        name, namespace = meta.name, meta.namespace
        owners = [{"apiVersion": "v1", "kind": "Pod", "name": meta.name, "uid": meta.uid}]
        spec = {"logs": [{"logsFile": str(path), "follow": True}]}
        body: dict[str, Any] = {
            "apiVersion": f"{LOGS_GROUP}/{LOGS_VERSION}",
            "kind": "Logs",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "ownerReferences": owners,
            },
            "spec": spec,
        }
        try:
            self._custom.create_namespaced_custom_object(
                LOGS_GROUP, LOGS_VERSION, namespace, LOGS_PLURAL, body
            )
        except ApiException as error:
            if error.status in (403, 404):
                return  # the namespace is gone or terminating (the agent is cluster-admin)
            if error.status != 409:
                raise
            # A Logs object of an earlier pod with the same name: point it at this one.
            patch = {"metadata": {"ownerReferences": owners}, "spec": spec}
            self._custom.patch_namespaced_custom_object(
                LOGS_GROUP, LOGS_VERSION, namespace, LOGS_PLURAL, name, patch
            )

    def forget_others(self, live_uids: set[str]) -> None:
        """Remove the files of pods deleted while the agent was not watching."""
        for path in self._logs_dir.glob("*.log"):
            if path.stem not in live_uids:
                path.unlink(missing_ok=True)
        self._attached &= live_uids


def _now() -> datetime:
    return datetime.now(timezone.utc)


def run(api: client.ApiClient, logs_dir: Path) -> None:
    """List, then watch, forever; a broken or expired watch starts over with a fresh list."""
    core = client.CoreV1Api(api)
    agent = LogAgent(api, logs_dir)
    while True:
        pods = core.list_pod_for_all_namespaces()
        agent.forget_others({p.metadata.uid for p in pods.items if p.metadata and p.metadata.uid})
        for pod in pods.items:
            agent.handle("ADDED", pod)
        resource_version = pods.metadata.resource_version if pods.metadata else None
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call, unused-ignore]
            core.list_pod_for_all_namespaces,
            resource_version=resource_version,
            timeout_seconds=300,
        )
        try:
            for event in stream:
                agent.handle(event["type"], event["object"])
        except ApiException as error:
            if error.status != 410:
                raise
            # Our resourceVersion expired (410 Gone): list again.


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--logs-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    args.logs_dir.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            api = config.new_client_from_config(  # type: ignore[no-untyped-call, unused-ignore]
                config_file=args.kubeconfig
            )
            run(api, args.logs_dir)
        # The top of a daemon that must outlive API server restarts: any failure is logged
        # and the agent starts over after a pause.
        except Exception as error:
            print(f"{_now().isoformat()} log agent: {error!r}; retrying", flush=True)
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
