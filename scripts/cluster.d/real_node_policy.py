"""Pods of opted-in namespaces go to the real node: a MutatingAdmissionPolicy (GA in 1.36).

The executor has no deployment-wide setting for tolerations or a node selector, and the
KWOK-based tests must see no difference, so the choice is made per namespace, by the
cluster, as an operator would: a namespace labelled ``kaapana.io/real-node-pods=true`` gets
every new pod the toleration of the real node's taint and the node selector
``kaapana.io/real-node=true``. The patch appends (JSON patch), so tolerations the pod has
already (e.g. for ``nvidia.com/gpu``) stay. Other namespaces are not touched.

The executor's resource ledger plans with the pod as the executor built it, without this
toleration, so it would pin such a pod to a KWOK node: runs on the real node use
``resource_admission = False`` until the executor can set tolerations itself.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from real_node_config import TAINT_KEY, TAINT_VALUE

NAMESPACE_LABEL = "kaapana.io/real-node-pods"
NAME = "kaapana-real-node-pods"

_TOLERATION = (
    f'Object.spec.tolerations{{key: "{TAINT_KEY}", operator: "Equal", '
    f'value: "{TAINT_VALUE}", effect: "NoSchedule"}}'
)
_SELECTOR_KEY = TAINT_KEY.replace("~", "~0").replace("/", "~1")  # a JSON pointer token
_PATCH = f"""
(has(object.spec.tolerations)
  ? [JSONPatch{{op: "add", path: "/spec/tolerations/-", value: {_TOLERATION}}}]
  : [JSONPatch{{op: "add", path: "/spec/tolerations", value: [{_TOLERATION}]}}])
+ (has(object.spec.nodeSelector)
  ? [JSONPatch{{op: "add", path: "/spec/nodeSelector/{_SELECTOR_KEY}", value: "{TAINT_VALUE}"}}]
  : [JSONPatch{{op: "add", path: "/spec/nodeSelector",
                value: {{"{TAINT_KEY}": "{TAINT_VALUE}"}}}}])
"""


def policy() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": NAME},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": _PATCH}}],
        },
    }


def binding() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": NAME},
        "spec": {
            "policyName": NAME,
            "matchResources": {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "true"}}},
        },
    }


def ensure(api: client.ApiClient) -> None:
    """Create or update the policy and its binding."""
    admission = client.AdmissionregistrationV1Api(api)
    pairs = (
        (
            policy(),
            client.V1MutatingAdmissionPolicy,
            admission.create_mutating_admission_policy,
            admission.replace_mutating_admission_policy,
            admission.read_mutating_admission_policy,
        ),
        (
            binding(),
            client.V1MutatingAdmissionPolicyBinding,
            admission.create_mutating_admission_policy_binding,
            admission.replace_mutating_admission_policy_binding,
            admission.read_mutating_admission_policy_binding,
        ),
    )
    for document, model, create, replace, read in pairs:
        body = model.model_validate(document)
        try:
            create(body)
        except ApiException as error:
            if error.status != 409:
                raise
            body.metadata.resource_version = read(NAME).metadata.resource_version
            replace(NAME, body)
