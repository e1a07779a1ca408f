"""Peak memory and OOM kills of a running container, read from its memory cgroup.

The container's main process names its cgroup in ``/proc/<pid>/cgroup``: the ``0::`` line
on cgroup v2, the line listing ``memory`` on cgroup v1 (hybrid machines have both; the one
whose files exist wins). The kernel keeps the peak itself (v2 ``memory.peak``, v1
``memory.max_usage_in_bytes``), so sampling cannot miss a short spike while the cgroup
exists; on v2 kernels without ``memory.peak`` (before 5.19) the largest ``memory.current``
seen is used and marked as sampled.

The cgroup disappears a moment after the container exits, so a :class:`MemorySampler`
thread reads it every few milliseconds while it lives and keeps the last values. Why not
the Docker API: podman's compatible API reports ``OOMKilled: false`` even for a container
the kernel's OOM killer ended, and neither API reports the peak; the OOM counters (v1
``memory.oom_control`` ``oom_kill``, v2 ``memory.events`` ``oom_kill``) do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Membership:
    """A process's memory cgroup paths, as ``/proc/<pid>/cgroup`` lists them."""

    v1_memory: str | None
    unified: str | None


def parse_membership(text: str) -> Membership:
    """Parse ``/proc/<pid>/cgroup`` (``id:controllers:path`` per line)."""
    v1 = unified = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            unified = path
        elif "memory" in controllers.split(","):
            v1 = path
    return Membership(v1, unified)


@dataclass(frozen=True)
class MemoryCgroup:
    """The directory of a memory cgroup and which interface its files follow."""

    version: int
    directory: Path

    @property
    def peak_file(self) -> str:
        if self.version == 1:
            return "memory.max_usage_in_bytes"
        return "memory.peak" if (self.directory / "memory.peak").exists() else "memory.current"

    @property
    def source(self) -> str:
        """Where the peak comes from, for reports (``sampled`` when the kernel keeps none)."""
        sampled = " (sampled)" if self.peak_file == "memory.current" else ""
        return f"cgroup v{self.version} {self.peak_file}{sampled}"


def locate(
    pid: int, owner: str = "", proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT
) -> MemoryCgroup | None:
    """The memory cgroup of ``pid``, or None when it cannot be read from here (another
    machine or VM runs the container, the process is gone, no memory controller).

    ``owner`` (a container id) must appear in the cgroup path: Docker and podman name their
    cgroups after it, and a pid from a daemon in a VM may belong to another process here.
    """
    try:
        membership = parse_membership((proc / str(pid) / "cgroup").read_text())
    except OSError:
        return None
    if owner and not any(owner in (p or "") for p in (membership.unified, membership.v1_memory)):
        return None
    if membership.unified is not None:
        directory = cgroup_root / membership.unified.lstrip("/")
        if (directory / "memory.current").exists():
            return MemoryCgroup(2, directory)
    if membership.v1_memory is not None:
        directory = cgroup_root / "memory" / membership.v1_memory.lstrip("/")
        if (directory / "memory.max_usage_in_bytes").exists():
            return MemoryCgroup(1, directory)
    return None


@dataclass(frozen=True)
class Sample:
    """One reading: peak so far, OOM kills, and how often usage hit the limit."""

    peak_bytes: int
    oom_kills: int
    limit_hits: int


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines (``memory.events``, ``memory.oom_control``) as a mapping."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def read_sample(cgroup: MemoryCgroup) -> Sample | None:
    """The cgroup's counters now, or None once it is gone."""
    try:
        peak = int((cgroup.directory / cgroup.peak_file).read_text())
        if cgroup.version == 1:
            oom = _keyed((cgroup.directory / "memory.oom_control").read_text())
            hits = int((cgroup.directory / "memory.failcnt").read_text())
            return Sample(peak, oom.get("oom_kill", 0), hits)
        events = _keyed((cgroup.directory / "memory.events").read_text())
        return Sample(peak, events.get("oom_kill", 0), events.get("max", 0))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Measurement:
    """What the sampler saw over the container's life."""

    source: str
    peak_bytes: int
    oom_kills: int
    limit_hits: int
    samples: int


class MemorySampler:
    """Reads a cgroup every ``interval`` seconds on a daemon thread until stopped or gone."""

    def __init__(self, cgroup: MemoryCgroup, interval: float = 0.01) -> None:
        self._cgroup = cgroup
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen = Measurement(cgroup.source, 0, 0, 0, 0)
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._take()
        self._thread.start()
        return self

    def _take(self) -> bool:
        sample = read_sample(self._cgroup)
        if sample is None:
            return False
        with self._lock:
            seen = self._seen
            self._seen = replace(
                seen,
                peak_bytes=max(seen.peak_bytes, sample.peak_bytes),
                oom_kills=max(seen.oom_kills, sample.oom_kills),
                limit_hits=max(seen.limit_hits, sample.limit_hits),
                samples=seen.samples + 1,
            )
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._take():
                return

    def stop(self) -> Measurement | None:
        """Stop sampling (one last reading if the cgroup still exists); None if never read."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._take()
        with self._lock:
            return self._seen if self._seen.samples else None
