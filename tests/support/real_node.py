"""Fixtures for tests that run real containers on the real node of ``scripts/cluster``.

- ``real_node`` (session): the node's name, after checking it is Ready; fails saying how to
  start it (``scripts/cluster up``) when the cluster has none.
- ``real_namespace``: a fresh namespace labelled for the real node: the cluster's admission
  policy gives every pod created there the node's toleration and node selector
  (scripts/cluster.d/real_node_policy.py), so pods need no change to land there.
- ``busybox_pushed`` (session): a busybox image (:mod:`kaapana_executor.oci.busybox`) in the
  anonymous registry, running as root unless a test asks otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kaapana_executor.oci.build import ImageBuilder
from kaapana_executor.oci.busybox import with_userland
from kaapana_executor.oci.push import PushClient
from tests.support.cluster import HOW_TO_START, TEST_NAMESPACE_LABEL, Cluster, LocalEnv
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
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture(scope="session")
def busybox_pushed(local_env: LocalEnv) -> str:
    """``host:port/test/busybox:root``: the busybox userland, no processing-container.json."""
    registry = PushClient(local_env.registry)
    try:
        registry.push_image(BUSYBOX_REPOSITORY, "root", with_userland(ImageBuilder()).build())
        return registry.reference(BUSYBOX_REPOSITORY, "root")
    finally:
        registry.close()
