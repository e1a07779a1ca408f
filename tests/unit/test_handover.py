"""The hand-over: submit only records, the next flush passes the batch on off the caller's
thread, and one failing submission does not stop the rest."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from kaapana_executor.runtime.lanes import Handover


def test_nothing_starts_before_the_flush_then_all_start_in_order_on_the_feeder() -> None:
    feeder = ThreadPoolExecutor(1, "test-handover")
    started: list[tuple[int, str]] = []
    handover = Handover(feeder)

    def start(n: int) -> None:
        if n == 1:
            raise RuntimeError("cannot schedule new futures after shutdown")
        started.append((n, threading.current_thread().name))

    for n in range(4):
        handover.add(functools.partial(start, n))
    assert started == []  # recorded only: no worker woken during the hand-over
    handover.flush()
    handover.flush()  # nothing new: no second batch
    feeder.shutdown(wait=True)
    assert [n for n, _ in started] == [0, 2, 3]  # the failing one did not stop the rest
    assert all(name.startswith("test-handover") for _, name in started)


def test_without_a_feeder_a_submission_starts_at_once() -> None:
    started: list[int] = []
    handover = Handover(None)
    handover.add(lambda: started.append(1))
    assert started == [1]
    handover.flush()
    assert started == [1]
