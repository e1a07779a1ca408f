"""A fault-injecting HTTPS proxy between a client (the executor) and the kube-apiserver.

The proxy terminates TLS with its own certificate (``tests/support/tls.py``), forwards every
request to the real API server with the client credentials of the cluster's kubeconfig, and
streams responses as they come (watches stay watches). ``write_kubeconfig`` gives the client
side: a kubeconfig whose server is the proxy and whose CA is the proxy's.

Faults are rules, matched in order against each request (method, path, watch or not), each
applied to a bounded number of requests:

- ``Status(429, retry_after=2)``: answer at once with that status, a ``Retry-After`` header
  and a Kubernetes ``Status`` body, as the API server's priority-and-fairness filter would;
- ``Delay(3)``: hold the request that long, then forward it;
- ``Drop()``: close the connection without an answer; ``Drop(after=2)``: forward, then cut
  the (streamed) response after 2 s, as a load balancer that times a watch out;

and ``freeze()``/``thaw()`` stop everything: nothing is forwarded and no streamed byte is
delivered until thawed, like an API server stopped with SIGSTOP (connections stay open).

Every request is recorded (``requests``), with what was done to it, so a test can check
what the client did after a fault: e.g. that it waited for ``Retry-After`` before retrying.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.support.tls import ServerCertificate, issue_server_certificate

# Never forwarded as they are: they describe one hop, not the message.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


@dataclass(frozen=True)
class Status:
    """Answer with ``code`` (and ``Retry-After`` seconds, when given) instead of forwarding."""

    code: int
    retry_after: int | None = None


@dataclass(frozen=True)
class Delay:
    """Hold the request ``seconds`` before forwarding it."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection: at once (``after`` 0), or ``after`` seconds into the response."""

    after: float = 0.0


Fault = Status | Delay | Drop


@dataclass
class Rule:
    """``fault`` for requests with this method and a path matching ``path`` (a regex searched
    in the path), watches only (True), non-watches only (False) or both (None); for the first
    ``times`` matching requests (None: every one while the rule is installed)."""

    fault: Fault
    method: str | None = None
    path: str = ""
    watch: bool | None = None
    times: int | None = None
    applied: int = 0

    def matches(self, method: str, path: str, watch: bool) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.watch is not None and self.watch != watch:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it: when, what, and what it did (``fault`` None: passed)."""

    at: float
    method: str
    path: str
    watch: bool
    fault: Fault | None
    status: int | None  # the status sent (injected or the API server's); None: dropped
    pod: str | None = None  # metadata.name of a pod being created (POST .../pods)
    agent: str = ""  # the client's User-Agent: which component of the executor asked


@dataclass(frozen=True)
class Upstream:
    """Where the API server is and how to authenticate to it (from a kubeconfig)."""

    host: str
    port: int
    context: ssl.SSLContext
    token: str | None

    @classmethod
    def from_kubeconfig(cls, path: str, scratch: Path) -> Upstream:
        config = yaml.safe_load(Path(path).read_text())
        current = config.get("current-context") or config["contexts"][0]["name"]
        ctx = _named(config["contexts"], current)["context"]
        cluster = _named(config["clusters"], ctx["cluster"])["cluster"]
        user = _named(config.get("users") or [], ctx.get("user", ""), default={}).get("user", {})
        base = Path(path).parent
        context = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.load_verify_locations(
                cafile=_material(cluster, "certificate-authority", base, scratch)
            )
        cert = _material(user, "client-certificate", base, scratch)
        if cert is not None:
            context.load_cert_chain(cert, _material(user, "client-key", base, scratch))
        server = urlsplit(cluster["server"])
        return cls(server.hostname or "127.0.0.1", server.port or 443, context, user.get("token"))


def _named(items: list[dict[str, Any]], name: str, default: Any = None) -> Any:
    for item in items:
        if item.get("name") == name:
            return item
    if default is not None:
        return default
    raise KeyError(f"kubeconfig has no entry named {name!r}")


def _material(section: dict[str, Any], key: str, base: Path, scratch: Path) -> str | None:
    """A path for ``key`` (a file, relative to the kubeconfig) or ``key-data`` (base64)."""
    if section.get(f"{key}-data"):
        target = scratch / f"{key}.pem"
        target.write_bytes(base64.b64decode(section[f"{key}-data"]))
        return str(target)
    if section.get(key):
        return str(base / section[key])
    return None


class FaultProxy:
    """The proxy on 127.0.0.1 (a free port); ``start``/``stop``, or use it as a context."""

    def __init__(self, kubeconfig: str, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.upstream = Upstream.from_kubeconfig(kubeconfig, directory)
        self.certificate: ServerCertificate = issue_server_certificate(directory / "tls")
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._requests: list[Seen] = []
        self._thawed = threading.Event()
        self._thawed.set()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.thaw()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- rules ------------------------------------------------------------------------
    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def freeze(self) -> None:
        """Stop forwarding anything (requests wait, streams stall) until ``thaw``."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    def write_kubeconfig(self, path: Path) -> str:
        """A kubeconfig that reaches the API server through this proxy (no credentials: the
        proxy adds its own upstream)."""
        ca = base64.b64encode(self.certificate.ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "proxy", "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": "proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
            "current-context": "proxy",
        }
        path.write_text(yaml.safe_dump(config))
        return str(path)

    # --- called by the handler threads -----------------------------------------------
    def decide(self, method: str, path: str, watch: bool) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, watch):
                    rule.applied += 1
                    return rule.fault
        return None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._requests.append(seen)

    def wait_thawed(self) -> None:
        self._thawed.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)
        context = proxy.certificate.server_context()
        # The handshake happens on the handler's thread, so a slow client never stalls accept.
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream_conn: http.client.HTTPSConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:  # the test log stays readable
        return

    # http.server dispatches to do_<METHOD>; every method is proxied alike.
    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def finish(self) -> None:
        if self._upstream_conn is not None:
            self._upstream_conn.close()
        with suppress(OSError):
            super().finish()

    def _proxy(self) -> None:
        proxy = self.server.proxy
        url = urlsplit(self.path)
        watch = parse_qs(url.query).get("watch", [""])[0].lower() in ("true", "1")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = proxy.decide(self.command, url.path, watch)
        pod = _pod_name(self.command, url, body)
        seen = _Seeing(
            self.command, url.path, watch, fault, pod, self.headers.get("User-Agent", "")
        )
        proxy.wait_thawed()
        if isinstance(fault, Delay):
            time.sleep(fault.seconds)
            proxy.wait_thawed()
        if isinstance(fault, Status):
            self._answer(fault)
            proxy.record(seen.done(fault.code))
            return
        if isinstance(fault, Drop) and fault.after <= 0:
            proxy.record(seen.done(None))
            self._drop()
            return
        cut_at = time.monotonic() + fault.after if isinstance(fault, Drop) else None
        status = self._forward(body, cut_at)
        proxy.record(seen.done(status))

    def _answer(self, fault: Status) -> None:
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"injected by the fault proxy: {fault.code}",
                "reason": "TooManyRequests" if fault.code == 429 else "InternalError",
                "code": fault.code,
            }
        ).encode()
        self.send_response(fault.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if fault.retry_after is not None:
            self.send_header("Retry-After", str(fault.retry_after))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _upstream(self) -> http.client.HTTPSConnection:
        if self._upstream_conn is None:
            up = self.server.proxy.upstream
            self._upstream_conn = http.client.HTTPSConnection(up.host, up.port, context=up.context)
        return self._upstream_conn

    def _forward(self, body: bytes, cut_at: float | None) -> int | None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.pop("Authorization", None)
        token = self.server.proxy.upstream.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn = self._upstream()
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            self._close_upstream()
            self._drop()
            return None
        self._relay(response, cut_at)
        return response.status

    def _relay(self, response: http.client.HTTPResponse, cut_at: float | None) -> None:
        """Send status and headers, then the body as it arrives (re-chunked)."""
        proxy = self.server.proxy
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if response.status in (204, 304):
            self.send_header("Content-Length", "0")
            self.end_headers()
            response.read()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                chunk = response.read1(65536)
                proxy.wait_thawed()
                if cut_at is not None and time.monotonic() >= cut_at:
                    self._close_upstream()
                    self._drop()
                    return
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            # read1 leaves a fully read Content-Length body "open"; read() marks it done, so
            # the upstream connection can carry the next request.
            response.read()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, http.client.HTTPException):  # either side went away mid-stream
            self._close_upstream()
            self.close_connection = True

    def _close_upstream(self) -> None:
        if self._upstream_conn is not None:
            self._upstream_conn.close()
            self._upstream_conn = None


@dataclass
class _Seeing:
    method: str
    path: str
    watch: bool
    fault: Fault | None
    pod: str | None
    agent: str
    at: float = field(default_factory=time.monotonic)

    def done(self, status: int | None) -> Seen:
        return Seen(
            self.at, self.method, self.path, self.watch, self.fault, status, self.pod, self.agent
        )


def _pod_name(method: str, url: Any, body: bytes) -> str | None:
    if method != "POST" or not url.path.endswith("/pods") or not body:
        return None
    try:
        name = json.loads(body).get("metadata", {}).get("name")
    except ValueError:
        return None
    return str(name) if name else None


def proxy_directory() -> Path:
    """A fresh directory for a proxy's certificate and kubeconfig (outside any repo)."""
    return Path(tempfile.mkdtemp(prefix="kaapana-fault-proxy-"))
