# ruff: noqa: N815  (field names are Kubernetes' own: camelCase, as users write them in JSON)
"""Where every processing-container pod may run: tolerations, as deployment configuration.

``[kaapana_executor] pod_tolerations`` and ``pod_node_selector`` put the executor's pods on
nodes set aside for them: nodes with a taint only these pods tolerate (a GPU pool, a real
node beside simulated ones, nodes of one project). Validated once at start, turned into
``V1Toleration`` objects for each pod; the resource ledger reads them back from the pod.
"""

from __future__ import annotations

from typing import Literal

from kubernetes import client
from pydantic import BaseModel, ConfigDict, model_validator

from kaapana_executor.k8s.models import build


class Toleration(BaseModel):
    """A Kubernetes toleration: ``{"key": K, "operator": "Equal", "value": V, "effect": E}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        return self

    def to_v1(self) -> client.V1Toleration:
        return build(
            client.V1Toleration,
            key=self.key,
            operator=self.operator,
            value=self.value,
            effect=self.effect,
            toleration_seconds=self.tolerationSeconds,
        )
