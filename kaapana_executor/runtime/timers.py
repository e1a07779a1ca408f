"""Deadlines the scheduler thread checks: a heap, so a sync pays only for what is due.

Walking every tracked task on every sync made ``sync()`` O(tracked) (25% of its time with
1,000 tasks). A timer carries a token; when it fires, the engine checks that the token still
matches the task's state (a pod that recovered from ImagePullBackOff has a new token), so
stale timers are dropped instead of cancelled.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field


class TimerKind(enum.Enum):
    STUCK = "stuck"  # a pending reason that will not fix itself: fail after a grace time
    STARTUP = "startup"  # created but not running within the startup timeout
    EXECUTION = "execution"  # still running past the execution timeout (a backstop)
    DELETION = "deletion"  # being deleted, and its node does not confirm it


@dataclass(frozen=True, order=True)
class Timer:
    due: float
    seq: int
    key: Hashable = field(compare=False)
    kind: TimerKind = field(compare=False)
    token: float = field(compare=False)  # what the engine compares with the task's state


class Timers:
    """A min-heap of timers; scheduler-thread only."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()

    def add(self, due: float, key: Hashable, kind: TimerKind, token: float) -> None:
        heapq.heappush(self._heap, Timer(due, next(self._seq), key, kind, token))

    def due(self, now: float) -> Iterator[Timer]:
        """Pop and yield every timer due at ``now``."""
        while self._heap and self._heap[0].due <= now:
            yield heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)
