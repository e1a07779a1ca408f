"""helm (built by scripts/build-bins) installs a chart into the local cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
    "templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
    "values.yaml": "greeting: hello\n",
}


def _helm(cluster: Cluster, *args: str) -> str:
    result = subprocess.run(
        [str(cluster.env.bin_dir / "helm"), "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_helm_installs_and_uninstalls_a_chart(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    for name, text in CHART.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    core = cluster.core_v1()

    _helm(cluster, "install", "probe", str(tmp_path), "-n", namespace, "--set", "greeting=hi")

    settings = core.read_namespaced_config_map("probe-settings", namespace)
    assert settings.data == {"greeting": "hi"}
    assert "probe" in _helm(cluster, "list", "-n", namespace, "-q")

    _helm(cluster, "uninstall", "probe", "-n", namespace, "--wait")
    names = [
        c.metadata.name for c in core.list_namespaced_config_map(namespace).items if c.metadata
    ]
    assert "probe-settings" not in names
