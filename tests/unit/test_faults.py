"""The crash-on-purpose hook: armed only by its environment variable, then exit 137 at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kaapana_executor.runtime import faults

PROGRAM = """
from kaapana_executor.runtime.faults import fault_point
fault_point("finish.log_persisted")
print("after log_persisted", flush=True)
fault_point("finish.state_reported")
print("after state_reported", flush=True)
"""


def run(armed: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if armed is not None:
        env[faults.ENV] = armed
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unarmed_points_do_nothing() -> None:
    done = run(None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["after log_persisted", "after state_reported"]


@pytest.mark.parametrize("armed", ["", "finish.pod_deleted", "finish"])
def test_other_values_do_not_match(armed: str) -> None:
    assert run(armed).returncode == 0


def test_the_armed_point_exits_137_without_running_what_follows() -> None:
    done = run("finish.state_reported")
    assert done.returncode == faults.EXIT_CODE
    assert done.stdout.splitlines() == ["after log_persisted"]
    assert "fault injected at finish.state_reported" in done.stderr
