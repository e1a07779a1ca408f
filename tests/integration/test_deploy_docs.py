"""docs/deploy.md's example beside the official apache-airflow chart, on the local cluster.

The two values blocks are read from the document itself, so the example cannot drift from
what is tested. This chart is rendered and installed with its block (namespaces replaced by
the test's); the Airflow block must name what that install created, and a scheduler pod
assembled from it as the official chart assembles one (ServiceAccount, extraEnvFrom,
extraVolumes and extraVolumeMounts, the logs claim) must be accepted by the API server. The
official chart itself cannot be rendered here (no reachable registry has it; docs/deploy.md
says so).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import Cluster
from tests.support.helm import Tools, documents
from tests.support.helm_values import CHART

pytestmark = pytest.mark.cluster

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
RELEASE = "kaapana-executor"  # as in the document's helm install line


def values_block(name: str) -> dict[str, Any]:
    """The YAML block after ``<!-- values: NAME -->`` in docs/deploy.md."""
    found = re.search(rf"<!-- values: {name} -->\n```yaml\n(.*?)\n```", DEPLOY.read_text(), re.S)
    assert found, f"{DEPLOY}: no values block for {name}"
    loaded: dict[str, Any] = yaml.safe_load(found.group(1))
    return loaded


@pytest.fixture
def tools(cluster: Cluster) -> Tools:
    return Tools.of(cluster)


@pytest.fixture
def release(tools: Tools, namespace: str) -> Iterator[dict[str, Any]]:
    """This chart installed with the document's values; yields its rendered objects by kind."""
    values = {**values_block("kaapana-executor"), "namespace": namespace}
    values["createNamespaces"] = False  # the test's namespace exists already
    manifest = tools.template(CHART, RELEASE, namespace, values)
    args = ("install", RELEASE, str(CHART), "-n", namespace, "-f", "-", "--wait")
    tools.run("helm", *args, stdin=json.dumps(values))
    try:
        yield {d["kind"]: d for d in documents(manifest) if d["kind"] != "Role"}
    finally:
        tools.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--ignore-not-found")


def scheduler_pod(airflow: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A scheduler pod as the official chart builds one from these values (the parts that
    come from them; the chart adds its own config, probes and so on)."""
    scheduler = airflow["scheduler"]
    claim = airflow["logs"]["persistence"].get("existingClaim") or "airflow-logs"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "airflow-scheduler-probe", "namespace": namespace},
        "spec": {
            "serviceAccountName": scheduler["serviceAccount"]["name"],
            "containers": [
                {
                    "name": "scheduler",
                    "image": f"{airflow['images']['airflow']['repository']}:"
                    f"{airflow['images']['airflow']['tag']}",
                    "args": ["airflow", "scheduler"],
                    "env": [{"name": "AIRFLOW__CORE__EXECUTOR", "value": airflow["executor"]}],
                    "envFrom": yaml.safe_load(airflow["extraEnvFrom"]),
                    "volumeMounts": [
                        *scheduler["extraVolumeMounts"],
                        {"name": "logs", "mountPath": "/opt/airflow/logs"},
                    ],
                }
            ],
            "volumes": [
                *scheduler["extraVolumes"],
                {"name": "logs", "persistentVolumeClaim": {"claimName": claim}},
            ],
        },
    }


def test_the_airflow_values_name_what_this_chart_creates(
    tools: Tools, namespace: str, release: dict[str, Any]
) -> None:
    airflow = values_block("apache-airflow")
    ours = values_block("kaapana-executor")
    account = release["ServiceAccount"]["metadata"]["name"]
    config_map = release["ConfigMap"]["metadata"]["name"]

    module, _, name = airflow["executor"].rpartition(".")
    assert getattr(importlib.import_module(module), name).__name__ == "KaapanaExecutor"
    for component in ("scheduler", "apiServer"):
        assert airflow[component]["serviceAccount"] == {"create": False, "name": account}
    assert yaml.safe_load(airflow["extraEnvFrom"]) == [{"configMapRef": {"name": config_map}}]
    (mount,) = airflow["scheduler"]["extraVolumeMounts"]
    (volume,) = airflow["scheduler"]["extraVolumes"]
    assert mount["mountPath"] == ours["config"].get("data_root_local", ours["config"]["data_root"])
    assert volume["hostPath"]["path"] == ours["config"]["data_root"]
    assert airflow["logs"]["persistence"]["enabled"] is True  # api-server reads the logs

    pod = json.dumps(scheduler_pod(airflow, namespace))
    output = tools.run("kubectl", "apply", "--dry-run=server", "-f", "-", stdin=pod)
    assert "pod/airflow-scheduler-probe created (server dry run)" in output


def test_the_kaapana_platform_values_give_the_settings_they_say(tools: Tools) -> None:
    """The document's platform example renders, and the executor loads what it renders."""
    from kaapana_executor.config import ExecutorSettings

    manifest = tools.template(CHART, RELEASE, "airflow", values_block("kaapana-platform"))
    (config_map,) = [d for d in documents(manifest) if d["kind"] == "ConfigMap"]
    prefix = "AIRFLOW__KAAPANA_EXECUTOR__"
    env = {
        k.removeprefix(prefix).lower(): v
        for k, v in config_map["data"].items()
        if k.startswith(prefix)
    }
    settings = ExecutorSettings.load(env.get)
    assert settings.allowed_namespaces == ["project-a", "project-b"]
    assert settings.pod_labels == {"kaapana.ai/type": "processing-container"}
    secret = settings.pod_env[1].valueFrom
    assert secret is not None and secret.secretKeyRef is not None
    assert secret.secretKeyRef.name == "oidc-client-secret"
