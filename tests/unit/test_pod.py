"""The pod built for a task instance (pure; checked field by field on the real V1Pod)."""

from __future__ import annotations

import re

import pytest

from kaapana_executor.contract import merge
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.launch.pod import PodSettings, build_pod, pin_to_node, to_dict
from tests.unit.builders import host, mount, task, template_model

RUN = RunContext("dag", "run/1", "seg", try_number=2, map_index=-1)


def _pod() -> dict[str, object]:
    tmpl = template_model(
        command=["seg"],
        env=[{"name": "MODE", "value": "a"}],
        inputs=[mount("in", "/in")],
        outputs=[mount("out", "/out")],
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    )
    t = task(
        inputs=[host("in", "/data/r/up/out")],
        outputs=[
            {
                "name": "out",
                "volume_source": {"pvc": {"claim_name": "results", "sub_path": "r/seg"}},
            }
        ],
        config={"type": "k8s", "imagePullSecrets": ["registry"], "labels": {"team": "x"}},
    )
    instance = merge.merge(t, tmpl, "t.json")
    pod = build_pod(
        instance, pod_identity(RUN, instance.template, ti_id="uuid-1"), PodSettings(), "ns"
    )
    return to_dict(pod)


def test_pod_spec() -> None:
    pod = _pod()
    meta = pod["metadata"]
    spec = pod["spec"]
    assert isinstance(meta, dict) and isinstance(spec, dict)
    assert meta["namespace"] == "ns"
    assert meta["labels"][labels.MANAGED_BY] == labels.MANAGED_BY_VALUE
    assert meta["labels"][labels.RUN_ID] == "run_1"  # label-safe
    assert meta["labels"]["team"] == "x"
    assert meta["annotations"][labels.ANN_RUN_ID] == "run/1"  # exact
    assert meta["annotations"][labels.ANN_TI_ID] == "uuid-1"
    assert spec["restartPolicy"] == "Never"
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    (container,) = spec["containers"]
    assert container["image"] == "reg/img:1"
    assert container["command"] == ["seg"]
    assert container["env"] == [{"name": "MODE", "value": "a"}]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["/in"]["readOnly"] is True
    assert volumes[mounts["/in"]["name"]]["hostPath"] == {
        "path": "/data/r/up/out",
        "type": "Directory",
    }
    assert mounts["/out"]["readOnly"] is False
    assert mounts["/out"]["subPath"] == "r/seg"
    assert volumes[mounts["/out"]["name"]]["persistentVolumeClaim"] == {
        "claimName": "results",
        "readOnly": False,
    }


LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


@pytest.mark.parametrize("map_index", [-1, 0, 7])
def test_label_values_are_valid(map_index: int) -> None:
    run = RunContext("dag.with:odd/chars", "manual__2026-01-01T00:00:00+00:00", "t", 1, map_index)
    identity = pod_identity(run, "main")
    for key, value in identity.labels.items():
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (key, value)
    assert (labels.MAP_INDEX in identity.labels) == (map_index >= 0)


def test_pod_is_deterministic() -> None:
    assert _pod() == _pod()


def test_gpu_tasks_tolerate_the_gpu_taint() -> None:
    tmpl = template_model(resources={"limits": {"nvidia.com/gpu": "1", "memory": "1Gi"}})
    instance = merge.merge(task(), tmpl, "t.json")
    pod = to_dict(build_pod(instance, pod_identity(RUN, "main"), PodSettings(), "ns"))
    assert pod["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    plain = merge.merge(task(), template_model(), "t.json")
    assert (
        "tolerations"
        not in to_dict(build_pod(plain, pod_identity(RUN, "main"), PodSettings(), "ns"))["spec"]
    )


def test_pin_to_node_requires_the_planned_node() -> None:
    instance = merge.merge(task(), template_model(), "t.json")
    pod = build_pod(instance, pod_identity(RUN, "main"), PodSettings(), "ns")
    pin_to_node(pod, "kwok-cpu-2")
    required = to_dict(pod)["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["kwok-cpu-2"]}]}
        ]
    }


def test_the_executors_labels_win_over_deployment_labels() -> None:
    """Defence in depth behind the contract check: the watcher must always see its pods."""
    instance = merge.merge(task(), template_model(), "t.json")
    hijack = {labels.MANAGED_BY: "someone-else", labels.COMPONENT: "x", "team": "y"}
    settings = PodSettings(extra_labels=hijack)
    identity = pod_identity(RUN, "main", ti_id="i")
    meta = to_dict(build_pod(instance, identity, settings, "ns"))["metadata"]
    assert meta["labels"][labels.MANAGED_BY] == labels.MANAGED_BY_VALUE
    assert meta["labels"][labels.COMPONENT] == labels.COMPONENT_VALUE
    assert meta["labels"]["team"] == "y"
