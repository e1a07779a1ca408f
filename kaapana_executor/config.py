"""The executor's configuration: one typed model, validated once at start.

Values come from the ``[kaapana_executor]`` section of airflow.cfg (or
``AIRFLOW__KAAPANA_EXECUTOR__*`` variables). The field descriptions and defaults here are also
what ``airflow config list`` shows (the provider metadata is generated from this model), so the
documentation cannot drift from the code.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from kaapana_executor.errors import KaapanaError
from kaapana_executor.k8s.envvar import EnvVar
from kaapana_executor.k8s.labels import label_problem
from kaapana_executor.k8s.scheduling import Toleration
from kaapana_executor.paths import image_cache_dir

SECTION = "kaapana_executor"


class PodDeletion(str, enum.Enum):
    """When the executor deletes a finished pod (its log is persisted first in every case)."""

    ALWAYS = "always"
    ON_SUCCESS = "on_success"
    NEVER = "never"


class ConfigError(KaapanaError):
    """A bad value in ``[kaapana_executor]``; names the option and the reason."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class ExecutorSettings(BaseModel):
    """Settings of KaapanaExecutor; see each field's description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = Field("default", description="Namespace of the processing-container pods.")
    allowed_namespaces: list[str] = Field(
        default_factory=list,
        description="Further namespaces a task's config.namespace may choose (comma-separated). "
        "A namespace outside this list and other than `namespace` fails the task.",
    )
    kubeconfig: str | None = Field(
        None,
        description="Path of a kubeconfig file. Empty: in-cluster configuration when running "
        "in a pod, else the default kubeconfig.",
    )
    data_root: str = Field(
        "/kaapana/data",
        description="Root of the run data directories as the nodes see it (hostPath volumes): "
        "{data_root}/{dag_id}/{run_id}/{task_id}/{channel}.",
    )
    data_root_local: str | None = Field(
        None,
        description="The same root as the scheduler sees it (to clean outputs and measure "
        "inputs for ScaleRules). Empty: same as data_root.",
    )
    prepare_concurrency: int = Field(
        8,
        ge=1,
        le=256,
        description="Tasks prepared at once: Execution API /run, reading processing-container.json "
        "from the registry (may be slow), output cleaning. A lane of its own, so slow registries "
        "never delay creating or finishing other tasks.",
    )
    create_concurrency: int = Field(
        16, ge=1, le=256, description="Pod creations in flight at once (API server calls)."
    )
    finish_concurrency: int = Field(
        8,
        ge=1,
        le=256,
        description="Finished tasks handled at once: container log, final state, pod deletion.",
    )
    heartbeat_concurrency: int = Field(
        8, ge=1, le=256, description="Execution API heartbeats in flight at once."
    )
    heartbeat_interval: float = Field(
        10.0, gt=0, le=60, description="Seconds between Execution API heartbeats per running task."
    )
    pod_deletion: PodDeletion = Field(
        PodDeletion.ALWAYS, description="Delete finished pods: always, on_success or never."
    )
    image_pull_grace: float = Field(
        120.0,
        ge=0,
        description="Seconds a pod may wait on ErrImagePull/ImagePullBackOff before the task "
        "fails.",
    )
    config_error_grace: float = Field(
        60.0,
        ge=0,
        description="Seconds a pod may wait on CreateContainerConfigError before the task fails.",
    )
    unschedulable_timeout: float = Field(
        600.0, ge=0, description="Seconds a pod may stay Unschedulable before the task fails."
    )
    cache_dir: str = Field(
        default_factory=lambda: str(image_cache_dir()),
        description="Directory of the processing-container.json cache (by manifest digest).",
    )
    service_account: str | None = Field(
        None, description="ServiceAccount of the pods (empty: none)."
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Pull secrets added to every pod (comma-separated names)."
    )
    insecure_registries: list[str] = Field(
        default_factory=list,
        description="Registries (host:port) reached over plain HTTP, e.g. a local test registry.",
    )
    security_context: dict[str, Any] = Field(
        default_factory=lambda: {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        description="Container securityContext (JSON) applied to every processing container.",
    )
    template_env: dict[str, str] = Field(
        default_factory=dict,
        description="Values task.json templates see as `{{ env.NAME }}` (JSON object of "
        'strings, e.g. {"registryUrl": "registry.example:443"}). Templates never see the '
        "scheduler's own environment, which holds its secrets (database URL, JWT key).",
    )
    pod_env: list[EnvVar] = Field(
        default_factory=list,
        description="Platform environment of every processing-container pod: a JSON list of "
        'Kubernetes EnvVar objects, e.g. [{"name": "KAAPANA_AII_URL", "value": "http://aii"}, '
        '{"name": "KAAPANA_CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": '
        '"oidc-client-secret", "key": "oidc-client-secret"}}}] (value, or valueFrom with '
        "secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef). These win over the "
        "template's defaults, the task's env and user input. Secrets are resolved by the "
        "kubelet; the executor never reads them.",
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of every processing-container pod (JSON object), e.g. "
        '{"kaapana.ai/type": "processing-container"} for NetworkPolicies that select them.',
    )
    pod_tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations of every processing-container pod (JSON list of Kubernetes "
        'tolerations, e.g. [{"key": "kaapana.io/real-node", "operator": "Exists", "effect": '
        '"NoSchedule"}]), with pod_node_selector to put the pods on nodes set aside for them.',
    )
    pod_node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="nodeSelector of every processing-container pod (JSON object of labels).",
    )
    namespace_conf_path: str = Field(
        "project_form.kubernetes_namespace",
        description="Where a run's conf names the namespace of its pods (dotted path; "
        "Kaapana's projects). The namespace must be `namespace` or one of "
        "`allowed_namespaces`, else the task fails. Empty: the conf never chooses.",
    )
    resource_admission: bool = Field(
        True,
        description="Launch a task only when some node has room for all its requests (a "
        "ledger of node allocatable minus pod requests, kept current from watches). Needs "
        "cluster-wide list/watch of nodes, pods and resourcequotas.",
    )
    admission_aging_seconds: float = Field(
        60.0,
        ge=0,
        description="A waiting task's priority grows by one per this many seconds, so large "
        "tasks cannot starve behind small ones (0: no aging).",
    )
    ledger_resync_seconds: float = Field(
        300.0, gt=0, description="Seconds between full relists that reconcile the ledger."
    )
    log_tail_lines: int = Field(
        100_000, ge=1, description="Most container log lines persisted into the task log."
    )

    _split_lists = field_validator(
        "allowed_namespaces", "image_pull_secrets", "insecure_registries", mode="before"
    )(_split)

    @field_validator(
        "security_context",
        "template_env",
        "pod_env",
        "pod_labels",
        "pod_tolerations",
        "pod_node_selector",
        mode="before",
    )
    @classmethod
    def _json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            if not value.strip():  # an empty option means the default (empty) value
                factory = cls.model_fields[str(info.field_name)].default_factory
                return factory() if factory is not None else None  # type: ignore[call-arg]
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON: {exc.msg}") from None
        return value

    @field_validator("kubeconfig", "data_root_local", "service_account", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("pod_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        problems = [p for k, v in value.items() if (p := label_problem(k, v))]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("pod_env")
    @classmethod
    def _unique_env(cls, value: list[EnvVar]) -> list[EnvVar]:
        names = [var.name for var in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"variables given twice: {', '.join(twice)}")
        return value

    @property
    def local_data_root(self) -> str:
        """Where the scheduler reads and cleans run data."""
        return self.data_root_local or self.data_root

    @classmethod
    def load(cls, get: Callable[[str], str | None]) -> ExecutorSettings:
        """Build from a lookup of raw option values (None: not set); clear error per option."""
        raw = {name: value for name in cls.model_fields if (value := get(name)) is not None}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        option = ".".join(str(p) for p in error["loc"])
        lines.append(f"[{SECTION}] {option}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(lines)


def provider_config_options() -> dict[str, dict[str, Any]]:
    """The options as Airflow's provider metadata describes them (for ``airflow config list``)."""
    options: dict[str, dict[str, Any]] = {}
    defaults = ExecutorSettings()
    for name, field in ExecutorSettings.model_fields.items():
        value = getattr(defaults, name)
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        options[name] = {
            "description": field.description or "",
            "version_added": "0.1.0",
            "type": "string",
            "example": None,
            "default": "" if value is None else str(value),
            # Airflow str.format()s other defaults with its globals; ours are literal (JSON).
            "is_template": True,
        }
    return options
