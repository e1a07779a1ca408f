"""A crash on purpose, for the fault-injection tests only.

``fault_point(name)`` marks a place where a scheduler crash must be survivable (between two
steps of finishing a task, for instance). The tests start a scheduler with
``KAAPANA_EXECUTOR_FAULT=<name>``; when the executor reaches that point the whole process
exits at once with code 137, as after a SIGKILL: no ``finally``, no flush, no clean-up. The
restarted scheduler must then replay safely.

The variable is read once, at import. Unset (always, outside those tests) a fault point is
one comparison with ``None``.
"""

from __future__ import annotations

import os
from typing import Final

ENV: Final = "KAAPANA_EXECUTOR_FAULT"
EXIT_CODE: Final = 137  # what a shell reports for a SIGKILLed process

_ARMED: Final = os.environ.get(ENV) or None


def fault_point(name: str) -> None:
    """Exit the process with 137 if ``KAAPANA_EXECUTOR_FAULT`` equals ``name``; else nothing."""
    if _ARMED is not None and name == _ARMED:
        # A line for the test's logs; os.write because nothing buffered survives os._exit.
        os.write(2, f"kaapana-executor: fault injected at {name}, exiting {EXIT_CODE}\n".encode())
        os._exit(EXIT_CODE)
