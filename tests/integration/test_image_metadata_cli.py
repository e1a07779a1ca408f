"""``kaapana-task processing-container`` against the real registries and the cluster: the
printed document validates again; every failure is one line and exit 1."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes import client

from kaapana_executor.cli import main
from kaapana_executor.oci.build import ImageBuilder
from tests.support.cluster import Cluster, LocalEnv
from tests.support.images import PC, create_pull_secret, document, push
from tests.support.registry import PushClient
from tests.unit.reference import contract_dir

pytestmark = pytest.mark.cluster


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _real_image(registry: PushClient) -> str:
    """An image carrying Kaapana's own dummy processing-container.json."""
    real = (contract_dir() / "dummy.processing-container.json").read_text()
    return push(registry, ImageBuilder().layer({"app/run.py": "pass"}).layer({PC: real}).build())


@pytest.mark.reference
def test_k8s_mode_prints_a_document_that_validates_again(
    registry_auth: PushClient,
    local_env: LocalEnv,
    cluster: Cluster,
    core_v1: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference = _real_image(registry_auth)
    auth = _auth(local_env.registry_user, local_env.registry_password)
    create_pull_secret(
        core_v1, namespace, "regcred", {"auths": {local_env.registry_auth: {"auth": auth}}}
    )

    code = main(
        [
            "processing-container",
            reference,
            "--mode=k8s",
            f"--namespace={namespace}",
            "--pull-secret=regcred",
            f"--kubeconfig={cluster.kubeconfig}",
            f"--cache-dir={tmp_path / 'cache'}",
        ]
    )

    printed = capsys.readouterr().out
    assert code == 0
    assert json.loads(printed)["name"] == "Dummy-processing-container"
    (tmp_path / "pc.json").write_text(printed)
    assert main(["validate", str(tmp_path / "pc.json"), "--kind", "processing-container"]) == 0


@pytest.mark.reference
def test_registry_mode_takes_credentials_from_the_docker_config(
    registry_auth: PushClient,
    local_env: LocalEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference = _real_image(registry_auth)
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"auths": {local_env.registry_auth: {"auth": _auth(local_env.registry_user, "x")}}}
        )
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    code = main(["processing-container", reference, "--no-cache"])

    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"kaapana-task: {reference}: unauthorized: {local_env.registry_auth} refused user "
        f"{local_env.registry_user!r} for {reference.split('/', 1)[1][:-3]} (401 Unauthorized)\n"
    )
    right = _auth(local_env.registry_user, local_env.registry_password)
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {local_env.registry_auth: {"auth": right}}})
    )
    assert main(["processing-container", reference, "--no-cache"]) == 0


def test_schema_violations_print_one_line_per_problem(
    registry: PushClient, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = document()
    bad["templates"] = [{"identifier": "", "description": "x"}, {"description": "y"}]
    image = ImageBuilder().layer({PC: json.dumps(bad)}).build()
    reference = push(registry, image)

    code = main(["processing-container", reference, "--no-cache"])

    source = f"{reference}@{image.digest}:/{PC}"
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{source}: templates[0].identifier: '' should be non-empty",
        f"{source}: templates[1]: 'identifier' is required",
    ]
