"""The executor's pod → Docker create arguments: every field, from real ``build_pod`` pods."""

from __future__ import annotations

from typing import Any

import pytest

from kaapana_executor.contract import merge
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.launch.pod import PodSettings, build_pod
from kaapana_executor.local.docker_runner import create_kwargs
from kaapana_executor.local.docker_spec import (
    BindMount,
    ContainerSpec,
    UnsupportedInDocker,
    container_spec,
)
from kaapana_executor.local.prepare import local_policy
from tests.unit import builders

RUN = RunContext("dag", "run-1", "seg", try_number=2)


def spec_for(
    task_fields: dict[str, Any],
    template_fields: dict[str, Any] | None = None,
    settings: PodSettings | None = None,
) -> ContainerSpec:
    template = builders.template_model(
        command=["python", "-u", "run.py"],
        env=[{"name": "A", "value": "1"}, {"name": "B", "value": "two words"}],
        inputs=[builders.mount("images", "/in")],
        outputs=[builders.mount("masks", "/out")],
        **(template_fields or {}),
    )
    task = builders.task(
        builders.template(),
        inputs=[builders.host("images", "/data/in")],
        outputs=[builders.host("masks", "/data/out")],
        **task_fields,
    )
    instance = merge.merge(task, template, "task.json")
    # the pod settings a local run uses unless a test gives its own (the executor's defaults)
    pod_settings = settings or local_policy("/data", {}, None).pod
    pod = build_pod(instance, pod_identity(RUN, "main", ti_id="ti-9"), pod_settings, "default")
    return container_spec(pod)


def test_command_env_mounts_and_identity_come_from_the_pod() -> None:
    spec = spec_for(
        {"env": [{"name": "B", "value": "三"}], "config": {"annotations": {"x/y": "z"}}}
    )

    assert spec.name.startswith("dag-seg-t2-")
    assert spec.image == "reg/img:1"
    assert spec.entrypoint == ["python", "-u", "run.py"]
    assert spec.args is None
    assert spec.env == ["A=1", "B=三"]
    assert spec.mounts == [
        BindMount("/data/in", "/in", read_only=True),
        BindMount("/data/out", "/out", read_only=False),
    ]
    assert spec.labels[labels.MANAGED_BY] == labels.MANAGED_BY_VALUE
    assert spec.labels[labels.ANN_TI_ID] == "ti-9"
    assert spec.labels[labels.ANN_RUN_ID] == "run-1"  # the exact annotation wins
    assert spec.labels["x/y"] == "z"


def test_limits_become_memory_without_swap_and_nano_cpus() -> None:
    spec = spec_for(
        {"resources": {"limits": {"memory": "1.5Gi", "cpu": "250m"}, "requests": {"cpu": "100m"}}}
    )

    assert spec.mem_limit == 1536 * 2**20
    assert spec.nano_cpus == 250_000_000
    kwargs = create_kwargs(spec)
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 1536 * 2**20  # no swap
    assert kwargs["entrypoint"] == ["python", "-u", "run.py"]
    assert "command" not in kwargs  # the image's CMD is dropped, as in Kubernetes
    assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in kwargs["mounts"]] == [
        ("/in", "/data/in", True),
        ("/out", "/data/out", False),
    ]


def test_the_default_security_context_drops_capabilities_and_privilege_escalation() -> None:
    spec = spec_for({})

    assert (spec.cap_drop, spec.cap_add) == (["ALL"], [])
    assert spec.security_opt == ["no-new-privileges"]
    assert (spec.user, spec.read_only, spec.privileged) == (None, False, False)
    assert spec.ignored == []


def test_other_security_settings_and_what_docker_cannot_apply() -> None:
    context = {
        "runAsUser": 1000,
        "runAsGroup": 100,
        "readOnlyRootFilesystem": True,
        "capabilities": {"add": ["NET_ADMIN"]},
        "seLinuxOptions": {"level": "s0"},
    }
    spec = spec_for(
        {"resources": {"limits": {"nvidia.com/gpu": "1"}}, "config": {"imagePullSecrets": ["s"]}},
        settings=PodSettings(security_context=context),
    )

    assert (spec.user, spec.read_only, spec.cap_add) == ("1000:100", True, ["NET_ADMIN"])
    assert spec.security_opt == []
    assert spec.ignored == [
        "limits.nvidia.com/gpu=1",
        "securityContext.seLinuxOptions",
        "imagePullSecrets (the Docker API uses its own credentials)",
    ]


def test_an_image_default_command_stays_the_images() -> None:
    template = builders.template_model()
    instance = merge.merge(builders.task(builders.template()), template, "task.json")
    pod = build_pod(instance, pod_identity(RUN, "main"), PodSettings(), "default")

    spec = container_spec(pod)

    assert (spec.entrypoint, spec.args, spec.mounts, spec.env) == (None, None, [], [])
    assert "entrypoint" not in create_kwargs(spec)


def test_a_pvc_volume_cannot_run_in_docker_mode() -> None:
    task_fields = {"outputs": [{"name": "masks", "volume_source": {"pvc": {"claim_name": "c"}}}]}
    template = builders.template_model(outputs=[builders.mount("masks", "/out")])
    instance = merge.merge(builders.task(builders.template(), **task_fields), template, "t")
    pod = build_pod(instance, pod_identity(RUN, "main"), PodSettings(), "default")

    with pytest.raises(UnsupportedInDocker, match="/out is not a host path"):
        container_spec(pod)
