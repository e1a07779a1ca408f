"""Push images built by :mod:`kaapana_executor.oci.build` to a registry, and read them back.

``PushClient`` speaks the OCI distribution API v2 with ``requests``: blobs are pushed with a
POST to start an upload and a PUT of the content with its digest (skipped when the registry
has the blob), then the manifest or index by tag or digest. It answers basic and bearer-token
auth challenges. The examples, ``scripts/cluster`` (the real node's pause image), the demo,
benchmarks and tests push with it; the executor itself only reads images.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from kaapana_executor.oci.build import (
    ACCEPT_MANIFESTS,
    Blob,
    FileContent,
    Image,
    ImageBuilder,
    Index,
    sha256_digest,
)


class RegistryError(RuntimeError):
    """The registry answered with an unexpected status."""

    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        self.body = response.text[:500]
        super().__init__(f"{response.request.method} {response.url} -> {self.status}: {self.body}")


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its bytes, the media type header and the digest of the bytes."""

    media_type: str
    data: bytes
    digest: str

    def json(self) -> Any:
        return json.loads(self.data)


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class PushClient:
    """A distribution API v2 client for one registry (``host:port``) that pushes images.

    It also reads back what it pushed (manifests, blobs, tags), checking every digest; the
    executor's own read-only client is :class:`kaapana_executor.images.client.RegistryClient`.
    """

    def __init__(
        self,
        address: str,
        *,
        credentials: tuple[str, str] | None = None,
        scheme: str = "http",
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.base_url = f"{scheme}://{address}"
        self._credentials = credentials
        self._session = requests.Session()
        self._timeout = timeout

    def close(self) -> None:
        self._session.close()

    def reference(self, repository: str, tag_or_digest: str) -> str:
        """The image reference a pod spec uses: ``host:port/repo:tag`` or ``...@sha256:...``."""
        separator = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.address}/{repository}{separator}{tag_or_digest}"

    # -- transport

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send, answering one auth challenge (basic, or a bearer token fetched from the realm)."""
        url = urljoin(self.base_url, url)
        kwargs.setdefault("timeout", self._timeout)
        response = self._session.request(method, url, **kwargs)
        if response.status_code != 401 or self._credentials is None:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            self._session.auth = self._credentials
        elif scheme == "bearer":
            self._session.auth = None
            self._session.headers["Authorization"] = f"Bearer {self._token(challenge)}"
        else:
            return response
        return self._session.request(method, url, **kwargs)

    def _token(self, challenge: str) -> str:
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm")
        response = requests.get(realm, params=params, auth=self._credentials, timeout=self._timeout)
        if response.status_code != 200:
            raise RegistryError(response)
        body = response.json()
        token: str = body.get("token") or body["access_token"]
        return token

    def _expect(self, response: requests.Response, *statuses: int) -> requests.Response:
        if response.status_code not in statuses:
            raise RegistryError(response)
        return response

    # -- API

    def ping(self) -> int:
        """Status of ``GET /v2/``: 200, or 401 without (valid) credentials."""
        return self._request("GET", "/v2/").status_code

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return response.status_code == 200

    def push_blob(self, repository: str, blob: Blob) -> str:
        """Upload a blob unless the registry has it: POST an upload, PUT the content."""
        if self.blob_exists(repository, blob.digest):
            return blob.digest
        started = self._expect(self._request("POST", f"/v2/{repository}/blobs/uploads/"), 202)
        location = urljoin(self.base_url, started.headers["Location"])
        self._expect(
            self._request(
                "PUT",
                location,
                params={"digest": blob.digest},
                data=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            ),
            201,
        )
        return blob.digest

    def push_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        """PUT a manifest (or index) under a tag or its digest; return the digest."""
        response = self._expect(
            self._request(
                "PUT",
                f"/v2/{repository}/manifests/{reference}",
                data=manifest.data,
                headers={"Content-Type": manifest.media_type},
            ),
            201,
        )
        served = response.headers.get("Docker-Content-Digest", manifest.digest)
        if served != manifest.digest:
            raise AssertionError(f"registry digest {served} != {manifest.digest}")
        return manifest.digest

    def push_image(self, repository: str, tag: str | None, image: Image) -> str:
        """Push blobs and manifest; tag it when ``tag`` is given. Returns the digest."""
        for blob in image.blobs:
            self.push_blob(repository, blob)
        return self.push_manifest(repository, tag or image.digest, image.manifest)

    def push_files(
        self,
        repository: str,
        tag: str,
        files: Mapping[str, FileContent],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Image:
        """Build a one-layer image from ``files`` (path -> content) and push it under ``tag``.

        For more layers, whiteouts or config use ``ImageBuilder`` and ``push_image``."""
        image = ImageBuilder().layer(files).labels(labels or {}).build()
        self.push_image(repository, tag, image)
        return image

    def push_index(self, repository: str, tag: str | None, index: Index) -> str:
        """Push every image by digest, then the index (tagged when ``tag`` is given)."""
        for image in index.images:
            self.push_image(repository, None, image)
        return self.push_manifest(repository, tag or index.digest, index.manifest)

    def get_manifest(
        self,
        repository: str,
        reference: str,
        accept: Sequence[str] = ACCEPT_MANIFESTS,
    ) -> Manifest:
        """Fetch a manifest by tag or digest; a digest reference is verified against the bytes."""
        response = self._expect(
            self._request(
                "GET",
                f"/v2/{repository}/manifests/{reference}",
                headers={"Accept": ", ".join(accept)},
            ),
            200,
        )
        digest = sha256_digest(response.content)
        if reference.startswith("sha256:") and digest != reference:
            raise AssertionError(f"manifest {reference} served bytes with digest {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        return Manifest(media_type=media_type, data=response.content, digest=digest)

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest a HEAD request reports (what ``docker pull`` resolves a tag to)."""
        response = self._expect(
            self._request(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                headers={"Accept": ", ".join(ACCEPT_MANIFESTS)},
            ),
            200,
        )
        return response.headers["Docker-Content-Digest"]

    def get_blob(self, repository: str, digest: str) -> bytes:
        """Fetch a blob and check it against its digest."""
        response = self._expect(self._request("GET", f"/v2/{repository}/blobs/{digest}"), 200)
        if sha256_digest(response.content) != digest:
            raise AssertionError(f"blob {digest} served different bytes")
        return response.content

    def tags(self, repository: str) -> list[str]:
        response = self._expect(self._request("GET", f"/v2/{repository}/tags/list"), 200)
        tags: list[str] = response.json().get("tags") or []
        return tags

    def delete_manifest(self, repository: str, digest: str) -> None:
        self._expect(self._request("DELETE", f"/v2/{repository}/manifests/{digest}"), 202)
