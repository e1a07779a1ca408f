"""The one module that calls the Kubernetes API server.

Every call goes through the one retry policy (:mod:`.retry`); callers get plain values or a
:class:`KubeError` with the API's reason and status. Thread-safe: urllib3's pool is, and the
gateway keeps no other state.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, ParamSpec, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from kaapana_executor.errors import KaapanaError
from kaapana_executor.k8s import decode
from kaapana_executor.k8s.retry import api_retry

log = logging.getLogger(__name__)


class KubeError(KaapanaError):
    """A final answer from the API server (or no answer after retries)."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message  # the API's own words, for callers that phrase their own


#: (connect, read) seconds per call. Without them a frozen API server (or a half-open
#: connection) blocks a worker thread for good, and every task behind it waits.
CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = (CONNECT_TIMEOUT, 30.0)
LIST_TIMEOUT = (CONNECT_TIMEOUT, 120.0)  # a full list of a large cluster takes a while
LOG_TIMEOUT = (CONNECT_TIMEOUT, 120.0)
WATCH_SLACK = 15.0  # a watch's read may wait this long past its server-side timeout

P = ParamSpec("P")
R = TypeVar("R")


def _final(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the call by the one policy, then turn what is left into a KubeError."""

    def decorate(call: Callable[P, R]) -> Callable[P, R]:
        retried = api_retry(call)

        @functools.wraps(call)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return retried(*args, **kwargs)
            except ApiException as exc:
                reason = _reason(exc)
                raise KubeError(f"cannot {what}: {reason}", exc.status, reason) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                reason = f"API server unreachable: {exc}"
                raise KubeError(f"cannot {what}: {reason}", None, reason) from None

        return run

    return decorate


class _StalePod(Exception):
    """A same-named pod of another task instance is still in the way (retried)."""


class ClusterList(Enum):
    """Cluster-wide lists the resource ledger watches (CoreV1Api method names)."""

    NODES = "list_node"
    PODS = "list_pod_for_all_namespaces"
    QUOTAS = "list_resource_quota_for_all_namespaces"

    @property
    def model(self) -> str:
        """The client model of one listed object."""
        return _ITEMS[self]


_ITEMS = {
    ClusterList.NODES: "V1Node",
    ClusterList.PODS: "V1Pod",
    ClusterList.QUOTAS: "V1ResourceQuota",
}


#: The User-Agent prefix of every request; a component's name follows it.
USER_AGENT = "kaapana-executor"


class KubeGateway:
    """The API calls the executor, the ledger, image metadata and local runs need."""

    def __init__(self, api: client.ApiClient, component: str | None = None) -> None:
        if component is not None:
            api.user_agent = f"{USER_AGENT}/{component}"
        self.core = client.CoreV1Api(api)

    def named(self, component: str) -> KubeGateway:
        """The same cluster through a client of its own whose User-Agent names ``component``.

        As kube-controller-manager gives each controller its own client: the API server's
        audit log (and a test's proxy) then tells the watcher's requests from the janitor's,
        and each component's connections and retries stay its own.
        """
        return KubeGateway(client.ApiClient(self.core.api_client.configuration), component)

    # pods ------------------------------------------------------------------------------
    def create_pod(self, pod: client.V1Pod, owner_key: str, stale_wait: float = 60.0) -> None:
        """Create ``pod``, idempotently.

        A pod of the same name that carries the same ``owner_key`` annotation is ours (a retried
        create, or a restarted scheduler) and is taken as created. One with another owner is a
        stale pod of an earlier task instance (same ids, e.g. a re-created run): it is deleted
        first, so its old result is never reported as ours. Nothing is returned: the pod's
        state comes from the watch, and decoding the created object (every field the API
        server defaulted) cost the create lane a whole pod decode per task for nothing.
        """
        attempts = Retrying(
            retry=retry_if_exception_type(_StalePod),
            wait=wait_fixed(0.5),
            stop=stop_after_delay(stale_wait),
            reraise=True,
        )
        try:
            for attempt in attempts:
                with attempt:
                    self._create_or_claim(pod, owner_key)
                    return
        except _StalePod:
            name = pod.metadata.name
            raise KubeError(
                f"a stale pod {name} of another task instance does not go away"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _create_or_claim(self, pod: client.V1Pod, owner_key: str) -> None:
        namespace, name = pod.metadata.namespace, pod.metadata.name
        try:
            self._create(namespace, pod)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise KubeError(f"cannot create pod {name}: {_reason(exc)}", exc.status) from None
        existing = self.read_pod(name, namespace)
        if existing is None:
            raise _StalePod(name)  # it went away in between: create again
        ours = pod.metadata.annotations.get(owner_key)
        if (existing.metadata.annotations or {}).get(owner_key) == ours:
            return
        if existing.metadata.deletion_timestamp is None:
            log.warning("deleting stale pod %s/%s of another task instance", namespace, name)
            self.delete_pod(name, namespace)
        raise _StalePod(name)

    @api_retry
    def _create(self, namespace: str, pod: client.V1Pod) -> None:
        response = self.core.create_namespaced_pod(
            namespace, pod, _request_timeout=REQUEST_TIMEOUT, _preload_content=False
        )
        response.drain_conn()  # only the status mattered: discard the body, reuse the connection
        response.release_conn()

    @_final("delete a pod")
    def delete_pod(self, name: str, namespace: str, grace_seconds: int | None = 0) -> bool:
        """Delete a pod; False when it was already gone.

        ``grace_seconds=0`` removes a pod whose container has ended; ``None`` is a graceful
        delete (the pod's own grace period: SIGTERM, then SIGKILL), for a pod still running:
        a 0 there would remove the object before the container stops.
        """
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=grace_seconds,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    @_final("read a pod")
    def read_pod(self, name: str, namespace: str) -> client.V1Pod | None:
        """The pod as the API server has it now; None when it does not exist."""
        try:
            return self.core.read_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    @_final("list pods")
    def list_pods(self, namespace: str | None, selector: str) -> tuple[list[client.V1Pod], str]:
        """Pods matching ``selector`` (all namespaces for None) and the list's resourceVersion."""
        options: dict[str, Any] = {
            "label_selector": selector,
            "_request_timeout": LIST_TIMEOUT,
            "_preload_content": False,
        }
        if namespace is None:
            response = self.core.list_pod_for_all_namespaces(**options)
        else:
            response = self.core.list_namespaced_pod(namespace, **options)
        return decode.read_list(response, "V1Pod")

    def watch_pods(
        self, namespace: str | None, selector: str, resource_version: str, timeout: int
    ) -> Iterator[dict[str, Any]]:
        """Watch events from ``resource_version``; raises ApiException(410) when it expired."""
        options = _watch_options(resource_version, timeout)
        options["label_selector"] = selector
        if namespace is None:
            response = self.core.list_pod_for_all_namespaces(**options)
        else:
            response = self.core.list_namespaced_pod(namespace, **options)
        yield from decode.read_events(response, "V1Pod")

    # logs ------------------------------------------------------------------------------
    @_final("read a pod's log")
    def read_log(self, name: str, namespace: str, tail_lines: int | None = None) -> str:
        """The container's log (timestamps included); empty when the pod has none."""
        try:
            text: str = self.core.read_namespaced_pod_log(
                name,
                namespace,
                timestamps=True,
                tail_lines=tail_lines,
                _request_timeout=LOG_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status in (400, 404):
                return ""
            raise
        return text

    def log_response(self, name: str, namespace: str, container: str, follow: bool) -> Any:
        """The raw (unparsed, streamable) log response of one container.

        For callers that stream bytes as they come; ApiException (400 before the container
        runs) is left to them.
        """
        return self.core.read_namespaced_pod_log(
            name, namespace, container=container, follow=follow, _preload_content=False
        )

    # cluster-wide lists (the resource ledger) ------------------------------------------
    @_final("list the cluster's objects")
    def list_cluster(
        self, kind: ClusterList, field_selector: str = "", label_selector: str = ""
    ) -> tuple[list[Any], str]:
        """Every object of ``kind`` in the cluster (all namespaces) and the list's version."""
        options = _selectors(field_selector, label_selector)
        response = getattr(self.core, kind.value)(
            _request_timeout=LIST_TIMEOUT, _preload_content=False, **options
        )
        return decode.read_list(response, kind.model)

    def watch_cluster(
        self,
        kind: ClusterList,
        resource_version: str,
        timeout: int,
        field_selector: str = "",
        label_selector: str = "",
    ) -> Iterator[dict[str, Any]]:
        """Watch every object of ``kind``; raises ApiException(410) when the version expired."""
        options = _watch_options(resource_version, timeout)
        options.update(_selectors(field_selector, label_selector))
        response = getattr(self.core, kind.value)(**options)
        yield from decode.read_events(response, kind.model)

    # pull credentials ------------------------------------------------------------------
    @_final("read a secret")
    def read_secret(self, name: str, namespace: str) -> client.V1Secret:
        """A Secret (pull credentials)."""
        return self.core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)

    @_final("read a ServiceAccount")
    def read_service_account(self, name: str, namespace: str) -> client.V1ServiceAccount:
        """A ServiceAccount (for its imagePullSecrets)."""
        return self.core.read_namespaced_service_account(
            name, namespace, _request_timeout=REQUEST_TIMEOUT
        )


def _selectors(field_selector: str, label_selector: str) -> dict[str, str]:
    """The selector options of a list or watch call, only those given."""
    options = {"field_selector": field_selector, "label_selector": label_selector}
    return {name: value for name, value in options.items() if value}


def _watch_options(resource_version: str, timeout: int) -> dict[str, Any]:
    """A watch's options: a streamed response that :mod:`.decode` reads, event by event."""
    return {
        "watch": True,
        "resource_version": resource_version,
        "timeout_seconds": timeout,
        "allow_watch_bookmarks": True,
        "_preload_content": False,
        "_request_timeout": (CONNECT_TIMEOUT, timeout + WATCH_SLACK),
    }


def _reason(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or exc.reason or exc)
