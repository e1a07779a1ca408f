"""Fault points for the fault-injection tests: end the process at a named step.

``KAAPANA_EXECUTOR_FAULT=finish.state_reported`` makes the scheduler process exit (as a
SIGKILL would: no cleanup, no flush) the first time it passes that point, so a test can check
that a restarted scheduler replays everything after it safely. Read once at import; without
the variable a fault point is one comparison. Nothing else uses it.
"""

from __future__ import annotations

import os

_ARMED = os.environ.get("KAAPANA_EXECUTOR_FAULT", "")


def fault_point(name: str) -> None:
    """Exit at once with status 137 when the armed fault is ``name``."""
    if _ARMED and name == _ARMED:
        os._exit(137)
