"""Two local OCI registries (distribution v3): one anonymous, one behind basic auth.

Both bind to 127.0.0.1 only and keep their blobs under the state directory, so pushed
images survive ``down``/``up``. The basic-auth registry's user and password are generated
on the first ``up`` and stored (mode 0600) next to the htpasswd file the registry reads.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml
from daemons import Daemon
from settings import Settings

TEST_USER = "kaapana-test"


@dataclass(frozen=True)
class Credentials:
    """Basic-auth credentials of the second registry (local test values, not secrets)."""

    user: str
    password: str


def ensure_credentials(settings: Settings) -> Credentials:
    """Load the credentials, generating them (and the htpasswd file) on first use."""
    path = settings.credentials_file
    if path.exists():
        data = json.loads(path.read_text())
        credentials = Credentials(user=data["user"], password=data["password"])
    else:
        credentials = Credentials(user=TEST_USER, password=secrets.token_urlsafe(18))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps({"user": credentials.user, "password": credentials.password}))
    htpasswd = _htpasswd_file(settings)
    if not htpasswd.exists() or not _htpasswd_matches(htpasswd, credentials):
        # distribution only accepts bcrypt entries.
        hashed = bcrypt.hashpw(credentials.password.encode(), bcrypt.gensalt(rounds=10))
        htpasswd.parent.mkdir(parents=True, exist_ok=True)
        htpasswd.write_text(f"{credentials.user}:{hashed.decode()}\n")
    return credentials


def load_credentials(settings: Settings) -> Credentials | None:
    """The stored credentials, or None before the first ``up``."""
    try:
        data = json.loads(settings.credentials_file.read_text())
    except FileNotFoundError:
        return None
    return Credentials(user=data["user"], password=data["password"])


def _htpasswd_file(settings: Settings) -> Path:
    return settings.state_dir / "registry-auth" / "htpasswd"


def _htpasswd_matches(path: Path, credentials: Credentials) -> bool:
    user, _, hashed = path.read_text().strip().partition(":")
    return user == credentials.user and bcrypt.checkpw(
        credentials.password.encode(), hashed.encode()
    )


@dataclass(frozen=True)
class Registry:
    """One registry instance: its name (also its state folder), port and auth."""

    name: str
    port: int
    basic_auth: bool

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def registries(settings: Settings) -> tuple[Registry, Registry]:
    return (
        Registry("registry", settings.registry_port, basic_auth=False),
        Registry("registry-auth", settings.registry_auth_port, basic_auth=True),
    )


def _config(settings: Settings, registry: Registry) -> Path:
    root = settings.state_dir / registry.name
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        # A fixed secret per registry: uploads started before a restart stay valid.
        "http": {"addr": registry.address, "secret": _secret(root)},
    }
    if registry.basic_auth:
        config["auth"] = {
            "htpasswd": {"realm": "kaapana-local", "path": str(_htpasswd_file(settings))}
        }
    path = root / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _secret(root: Path) -> str:
    path = root / "http-secret"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()


def daemon(settings: Settings, registry: Registry) -> Daemon:
    """The process of ``registry``; the config is written when it is started."""
    config = settings.state_dir / registry.name / "config.yml"
    return Daemon(
        name=registry.name,
        argv=(settings.tool("registry"), "serve", str(config)),
        run_dir=settings.run_dir,
    )


def responds(address: str, timeout: float = 2.0) -> bool:
    """True if a registry answers the API version check (200, or 401 asking for auth)."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=timeout) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        return error.code == 401
    except (urllib.error.URLError, OSError):
        return False


def ensure(settings: Settings, registry: Registry) -> bool:
    """Start ``registry`` unless it already runs; True if this call started it."""
    process = daemon(settings, registry)
    if process.pid() is not None and responds(registry.address):
        return False
    process.stop()
    if responds(registry.address):
        raise RuntimeError(
            f"something else answers on {registry.address}; stop it or choose another port "
            f"(KAAPANA_REGISTRY_PORT / KAAPANA_REGISTRY_AUTH_PORT)"
        )
    _config(settings, registry)
    handle = process.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if responds(registry.address):
            return True
        if handle.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(
        f"{registry.name} did not come up on {registry.address}:\n{process.log_tail()}"
    )
