"""Where an image keeps its processing-container.json: the config label, else the layers.

1. The image config (one small blob) may carry the document in the label
   ``org.kaapana.processing-container``; then no layer is read. A label is authoritative: if
   it is there, the layers are not consulted, even when its content turns out to be invalid.
2. Otherwise the layers are read newest first, each streamed and verified, stopping at the
   first layer that decides: it holds the file, or deletes it (whiteout, opaque directory).

The outcome is an ``Entry`` for the cache; only transient failures and limits raise.
"""

from __future__ import annotations

import io
import json
import tarfile

from kaapana_executor.errors import ContractError
from kaapana_executor.images.cache import Entry
from kaapana_executor.images.client import RegistryClient
from kaapana_executor.images.errors import (
    CorruptBlob,
    InvalidProcessingContainer,
    LimitExceeded,
    UnsupportedImage,
)
from kaapana_executor.images.layers import Outcome, Verdict, scan
from kaapana_executor.images.limits import Deadline, Limits
from kaapana_executor.images.manifest import Descriptor, ImageManifest
from kaapana_executor.images.stream import CHUNK, Budget

LABEL = "org.kaapana.processing-container"
DOCUMENT_PATH = "/processing-container.json"
#: Layer media types that are not tar archives of a root filesystem change set.
_UNSUPPORTED_LAYER_MARKERS = ("zstd",)


def locate(
    client: RegistryClient, manifest: ImageManifest, deadline: Deadline, limits: Limits
) -> Entry:
    """Find the document of the image ``client.digest`` names, reading as little as possible."""
    digest = client.digest
    assert digest is not None
    labels = config_labels(client, manifest.config, deadline, limits)
    if LABEL in labels:
        return Entry(digest, labels[LABEL], f"label {LABEL}")
    budget = Budget(limits.max_layer_bytes, "layers")
    total = len(manifest.layers)
    for position in range(total, 0, -1):
        layer = manifest.layers[position - 1]
        label = f"layer {position}/{total} ({layer.digest})"
        deadline.check(client.image, digest, f"searching {label}")
        entry = _search_layer(client, layer, label, deadline, budget, limits)
        if entry is not None:
            return entry
    return Entry(
        digest,
        None,
        f"no label {LABEL} in the image config and no {DOCUMENT_PATH} in its {total} layers",
    )


def config_labels(
    client: RegistryClient, config: Descriptor, deadline: Deadline, limits: Limits
) -> dict[str, str]:
    """The ``config.Labels`` of the image config blob (empty if it has none)."""
    data = client.blob(config, deadline, limits.max_config_bytes, f"config blob {config.digest}")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptBlob(client.image, f"image config is not JSON: {exc}", client.digest) from None
    section = document.get("config") if isinstance(document, dict) else None
    labels = section.get("Labels") if isinstance(section, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _search_layer(
    client: RegistryClient,
    layer: Descriptor,
    label: str,
    deadline: Deadline,
    budget: Budget,
    limits: Limits,
) -> Entry | None:
    """The entry this layer decides, or None to go on with the next lower layer."""
    digest = client.digest
    assert digest is not None
    if any(marker in layer.media_type for marker in _UNSUPPORTED_LAYER_MARKERS):
        raise UnsupportedImage(client.image, f"{label} has media type {layer.media_type}", digest)
    with client.open_blob(layer, deadline, budget, label) as stream:
        try:
            verdict = scan(
                io.BufferedReader(stream, CHUNK), DOCUMENT_PATH, limits.max_document_bytes
            )
        except (tarfile.TarError, EOFError, OSError) as exc:
            stream.finish()  # a digest mismatch is the better explanation, if there is one
            raise CorruptBlob(
                client.image, f"{label} is not a readable tar: {exc}", digest
            ) from None
        stream.finish()
    return _decide(verdict, client, label, limits)


def _decide(verdict: Verdict, client: RegistryClient, label: str, limits: Limits) -> Entry | None:
    """The cache entry a layer's verdict amounts to, None to go on, or the error it is."""
    digest = client.digest
    assert digest is not None
    if verdict.outcome is Outcome.FOUND:
        assert verdict.content is not None
        text = decode_document(verdict.content, client.image, digest)
        return Entry(digest, text, f"{DOCUMENT_PATH} in {label}")
    if verdict.outcome is Outcome.DELETED:
        return Entry(digest, None, f"{DOCUMENT_PATH} is deleted in {label} by {verdict.detail}")
    if verdict.outcome is Outcome.NOT_A_FILE:
        raise UnsupportedImage(
            client.image, f"{DOCUMENT_PATH} in {label} is {verdict.detail}, not a file", digest
        )
    if verdict.outcome is Outcome.TOO_LARGE:
        raise LimitExceeded(
            client.image,
            f"{DOCUMENT_PATH} in {label} has {verdict.detail}, "
            f"the limit is {limits.max_document_bytes}",
            digest,
        )
    return None


def source_name(image: str, digest: str, origin: str) -> str:
    """How validation errors name the document: image, digest, and label or path."""
    where = f"label {LABEL}" if origin.startswith("label") else DOCUMENT_PATH
    pinned = image if image.endswith(f"@{digest}") else f"{image}@{digest}"
    return f"{pinned}:{where}"


def decode_document(content: bytes, image: str, digest: str) -> str:
    """The document as text (a UTF-8 BOM is dropped), or InvalidProcessingContainer."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        source = source_name(image, digest, DOCUMENT_PATH)
        problem = ContractError.single(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        raise InvalidProcessingContainer(image, digest, problem) from None
