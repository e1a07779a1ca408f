"""Fixtures for tests that run real containers on the real node of ``scripts/cluster``.

- ``real_node`` (session): the node's name, after checking it is Ready; fails saying how to
  start it (``scripts/cluster up``) when the cluster has none.
- ``real_namespace``: a fresh namespace labelled for the real node: the cluster's admission
  policy gives every pod created there the node's toleration and node selector
  (scripts/cluster.d/real_node_policy.py), so pods need no change to land there.
- ``busybox_pushed`` (session): a busybox image (:mod:`kaapana_executor.oci.busybox`) in the
  anonymous registry, running as root unless a test asks otherwise.
- ``real_e2e`` (module): real Airflow (tests/support/airflow.py) running KaapanaExecutor in
  a namespace labelled for the real node, hardened (``runAsNonRoot``, no capabilities), with
  the example DAGs and tests/integration/real_dags; the examples' images pushed to both
  registries and a pull secret for the basic-auth one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from examples.images.push import build_example, push_examples
from kaapana_executor.oci.build import ImageBuilder
from kaapana_executor.oci.busybox import with_userland
from kaapana_executor.oci.push import PushClient
from tests.support import images
from tests.support.airflow import (
    E2E,
    EXAMPLE_DAGS,
    PLATFORM_ENV,
    REPO,
    ensure_platform_secret,
    local_settings,
    running_airflow,
)
from tests.support.cluster import (
    HOW_TO_START,
    TEST_NAMESPACE_LABEL,
    Cluster,
    LocalEnv,
    drop_namespace,
)
from tests.support.polling import wait_until

#: Label and taint of the real node (scripts/cluster.d/real_node_config.py).
REAL_NODE_KEY = "kaapana.io/real-node"
BUSYBOX_REPOSITORY = "test/busybox"


def node_ready(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> str:
    name = cluster.env.real_node
    if not name:
        pytest.fail(
            "the cluster has no real node (KAAPANA_REAL_NODE is empty: existing cluster or "
            f"KAAPANA_NO_REAL_NODE=1). {HOW_TO_START}",
            pytrace=False,
        )
    core = cluster.core_v1()
    try:
        node = core.read_node(name)
    except ApiException as error:
        pytest.fail(f"real node {name} not found ({error.status}). {HOW_TO_START}", pytrace=False)
    if not node_ready(node):
        node = wait_until(
            lambda: core.read_node(name), node_ready, what=f"node {name} Ready", timeout=60
        )
    return name


def labelled_namespace(core: client.CoreV1Api, env: LocalEnv, prefix: str) -> str:
    """Create a namespace whose pods go to the real node; returns its name."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    labels = {TEST_NAMESPACE_LABEL: "true", env.real_node_namespace_label: "true"}
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    wait_until(
        lambda: core.list_namespaced_service_account(name).items,
        lambda found: any(a.metadata.name == "default" for a in found),
        what=f"ServiceAccount default in {name}",
    )
    return name


@pytest.fixture
def real_namespace(cluster: Cluster, real_node: str) -> Iterator[str]:
    core = cluster.core_v1()
    name = labelled_namespace(core, cluster.env, "t-real")
    yield name
    drop_namespace(core, name)


@pytest.fixture(scope="session")
def busybox_pushed(local_env: LocalEnv) -> str:
    """``host:port/test/busybox:root``: the busybox userland, no processing-container.json."""
    registry = PushClient(local_env.registry)
    try:
        registry.push_image(BUSYBOX_REPOSITORY, "root", with_userland(ImageBuilder()).build())
        return registry.reference(BUSYBOX_REPOSITORY, "root")
    finally:
        registry.close()


# --- real Airflow whose pods run on the real node ------------------------------------------

REAL_DAGS = REPO / "tests" / "integration" / "real_dags"
#: The secret the real-node DAGs name for the basic-auth registry.
REAL_PULL_SECRET = "registry-auth"
#: Hardened like a production deployment: no root, no capabilities.
REAL_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
    "runAsNonRoot": True,
}


def create_pull_secret(core: client.CoreV1Api, namespace: str, env: LocalEnv) -> None:
    """``registry-auth``: a dockerconfigjson secret for the basic-auth registry."""
    images.create_pull_secret(core, namespace, REAL_PULL_SECRET, env.docker_config())


def real_node_kaapana_settings(
    cluster: Cluster, namespace: str, home: Path, real_node: str
) -> dict[str, str]:
    """``[kaapana_executor]`` of a deployment whose pods run on the real node: they tolerate
    its taint and select it by name (the resource ledger sees both and admits them there),
    and get a platform environment with a secret the kubelet resolves."""
    toleration = {"key": "kaapana.io/real-node", "operator": "Exists", "effect": "NoSchedule"}
    # evicted 10 s after the node stops answering (Kubernetes' default: 300 s), so a test can
    # see what the executor does with a pod on a node whose kubelet stopped
    lost = [
        {
            "key": f"node.kubernetes.io/{taint}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 10,
        }
        for taint in ("unreachable", "not-ready")
    ]
    return local_settings(
        namespace,
        cluster.kubeconfig,
        [cluster.registry, cluster.registry_auth],
        home,
        security_context=json.dumps(REAL_SECURITY_CONTEXT),
        pod_tolerations=json.dumps([toleration, *lost]),
        pod_node_selector=json.dumps({"kubernetes.io/hostname": real_node}),
        pod_env=json.dumps(PLATFORM_ENV),
        heartbeat_interval="2",
        image_pull_grace="10",
        config_error_grace="5",
        pod_deletion="never",
    )


@pytest.fixture(scope="module")
def real_e2e(
    cluster: Cluster, real_node: str, busybox_pushed: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[E2E]:
    """Airflow (tests/support/airflow.py) with KaapanaExecutor whose pods run on the real node;
    module-scoped, so its three processes stop once the module is done."""
    images = push_examples(cluster.registry)
    login = (cluster.env.registry_user, cluster.env.registry_password)
    private = PushClient(cluster.registry_auth, credentials=login)
    try:
        private.push_image("kaapana/dummy", "1", build_example("dummy"))
    finally:
        private.close()
    core = cluster.core_v1()
    namespace = labelled_namespace(core, cluster.env, "kaapana-real")
    create_pull_secret(core, namespace, cluster.env)
    ensure_platform_secret(core, namespace)
    home = tmp_path_factory.mktemp("airflow-real")
    (home / "data").mkdir()
    extra = {
        "KAAPANA_REGISTRY": cluster.registry,
        "KAAPANA_REGISTRY_AUTH": cluster.registry_auth,
        "KUBECONFIG": cluster.kubeconfig,
    }
    kaapana = real_node_kaapana_settings(cluster, namespace, home, real_node)
    try:
        for airflow, rest in running_airflow(home, [EXAMPLE_DAGS, REAL_DAGS], kaapana, extra):
            yield E2E(rest, airflow, namespace, home / "data", images)
    finally:
        core.delete_namespace(namespace)
