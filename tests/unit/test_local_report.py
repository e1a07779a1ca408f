"""Why a local run ended, and its memory against the ScaleRules (pure, table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaapana_executor.local.channels import InputSize
from kaapana_executor.local.monitor import Measurement
from kaapana_executor.local.report import Reason, Termination, classify, memory_report
from kaapana_executor.models import ScaleRule
from kaapana_executor.resources.scale import ScaleResult

MiB = 2**20
V1 = "cgroup v1 memory.max_usage_in_bytes"


def seen(peak_mib: float, oom_kills: int = 0, limit_hits: int = 0) -> Measurement:
    return Measurement(V1, int(peak_mib * MiB), oom_kills, limit_hits, samples=10)


@pytest.mark.parametrize(
    ("exit_code", "api_oom", "measured", "limit", "expected"),
    [
        (0, False, seen(100), 200 * MiB, Termination(0, Reason.COMPLETED)),
        (2, False, None, None, Termination(2, Reason.ERROR)),
        (
            137,
            True,
            None,
            None,
            Termination(137, Reason.OOM_KILLED, "the container runtime reports OOMKilled"),
        ),
        (
            137,
            False,
            seen(50, oom_kills=1),
            50 * MiB,
            Termination(
                137, Reason.OOM_KILLED, "the kernel's OOM killer ended it (cgroup oom_kill=1)"
            ),
        ),
        (  # the cgroup went away before the counter was read: inferred, and said so
            137,
            False,
            seen(49),
            50 * MiB,
            Termination(137, Reason.OOM_KILLED, "exit 137 at the memory limit of 50.0 MiB"),
        ),
        (
            137,
            False,
            seen(10, limit_hits=2),
            50 * MiB,
            Termination(137, Reason.OOM_KILLED, "exit 137 at the memory limit of 50.0 MiB"),
        ),
        (
            137,
            False,
            seen(10),
            50 * MiB,
            Termination(137, Reason.KILLED, "SIGKILL (memory limit of 50.0 MiB)"),
        ),
        (137, False, None, None, Termination(137, Reason.KILLED, "SIGKILL (memory limit: none)")),
    ],
)
def test_termination_reasons(
    exit_code: int,
    api_oom: bool,
    measured: Measurement | None,
    limit: int | None,
    expected: Termination,
) -> None:
    assert classify(exit_code, api_oom, measured, limit) == expected


def test_describe() -> None:
    assert Termination(0, Reason.COMPLETED).describe() == "exit code 0 (Completed)"
    assert Termination(137, Reason.OOM_KILLED, "why").describe() == "exit code 137 (OOMKilled): why"


RULE = ScaleRule(scale_factor=2, type="limit", mode="sum", target_dir="scans")
INPUTS = [
    InputSize("images", Path("/d/images"), 3, 10 * MiB),
    InputSize("empty", Path("/d/empty"), 0, 0),
    InputSize("plain", Path("/d/plain"), 1, MiB),
]
RESULTS = [
    ScaleResult(
        channel="images", type="limit", mode="sum", measured_bytes=10 * MiB, needed_bytes=22 * MiB
    ),
    ScaleResult(
        channel="empty", type="request", mode="max_file_size", measured_bytes=0, needed_bytes=0
    ),
]
RULES = {"images": RULE, "empty": ScaleRule(scale_factor=1, type="request", mode="max_file_size")}


def test_memory_report_warns_when_a_rule_under_provisions() -> None:
    lines, warnings = memory_report(seen(100.8), 200 * MiB, INPUTS, RESULTS, RULES)

    assert lines == [
        f"peak memory: 100.8 MiB ({int(100.8 * MiB)} bytes, {V1}, 10 samples); limit 200.0 MiB",
        "input images: 10.0 MiB in 3 files (/d/images); "
        "ScaleRule limit sum scans/ ×2: measured 10.0 MiB → 22.0 MiB",
        "input empty: 0.0 MiB in 0 files (/d/empty); "
        "ScaleRule request max_file_size ×1: measured 0.0 MiB → 0.0 MiB",
        "input plain: 1.0 MiB in 1 file (/d/plain)",
    ]
    assert warnings == [  # an empty input computes nothing: the declared value rules
        "the ScaleRule of input images under-provisions: peak 100.8 MiB > 22.0 MiB it "
        "computed (limit)"
    ]


def test_memory_report_without_a_measurement_or_a_readable_input() -> None:
    results = [
        ScaleResult(
            channel="pvc",
            type="limit",
            mode="sum",
            measured_bytes=0,
            needed_bytes=0,
            note="volume not readable here",
        )
    ]

    lines, warnings = memory_report(None, None, [], results, {})

    assert lines == [
        "peak memory: not measured (no readable memory cgroup); limit none",
        "ScaleRule pvc: measured 0.0 MiB → 0.0 MiB (volume not readable here)",
    ]
    assert warnings == []


def test_a_rule_that_covers_the_peak_gives_no_warning() -> None:
    results = [
        ScaleResult(
            channel="images",
            type="limit",
            mode="sum",
            measured_bytes=10 * MiB,
            needed_bytes=110 * MiB,
        )
    ]

    _, warnings = memory_report(seen(100.8), 110 * MiB, INPUTS[:1], results, RULES)

    assert warnings == []
