"""``kaapana-task processing-container IMAGE``: the three ways to read an image's document.

- ``registry`` (default): the registry API, credentials from the local docker config
  (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, credential helpers included);
- ``k8s``: the registry API, credentials from the cluster's pull secrets (``--pull-secret``,
  else the ``default`` ServiceAccount's ``imagePullSecrets`` in ``--namespace``);
- ``docker``: a local Docker API (the image as the daemon has it, or pulls it).

The CLI's parser lines live in ``kaapana_executor.cli``; this module turns them into a lookup.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from pathlib import Path
from typing import Protocol

from kaapana_executor.images.credentials import DockerConfigFile, KubernetesPullSecrets
from kaapana_executor.images.errors import InvalidProcessingContainer
from kaapana_executor.images.manifest import Platform
from kaapana_executor.images.metadata import DEFAULT_PLATFORM, ImageMetadata
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.paths import image_cache_dir


class Mode(str, enum.Enum):
    REGISTRY = "registry"
    K8S = "k8s"
    DOCKER = "docker"


class _Source(Protocol):
    def get(self, image: str) -> ProcessingContainer: ...


def platform_argument(text: str) -> str:
    """argparse ``type=`` for ``--platform``: a bad value is a usage error (exit 2)."""
    try:
        return str(Platform.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options (called by ``kaapana_executor.cli``)."""
    parser.add_argument("image", help="registry/repo:tag or registry/repo@sha256:...")
    parser.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.REGISTRY.value,
        help="registry: API + local docker config; k8s: API + cluster pull secrets; "
        "docker: a local Docker API (default: registry)",
    )
    parser.add_argument(
        "--platform", type=platform_argument, default=DEFAULT_PLATFORM, help="for image indexes"
    )
    parser.add_argument("--namespace", default="default", help="k8s: namespace of the secrets")
    parser.add_argument(
        "--pull-secret",
        action="append",
        default=[],
        metavar="NAME",
        help="k8s: a dockerconfigjson secret (repeatable; default: the default "
        "ServiceAccount's imagePullSecrets)",
    )
    parser.add_argument("--kubeconfig", help="k8s (default: $KUBECONFIG, else in-cluster)")
    parser.add_argument("--cache-dir", type=Path, help=f"default: {image_cache_dir()}")
    parser.add_argument("--no-cache", action="store_true", help="cache in memory only")
    parser.add_argument(
        "--plain-http",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a registry spoken to over http (loopback registries always are)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the validated document as JSON; 1 with the errors on stderr if there is none."""
    source = _source(args)
    try:
        model = source.get(args.image)
    except InvalidProcessingContainer as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 1
    finally:
        if isinstance(source, ImageMetadata):
            source.close()
    document = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    print(json.dumps(document, indent=2))
    return 0


def _source(args: argparse.Namespace) -> _Source:
    mode = Mode(args.mode)
    if mode is Mode.DOCKER:
        from kaapana_executor.images.docker_mode import DockerImageMetadata  # needs `docker`

        return DockerImageMetadata(platform=args.platform)
    cache_dir = None if args.no_cache else (args.cache_dir or image_cache_dir())
    if mode is Mode.K8S:
        gateway = KubeGateway(load_api_client(args.kubeconfig))
        credentials: KubernetesPullSecrets | DockerConfigFile = KubernetesPullSecrets(
            gateway, args.namespace, args.pull_secret
        )
    else:
        credentials = DockerConfigFile()
    return ImageMetadata(cache_dir, credentials, args.platform, plain_http=args.plain_http)
