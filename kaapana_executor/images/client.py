"""The distribution API calls one lookup needs, for one repository: HEAD and GET manifests,
GET blobs as verified streams.

Status codes become ``ImageMetadataError`` here and nowhere else: 404 is "not found", 401
after answering the challenge and 403 are "unauthorized", anything unexpected is a protocol
error quoting the registry's own error code. Every manifest fetched by digest is hashed and
compared before it is parsed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import requests

from kaapana_executor.images.auth import Authorizer, parse_challenges
from kaapana_executor.images.errors import (
    CorruptBlob,
    ImageNotFound,
    LimitExceeded,
    RegistryProtocolError,
    RegistryUnavailable,
    Unauthorized,
)
from kaapana_executor.images.limits import Deadline, Limits
from kaapana_executor.images.manifest import ACCEPT_MANIFESTS, Descriptor
from kaapana_executor.images.reference import ImageReference, digest_hasher, is_digest
from kaapana_executor.images.stream import Budget, VerifiedStream, response_chunks
from kaapana_executor.images.transport import GaveUp, OutOfTime, Transport


def scheme_for(host: str, plain_http: Iterable[str] = ()) -> str:
    """``http`` for loopback registries and hosts listed in ``plain_http``, else ``https``
    (the docker daemon's rule for insecure registries)."""
    if host in set(plain_http):
        return "http"
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(name).is_loopback else "https"
    except ValueError:
        return "https"


def registry_error(response: requests.Response) -> str:
    """``CODE: message`` from a distribution error body, else the status line."""
    try:
        errors = json.loads(response.content[:65536]).get("errors") or []
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return f"{response.status_code} {response.reason}"


def _refusal(response: requests.Response) -> str:
    """Why a 401 came after answering the challenge: the challenge's ``error`` (a HEAD has no
    body; token registries say ``insufficient_scope`` there), else the body's error code."""
    for challenge in parse_challenges(response.headers.get("WWW-Authenticate", "")):
        if "error" in challenge.params:
            return challenge.params["error"]
    return registry_error(response)


class RegistryClient:
    """Requests for ``reference``'s repository; errors name ``image`` and ``digest``."""

    def __init__(
        self,
        reference: ImageReference,
        image: str,
        transport: Transport,
        authorizer: Authorizer,
        limits: Limits,
        scheme: str,
        digest: str | None = None,
    ) -> None:
        self.reference = reference
        self.image = image
        self.digest = digest
        self._transport = transport
        self._authorizer = authorizer
        self._limits = limits
        self._scheme = scheme
        self._base = f"{scheme}://{reference.api_host}/v2/{reference.repository}"

    def for_digest(self, digest: str) -> RegistryClient:
        """The same client, naming ``digest`` in its errors."""
        return RegistryClient(
            self.reference,
            self.image,
            self._transport,
            self._authorizer,
            self._limits,
            self._scheme,
            digest,
        )

    def resolve(self, deadline: Deadline) -> str:
        """The manifest digest the reference's tag points at now (one HEAD request)."""
        tag = self.reference.reference
        response = self._send("HEAD", f"manifests/{tag}", deadline, accept=ACCEPT_MANIFESTS)
        with response:
            self._expect_ok(response, f"tag {tag}" if not is_digest(tag) else f"manifest {tag}")
            digest = response.headers.get("Docker-Content-Digest", "")
        if is_digest(digest):
            return digest
        # Registries may omit the header; then the digest is that of the bytes served.
        data, _ = self._get_manifest(tag, deadline)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def manifest(self, digest: str, deadline: Deadline) -> tuple[bytes, str]:
        """The manifest with ``digest``: its bytes (verified) and its Content-Type."""
        data, content_type = self._get_manifest(digest, deadline)
        hasher = digest_hasher(digest)
        hasher.update(data)
        actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
        if actual != digest:
            raise CorruptBlob(
                self.image, f"manifest served for {digest} has digest {actual}", self.digest
            )
        return data, content_type

    def _get_manifest(self, reference: str, deadline: Deadline) -> tuple[bytes, str]:
        response = self._send(
            "GET", f"manifests/{reference}", deadline, accept=ACCEPT_MANIFESTS, stream=True
        )
        with response:
            self._expect_ok(response, f"manifest {reference}")
            data = self._read_limited(response, self._limits.max_manifest_bytes, "manifest")
            return data, response.headers.get("Content-Type", "")

    @contextmanager
    def open_blob(
        self, descriptor: Descriptor, deadline: Deadline, budget: Budget, label: str
    ) -> Iterator[VerifiedStream]:
        """A verified stream of the blob; the connection is closed on leaving the block."""
        response = self._send("GET", f"blobs/{descriptor.digest}", deadline, stream=True)
        try:
            self._expect_ok(response, label)
            chunks = response_chunks(response)
            yield VerifiedStream(
                chunks,
                descriptor,
                image=self.image,
                digest=self.digest,
                deadline=deadline,
                budget=budget,
                on_bytes=self._transport.meter.add_bytes,
                label=label,
            )
        finally:
            response.close()

    def blob(self, descriptor: Descriptor, deadline: Deadline, limit: int, label: str) -> bytes:
        """A small blob (a config) read whole and verified."""
        if descriptor.size > limit:
            raise LimitExceeded(
                self.image,
                f"{label} has {descriptor.size} bytes, the limit is {limit}",
                self.digest,
            )
        with self.open_blob(descriptor, deadline, Budget(limit, label), label) as stream:
            data = stream.read()
            stream.finish()
        return data

    # -- transport

    def _send(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        accept: str | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request, answering one auth challenge; transport failures become errors."""
        registry, repository = self.reference.registry, self.reference.repository
        headers = {"Accept": accept} if accept else {}
        url = f"{self._base}/{path}"
        try:
            known = self._authorizer.known_header(registry, repository)
            response = self._transport.send(
                method, url, deadline, headers={**headers, **known}, stream=stream
            )
            if response.status_code != 401:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            answer = self._authorizer.answer(
                challenge, registry, repository, deadline, self.image, self.digest
            )
            response = self._transport.send(
                method, url, deadline, headers={**headers, **answer}, stream=stream
            )
        except GaveUp as exc:
            raise RegistryUnavailable(self.image, str(exc), self.digest) from None
        except OutOfTime as exc:
            raise LimitExceeded(self.image, str(exc), self.digest) from None
        if response.status_code == 401:
            with response:
                detail = _refusal(response)
            who = self._authorizer.who(registry, repository)
            raise Unauthorized(
                self.image, f"{registry} refused {who} for {repository} ({detail})", self.digest
            )
        return response

    def _expect_ok(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status == 200:
            return
        detail = registry_error(response) if response.request.method != "HEAD" else str(status)
        where = f"{self.reference.registry}/{self.reference.repository}"
        if status == 404:
            raise ImageNotFound(self.image, f"{what} not found in {where} ({detail})", self.digest)
        if status == 403:
            who = self._authorizer.who(self.reference.registry, self.reference.repository)
            raise Unauthorized(
                self.image, f"access to {where} denied for {who} ({detail})", self.digest
            )
        raise RegistryProtocolError(
            self.image, f"{response.request.method} {what} answered {status}: {detail}", self.digest
        )

    def _read_limited(self, response: requests.Response, limit: int, what: str) -> bytes:
        data = bytearray()
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            self._transport.meter.add_bytes(len(chunk))
            if len(data) > limit:
                raise LimitExceeded(self.image, f"{what} is larger than {limit} bytes", self.digest)
        return bytes(data)
