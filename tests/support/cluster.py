"""pytest fixtures for the local cluster (``scripts/cluster``) and its simulated nodes.

Fixtures (tests using them are marked ``@pytest.mark.cluster``):

- ``local_env`` (session): ``LocalEnv``, what ``scripts/cluster env`` prints. Runs
  ``scripts/cluster up --no-build`` first (about a second when already up, 7 s after
  ``down``; it fails, saying how to build, when the tools were never built); with
  ``KAAPANA_CLUSTER_NO_UP=1`` it only reads the environment.
- ``cluster`` (session): ``Cluster`` with ``kubeconfig``, ``api_client``, the registry
  addresses and ``nodes`` (add, cordon, taint, delete).
- ``kwok_cluster`` (session): the same, but skips the test on a cluster that is not
  simulated by KWOK (pod lifecycle annotations and log lines need KWOK).
- ``nodes``: like ``cluster.nodes``, but every change is undone after the test.
- ``namespace``: a fresh namespace per test (its ``default`` ServiceAccount exists), deleted
  afterwards.
- ``core_v1``: ``kubernetes.client.CoreV1Api`` on the cluster.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.support.nodes import KWOK_NODE_ANNOTATION, NodeAdmin, TrackedNodes
from tests.support.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "scripts" / "cluster"
TEST_NAMESPACE_LABEL = "kaapana-executor.test/namespace"
HOW_TO_START = (
    "Start the local cluster with `scripts/cluster up` (see docs/local-cluster.md), or use "
    "your own with KAAPANA_EXISTING_CLUSTER=1 KUBECONFIG=..."
)


@dataclass(frozen=True)
class LocalEnv:
    """Where the cluster and registries are: the output of ``scripts/cluster env --json``."""

    kubeconfig: str
    registry: str
    registry_auth: str
    registry_user: str
    registry_password: str
    existing_cluster: bool
    state_dir: Path
    bin_dir: Path
    real_node: str = ""  # the real node's name; "" when the cluster has none
    real_node_namespace_label: str = "kaapana.io/real-node-pods"

    @classmethod
    def from_json(cls, values: Mapping[str, str]) -> LocalEnv:
        return cls(
            kubeconfig=values["KUBECONFIG"],
            registry=values["KAAPANA_REGISTRY"],
            registry_auth=values["KAAPANA_REGISTRY_AUTH"],
            registry_user=values["KAAPANA_REGISTRY_USER"],
            registry_password=values["KAAPANA_REGISTRY_PASSWORD"],
            existing_cluster=values["KAAPANA_EXISTING_CLUSTER"] == "1",
            state_dir=Path(values["KAAPANA_EXECUTOR_STATE"]),
            bin_dir=Path(values["KAAPANA_BIN_DIR"]),
            real_node=values.get("KAAPANA_REAL_NODE", ""),
            real_node_namespace_label=values.get(
                "KAAPANA_REAL_NODE_NAMESPACE_LABEL", "kaapana.io/real-node-pods"
            ),
        )

    def docker_config(self) -> dict[str, Any]:
        """A ``.dockerconfigjson`` document with the basic-auth registry's credentials."""
        auth = base64.b64encode(f"{self.registry_user}:{self.registry_password}".encode())
        return {"auths": {self.registry_auth: {"auth": auth.decode()}}}


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLUSTER_SCRIPT), *args], capture_output=True, text=True, check=False, timeout=3600
    )


def start_local_env() -> LocalEnv:
    """Bring the cluster up (idempotent) and read its environment; fail the session if not."""
    if os.environ.get("KAAPANA_CLUSTER_NO_UP") != "1":
        result = _run_script("up", "--no-build")
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            pytest.fail(
                f"`scripts/cluster up` failed ({result.returncode}):\n{output}\n{HOW_TO_START}",
                pytrace=False,
            )
    result = _run_script("env", "--json")
    if result.returncode != 0:
        pytest.fail(f"`scripts/cluster env` failed: {result.stderr}\n{HOW_TO_START}", pytrace=False)
    return LocalEnv.from_json(json.loads(result.stdout))


# --- the cluster -------------------------------------------------------------------------


@dataclass
class Cluster:
    """A running cluster and how to reach it, shared by the whole session."""

    env: LocalEnv
    api_client: client.ApiClient
    simulated: bool
    nodes: NodeAdmin = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = NodeAdmin(self.core_v1())

    @property
    def kubeconfig(self) -> str:
        return self.env.kubeconfig

    @property
    def registry(self) -> str:
        """host:port of the anonymous registry."""
        return self.env.registry

    @property
    def registry_auth(self) -> str:
        """host:port of the basic-auth registry (``env.registry_user``/``_password``)."""
        return self.env.registry_auth

    def core_v1(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    def client_with_token(self, token: str) -> client.ApiClient:
        """An ``ApiClient`` that authenticates with ``token`` only (e.g. a ServiceAccount's),
        so RBAC decides as it would for that account in the cluster. Close it after use."""
        admin = self.api_client.configuration
        configuration = client.Configuration(
            host=admin.host,
            api_key={"authorization": f"Bearer {token}"},
            ssl_ca_cert=admin.ssl_ca_cert,
        )
        return client.ApiClient(configuration)

    def service_account_token(self, namespace: str, account: str, seconds: int = 600) -> str:
        """A short-lived token of a ServiceAccount (TokenRequest API)."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
        )
        response = self.core_v1().create_namespaced_service_account_token(
            account, namespace, request
        )
        token: str | None = response.status.token if response.status else None
        assert token, "the TokenRequest returned no token"
        return token


@pytest.fixture(scope="session")
def local_env() -> LocalEnv:
    return start_local_env()


# The kubernetes client's config and watch modules are unannotated; whether mypy sees them
# as untyped or as Any depends on the project's mypy overrides, hence ``unused-ignore``.


def api_client_for(kubeconfig: str) -> client.ApiClient:
    """An ``ApiClient`` of its own for ``kubeconfig`` (the global default stays untouched)."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call, unused-ignore]
        config_file=kubeconfig
    )
    return api


def close_api_client(api: client.ApiClient) -> None:
    """Close the client's connection pool."""
    api.close()  # type: ignore[no-untyped-call, unused-ignore]


def watch_events(list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Events (``{"type", "object"}``) of a watch on ``list_call``, e.g.
    ``watch_events(core.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=30)``.

    With ``timeout_seconds`` a 410 Gone is raised as ``ApiException`` (status 410) rather
    than retried by the client."""
    stream = watch.Watch().stream(  # type: ignore[no-untyped-call, unused-ignore]
        list_call, *args, **kwargs
    )
    yield from stream


@pytest.fixture(scope="session")
def cluster(local_env: LocalEnv) -> Iterator[Cluster]:
    api = api_client_for(local_env.kubeconfig)
    try:
        found = client.CoreV1Api(api).list_node(_request_timeout=10).items
    # Whatever fails here (refused, TLS, 401) means the same: no cluster to test against.
    except Exception as error:
        close_api_client(api)
        pytest.fail(f"cannot reach the cluster of {local_env.kubeconfig}: {error}\n{HOW_TO_START}")
    simulated = any(
        n.metadata is not None
        and (n.metadata.annotations or {}).get(KWOK_NODE_ANNOTATION) == "fake"
        for n in found
    )
    yield Cluster(env=local_env, api_client=api, simulated=simulated)
    close_api_client(api)


@pytest.fixture(scope="session")
def kwok_cluster(cluster: Cluster) -> Cluster:
    if not cluster.simulated:
        pytest.skip("needs a KWOK-simulated cluster (pod behaviour comes from its stages)")
    return cluster


@pytest.fixture
def core_v1(cluster: Cluster) -> client.CoreV1Api:
    return cluster.core_v1()


@pytest.fixture
def nodes(cluster: Cluster) -> Iterator[TrackedNodes]:
    tracked = TrackedNodes(cluster.core_v1())
    yield tracked
    tracked.restore()


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{slug}-{secrets.token_hex(3)}"


def _has_default_account(accounts: list[client.V1ServiceAccount]) -> bool:
    return any(a.metadata is not None and a.metadata.name == "default" for a in accounts)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    core = cluster.core_v1()
    name = _namespace_name(request.node.name)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    # Admission refuses pods until the controller-manager created the default account.
    wait_until(
        lambda: core.list_namespaced_service_account(name).items,
        _has_default_account,
        what=f"ServiceAccount default in {name}",
    )
    yield name
    drop_namespace(core, name)


def drop_namespace(core: client.CoreV1Api, name: str) -> None:
    """Delete a test's namespace in the background; one already gone is fine."""
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as error:
        if error.status != 404:
            raise


def pod_phase(core: client.CoreV1Api, namespace: str, name: str) -> str | None:
    """A pod's phase now; None when it does not exist."""
    try:
        return str(core.read_namespaced_pod(name, namespace).status.phase)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
