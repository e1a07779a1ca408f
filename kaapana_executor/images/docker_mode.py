"""processing-container.json through a local Docker API (``--mode docker``), for developers
who build images locally and have not pushed them.

The image is used if the daemon has it, pulled otherwise. The label wins, as in registry
mode; else a container is created (never started) and the file copied out of it with the
archive API, then the container is removed. Works with any Docker-compatible API (Docker,
podman's ``system service``) found the way the docker CLI finds it (``DOCKER_HOST``, ...).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

import docker
from docker import errors as docker_errors

from kaapana_executor.images.errors import (
    ImageMetadataError,
    ImageNotFound,
    LimitExceeded,
    NoProcessingContainer,
    Unauthorized,
    UnsupportedImage,
)
from kaapana_executor.images.layers import Outcome, scan
from kaapana_executor.images.limits import Limits
from kaapana_executor.images.locate import DOCUMENT_PATH, LABEL, decode_document
from kaapana_executor.images.metadata import FetchedDocument, validate
from kaapana_executor.models import ProcessingContainer

#: Never run: ``create`` only needs some command for images that declare none.
_NO_COMMAND = ["/kaapana-executor-metadata-probe"]


class DockerUnavailable(ImageMetadataError):
    """No Docker API answers where the environment points."""

    kind = "no Docker daemon"


class DockerImageMetadata:
    """Reads the document through the Docker API; ``connect`` returns a ``DockerClient``."""

    def __init__(
        self,
        connect: Callable[[], Any] = docker.from_env,
        platform: str = "linux/amd64",
        limits: Limits | None = None,
    ) -> None:
        self._connect = connect
        self._platform = platform
        self._limits = limits or Limits()

    def get(self, image: str) -> ProcessingContainer:
        return validate(self.fetch(image))

    def fetch(self, image: str) -> FetchedDocument:
        try:
            api = self._connect()
        except docker_errors.DockerException as exc:
            where = os.environ.get("DOCKER_HOST") or "the default socket"
            raise DockerUnavailable(image, f"cannot reach a Docker API at {where}: {exc}") from None
        try:
            local = self._image(api, image)
            digest = str(local.id)
            labels = local.labels or {}
            if LABEL in labels:
                return FetchedDocument(image, digest, str(labels[LABEL]), f"label {LABEL}")
            return FetchedDocument(image, digest, self._copy_out(api, image, digest), DOCUMENT_PATH)
        except docker_errors.APIError as exc:
            raise UnsupportedImage(image, f"Docker API error: {exc.explanation or exc}") from None
        finally:
            api.close()

    def _image(self, api: Any, image: str) -> Any:
        try:
            return api.images.get(image)
        except docker_errors.ImageNotFound:
            pass
        try:
            return api.images.pull(image, platform=self._platform)
        except docker_errors.NotFound as exc:
            raise ImageNotFound(image, f"pull failed: {exc.explanation or exc}") from None
        except docker_errors.APIError as exc:
            text = str(exc.explanation or exc)
            if exc.status_code in (401, 403) or "unauthorized" in text.lower():
                raise Unauthorized(image, f"pull failed: {text}") from None
            raise

    def _copy_out(self, api: Any, image: str, digest: str) -> str:
        container = api.containers.create(digest, entrypoint=_NO_COMMAND, command=[])
        try:
            try:
                chunks, _ = container.get_archive(DOCUMENT_PATH)
            except docker_errors.NotFound:
                raise NoProcessingContainer(
                    image, f"no label {LABEL} and no {DOCUMENT_PATH} in the image", digest
                ) from None
            archive = self._collect(chunks, image, digest)
        finally:
            container.remove(force=True)
        # The archive holds the file under its base name.
        verdict = scan(io.BytesIO(archive), DOCUMENT_PATH.rsplit("/", 1)[-1], self._max_document)
        if verdict.outcome is Outcome.TOO_LARGE:
            raise LimitExceeded(image, f"{DOCUMENT_PATH} has {verdict.detail}", digest)
        if verdict.outcome is not Outcome.FOUND or verdict.content is None:
            raise UnsupportedImage(image, f"{DOCUMENT_PATH} is not a regular file", digest)
        return decode_document(verdict.content, image, digest)

    @property
    def _max_document(self) -> int:
        return self._limits.max_document_bytes

    def _collect(self, chunks: Iterable[bytes], image: str, digest: str) -> bytes:
        """The archive of the one file; tar headers add a few KiB to the document limit."""
        limit = self._max_document + 64 * 1024
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > limit:
                raise LimitExceeded(image, f"{DOCUMENT_PATH} is larger than {limit} bytes", digest)
        return bytes(data)
