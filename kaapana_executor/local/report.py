"""What a finished local run means, in words: why it ended, and its memory against the rules.

Pure functions over values, so every case is a table row in the unit tests. The OOM
decision needs care because the APIs disagree: Docker reports ``OOMKilled``, podman's
compatible API does not; the cgroup's OOM-kill counter is the kernel's own word; and when
the cgroup was gone before it could be read, exit 137 (SIGKILL) with the peak at the limit
is reported as what it almost surely is, saying that it was inferred.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from kaapana_executor.local.channels import InputSize
from kaapana_executor.local.monitor import Measurement
from kaapana_executor.models import ScaleRule
from kaapana_executor.resources.scale import ScaleResult, factor

SIGKILL_EXIT = 137
#: A peak this close to the limit counts as "at the limit" (the kernel reclaims first).
AT_LIMIT = 0.95


class Reason(str, enum.Enum):
    """Termination reasons, named as a kubelet names them."""

    COMPLETED = "Completed"
    ERROR = "Error"
    OOM_KILLED = "OOMKilled"
    KILLED = "Killed"


@dataclass(frozen=True)
class Termination:
    """How the container ended: its exit code, the reason, and what tells us so."""

    exit_code: int
    reason: Reason
    detail: str = ""

    def describe(self) -> str:
        text = f"exit code {self.exit_code} ({self.reason.value})"
        return f"{text}: {self.detail}" if self.detail else text


def mib(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def classify(
    exit_code: int,
    api_oom_killed: bool,
    measurement: Measurement | None,
    memory_limit: int | None,
) -> Termination:
    """The reason for ``exit_code``, using every hint there is about the OOM killer."""
    if api_oom_killed:
        return Termination(exit_code, Reason.OOM_KILLED, "the container runtime reports OOMKilled")
    if measurement is not None and measurement.oom_kills:
        return Termination(
            exit_code,
            Reason.OOM_KILLED,
            f"the kernel's OOM killer ended it (cgroup oom_kill={measurement.oom_kills})",
        )
    if exit_code == SIGKILL_EXIT:
        limit = f" of {mib(memory_limit)}" if memory_limit else ""
        at_limit = (
            memory_limit is not None
            and measurement is not None
            and (measurement.limit_hits > 0 or measurement.peak_bytes >= AT_LIMIT * memory_limit)
        )
        if at_limit:
            return Termination(exit_code, Reason.OOM_KILLED, f"exit 137 at the memory limit{limit}")
        return Termination(exit_code, Reason.KILLED, f"SIGKILL (memory limit{limit or ': none'})")
    return Termination(exit_code, Reason.COMPLETED if exit_code == 0 else Reason.ERROR)


def _rule_text(rule: ScaleRule | None) -> str:
    if rule is None:
        return ""
    target = f" {rule.target_dir}/" if rule.target_dir else ""
    return f"{rule.type} {rule.mode}{target} ×{float(factor(rule)):g}"


def memory_report(
    measurement: Measurement | None,
    memory_limit: int | None,
    inputs: Sequence[InputSize],
    results: Sequence[ScaleResult],
    rules: dict[str, ScaleRule],
) -> tuple[list[str], list[str]]:
    """Report lines and warnings: peak, input sizes, each rule's result.

    A rule under-provisions when the peak exceeds what it computed from a non-empty input:
    the task only got through because something else (a declared limit, no limit) gave it
    more, and on a cluster with tighter defaults it would be OOM-killed.
    """
    lines: list[str] = []
    warnings: list[str] = []
    limit = mib(memory_limit) if memory_limit else "none"
    if measurement is None:
        lines.append(f"peak memory: not measured (no readable memory cgroup); limit {limit}")
    else:
        lines.append(
            f"peak memory: {mib(measurement.peak_bytes)} ({measurement.peak_bytes} bytes, "
            f"{measurement.source}, {measurement.samples} samples); limit {limit}"
        )
    by_channel = {r.channel: r for r in results}
    for size in inputs:
        files = f"{size.files} file" + ("" if size.files == 1 else "s")
        line = f"input {size.channel}: {mib(size.bytes)} in {files} ({size.path})"
        result = by_channel.pop(size.channel, None)
        if result is not None:
            line += f"; ScaleRule {_rule_text(rules.get(size.channel))}: " + _result_text(result)
        lines.append(line)
        if result is not None and _under(measurement, result):
            assert measurement is not None
            warnings.append(
                f"the ScaleRule of input {size.channel} under-provisions: peak "
                f"{mib(measurement.peak_bytes)} > {mib(result.needed_bytes)} it computed "
                f"({result.type})"
            )
    lines += [f"ScaleRule {r.channel}: {_result_text(r)}" for r in by_channel.values()]
    return lines, warnings


def _result_text(result: ScaleResult) -> str:
    text = f"measured {mib(result.measured_bytes)} → {mib(result.needed_bytes)}"
    return f"{text} ({result.note})" if result.note else text


def _under(measurement: Measurement | None, result: ScaleResult) -> bool:
    if measurement is None or result.note or not result.needed_bytes:
        return False  # not applied, or nothing to scale with: the declared value rules
    return measurement.peak_bytes > result.needed_bytes
