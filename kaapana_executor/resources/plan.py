"""Apply ScaleRules to a task instance: the final memory request and limit.

Pure apart from reading the input directories; the caller says where a volume is visible on
this machine (the executor maps node paths to its own mount of the data root).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kaapana_executor import quantity
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.models import Resources, VolumeSource
from kaapana_executor.resources import scale

#: Where a channel's volume can be read from this process, or None when it cannot.
LocalPath = Callable[[VolumeSource], Path | None]


def host_path_as_is(volume: VolumeSource) -> Path | None:
    """For local use: host paths are readable where they are; PVCs are not."""
    return Path(volume.host_path) if volume.host_path else None


def plan_memory(
    instance: TaskInstance, local_path: LocalPath = host_path_as_is
) -> tuple[TaskInstance, list[scale.ScaleResult]]:
    """The instance with memory raised by its input ScaleRules, and what each rule measured.

    A request that ends above the limit raises the limit to it (the API server would reject
    the pod otherwise); the result says so.
    """
    declared = {
        "request": quantity.whole(instance.resources.requests["memory"])
        if instance.resources.requests and "memory" in instance.resources.requests
        else 0,
        "limit": quantity.whole(instance.resources.limits["memory"])
        if instance.resources.limits and "memory" in instance.resources.limits
        else 0,
    }
    final = dict(declared)
    results: list[scale.ScaleResult] = []
    for channel in instance.inputs:
        rule = channel.scale_rule
        if rule is None:
            continue
        root = local_path(channel.volume) if channel.volume else None
        if root is None:
            results.append(
                scale.ScaleResult(
                    channel=channel.name,
                    type=rule.type,
                    mode=rule.mode,
                    measured_bytes=0,
                    needed_bytes=0,
                    note="volume not readable here; rule not applied",
                )
            )
            continue
        measured = scale.measure(root, rule)
        needed = scale.need(rule, measured)
        final[rule.type] = max(final[rule.type], needed)
        results.append(
            scale.ScaleResult(
                channel=channel.name,
                type=rule.type,
                mode=rule.mode,
                measured_bytes=measured,
                needed_bytes=needed,
            )
        )
    if final == declared:
        return instance, results
    if final["limit"] and final["request"] > final["limit"]:
        final["limit"] = final["request"]
        results.append(
            scale.ScaleResult(
                channel="*",
                type="limit",
                mode="-",
                measured_bytes=0,
                needed_bytes=final["limit"],
                note="limit raised to the scaled request",
            )
        )
    requests = dict(instance.resources.requests or {})
    limits = dict(instance.resources.limits or {})
    if final["request"] != declared["request"]:
        requests["memory"] = quantity.format_bytes(final["request"])
    if final["limit"] != declared["limit"]:
        limits["memory"] = quantity.format_bytes(final["limit"])
    resources = Resources(requests=requests or None, limits=limits or None)
    return instance.model_copy(update={"resources": resources}), results
