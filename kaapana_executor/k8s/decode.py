"""Lists and watch events decoded once, straight from the wire, without managedFields.

The official client's watch parses each event's JSON, dumps the object back to JSON and
parses it again to build the model; client 36 and older also deep-copy a Configuration for
every nested object and parse every timestamp with dateutil. Profiled at 10,000 tasks, that
was half of the executor's GIL time: each pod event is decoded by the engine's watcher and
again by the ledger's. Here an event is parsed once, the object's ``managedFields`` (which
nothing here reads, and which are most of a small pod's bytes) are dropped, and the model
is built directly: with the model's own ``from_dict`` on clients that have it (37 and
newer, pydantic), else by walking the model's ``openapi_types`` and building each object
with :func:`~kaapana_executor.k8s.models.build` (one shared Configuration). Callers get
the same model classes as from the client.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from kaapana_executor.k8s.models import build

_PRIMITIVE = frozenset({"str", "int", "float", "bool", "object"})
_DICT = re.compile(r"dict[(\[][^,]+, (.*)[)\]]$")
_FRACTION = re.compile(r"\.(\d+)")


#: Pod fields no list or watch of pods is read for here (the watchers classify status and
#: count requests; adoption and the janitor read names, annotations and resources). A pod's
#: own full object, when something needs it, is read whole (``KubeGateway.read_pod``).
POD_SPEC_UNREAD = ("volumes", "securityContext", "hostAliases", "dnsConfig", "readinessGates")
CONTAINER_UNREAD = (
    "env",
    "envFrom",
    "volumeMounts",
    "volumeDevices",
    "command",
    "args",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
)


def decode(data: Any, model: str, slim: bool = False) -> Any:
    """The client's model ``model`` (e.g. ``"V1Pod"``) for the JSON value ``data``.

    ``data`` is consumed: its ``metadata.managedFields`` are removed in place, and with
    ``slim`` (pods only) the fields in ``POD_SPEC_UNREAD`` and ``CONTAINER_UNREAD`` too."""
    if isinstance(data, dict):
        metadata = data.get("metadata")
        if isinstance(metadata, dict):
            metadata.pop("managedFields", None)
        if slim:
            _slim_pod(data.get("spec"))
    klass = getattr(client.models, model)
    if hasattr(klass, "from_dict"):
        return klass.from_dict(data)
    return _walk(data, model)


def read_list(response: Any, model: str) -> tuple[list[Any], str]:
    """The items of a list response (``_preload_content=False``) and its resourceVersion;
    pods come slim (see :func:`decode`)."""
    body = _body(response)
    slim = model == "V1Pod"
    items = [decode(item, model, slim) for item in body.get("items") or ()]
    return items, str((body.get("metadata") or {}).get("resourceVersion", ""))


def _slim_pod(spec: Any) -> None:
    """Drop what no watcher reads from a pod's spec, before anything is built from it: most
    of a processing-container pod's spec is env, mounts and volumes (env alone ~20 entries)."""
    if not isinstance(spec, dict):
        return
    for name in POD_SPEC_UNREAD:
        spec.pop(name, None)
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or ():
            if isinstance(container, dict):
                for name in CONTAINER_UNREAD:
                    container.pop(name, None)


def read_events(response: Any, model: str) -> Iterator[dict[str, Any]]:
    """Watch events of a streaming response as ``{"type", "object", "raw_object"}``.

    Bookmarks keep their raw object (they are incomplete objects); an ERROR event (410 Gone
    for an expired resourceVersion, among others) raises ApiException with its code. Pods
    come slim (see :func:`decode`).
    """
    slim = model == "V1Pod"
    try:
        for line in iter_resp_lines(response):
            if not line or line.isspace():
                continue
            event = json.loads(line)
            raw = event.get("object")
            kind = event.get("type")
            if kind == "ERROR":
                status = raw if isinstance(raw, dict) else {}
                reason = f"{status.get('reason', '')}: {status.get('message', '')}"
                raise ApiException(status=status.get("code", 500), reason=reason)
            obj = raw if kind == "BOOKMARK" else decode(raw, model, slim)
            yield {"type": kind, "object": obj, "raw_object": raw}
    finally:
        response.close()
        response.release_conn()


def _body(response: Any) -> Any:
    """A whole (not streamed) response's JSON; the connection goes back to the pool."""
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


def _walk(data: Any, kind: str) -> Any:
    """Client 36 and older: build ``kind`` from ``data`` as the client would, minus its cost."""
    if data is None or kind in _PRIMITIVE:
        return data
    if kind.startswith("list["):
        item = kind[5:-1]
        return [_walk(value, item) for value in data]
    if kind.startswith("dict"):
        match = _DICT.match(kind)
        item = match.group(1) if match else "object"
        return {key: _walk(value, item) for key, value in data.items()}
    if kind == "datetime":
        return _datetime(data)
    if kind == "date":
        return datetime.date.fromisoformat(data)
    klass = getattr(client.models, kind)
    names = klass.attribute_map
    values = {
        attr: _walk(data[names[attr]], typ)
        for attr, typ in _fields(klass)
        if data.get(names[attr]) is not None
    }
    return build(klass, **values)


@functools.cache
def _fields(klass: type) -> tuple[tuple[str, str], ...]:
    return tuple(klass.openapi_types.items())  # type: ignore[attr-defined]


def _datetime(text: str) -> datetime.datetime:
    """RFC 3339 as the API server writes it (seconds, or microseconds for MicroTime).

    Python 3.10's fromisoformat takes neither a ``Z`` nor a fraction other than 3 or 6
    digits, so both are normalised first.
    """
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
