"""Docker mode: one container on a Docker-compatible API (Docker, or podman's service).

The only module of the local runner that talks to the Docker API. It creates the container
of a :class:`~.docker_spec.ContainerSpec` (pulling the image when the daemon lacks it),
starts it, samples its memory cgroup from the moment it has a process, streams its log and
waits for it. The container is kept afterwards, like a finished pod, so that
``kaapana-task logs`` can read it later; a container of an earlier run with the same name
(same task and run id) is replaced, as the executor replaces a stale pod.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
from docker import errors as docker_errors
from docker.types import Mount

from kaapana_executor.errors import KaapanaError
from kaapana_executor.k8s import labels
from kaapana_executor.local import monitor, report
from kaapana_executor.local.docker_spec import ContainerSpec

#: Receives the container's log output as it arrives.
LogSink = Callable[[bytes], None]
#: Receives one human-readable line about the run (printed to stderr by the CLI).
Note = Callable[[str], None]


class DockerRunError(KaapanaError):
    """The Docker API could not be reached, or refused to create or start the container."""


def connect(docker_host: str | None = None) -> Any:
    """A client for ``docker_host``, else found as the docker CLI finds it (DOCKER_HOST...)."""
    try:
        if docker_host:
            return docker.DockerClient(base_url=docker_host)
        return docker.from_env()
    except docker_errors.DockerException as exc:
        where = docker_host or os.environ.get("DOCKER_HOST") or "the default socket"
        raise DockerRunError(f"cannot reach a Docker API at {where}: {exc}") from None


def create_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """``containers.create`` arguments for ``spec``."""
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "environment": spec.env,
        "mounts": [
            Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts
        ],
        "labels": spec.labels,
        "cap_drop": spec.cap_drop or None,
        "cap_add": spec.cap_add or None,
        "security_opt": spec.security_opt or None,
        "read_only": spec.read_only,
        "privileged": spec.privileged,
    }
    optional = {
        "entrypoint": spec.entrypoint,
        "command": spec.args,
        "user": spec.user,
        "nano_cpus": spec.nano_cpus,
    }
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    if spec.mem_limit is not None:
        kwargs["mem_limit"] = kwargs["memswap_limit"] = spec.mem_limit
    return kwargs


@dataclass(frozen=True)
class Finished:
    """How the container ended, and what its memory cgroup showed."""

    termination: report.Termination
    measurement: monitor.Measurement | None


def _explain(exc: docker_errors.APIError) -> str:
    return str(exc.explanation or exc)


class DockerRunner:
    """Runs one container at a time on the API ``client`` (a ``docker.DockerClient``)."""

    def __init__(self, client: Any, note: Note) -> None:
        self._api = client
        self._note = note

    def start(self, spec: ContainerSpec) -> Any:
        """Create and start the container; returns the docker SDK ``Container``."""
        try:
            self._ensure_image(spec.image)
            self._replace_stale(spec.name)
            container = self._api.containers.create(spec.image, **create_kwargs(spec))
        except docker_errors.APIError as exc:
            raise DockerRunError(f"cannot create container {spec.name}: {_explain(exc)}") from None
        try:
            container.start()
        except docker_errors.APIError as exc:
            raise DockerRunError(f"cannot start container {spec.name}: {_explain(exc)}") from None
        return container

    def _ensure_image(self, image: str) -> None:
        try:
            self._api.images.get(image)
            return
        except docker_errors.ImageNotFound:
            pass
        self._note(f"pulling {image}")
        try:
            self._api.images.pull(image)
        except docker_errors.APIError as exc:
            raise DockerRunError(f"cannot pull {image}: {_explain(exc)}") from None

    def _replace_stale(self, name: str) -> None:
        try:
            existing = self._api.containers.get(name)
        except docker_errors.NotFound:
            return
        if (existing.labels or {}).get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
            raise DockerRunError(
                f"a container named {name} exists and was not started by kaapana-task; "
                "remove it or choose another --run-id"
            )
        self._note(f"removing container {name} of an earlier run with the same run id")
        existing.remove(force=True)

    def watch(self, container: Any, sink: LogSink, memory_limit: int | None) -> Finished:
        """Stream the log until the container exits; classify how it ended."""
        sampler = self._sampler(container)
        try:
            for chunk in container.logs(stream=True, follow=True):
                sink(chunk)
            result = container.wait()
            container.reload()
        except docker_errors.APIError as exc:
            raise DockerRunError(f"lost container {container.name}: {_explain(exc)}") from None
        finally:
            measurement = sampler.stop() if sampler else None
        state = container.attrs.get("State") or {}
        exit_code = int(result.get("StatusCode", state.get("ExitCode", -1)))
        termination = report.classify(
            exit_code, bool(state.get("OOMKilled")), measurement, memory_limit
        )
        return Finished(termination, measurement)

    def _sampler(self, container: Any) -> monitor.MemorySampler | None:
        container.reload()
        pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
        cgroup = monitor.locate(pid, owner=str(container.id)) if pid > 0 else None
        if cgroup is None:
            self._note(
                "memory cgroup not readable from here (remote daemon, VM, or the container "
                "already exited): no peak memory, OOM only from the API"
            )
            return None
        return monitor.MemorySampler(cgroup).start()


def stream_logs(client: Any, container_id: str, sink: LogSink, follow: bool) -> str:
    """Write a container's log to ``sink``; returns its state in a few words."""
    try:
        container = client.containers.get(container_id)
    except docker_errors.NotFound:
        raise DockerRunError(f"container {container_id[:12]} no longer exists") from None
    if follow:
        for chunk in container.logs(stream=True, follow=True):
            sink(chunk)
        container.reload()
    else:
        sink(container.logs())
    state = container.attrs.get("State") or {}
    if state.get("Running"):
        return "running"
    return f"exited with code {state.get('ExitCode')}"
