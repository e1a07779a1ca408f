"""The fault proxy itself, with a plain Kubernetes client: it forwards, streams watches, and
injects exactly what a rule says (so the executor tests can trust it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import Cluster, close_api_client, watch_events
from tests.support.faultproxy import Delay, Drop, FaultProxy, Rule, Status

pytestmark = [pytest.mark.cluster, pytest.mark.faults]


@pytest.fixture
def proxied(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[FaultProxy, client.CoreV1Api]]:
    proxy = FaultProxy(cluster.kubeconfig, tmp_path / "proxy").start()
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call, unused-ignore]
        config_file=proxy.write_kubeconfig(tmp_path / "kubeconfig"),
        client_configuration=configuration,
    )
    configuration.retries = False  # see each injected answer as it is
    api = client.ApiClient(configuration)
    yield proxy, client.CoreV1Api(api)
    close_api_client(api)
    proxy.stop()


def test_forwards_with_the_clusters_credentials(
    proxied: tuple[FaultProxy, client.CoreV1Api], namespace: str
) -> None:
    proxy, core = proxied
    assert core.read_namespace(namespace).metadata.name == namespace
    (seen,) = [r for r in proxy.requests if r.path == f"/api/v1/namespaces/{namespace}"]
    assert (seen.method, seen.status, seen.fault) == ("GET", 200, None)


def test_injects_status_with_retry_after_for_the_first_matching_requests(
    proxied: tuple[FaultProxy, client.CoreV1Api], namespace: str
) -> None:
    proxy, core = proxied
    proxy.add(Rule(Status(429, retry_after=7), method="GET", path=r"/pods$", times=2))
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_pod(namespace)
        assert caught.value.status == 429
        assert caught.value.headers["Retry-After"] == "7"
    assert core.list_namespaced_pod(namespace).items == []  # the rule is used up
    assert [r.status for r in proxy.requests if r.path.endswith("/pods")] == [429, 429, 200]


def test_streams_watch_events_as_they_happen(
    proxied: tuple[FaultProxy, client.CoreV1Api], namespace: str, core_v1: client.CoreV1Api
) -> None:
    _, core = proxied
    version = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[float] = []

    def watch() -> None:
        for event in watch_events(
            core.list_namespaced_config_map, namespace, resource_version=version, timeout_seconds=20
        ):
            if event["object"].metadata.name == "late":
                seen.append(time.monotonic())
                return

    thread = threading.Thread(target=watch)
    thread.start()
    time.sleep(2)
    created = time.monotonic()
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late"))
    core_v1.create_namespaced_config_map(namespace, body)
    thread.join(30)
    assert seen and seen[0] - created < 5  # delivered while the stream is open, not at its end


def test_drop_and_delay_and_freeze(
    proxied: tuple[FaultProxy, client.CoreV1Api], namespace: str
) -> None:
    proxy, core = proxied
    proxy.add(Rule(Drop(), path=r"/configmaps$", times=1))
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_namespaced_config_map(namespace)
    proxy.add(Rule(Delay(2), path=r"/secrets$", times=1))
    began = time.monotonic()
    core.list_namespaced_secret(namespace)
    assert time.monotonic() - began >= 2
    proxy.freeze()
    threading.Timer(2, proxy.thaw).start()
    began = time.monotonic()
    core.list_namespaced_service_account(namespace)  # waits for the thaw
    assert time.monotonic() - began >= 2
