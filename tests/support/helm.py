"""helm and kubectl (from ``scripts/cluster``'s bin directory) against the test cluster."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import Cluster


@dataclass(frozen=True)
class Tools:
    """Runs helm and kubectl with the cluster's kubeconfig; a failing command fails the test."""

    bin_dir: Path
    kubeconfig: str

    @classmethod
    def of(cls, cluster: Cluster) -> Tools:
        return cls(cluster.env.bin_dir, cluster.kubeconfig)

    def run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        result = self.attempt(tool, *args, stdin=stdin)
        assert result.returncode == 0, f"{tool} {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def attempt(
        self, tool: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / tool), "--kubeconfig", self.kubeconfig, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def helm(self, *args: str) -> str:
        return self.run("helm", *args)

    def template(self, chart: Path, release: str, namespace: str, values: dict[str, Any]) -> str:
        """``helm template`` output of ``chart`` with ``values`` (as a values file)."""
        args = ("template", release, str(chart), "-n", namespace, "-f", "-")
        return self.run("helm", *args, stdin=json.dumps(values))


def documents(manifest: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML manifest."""
    return [doc for doc in yaml.safe_load_all(manifest) if doc]
