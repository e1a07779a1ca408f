"""What a deployment decides about launches, as values: data layout, namespaces, pod settings.

The executor builds one :class:`LaunchPolicy` from its configuration; the CLI builds one from
its flags. The pipeline (:mod:`.pipeline`) takes it as an argument, so every caller resolves a
task by the same steps and only these decisions differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kaapana_executor import datadir
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.errors import KaapanaError
from kaapana_executor.launch.pod import PodSettings
from kaapana_executor.models import VolumeSource


class SpecError(KaapanaError):
    """The task cannot be turned into a pod; the message goes to the task log."""


@dataclass(frozen=True)
class DataLayout:
    """Where run data lives: as the nodes see it (pod host paths) and as this process does.

    ``local_root`` is where the same directory is mounted here (to clean outputs and measure
    inputs for ScaleRules); None means the same path. ``node_is_here`` says this machine is
    the node (local runs): then every host path can be read as it is.
    """

    node_root: str
    local_root: str | None = None
    node_is_here: bool = False

    def channel(self, run: RunContext, task_id: str, channel: str) -> VolumeSource:
        """The default volume of ``task_id``'s channel in ``run``."""
        path = datadir.channel_dir(
            self.node_root, run.dag_id, run.run_id, task_id, channel, run.map_index
        )
        return VolumeSource(host_path=str(path))

    def run_dirs(self, run: RunContext) -> tuple[PurePosixPath, Path]:
        """The run's own directory as the nodes see it and as this process sees it."""
        node = datadir.run_dir(self.node_root, run.dag_id, run.run_id)
        local = datadir.run_dir(self.local_root or self.node_root, run.dag_id, run.run_id)
        return node, Path(local)

    def local_path(self, volume: VolumeSource) -> Path | None:
        """Where this process reads a host path below the node root; None for anything else."""
        if not volume.host_path:
            return None
        if self.node_is_here:
            return Path(volume.host_path)
        try:
            relative = PurePosixPath(volume.host_path).relative_to(self.node_root)
        except ValueError:
            return None
        return Path(self.local_root or self.node_root).joinpath(*relative.parts)


@dataclass(frozen=True)
class NamespacePolicy:
    """The namespace of a task's pod: the default, or one the task asks for if allowed.

    ``allowed=None`` allows any namespace (the CLI acts with its user's own permissions);
    ``override`` makes the default win over what the task asks (the CLI's ``--namespace``).
    """

    default: str = "default"
    allowed: tuple[str, ...] | None = ()
    override: bool = False
    conf_path: str = ""  # where a run's conf names its project's namespace ("a.b")

    def choose(self, wanted: str | None, conf: Mapping[str, Any] | None = None) -> str:
        """The run's project namespace (from its conf), else ``wanted``, else the default, if
        permitted; SpecError naming the allowed ones."""
        from_conf = self.from_conf(conf or {})
        namespace = self.default if self.override else (from_conf or wanted or self.default)
        if self.allowed is None or namespace == self.default or namespace in self.allowed:
            return namespace
        allowed = ", ".join([self.default, *self.allowed])
        origin = f" (dag_run.conf {self.conf_path})" if from_conf else ""
        raise SpecError(f"namespace {namespace!r}{origin} is not allowed (allowed: {allowed})")

    def from_conf(self, conf: Mapping[str, Any]) -> str | None:
        """The namespace the run's conf names at ``conf_path``, if any."""
        if not self.conf_path:
            return None
        node: Any = conf
        for part in self.conf_path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            return None
        if not isinstance(node, str) or not node:
            raise SpecError(f"dag_run.conf {self.conf_path} must name a namespace, not {node!r}")
        return node


@dataclass(frozen=True)
class LaunchPolicy:
    """Everything a deployment decides about turning tasks into pods."""

    layout: DataLayout
    namespaces: NamespacePolicy = field(default_factory=NamespacePolicy)
    pod: PodSettings = field(default_factory=PodSettings)
    template_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> LaunchPolicy:
        """The executor's policy, from ``[kaapana_executor]``."""
        return cls(
            layout=DataLayout(settings.data_root, settings.data_root_local),
            namespaces=NamespacePolicy(
                settings.namespace,
                tuple(settings.allowed_namespaces),
                conf_path=settings.namespace_conf_path,
            ),
            pod=PodSettings(
                service_account_name=settings.service_account,
                image_pull_secrets=tuple(settings.image_pull_secrets),
                security_context=dict(settings.security_context),
                extra_labels=dict(settings.pod_labels),
                platform_env=tuple(settings.pod_env),
                tolerations=tuple(settings.pod_tolerations),
                node_selector=dict(settings.pod_node_selector),
            ),
            template_env=dict(settings.template_env),
        )
