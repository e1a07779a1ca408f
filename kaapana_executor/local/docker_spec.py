"""The executor's pod, translated into one container for a Docker-compatible API (pure).

Docker mode does not build its own container: it takes the pod ``build_pod`` made and maps
each field to its Docker equivalent, so a local run has the env, mounts, command, memory
limit and security settings the pod would have:

- ``command`` → ``Entrypoint``, ``args`` → ``Cmd`` (as in Kubernetes, a given entrypoint
  drops the image's ``CMD`` too);
- hostPath volumes → bind mounts, read-only where the pod mounts them read-only;
- ``limits.memory`` → ``Memory`` and ``MemorySwap`` (equal: no swap, as on a kubelet);
  ``limits.cpu`` → ``NanoCpus``; requests only matter to a scheduler and are dropped;
- the security context → capability drops/adds, ``no-new-privileges``, user, read-only root;
- labels and annotations → container labels (annotations win: they hold exact values).

Whatever has no Docker equivalent (PVCs are refused; GPUs, other security fields) is listed
in ``ContainerSpec.ignored`` for the caller to print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kaapana_executor import quantity
from kaapana_executor.errors import KaapanaError
from kaapana_executor.launch import pod as pods


class UnsupportedInDocker(KaapanaError):
    """A pod feature docker mode cannot reproduce (a PVC volume)."""


@dataclass(frozen=True)
class BindMount:
    """A host directory mounted into the container."""

    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class ContainerSpec:
    """What to create on the Docker API; field names follow ``docker`` SDK arguments."""

    name: str
    image: str
    entrypoint: list[str] | None
    args: list[str] | None
    env: list[str]
    mounts: list[BindMount]
    labels: dict[str, str]
    mem_limit: int | None = None
    nano_cpus: int | None = None
    cap_drop: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    user: str | None = None
    read_only: bool = False
    privileged: bool = False
    ignored: list[str] = field(default_factory=list)


def _mounts(spec: dict[str, Any], container: dict[str, Any]) -> list[BindMount]:
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "hostPath" not in volume:
            raise UnsupportedInDocker(
                f"volume mounted at {mount['mountPath']} is not a host path "
                f"({', '.join(k for k in volume if k != 'name')}); use --mode k8s"
            )
        mounts.append(
            BindMount(
                source=volume["hostPath"]["path"],
                target=mount["mountPath"],
                read_only=bool(mount.get("readOnly")),
            )
        )
    return mounts


def _resources(container: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """Fill memory/cpu into ``spec``; return the limits that have no Docker equivalent."""
    limits: dict[str, str] = (container.get("resources") or {}).get("limits") or {}
    ignored = []
    for name, value in limits.items():
        if name == "memory":
            spec["mem_limit"] = quantity.whole(value)
        elif name == "cpu":
            spec["nano_cpus"] = quantity.millicores(value) * 1_000_000
        else:
            ignored.append(f"limits.{name}={value}")
    return ignored


def _security(context: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """Fill security settings into ``spec``; return the fields not applied."""
    ignored = []
    for key, value in context.items():
        if key == "allowPrivilegeEscalation":
            spec["security_opt"] = [] if value else ["no-new-privileges"]
        elif key == "capabilities":
            spec["cap_drop"] = list(value.get("drop") or [])
            spec["cap_add"] = list(value.get("add") or [])
        elif key == "readOnlyRootFilesystem":
            spec["read_only"] = bool(value)
        elif key == "privileged":
            spec["privileged"] = bool(value)
        elif key == "seccompProfile" and value.get("type") == "RuntimeDefault":
            continue  # the engine's default profile
        elif key not in ("runAsUser", "runAsGroup"):
            ignored.append(f"securityContext.{key}")
    if "runAsUser" in context:
        group = context.get("runAsGroup")
        spec["user"] = f"{context['runAsUser']}" + (f":{group}" if group is not None else "")
    elif "runAsGroup" in context:
        ignored.append("securityContext.runAsGroup")
    return ignored


def container_spec(pod: client.V1Pod) -> ContainerSpec:
    """The one container of ``pod`` as Docker create arguments; no I/O."""
    document = pods.to_dict(pod)
    spec_part: dict[str, Any] = document["spec"]
    (container,) = spec_part["containers"]
    metadata = document["metadata"]
    values: dict[str, Any] = {
        "name": metadata["name"],
        "image": container["image"],
        "entrypoint": container.get("command"),
        "args": container.get("args"),
        "env": [f"{e['name']}={e.get('value', '')}" for e in container.get("env") or []],
        "mounts": _mounts(spec_part, container),
        "labels": {**(metadata.get("labels") or {}), **(metadata.get("annotations") or {})},
    }
    ignored = _resources(container, values)
    ignored += _security(container.get("securityContext") or {}, values)
    if spec_part.get("imagePullSecrets"):
        ignored.append("imagePullSecrets (the Docker API uses its own credentials)")
    return ContainerSpec(**values, ignored=ignored)
