"""The one module that talks to the Kubernetes API server.

Retries are classified here, once: 429 and 5xx and connection errors are retried with backoff
(honouring ``Retry-After``); everything else is final. Callers get plain values or a
:class:`KubeError` with the API's reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from enum import Enum
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from kaapana_executor.errors import KaapanaError

log = logging.getLogger(__name__)

RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class KubeError(KaapanaError):
    """A final answer from the API server (or no answer after retries)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in RETRIABLE_STATUS
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def _wait(state: RetryCallState) -> float:
    """Retry-After when the server sends one, else exponential backoff with jitter."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ApiException) and exc.headers:
        after = exc.headers.get("Retry-After")
        if after and after.isdigit():
            return min(float(after), 30.0)
    return float(wait_exponential_jitter(initial=0.2, max=10)(state))


_RETRY = retry(
    retry=retry_if_exception(_retriable),
    wait=_wait,
    stop=stop_after_attempt(8) | stop_after_delay(60),
    reraise=True,
)


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """An API client from a kubeconfig path, in-cluster config, or the default kubeconfig."""
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config()


class KubeGateway:
    """Pod operations the executor needs; thread-safe (urllib3's pool is)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    @_RETRY
    def _create(self, namespace: str, pod: client.V1Pod) -> client.V1Pod:
        return self.core.create_namespaced_pod(namespace, pod)

    def create_pod(
        self, pod: client.V1Pod, owner_key: str, stale_wait: float = 60.0
    ) -> client.V1Pod:
        """Create ``pod``, idempotently.

        A pod of the same name that carries the same ``owner_key`` annotation is ours (a retried
        create, or a restarted scheduler) and is returned. One with another owner is a stale pod
        of an earlier task instance (same ids, e.g. a re-created run): it is deleted first, so
        its old result is never reported as ours.
        """
        namespace, name = pod.metadata.namespace, pod.metadata.name
        ours = pod.metadata.annotations.get(owner_key)
        deadline = time.monotonic() + stale_wait
        while True:
            try:
                return self._create(namespace, pod)
            except ApiException as exc:
                if exc.status != 409:
                    raise KubeError(
                        f"cannot create pod {name}: {_reason(exc)}", exc.status
                    ) from None
            try:
                existing = self.core.read_namespaced_pod(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    continue  # it went away in between: create again
                raise KubeError(f"cannot read pod {name}: {_reason(exc)}", exc.status) from None
            if (existing.metadata.annotations or {}).get(owner_key) == ours:
                return existing
            if time.monotonic() > deadline:
                raise KubeError(f"a stale pod {name} of another task instance does not go away")
            if existing.metadata.deletion_timestamp is None:
                log.warning("deleting stale pod %s/%s of another task instance", namespace, name)
                self.delete_pod(name, namespace)
            time.sleep(0.5)

    @_RETRY
    def delete_pod(self, name: str, namespace: str) -> bool:
        """Delete a pod; False when it was already gone."""
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    @_RETRY
    def read_log(self, name: str, namespace: str, tail_lines: int | None = None) -> str:
        """The container's log (timestamps included); empty when the pod has none."""
        try:
            text: str = self.core.read_namespaced_pod_log(
                name, namespace, timestamps=True, tail_lines=tail_lines
            )
        except ApiException as exc:
            if exc.status in (400, 404):
                return ""
            raise
        return text

    @_RETRY
    def read_pod(self, name: str, namespace: str) -> client.V1Pod | None:
        """The pod as the API server has it now; None when it does not exist."""
        try:
            return self.core.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def log_response(self, name: str, namespace: str, container: str, follow: bool) -> Any:
        """The raw (unparsed, streamable) log response of one container.

        For callers that stream bytes as they come; ApiException (400 before the container
        runs) is left to them.
        """
        return self.core.read_namespaced_pod_log(
            name, namespace, container=container, follow=follow, _preload_content=False
        )

    def list_pods(self, namespace: str | None, selector: str) -> tuple[list[client.V1Pod], str]:
        """Pods matching ``selector`` (all namespaces for None) and the list's resourceVersion."""
        if namespace is None:
            result = self.core.list_pod_for_all_namespaces(label_selector=selector)
        else:
            result = self.core.list_namespaced_pod(namespace, label_selector=selector)
        return list(result.items), str(result.metadata.resource_version)

    def watch_pods(
        self, namespace: str | None, selector: str, resource_version: str, timeout: int
    ) -> Iterator[dict[str, Any]]:
        """Watch events from ``resource_version``; raises ApiException(410) when it expired."""
        w = watch.Watch()
        if namespace is None:
            yield from w.stream(
                self.core.list_pod_for_all_namespaces,
                label_selector=selector,
                resource_version=resource_version,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
            )
        else:
            yield from w.stream(
                self.core.list_namespaced_pod,
                namespace,
                label_selector=selector,
                resource_version=resource_version,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
            )

    def list_cluster(self, kind: ClusterList, field_selector: str = "") -> tuple[list[Any], str]:
        """Every object of ``kind`` in the cluster (all namespaces) and the list's version."""
        options = {"field_selector": field_selector} if field_selector else {}
        result = getattr(self.core, kind.value)(**options)
        return list(result.items), str(result.metadata.resource_version)

    def watch_cluster(
        self, kind: ClusterList, resource_version: str, timeout: int, field_selector: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Watch every object of ``kind``; raises ApiException(410) when the version expired."""
        options = {"field_selector": field_selector} if field_selector else {}
        yield from watch.Watch().stream(
            getattr(self.core, kind.value),
            resource_version=resource_version,
            timeout_seconds=timeout,
            allow_watch_bookmarks=True,
            **options,
        )


class ClusterList(Enum):
    """Cluster-wide lists the resource ledger watches (CoreV1Api method names)."""

    NODES = "list_node"
    PODS = "list_pod_for_all_namespaces"
    QUOTAS = "list_resource_quota_for_all_namespaces"


def _reason(exc: ApiException) -> str:
    import json

    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or exc.reason or exc)
