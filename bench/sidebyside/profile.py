"""Where the engine's time goes during one launch: py-spy over this very process.

py-spy samples every thread from outside (``--gil``: only the thread holding the GIL, which
on two cores is the resource the scheduler loop competes for) and writes collapsed stacks;
they are summed here by function, self time (the frame on top) and inclusive time (anywhere
in the stack, counted once per sample). Without py-spy (or without ptrace rights) the caller
is told so; cProfile would see only the thread that runs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
#: Frames every worker thread has at its bottom (they say nothing about where time goes).
GENERIC = ("(threading.py)", "(thread.py)")


def py_spy() -> str | None:
    """The py-spy next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def sampling(out: Path, rate: int = 200) -> Iterator[None]:
    """py-spy recording this process (GIL holders only) while the block runs."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    cmd = [exe, "record", "--pid", str(os.getpid()), "--gil", "--nonblocking", "-F", "--threads"]
    cmd += ["--rate", str(rate), "--format", "raw", "--output", str(out)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the measured work starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode()[-500:]}")


def profiled(out: Path, work: Callable[[], T]) -> T:
    with sampling(out):
        return work()


def hottest(raw: Path, top: int = 15) -> tuple[int, list[tuple[str, float, float]]]:
    """(samples, [(function, self %, inclusive %)]) from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    rows = [
        (name, 100 * own[name] / total, 100 * inclusive[name] / total)
        for name in inclusive
        if not name.endswith(GENERIC)
    ]
    rows.sort(key=lambda r: r[2], reverse=True)
    return total, rows[:top]


def self_hottest(raw: Path, top: int = 15) -> list[tuple[str, float]]:
    """The functions with the most self time (where the CPU actually is)."""
    total, _ = hottest(raw, 1)
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            own[_short(stack.split(";")[-1])] += int(count_text)
    return [(name, 100 * n / max(total, 1)) for name, n in own.most_common(top)]


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({module})" if module else name
