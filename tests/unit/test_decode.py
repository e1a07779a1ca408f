"""The one-pass decoder builds what the official client builds, minus managedFields."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.response import HTTPResponse

from kaapana_executor.k8s import decode

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "t-1",
        "namespace": "ns",
        "uid": "1b6a0f7e-0000-4000-8000-000000000000",
        "resourceVersion": "12345",
        "creationTimestamp": "2026-12-02T12:00:00Z",
        "deletionTimestamp": "2026-12-02T12:00:09Z",
        "labels": {"kaapana.io/dag-id": "d"},
        "annotations": {"kaapana.io/key": '{"dag_id": "d"}'},
        "managedFields": [{"manager": "kwok", "operation": "Update", "fieldsType": "FieldsV1"}],
    },
    "spec": {
        "nodeName": "kwok-cpu-1",
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "main",
                "image": "localhost:5000/x:1",
                "env": [{"name": "A", "value": "1"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }
        ],
        "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 300}],
    },
    "status": {
        "phase": "Failed",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-02T12:00:01Z"}
        ],
        "containerStatuses": [
            {
                "name": "main",
                "ready": False,
                "restartCount": 0,
                "image": "x",
                "imageID": "",
                "state": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "finishedAt": "2026-12-02T12:00:05.123456Z",
                    }
                },
            }
        ],
    },
}


def client_decoded(data: dict[str, Any], model: str) -> Any:
    """What the official client itself builds from the same JSON."""
    api = client.ApiClient()
    response = HTTPResponse(body=json.dumps(data).encode(), preload_content=True)
    try:
        return api.deserialize(response, model)  # client 36 and older
    except (TypeError, AttributeError):
        return api.deserialize(json.dumps(data), model, "application/json")


def wire(obj: Any) -> Any:
    return client.ApiClient().sanitize_for_serialization(obj)


def test_a_pod_decodes_as_the_client_decodes_it_without_managed_fields() -> None:
    expected = copy.deepcopy(POD)
    del expected["metadata"]["managedFields"]
    pod = decode.decode(copy.deepcopy(POD), "V1Pod")
    assert isinstance(pod, client.V1Pod)
    assert wire(pod) == wire(client_decoded(expected, "V1Pod"))
    assert pod.metadata.managed_fields is None
    assert pod.status.container_statuses[0].state.terminated.finished_at.microsecond == 123456
    assert pod.metadata.creation_timestamp.tzinfo is not None


def stream(*events: dict[str, Any]) -> HTTPResponse:
    body = "".join(json.dumps(event) + "\n" for event in events).encode()
    return HTTPResponse(body=io.BytesIO(body), preload_content=False)


def test_events_are_decoded_bookmarks_stay_raw_and_an_error_raises_its_code() -> None:
    bookmark = {"kind": "Pod", "metadata": {"resourceVersion": "99"}}
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    events = decode.read_events(
        stream(
            {"type": "MODIFIED", "object": copy.deepcopy(POD)},
            {"type": "BOOKMARK", "object": bookmark},
            {"type": "ERROR", "object": gone},
        ),
        "V1Pod",
    )
    modified = next(events)
    assert modified["type"] == "MODIFIED"
    assert modified["object"].status.phase == "Failed"
    assert next(events) == {"type": "BOOKMARK", "object": bookmark, "raw_object": bookmark}
    with pytest.raises(ApiException) as error:
        next(events)
    assert error.value.status == 410
    assert "too old" in str(error.value)


def test_a_list_gives_its_items_and_its_resource_version() -> None:
    body = {"kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": [POD, POD]}
    response = HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), preload_content=False)
    items, version = decode.read_list(response, "V1Pod")
    assert version == "7"
    assert [pod.metadata.name for pod in items] == ["t-1", "t-1"]


def test_listed_and_watched_pods_come_slim_with_all_that_the_watchers_read() -> None:
    """Env, commands, mounts and volumes go (most of a pod's bytes; nothing that lists or
    watches pods reads them); what classifying and counting a pod reads stays exact."""
    full = copy.deepcopy(POD)
    full["spec"]["volumes"] = [{"name": "data", "hostPath": {"path": "/data"}}]
    full["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/out"}]
    event = next(decode.read_events(stream({"type": "ADDED", "object": full}), "V1Pod"))
    body = {"kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": [full]}
    response = HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), preload_content=False)
    (listed,), _ = decode.read_list(response, "V1Pod")
    expected = decode.decode(copy.deepcopy(POD), "V1Pod")
    for pod in (event["object"], listed):
        container = pod.spec.containers[0]
        assert container.env is None and container.volume_mounts is None
        assert pod.spec.volumes is None
        assert container.resources == expected.spec.containers[0].resources
        assert pod.spec.tolerations == expected.spec.tolerations
        assert pod.spec.node_name == "kwok-cpu-1"
        assert wire(pod.status) == wire(expected.status)
        assert pod.metadata.annotations == expected.metadata.annotations
