"""The one pod shape every system launches: the example dummy image's ``upstream`` template.

KaapanaExecutor builds it from a task.json (templating, merge, ScaleRules, two output
volumes, security context); the plain-client ceiling creates the very pods the launch pipeline
built, and KubernetesExecutor gets the same pod (image, resources, volumes, toleration, node
selector, lifecycle annotations) as its pod template, its container renamed ``base`` as that
executor requires. By default the simulated containers never finish: the table measures
launching, and nothing finishes while a launch is measured.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.sidebyside.pool import Pool
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s import labels
from kaapana_executor.launch.policy import LaunchPolicy
from kaapana_executor.runtime import spec
from kaapana_executor.runtime.refs import TaskRef
from tests.support.engine import DUMMY, task_config
from tests.support.kwok import lifecycle

NEVER_FINISH = lifecycle(never_finish=True)


def settings(namespace: str, data: Path, pool: Pool, **changes: Any) -> ExecutorSettings:
    """The executor's settings for a run in ``namespace`` on ``pool`` (defaults otherwise)."""
    base = ExecutorSettings(
        namespace=namespace,
        data_root=str(data),
        pod_deletion="always",
        pod_tolerations=pool.tolerations(),
        pod_node_selector=pool.node_selector(),
        unschedulable_timeout=3600,
    )
    return base.model_copy(update=changes)


def refs(count: int, run_id: str, annotations: dict[str, str] | None = None) -> list[TaskRef]:
    """``count`` task instances of one run, each a task of the dummy image's upstream template."""
    config = task_config(NEVER_FINISH if annotations is None else annotations)
    return [
        TaskRef(
            key=("bench", f"t{i:05d}", run_id),
            ti_id=f"{run_id}-{i}",
            token="",
            executor_config=config,
            run=RunContext("bench", run_id, f"t{i:05d}"),
            log_path=f"dag_id=bench/run_id={run_id}/task_id=t{i:05d}/attempt=1.log",
        )
        for i in range(count)
    ]


def built_pods(config: ExecutorSettings, work: list[TaskRef]) -> list[client.V1Pod]:
    """The pods the launch pipeline builds for ``work`` (what the plain client creates)."""
    policy = LaunchPolicy.from_settings(config)
    return [spec.resolve_task(r, {}, policy, lambda *_: DUMMY, lambda *_: None).pod for r in work]


def pod_template(config: ExecutorSettings) -> dict[str, Any]:
    """KubernetesExecutor's pod template: our pod, without our name, labels and identity."""
    pod = built_pods(config, refs(1, "template"))[0]
    body: dict[str, Any] = copy.deepcopy(client.ApiClient().sanitize_for_serialization(pod))
    meta = body["metadata"]
    meta.pop("name", None)
    meta.pop("namespace", None)
    meta.pop("labels", None)
    meta["annotations"] = {
        k: v for k, v in meta.get("annotations", {}).items() if not k.startswith(labels.PREFIX)
    }
    container = body["spec"]["containers"][0]
    container["name"] = "base"
    container.pop("command", None)  # KubernetesExecutor sets its own args
    return {"apiVersion": "v1", "kind": "Pod", **body}
