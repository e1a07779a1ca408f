"""Where registry credentials come from: docker config documents, files and pull secrets.

A ``CredentialProvider`` answers one question, "which username and password for this
repository on this registry?", the way the kubelet answers it for a pod: entries of a docker
config are matched by host (``*`` globs allowed) and by path prefix, the most specific wins.
Sources:

- ``DockerConfigFile``: ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, with
  ``credHelpers``/``credsStore`` run as ``docker-credential-<name> get`` like the docker CLI.
- ``KubernetesPullSecrets``: ``kubernetes.io/dockerconfigjson`` (or legacy ``dockercfg``)
  secrets read with the official client, by name or from a ServiceAccount's
  ``imagePullSecrets``; re-read after ``ttl`` seconds so rotated secrets are picked up.

Passwords never appear in ``repr`` or in error messages.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kaapana_executor.errors import KaapanaError
from kaapana_executor.images.reference import normalize_registry
from kaapana_executor.k8s.gateway import KubeError, KubeGateway

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 15.0


class CredentialsError(KaapanaError):
    """A credential source exists but cannot be used (missing secret, malformed config)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


class CredentialProvider(Protocol):
    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        """Credentials for ``registry`` (normalized host[:port]) and ``repository``, if any."""


class Anonymous:
    """No credentials: public images, or registries that hand out anonymous tokens."""

    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        return None


@dataclass(frozen=True)
class _Key:
    """A docker config key (``host[:port][/path]``, host may hold ``*``), normalized."""

    host: str
    path: str

    @classmethod
    def parse(cls, key: str) -> _Key:
        text = key.strip()
        for scheme in ("https://", "http://"):
            if text.lower().startswith(scheme):
                text = text[len(scheme) :]
        host, _, path = text.partition("/")
        path = path.strip("/")
        if path in ("v1", "v2"):  # https://index.docker.io/v1/ and registry API URLs
            path = ""
        return cls(normalize_registry(host), path)

    def matches(self, registry: str, repository: str) -> bool:
        if not fnmatch.fnmatchcase(registry, self.host):
            return False
        return not self.path or repository == self.path or repository.startswith(self.path + "/")

    def specificity(self) -> tuple[int, int]:
        return ("*" not in self.host, len(self.path))


class DockerConfig:
    """The ``auths`` of one docker config document, matched like the kubelet does."""

    def __init__(self, entries: Mapping[_Key, Credentials]) -> None:
        self._entries = dict(entries)

    @classmethod
    def parse(cls, document: Any, source: str) -> DockerConfig:
        """``{"auths": {...}}`` (config.json, dockerconfigjson) or the legacy bare mapping."""
        if not isinstance(document, dict):
            raise CredentialsError(f"{source}: not a JSON object")
        auths = document.get("auths", document)  # a legacy .dockercfg is the bare mapping
        if not isinstance(auths, dict):
            raise CredentialsError(f"{source}: 'auths' is not an object")
        entries: dict[_Key, Credentials] = {}
        for key, entry in auths.items():
            credentials = _entry_credentials(entry, f"{source}: auths[{key!r}]")
            if credentials is not None:
                entries[_Key.parse(key)] = credentials
        return cls(entries)

    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        found = [k for k in self._entries if k.matches(registry, repository)]
        if not found:
            return None
        return self._entries[max(found, key=_Key.specificity)]

    def __len__(self) -> int:
        return len(self._entries)


def _entry_credentials(entry: Any, where: str) -> Credentials | None:
    """``auth`` (base64 ``user:password``) or ``username``/``password``; empty entries skip."""
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where}: not an object")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"{where}.auth: not base64 of 'user:password'") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"{where}.auth: not base64 of 'user:password'")
        return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and user:
        return Credentials(user, secret)
    return None


def default_docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the docker CLI keeps its config: ``$DOCKER_CONFIG/config.json`` or ``~/.docker``."""
    base = env.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


class DockerConfigFile:
    """A local docker config file; missing file means anonymous. Read once, when first used."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_docker_config_path()
        self._lock = threading.Lock()
        self._loaded: tuple[DockerConfig, dict[str, str], str | None] | None = None

    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        config, helpers, store = self._load()
        helper = helpers.get(registry) or store
        if helper:
            server = DOCKER_HUB_SERVER if registry == "docker.io" else registry
            from_helper = run_credential_helper(helper, server)
            if from_helper is not None:
                return from_helper
        return config.credentials_for(registry, repository)

    def _load(self) -> tuple[DockerConfig, dict[str, str], str | None]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read()
            return self._loaded

    def _read(self) -> tuple[DockerConfig, dict[str, str], str | None]:
        source = str(self.path)
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return DockerConfig({}), {}, None
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"{source}: cannot read: {exc}") from None
        if not isinstance(document, dict):
            raise CredentialsError(f"{source}: not a JSON object")
        config = DockerConfig.parse({"auths": document.get("auths") or {}}, source)
        raw_helpers = document.get("credHelpers") or {}
        helpers = {_Key.parse(k).host: str(v) for k, v in raw_helpers.items() if v}
        store = document.get("credsStore")
        return config, helpers, str(store) if store else None


def run_credential_helper(name: str, server: str) -> Credentials | None:
    """``docker-credential-NAME get`` (the docker credential helper protocol)."""
    program = f"docker-credential-{name}"
    try:
        result = subprocess.run(
            [program, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsError(f"credential helper {program} failed: {exc}") from None
    if result.returncode != 0:
        if "credentials not found" in (result.stdout + result.stderr).lower():
            return None
        detail = result.stderr.strip() or result.stdout.strip()
        raise CredentialsError(f"credential helper {program} failed for {server}: {detail}")
    try:
        answer = json.loads(result.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(f"credential helper {program} gave no Username/Secret") from None
    return Credentials(str(username), str(secret))


@dataclass(frozen=True)
class PullAccess:
    """Whose pull credentials read an image: a pod's namespace and its pull secrets.

    The executor reads a task's processing-container.json with exactly what the task's pod
    will pull with (the deployment's secrets and the task's own, in the pod's namespace), so a
    task can neither read an image its pod could not pull nor fail to read one it could.
    """

    namespace: str
    secrets: tuple[str, ...] = ()


class KubernetesPullSecrets:
    """Image pull secrets of one namespace, as the kubelet would use them for a pod.

    ``names`` are the pod's ``imagePullSecrets``; when empty, those of ``service_account``
    are used (what the ServiceAccount admission plugin would add to the pod).
    """

    def __init__(
        self,
        gateway: KubeGateway,
        namespace: str,
        names: Sequence[str] = (),
        *,
        service_account: str = "default",
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self.namespace = namespace
        self._names = tuple(names)
        self._service_account = service_account
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[DockerConfig]] | None = None

    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        for config in self._configs():
            found = config.credentials_for(registry, repository)
            if found is not None:
                return found
        return None

    def _configs(self) -> list[DockerConfig]:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._ttl:
                self._cached = (now, [self._read(n) for n in self._secret_names()])
            return self._cached[1]

    def _secret_names(self) -> Iterable[str]:
        if self._names:
            return self._names
        try:
            account = self._gateway.read_service_account(self._service_account, self.namespace)
        except KubeError as exc:
            where = f"ServiceAccount {self.namespace}/{self._service_account}"
            raise CredentialsError(f"cannot read {where}: {_status(exc)}") from None
        return [ref.name for ref in account.image_pull_secrets or [] if ref.name]

    def _read(self, name: str) -> DockerConfig:
        where = f"pull secret {self.namespace}/{name}"
        try:
            secret = self._gateway.read_secret(name, self.namespace)
        except KubeError as exc:
            raise CredentialsError(f"cannot read {where}: {_status(exc)}") from None
        data = secret.data or {}
        key = ".dockerconfigjson" if ".dockerconfigjson" in data else ".dockercfg"
        if key not in data:
            raise CredentialsError(f"{where} has no .dockerconfigjson (type {secret.type})")
        try:
            document = json.loads(base64.b64decode(data[key]))
        except (binascii.Error, ValueError):
            raise CredentialsError(f"{where}: {key} is not base64-encoded JSON") from None
        return DockerConfig.parse(document, where)


def _status(error: KubeError) -> str:
    return f"{error.status} {error.reason}" if error.status else error.reason


class ChainedCredentials:
    """The first provider that has credentials for a repository wins."""

    def __init__(self, *providers: CredentialProvider) -> None:
        self._providers = providers

    def credentials_for(self, registry: str, repository: str) -> Credentials | None:
        for provider in self._providers:
            found = provider.credentials_for(registry, repository)
            if found is not None:
                return found
        return None
