"""Answering a registry's ``401``: basic auth or the bearer-token flow of the distribution spec.

A registry says how it wants to be addressed in ``WWW-Authenticate``: ``Basic realm=...`` (send
the credentials) or ``Bearer realm=...,service=...,scope=...`` (get a token from the realm,
with the credentials if there are any, anonymously otherwise, then send the token). Tokens are
cached per registry and scope until shortly before they expire, and a registry known to want
basic auth gets the credentials with the first request, so warm lookups cost one round trip.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from kaapana_executor.images.credentials import CredentialProvider, Credentials, CredentialsError
from kaapana_executor.images.errors import RegistryProtocolError, Unauthorized
from kaapana_executor.images.limits import Deadline
from kaapana_executor.images.transport import Transport

DEFAULT_TOKEN_SECONDS = 60  # what the token spec says to assume when expires_in is absent
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# A parameter (key=value, the value quoted or, leniently, anything up to a comma) or a scheme.
_PART = re.compile(rf'\s*,?\s*(?:({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)|({_TOKEN}))')


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header; the scheme is lower case."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in a header (RFC 7235: several may share one header, comma-separated)."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        match = _PART.match(header, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        key, value, scheme = match.groups()
        if scheme:
            challenges.append(Challenge(scheme.lower()))
        elif challenges:
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            challenges[-1].params[key.lower()] = value
    return challenges


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Authorizer:
    """Remembers, per registry, how to authorize; fetches and caches bearer tokens.

    Shared by all lookups of one ``ImageMetadata`` (thread-safe).
    """

    def __init__(
        self,
        transport: Transport,
        credentials: CredentialProvider,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._basic: set[str] = set()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def known_header(self, registry: str, repository: str) -> dict[str, str]:
        """The Authorization header to send first, if this registry's scheme is known."""
        with self._lock:
            token = self._tokens.get((registry, pull_scope(repository)))
            wants_basic = registry in self._basic
        if token is not None and token[1] > self._clock():
            return {"Authorization": f"Bearer {token[0]}"}
        if wants_basic:
            try:
                found = self._credentials.credentials_for(registry, repository)
            except CredentialsError:
                return {}  # answer() reports it when the registry asks
            if found is not None:
                return {"Authorization": basic_header(found)}
        return {}

    def answer(
        self,
        challenge_header: str,
        registry: str,
        repository: str,
        deadline: Deadline,
        image: str,
        digest: str | None,
    ) -> dict[str, str]:
        """The Authorization header that answers a 401's challenge, or ``Unauthorized``."""
        challenges = {c.scheme: c for c in parse_challenges(challenge_header)}
        found = self._lookup(registry, repository, image, digest)
        if "bearer" in challenges:
            token, lifetime = self._token(challenges["bearer"], repository, found, deadline, image)
            with self._lock:
                expires = self._clock() + max(lifetime - 10, lifetime / 2)
                self._tokens[(registry, pull_scope(repository))] = (token, expires)
            return {"Authorization": f"Bearer {token}"}
        if "basic" in challenges:
            if found is None:
                raise Unauthorized(
                    image, f"{registry} requires basic auth; no credentials are set for it", digest
                )
            with self._lock:
                self._basic.add(registry)
            return {"Authorization": basic_header(found)}
        raise RegistryProtocolError(
            image, f"{registry} answered 401 with no usable challenge: {challenge_header!r}", digest
        )

    def who(self, registry: str, repository: str) -> str:
        """Who the requests were sent as, for error messages."""
        try:
            found = self._credentials.credentials_for(registry, repository)
        except CredentialsError:
            return "unusable credentials"
        return f"user {found.username!r}" if found else "anonymous"

    def _lookup(
        self, registry: str, repository: str, image: str, digest: str | None
    ) -> Credentials | None:
        try:
            return self._credentials.credentials_for(registry, repository)
        except CredentialsError as exc:
            raise Unauthorized(image, f"no usable credentials: {exc}", digest) from None

    def _token(
        self,
        challenge: Challenge,
        repository: str,
        found: Credentials | None,
        deadline: Deadline,
        image: str,
    ) -> tuple[str, float]:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryProtocolError(image, "bearer challenge without a realm")
        params = {"scope": challenge.params.get("scope") or pull_scope(repository)}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        auth = (found.username, found.password) if found else None
        response = self._transport.send("GET", realm, deadline, params=params, auth=auth)
        with response:
            if response.status_code in (401, 403):
                who = f"the credentials of user {found.username!r}" if found else "anonymous access"
                raise Unauthorized(
                    image, f"token server {realm} refused {who} ({response.status_code})"
                )
            answer = _token_answer(response)
        if answer is None:
            raise RegistryProtocolError(
                image, f"token server {realm} answered {response.status_code} without a token"
            )
        return answer


def _token_answer(response: requests.Response) -> tuple[str, float] | None:
    """``(token, lifetime)`` from a token server's 200 answer (``token`` or ``access_token``)."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    token = body.get("token") or body.get("access_token")
    lifetime = body.get("expires_in")
    if not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_SECONDS
    return (token, float(lifetime)) if isinstance(token, str) and token else None
