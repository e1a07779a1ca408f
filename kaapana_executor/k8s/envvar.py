"""Kubernetes EnvVar objects as configuration: a value, or a reference the kubelet resolves.

The platform environment (``[kaapana_executor] pod_env``) gives every processing container
the same variables, some of them secrets (``valueFrom.secretKeyRef``). The executor never
reads those secrets: it writes the reference into the pod spec and the kubelet resolves it,
so a secret's value never passes through Airflow. Validated once at start (a typo is a
start-up error naming the entry), then turned into ``V1EnvVar`` objects for each pod.
"""

# ruff: noqa: N815  (field names are Kubernetes' own: camelCase, as users write them in JSON)
from __future__ import annotations

from typing import Any

from kubernetes import client
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kaapana_executor.k8s.models import build


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyRef(_Strict):
    """A key of a Secret or ConfigMap in the pod's namespace."""

    name: str = Field(min_length=1)
    key: str = Field(min_length=1)
    optional: bool | None = None


class FieldRef(_Strict):
    """A field of the pod itself, e.g. ``metadata.namespace`` or ``status.podIP``."""

    fieldPath: str = Field(min_length=1)
    apiVersion: str | None = None


class ResourceFieldRef(_Strict):
    """A container's resource request or limit, e.g. ``limits.memory``."""

    resource: str = Field(min_length=1)
    containerName: str | None = None
    divisor: str | None = None


class EnvVarSource(_Strict):
    """Exactly one of the references Kubernetes offers."""

    secretKeyRef: KeyRef | None = None
    configMapKeyRef: KeyRef | None = None
    fieldRef: FieldRef | None = None
    resourceFieldRef: ResourceFieldRef | None = None

    @model_validator(mode="after")
    def _one(self) -> EnvVarSource:
        given = [name for name, value in self if value is not None]
        if len(given) != 1:
            raise ValueError(
                "valueFrom needs exactly one of secretKeyRef, configMapKeyRef, fieldRef, "
                f"resourceFieldRef (got: {', '.join(given) or 'none'})"
            )
        return self


class EnvVar(_Strict):
    """One variable: ``{"name": N, "value": V}`` or ``{"name": N, "valueFrom": {...}}``."""

    name: str = Field(min_length=1, pattern=r"^[^=]+$")
    value: str | None = None
    valueFrom: EnvVarSource | None = None

    @model_validator(mode="after")
    def _value_or_reference(self) -> EnvVar:
        if (self.value is None) == (self.valueFrom is None):
            raise ValueError(f"{self.name}: give either 'value' or 'valueFrom'")
        return self

    def to_v1(self) -> client.V1EnvVar:
        """The client object for a pod spec."""
        if self.valueFrom is None:
            return build(client.V1EnvVar, name=self.name, value=self.value)
        return build(client.V1EnvVar, name=self.name, value_from=_source(self.valueFrom))


def _source(source: EnvVarSource) -> client.V1EnvVarSource:
    def key(ref: KeyRef | None, kind: Any) -> Any:
        if ref is None:
            return None
        return build(kind, name=ref.name, key=ref.key, optional=ref.optional)

    field = source.fieldRef
    resource = source.resourceFieldRef
    return build(
        client.V1EnvVarSource,
        secret_key_ref=key(source.secretKeyRef, client.V1SecretKeySelector),
        config_map_key_ref=key(source.configMapKeyRef, client.V1ConfigMapKeySelector),
        field_ref=(
            None
            if field is None
            else build(
                client.V1ObjectFieldSelector,
                field_path=field.fieldPath,
                api_version=field.apiVersion,
            )
        ),
        resource_field_ref=(
            None
            if resource is None
            else build(
                client.V1ResourceFieldSelector,
                resource=resource.resource,
                container_name=resource.containerName,
                divisor=resource.divisor,
            )
        ),
    )
