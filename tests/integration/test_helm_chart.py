"""helm/kaapana-executor against the real API server: what its ServiceAccount may do, and not.

The chart's promise is least privilege for the executor. So the tests authenticate as the
chart's ServiceAccount (a TokenRequest token, nothing else) and do for real what the executor
does, then check that the same identity is refused everything it does not need.
"""

from __future__ import annotations

import base64
import configparser
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kaapana_executor.adoption import (
    RECOMMENDED_HEALTH_CHECK_THRESHOLD,
    RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL,
    adoption_stall_warning,
)
from kaapana_executor.config import SECTION, ExecutorSettings, PodDeletion
from tests.support import kwok
from tests.support.cluster import TEST_NAMESPACE_LABEL, Cluster, watch_events
from tests.support.helm import Tools, documents
from tests.support.helm_values import CHART
from tests.support.pods import pod_manifest
from tests.support.polling import wait_until

pytestmark = pytest.mark.cluster

ENV_PREFIX = f"AIRFLOW__{SECTION.upper()}__"
PULL_SECRET = "registry-pull"
OTHER_SECRET = "not-for-the-executor"


@pytest.fixture
def tools(cluster: Cluster) -> Tools:
    return Tools.of(cluster)


@pytest.fixture
def pods_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A second fresh namespace, for the pods (``namespace`` holds the release)."""
    core = cluster.core_v1()
    name = f"{namespace[:50]}-pods"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    wait_for_default_account(core, name)
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def wait_for_default_account(core: client.CoreV1Api, namespace: str) -> None:
    """Admission refuses pods until the controller-manager created the default account."""
    wait_until(
        lambda: [a.metadata.name for a in core.list_namespaced_service_account(namespace).items],
        lambda names: "default" in names,
        what=f"ServiceAccount default in {namespace}",
    )


def status_of(call: Callable[[], object]) -> int:
    """200 when the call succeeds, else the API's status code."""
    try:
        call()
    except ApiException as error:
        return int(error.status)
    return 200


@dataclass(frozen=True)
class Release:
    """An installed release and a client authenticated as its ServiceAccount only."""

    name: str
    namespace: str
    account: str
    token: str
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)


@contextmanager
def installed(
    tools: Tools, cluster: Cluster, namespace: str, values: dict[str, Any]
) -> Iterator[Release]:
    """The chart installed in ``namespace`` with ``values``; uninstalled afterwards."""
    name = f"kx-{secrets.token_hex(3)}"
    args = ("install", name, str(CHART), "-n", namespace, "-f", "-", "--wait")
    tools.run("helm", *args, stdin=json.dumps(values))
    account = f"{name}-kaapana-executor"
    token = cluster.service_account_token(namespace, account)
    api = cluster.client_with_token(token)
    try:
        yield Release(name, namespace, account, token, api)
    finally:
        api.close()  # type: ignore[no-untyped-call, unused-ignore]
        tools.helm("uninstall", name, "-n", namespace, "--wait", "--ignore-not-found")


def until_allowed(call: Callable[[], object], what: str) -> None:
    """RBAC objects reach the authorizer through an informer: allow it a moment."""
    wait_until(lambda: status_of(call), lambda status: status == 200, what=what, timeout=15)


def dockerconfig_secret(name: str) -> client.V1Secret:
    auths = {"auths": {"registry.invalid": {"auth": base64.b64encode(b"u:p").decode()}}}
    return client.V1Secret(
        metadata=client.V1ObjectMeta(name=name),
        type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(auths).encode()).decode()},
    )


def rendered_settings(manifest: str) -> tuple[dict[str, str], str]:
    """The ConfigMap's env entries and its airflow.cfg fragment."""
    (config_map,) = [d for d in documents(manifest) if d["kind"] == "ConfigMap"]
    data: dict[str, str] = config_map["data"]
    env = {k: v for k, v in data.items() if k.startswith(ENV_PREFIX)}
    return env, data[f"{SECTION}.cfg"]


# --- rendering ---------------------------------------------------------------------------


def test_chart_passes_helm_lint(tools: Tools) -> None:
    tools.helm("lint", "--strict", str(CHART))


#: Kaapana's platform environment, in the form the chart's values take it.
PLATFORM_ENV = [
    {"name": "KAAPANA_AII_URL", "value": "http://aii-service.services.svc:8080"},
    {
        "name": "KAAPANA_CLIENT_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "oidc-client-secret", "key": "oidc-client-secret"}},
    },
]


def test_config_map_settings_load_as_the_executor_loads_them(tools: Tools) -> None:
    values = {
        "namespace": "kaapana",
        "allowedNamespaces": ["extra-a", "extra-b"],
        "imagePullSecrets": [PULL_SECRET],
        "config": {
            "create_concurrency": 4,
            "heartbeat_interval": 2.5,
            "log_tail_lines": 1_000_000,  # YAML numbers reach templates as floats
            "pod_deletion": "on_success",
            "insecure_registries": ["registry.local:5000"],
            "security_context": {"runAsNonRoot": True},
            "kubeconfig": None,
            "pod_env": PLATFORM_ENV,
            "pod_labels": {"kaapana.ai/type": "processing-container"},
        },
    }
    env, fragment = rendered_settings(tools.template(CHART, "r", "ops", values))

    from_env = ExecutorSettings.load(lambda option: env.get(ENV_PREFIX + option.upper()))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(fragment)
    from_cfg = ExecutorSettings.load(lambda option: parser.get(SECTION, option, fallback=None))

    assert from_env == from_cfg
    assert from_env.namespace == "kaapana"
    assert from_env.allowed_namespaces == ["extra-a", "extra-b"]
    assert from_env.image_pull_secrets == [PULL_SECRET]
    assert from_env.create_concurrency == 4
    assert from_env.heartbeat_interval == 2.5
    assert from_env.log_tail_lines == 1_000_000
    assert from_env.pod_deletion is PodDeletion.ON_SUCCESS
    assert from_env.insecure_registries == ["registry.local:5000"]
    assert from_env.security_context == {"runAsNonRoot": True}
    assert from_env.kubeconfig is None
    assert [var.model_dump(exclude_none=True) for var in from_env.pod_env] == PLATFORM_ENV
    assert from_env.pod_labels == {"kaapana.ai/type": "processing-container"}


def test_config_map_sets_the_recommended_adoption_timers(tools: Tools) -> None:
    (config_map,) = [
        d for d in documents(tools.template(CHART, "r", "ops", {})) if d["kind"] == "ConfigMap"
    ]
    data: dict[str, str] = config_map["data"]
    threshold = float(data["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD"])
    interval = float(data["AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"])
    assert (threshold, interval) == (
        RECOMMENDED_HEALTH_CHECK_THRESHOLD,
        RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL,
    )
    assert adoption_stall_warning(threshold, interval) is None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(data["scheduler.cfg"])
    assert parser.getint("scheduler", "scheduler_health_check_threshold") == threshold
    assert parser.getfloat("scheduler", "orphaned_tasks_check_interval") == interval

    values: dict[str, Any] = {"airflowScheduler": None}  # null removes a default map
    (bare,) = [
        d for d in documents(tools.template(CHART, "r", "ops", values)) if d["kind"] == "ConfigMap"
    ]
    assert not [k for k in bare["data"] if "SCHEDULER" in k or k == "scheduler.cfg"]


def test_derived_options_cannot_be_set_twice(tools: Tools) -> None:
    args = ("template", "r", str(CHART), "--set", "config.namespace=elsewhere")
    result = tools.attempt("helm", *args)
    assert result.returncode != 0
    assert "config.namespace: set it with the top-level value" in result.stderr


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("config.heartbeat_interval=-1", "at '/config/heartbeat_interval'"),
        ("config.pod_deletion=sometimes", "value must be one of 'always', 'on_success', 'never'"),
        ("config.heartbat_interval=5", "additional properties 'heartbat_interval' not allowed"),
        ("allowedNamespaces[0]=Bad_NS", "at '/allowedNamespaces/0'"),
        ("serviceAccount.create=maybe", "at '/serviceAccount/create': got string, want boolean"),
    ],
)
def test_helm_refuses_values_outside_the_schema(tools: Tools, value: str, problem: str) -> None:
    result = tools.attempt("helm", "template", "r", str(CHART), "--set", value)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert problem in result.stderr, result.stderr


@pytest.mark.parametrize("ledger", [True, False])
def test_rendered_chart_is_accepted_by_the_api_server(
    tools: Tools, namespace: str, pods_namespace: str, ledger: bool
) -> None:
    values = {
        "namespace": pods_namespace,
        "allowedNamespaces": [namespace],
        "imagePullSecrets": [PULL_SECRET],
        "ledger": {"enabled": ledger},
    }
    manifest = tools.template(CHART, "dry", namespace, values)
    kinds = sorted(d["kind"] for d in documents(manifest))
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding"]
        + ["Role", "RoleBinding"] * 2
    )

    output = tools.run("kubectl", "apply", "--dry-run=server", "-f", "-", stdin=manifest)

    assert output.count("(server dry run)") == len(kinds), output


# --- the installed chart, as its ServiceAccount ------------------------------------------


def test_account_does_what_the_executor_does_and_nothing_more(
    tools: Tools, kwok_cluster: Cluster, namespace: str, pods_namespace: str
) -> None:
    admin = kwok_cluster.core_v1()
    for name in (PULL_SECRET, OTHER_SECRET):
        admin.create_namespaced_secret(pods_namespace, dockerconfig_secret(name))
    values = {"namespace": pods_namespace, "imagePullSecrets": [PULL_SECRET]}

    with installed(tools, kwok_cluster, namespace, values) as release:
        core = release.core
        until_allowed(lambda: core.list_namespaced_pod(pods_namespace), "the Role to apply")
        until_allowed(core.list_node, "the ClusterRole to apply")
        before = core.list_pod_for_all_namespaces().metadata.resource_version
        run_a_pod_as_the_executor(core, pods_namespace)

        # Pull credentials: the listed secret only.
        secret = core.read_namespaced_secret(PULL_SECRET, pods_namespace)
        assert secret.data is not None and ".dockerconfigjson" in secret.data

        # The resource ledger: nodes, non-terminal pods and quotas, and watches on all pods.
        assert core.list_node().items
        core.list_resource_quota_for_all_namespaces()
        core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded")
        events = watch_events(
            core.list_pod_for_all_namespaces, resource_version=before, timeout_seconds=2
        )
        seen = {(e["object"].metadata.namespace, e["object"].metadata.name) for e in events}
        assert (pods_namespace, "task-try-1") in seen

        apps = client.AppsV1Api(release.api)
        node = admin.list_node().items[0].metadata.name
        denied = {
            "create a pod in the release namespace": lambda: core.create_namespaced_pod(
                namespace, pod_manifest("outside")
            ),
            "create a pod in default": lambda: core.create_namespaced_pod(
                "default", pod_manifest("outside")
            ),
            "delete a node": lambda: core.delete_node(node, dry_run="All"),
            "read a secret not listed": lambda: core.read_namespaced_secret(
                OTHER_SECRET, pods_namespace
            ),
            "list secrets": lambda: core.list_namespaced_secret(pods_namespace),
            "read a ServiceAccount (pull secrets are listed)": lambda: (
                core.read_namespaced_service_account("default", pods_namespace)
            ),
            "patch a pod": lambda: core.patch_namespaced_pod(
                "any", pods_namespace, {"metadata": {"labels": {"x": "y"}}}
            ),
            "create a deployment": lambda: apps.create_namespaced_deployment(
                pods_namespace, deployment("sneaky")
            ),
        }
        refused = {what: status_of(call) for what, call in denied.items()}
        assert refused == dict.fromkeys(denied, 403)

    # Uninstalled: every object is gone, and with the ServiceAccount its token.
    assert_release_objects_gone(kwok_cluster, release, [pods_namespace])
    stale = kwok_cluster.client_with_token(release.token)
    try:
        wait_until(
            lambda: status_of(lambda: client.CoreV1Api(stale).list_namespaced_pod(pods_namespace)),
            lambda status: status == 401,
            what="the deleted ServiceAccount's token to be rejected",
            timeout=15,
        )
    finally:
        stale.close()  # type: ignore[no-untyped-call, unused-ignore]


def run_a_pod_as_the_executor(core: client.CoreV1Api, namespace: str) -> None:
    """Create, watch, get, list, read the log of and delete a pod, as the executor does."""
    lines = ["converting", "done"]
    annotations = kwok.lifecycle(start_delay="200ms", never_finish=True, log_lines=lines)
    labels = {"kaapana.io/executor": "test"}
    created = core.create_namespaced_pod(
        namespace, pod_manifest("task-try-1", annotations=annotations, labels=labels)
    )
    for event in watch_events(
        core.list_namespaced_pod,
        namespace,
        label_selector="kaapana.io/executor=test",
        resource_version=created.metadata.resource_version,
        timeout_seconds=30,
    ):
        if event["object"].status.phase == "Running":
            break
    else:
        pytest.fail("the watch never showed the pod running")

    assert core.read_namespaced_pod("task-try-1", namespace).status.phase == "Running"
    listed = core.list_namespaced_pod(namespace, label_selector="kaapana.io/executor=test")
    assert [p.metadata.name for p in listed.items] == ["task-try-1"]
    log = wait_until(
        lambda: read_log_or_empty(core, "task-try-1", namespace),
        lambda text: text != "",
        what="the pod's log",
    )
    assert log == "converting\ndone\n"

    core.delete_namespaced_pod("task-try-1", namespace, grace_period_seconds=0)
    wait_until(
        lambda: status_of(lambda: core.read_namespaced_pod("task-try-1", namespace)),
        lambda status: status == 404,
        what="the deleted pod to disappear",
    )


def read_log_or_empty(core: client.CoreV1Api, name: str, namespace: str) -> str:
    """The log; empty while the container has not started (400), as the executor treats it."""
    try:
        text: str = core.read_namespaced_pod_log(name, namespace)
    except ApiException as error:
        if error.status != 400:
            raise
        return ""
    return text


def deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=pod_manifest(name).spec,
            ),
        ),
    )


def test_without_the_ledger_cluster_reads_are_denied(
    tools: Tools, cluster: Cluster, namespace: str, pods_namespace: str
) -> None:
    admin = cluster.core_v1()
    admin.create_namespaced_secret(pods_namespace, dockerconfig_secret(PULL_SECRET))
    other = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="other"))
    admin.create_namespaced_service_account(pods_namespace, other)
    values = {"namespace": pods_namespace, "ledger": {"enabled": False}}

    with installed(tools, cluster, namespace, values) as release:
        core = release.core
        until_allowed(lambda: core.list_namespaced_pod(pods_namespace), "the Role to apply")
        # No pull secrets listed: those of the pods' ServiceAccount (default), any by name.
        account = core.read_namespaced_service_account("default", pods_namespace)
        assert account.metadata.name == "default"
        assert core.read_namespaced_secret(PULL_SECRET, pods_namespace).data

        denied = {
            "list nodes": core.list_node,
            "list pods in all namespaces": core.list_pod_for_all_namespaces,
            "list quotas": core.list_resource_quota_for_all_namespaces,
            "read another ServiceAccount": lambda: core.read_namespaced_service_account(
                "other", pods_namespace
            ),
        }
        refused = {what: status_of(call) for what, call in denied.items()}
        assert refused == dict.fromkeys(denied, 403)

    assert_release_objects_gone(cluster, release, [pods_namespace])


def test_created_namespaces_with_allowed_namespaces(
    tools: Tools, cluster: Cluster, namespace: str
) -> None:
    main, extra = f"{namespace[:50]}-main", f"{namespace[:50]}-extra"
    values = {
        "namespace": main,
        "allowedNamespaces": [extra],
        "createNamespaces": True,
        "ledger": {"enabled": False},
    }
    admin = cluster.core_v1()

    with installed(tools, cluster, namespace, values) as release:
        core = release.core
        for created in (main, extra):
            wait_for_default_account(admin, created)
        until_allowed(lambda: core.list_namespaced_pod(extra), "the Role to apply")
        core.create_namespaced_pod(extra, pod_manifest("in-allowed"))
        # With allowed namespaces the executor watches its pods in all namespaces.
        names = [p.metadata.name for p in core.list_pod_for_all_namespaces().items]
        assert "in-allowed" in names
        assert status_of(core.list_node) == 403

    assert_release_objects_gone(cluster, release, [main, extra])
    wait_until(
        lambda: {n.metadata.name for n in admin.list_namespace().items} & {main, extra},
        lambda left: not left,
        what="the created namespaces to be deleted",
        timeout=60,
    )


def assert_release_objects_gone(
    cluster: Cluster, release: Release, pod_namespaces: list[str]
) -> None:
    """After uninstall: no ServiceAccount, ConfigMap, Role, RoleBinding or cluster object."""
    core, rbac = cluster.core_v1(), client.RbacAuthorizationV1Api(cluster.api_client)
    selector = f"app.kubernetes.io/instance={release.name}"
    left = [
        *core.list_namespaced_service_account(release.namespace, label_selector=selector).items,
        *core.list_namespaced_config_map(release.namespace, label_selector=selector).items,
        *rbac.list_cluster_role(label_selector=selector).items,
        *rbac.list_cluster_role_binding(label_selector=selector).items,
    ]
    for pod_namespace in pod_namespaces:
        left += rbac.list_namespaced_role(pod_namespace, label_selector=selector).items
        left += rbac.list_namespaced_role_binding(pod_namespace, label_selector=selector).items
    assert [f"{type(o).__name__} {o.metadata.name}" for o in left] == []
