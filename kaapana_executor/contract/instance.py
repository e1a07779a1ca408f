"""The resolved task instance: a Task merged with its template, ready to become a container.

Plain frozen pydantic models, so that the executor, the CLI's ``render`` and run records
serialise the same structure to JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kaapana_executor.models import ChannelLink, Resources, RunnerConfig, ScaleRule, VolumeSource


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResolvedEnv(_Frozen):
    """An environment variable with its final value and the template's constraints."""

    name: str
    value: str
    choices: list[str] | None = None
    description: str | None = None


class ResolvedChannel(_Frozen):
    """A channel bound to storage (``volume``) or, before linking, to an upstream output."""

    name: str
    mounted_path: str
    volume: VolumeSource | None = None
    link: ChannelLink | None = None
    scale_rule: ScaleRule | None = None
    description: str | None = None


class TaskInstance(_Frozen):
    """Everything needed to start the container, with no reference to files left."""

    name: str
    image: str
    template: str
    command: list[str] | None = None
    env: list[ResolvedEnv] = []
    inputs: list[ResolvedChannel] = []
    outputs: list[ResolvedChannel] = []
    resources: Resources = Resources()
    config: RunnerConfig = RunnerConfig()

    def env_dict(self) -> dict[str, str]:
        """Env as a mapping, in declaration order."""
        return {e.name: e.value for e in self.env}
