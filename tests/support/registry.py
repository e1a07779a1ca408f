"""pytest fixtures for the registries ``scripts/cluster up`` starts, and names tests share.

The fixtures ``registry`` (anonymous) and ``registry_auth`` (basic auth, logged in) are
:class:`kaapana_executor.oci.push.PushClient` instances bound to those registries. Images
to push come from :mod:`kaapana_executor.oci.build` (re-exported here, with the client, so a
test imports what it needs from one place).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from kaapana_executor.oci.build import (
    Blob,
    File,
    FileContent,
    Image,
    ImageBuilder,
    ImageFormat,
    Index,
    MediaType,
    Platform,
    build_index,
    layer_tar,
)
from kaapana_executor.oci.push import Manifest, PushClient, RegistryError
from tests.support.cluster import LocalEnv

__all__ = [
    "Blob",
    "File",
    "FileContent",
    "Image",
    "ImageBuilder",
    "ImageFormat",
    "Index",
    "Manifest",
    "MediaType",
    "Platform",
    "PushClient",
    "RegistryError",
    "build_index",
    "layer_tar",
    "registry",
    "registry_auth",
    "unique_repository",
]


def unique_repository(prefix: str = "test") -> str:
    """A repository name no other test uses (registries are shared by the session)."""
    return f"{prefix}/{secrets.token_hex(4)}"


@pytest.fixture
def registry(local_env: LocalEnv) -> Iterator[PushClient]:
    """A client for the anonymous registry."""
    client = PushClient(local_env.registry)
    yield client
    client.close()


@pytest.fixture
def registry_auth(local_env: LocalEnv) -> Iterator[PushClient]:
    """A client for the basic-auth registry, logged in with the generated test user."""
    client = PushClient(
        local_env.registry_auth,
        credentials=(local_env.registry_user, local_env.registry_password),
    )
    yield client
    client.close()
