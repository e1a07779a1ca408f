"""Wait for an outcome with a deadline instead of sleeping a guessed time.

A cluster reaches a state some milliseconds or seconds after the request; a fixed sleep is
either flaky or slow. ``wait_until`` polls quickly and, when the deadline passes, says what
it waited for and what it saw last, which is what a failing test needs to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """The outcome did not happen in time; an AssertionError so pytest shows it as a failure."""


def wait_until(
    fetch: Callable[[], T],
    until: Callable[[T], bool],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.1,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call ``fetch`` until ``until`` holds for its result; return that result.

    Exceptions from ``fetch`` propagate: an unexpected API error should fail the test at
    once, not after the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            seen = describe(value)
            if len(seen) > 2000:
                seen = seen[:2000] + "..."
            raise WaitTimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what}; last seen: {seen}"
            )
        time.sleep(interval)
