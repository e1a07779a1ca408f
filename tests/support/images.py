"""Registries of our own for the image-metadata tests: token auth, damage, faults.

The two registries ``scripts/cluster up`` starts are shared and anonymous or basic-auth. The
image-metadata tests also need what those cannot give, so this module starts the same
``registry`` binary (distribution v3) again, with a state directory of its own:

- ``token_registry``: a registry with ``auth: token``, and a token server written here (a
  ``http.server`` thread) that checks basic credentials and signs RS256 JWTs with a key whose
  JWKS the registry trusts. The real registry verifies every token (signature, issuer,
  audience, expiry, granted actions), so the bearer flow is tested end to end. A proxy that
  only imitated the challenge would test our client against our own idea of the protocol.
  Anonymous clients get pull tokens for repositories under ``public/`` only.
- ``scratch_registry``: an anonymous registry whose blob storage a test may damage
  (``corrupt_blob``), without touching the shared registries' data.
- ``ScriptedServer``: a local HTTP server answering with a script of statuses first and then
  proxying to a real registry (429/503 with ``Retry-After``, slow answers).
- ``podman_api``: a Docker-compatible API (``podman system service``) with storage of its own,
  for ``--mode docker``; ``docker_archive`` turns a built image into a ``docker load`` tar.
  Fails when podman is not installed (``scripts/test`` installs it): there is no Docker here.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import io
import json
import secrets
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kubernetes import client

from kaapana_executor.oci.build import Image
from tests.support.cluster import LocalEnv
from tests.support.podman import podman_service
from tests.support.registry import PushClient, unique_repository

TOKEN_SERVICE = "kaapana-token-test"
TOKEN_ISSUER = "kaapana-token-test-issuer"
TOKEN_USER = "token-user"
PUBLIC_PREFIX = "public/"
PC = "processing-container.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64url(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[_QuietServer, str]:
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


# --- documents, images, secrets --------------------------------------------------------


def document(name: str = "pc") -> dict[str, Any]:
    """A minimal valid processing-container document."""
    return {
        "name": name,
        "description": "test image",
        "templates": [{"identifier": "main", "description": "the only template"}],
    }


def text(name: str = "pc") -> str:
    return json.dumps(document(name))


def push(registry: PushClient, image: Image, tag: str = "v1") -> str:
    """Push ``image`` to a fresh repository; returns the reference by tag."""
    repository = unique_repository("images")
    registry.push_image(repository, tag, image)
    return registry.reference(repository, tag)


def create_pull_secret(
    core: client.CoreV1Api, namespace: str, name: str, config: dict[str, Any]
) -> None:
    """A ``kubernetes.io/dockerconfigjson`` secret holding ``config``."""
    payload = base64.b64encode(json.dumps(config).encode()).decode()
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": payload},
        ),
    )


# --- token server ------------------------------------------------------------------------


@dataclass
class TokenServer:
    """Issues registry tokens (the distribution token spec) for one user, and counts them."""

    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key_id: str = "kaapana-test-key"
    issued: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": self.key_id,
                    "use": "sig",
                    "alg": "RS256",
                    "n": _int_b64url(numbers.n),
                    "e": _int_b64url(numbers.e),
                }
            ]
        }

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.key_id}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def answer(self, query: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for ``GET /token?service=...&scope=...``."""
        user = self._user(authorization)
        if user is None:
            self.refused += 1
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
        params = parse_qs(query)
        access = [self._grant(scope, user) for scope in params.get("scope", [])]
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": user,
            "aud": params.get("service", [TOKEN_SERVICE])[0],
            "exp": now + 300,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [grant for grant in access if grant["actions"]],
        }
        self.issued.append(claims)
        return 200, {"token": self.sign(claims), "expires_in": 300}

    def _user(self, authorization: str | None) -> str | None:
        """``""`` for anonymous, the user name for right credentials, None for wrong ones."""
        if not authorization:
            return ""
        scheme, _, encoded = authorization.partition(" ")
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        ok = scheme.lower() == "basic" and user == TOKEN_USER and password == self.password
        return user if ok else None

    def _grant(self, scope: str, user: str) -> dict[str, Any]:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = [a for a in actions.split(",") if a]
        if not user:  # anonymous: pull public repositories only
            wanted = ["pull"] if name.startswith(PUBLIC_PREFIX) and "pull" in wanted else []
        return {"type": kind, "name": name, "actions": wanted}

    def start(self) -> tuple[_QuietServer, str]:
        tokens = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = tokens.answer(
                    urlsplit(self.path).query, self.headers.get("Authorization")
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _serve(Handler)


# --- registry processes ------------------------------------------------------------------


@dataclass
class LocalRegistry:
    """A ``registry serve`` process of our own (stopped by ``stop``)."""

    address: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def storage(self) -> Path:
        return self.root / "data"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(binary: Path, root: Path, auth: dict[str, Any] | None = None) -> LocalRegistry:
    """Start ``binary`` on a free port with storage under ``root``; wait until it answers."""
    address = f"127.0.0.1:{free_port()}"
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": address, "secret": secrets.token_hex(16)},
    }
    if auth:
        config["auth"] = auth
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(yaml.safe_dump(config))
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"http://{address}/v2/", timeout=1).status_code in (200, 401):
                return LocalRegistry(address, root, process)
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"registry did not start:\n{(root / 'registry.log').read_text()[-2000:]}")


def corrupt_blob(storage: Path, digest: str, old: bytes = b"", new: bytes = b"") -> None:
    """Change a stored blob, keeping its size (the registry serves it as is): replace ``old``
    by ``new`` (same length, e.g. to keep JSON valid), or else change the middle byte."""
    assert len(old) == len(new)
    algorithm, _, hexdigest = digest.partition(":")
    path = storage / "docker/registry/v2/blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
    data = bytearray(path.read_bytes())
    if old:
        assert old in data, f"{old!r} is not in blob {digest}"
        data = bytearray(bytes(data).replace(old, new, 1))
    else:
        middle = len(data) // 2
        data[middle] = (data[middle] + 1) % 256
    path.write_bytes(bytes(data))


@dataclass
class TokenRegistry:
    """A token-auth registry and its token server; ``client()`` pushes as the test user."""

    registry: LocalRegistry
    tokens: TokenServer
    realm: str

    @property
    def address(self) -> str:
        return self.registry.address

    def client(self) -> PushClient:
        return PushClient(self.address, credentials=(TOKEN_USER, self.tokens.password))


@pytest.fixture(scope="session")
def token_registry(
    local_env: LocalEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenRegistry]:
    root = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer()
    server, token_address = tokens.start()
    jwks = root / "jwks.json"
    jwks.write_text(json.dumps(tokens.jwks()))
    realm = f"http://{token_address}/token"
    auth = {
        "token": {
            "realm": realm,
            "service": TOKEN_SERVICE,
            "issuer": TOKEN_ISSUER,
            "jwks": str(jwks),
            "signingalgorithms": ["RS256"],
        }
    }
    registry = start_registry(local_env.bin_dir / "registry", root, auth)
    yield TokenRegistry(registry, tokens, realm)
    registry.stop()
    server.shutdown()


@pytest.fixture(scope="session")
def scratch_registry(
    local_env: LocalEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRegistry]:
    registry = start_registry(local_env.bin_dir / "registry", tmp_path_factory.mktemp("scratch"))
    yield registry
    registry.stop()


# --- a scripted front --------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, headers, and a delay before answering."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ScriptedServer:
    """Answers the first requests from ``script``, then forwards to ``upstream`` (if any).

    ``seen`` records ``(method, path)`` of every request, scripted or forwarded.
    """

    def __init__(
        self, script: Sequence[Reply], upstream: str | None = None, repeat_last: bool = False
    ):
        self.script = list(script)
        self.upstream = upstream
        self.repeat_last = repeat_last
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server, self.address = _serve(self._handler())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Reply | None:
        with self._lock:
            if not self.script:
                return None
            return (
                self.script[0] if self.repeat_last and len(self.script) == 1 else self.script.pop(0)
            )

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                front.seen.append((self.command, self.path))
                reply = front._next()
                if reply is not None:
                    time.sleep(reply.delay)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert front.upstream is not None, "script exhausted and no upstream"
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, f"http://{front.upstream}{self.path}", headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                body = answer.content if self.command != "HEAD" else b""
                length = answer.headers.get("Content-Length", str(len(body)))
                self.send_header(
                    "Content-Length", length if self.command == "HEAD" else str(len(body))
                )
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def scripted() -> Iterator[list[ScriptedServer]]:
    """Collects ``ScriptedServer``s a test starts and closes them afterwards."""
    servers: list[ScriptedServer] = []
    yield servers
    for server in servers:
        server.close()


# --- a Docker-compatible API -------------------------------------------------------------


def docker_archive(image: Image, tag: str) -> bytes:
    """``image`` in the ``docker save`` format (uncompressed layers), tagged ``tag``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        config = image.config.digest.partition(":")[2] + ".json"
        add(config, image.config.data)
        layers = []
        for blob in image.layers:
            layers.append(blob.digest.partition(":")[2] + "/layer.tar")
            add(layers[-1], gzip.decompress(blob.data))
        manifest = [{"Config": config, "RepoTags": [tag], "Layers": layers}]
        add("manifest.json", json.dumps(manifest).encode())
    return buffer.getvalue()


@pytest.fixture(scope="session")
def podman_api(local_env: LocalEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``unix://`` URL of a podman API that may pull from the local (plain http) registry."""
    with podman_service(tmp_path_factory.mktemp("podman"), [local_env.registry]) as url:
        yield url
