"""Size and time limits of one lookup, and the deadline that enforces the time limit.

A processing-container.json is a few kilobytes; the limits exist so that a wrong image (a
20 GB base layer without the file, a registry that drips bytes) fails with a clear message
instead of holding an executor thread for an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kaapana_executor.images.errors import LimitExceeded

MiB = 1024 * 1024
GiB = 1024 * MiB

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """Per-lookup limits; the defaults suit an executor resolving images of real pipelines."""

    max_manifest_bytes: int = 4 * MiB  # containerd's limit for manifests
    max_config_bytes: int = 8 * MiB
    max_document_bytes: int = 1 * MiB
    max_layer_bytes: int = 4 * GiB  # compressed layer bytes read while searching one image
    max_seconds: float = 300.0  # the whole lookup, retries included
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # between two bytes of a response
    attempts: int = 5  # per request, for connection errors, timeouts, 429 and 5xx
    max_retry_wait: float = 30.0  # cap on a server's Retry-After

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if value <= 0:
                raise ValueError(f"image metadata limit {name} must be positive, not {value}")


class Deadline:
    """The end of one lookup's time budget, on a monotonic (injectable) clock."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._seconds = seconds
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    @property
    def seconds(self) -> float:
        return self._seconds

    def check(self, image: str, digest: str | None, doing: str) -> None:
        """Raise ``LimitExceeded`` if the budget is spent, saying what was being done."""
        if self.expired():
            raise LimitExceeded(
                image, f"time limit of {self._seconds:g} s reached while {doing}", digest
            )
