"""Finding and reading a process's memory cgroup: the formats of v1, v2 and hybrid machines,
and this process's own cgroup on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kaapana_executor.local.monitor import (
    Membership,
    MemoryCgroup,
    MemorySampler,
    Sample,
    locate,
    parse_membership,
    read_sample,
)

HYBRID = """\
9:name=systemd:/libpod_parent/libpod-abc
4:memory:/libpod_parent/libpod-abc
2:cpu,cpuacct:/libpod_parent/libpod-abc
0::/libpod_parent/libpod-abc
"""
UNIFIED = "0::/system.slice/docker-abc.scope\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HYBRID, Membership("/libpod_parent/libpod-abc", "/libpod_parent/libpod-abc")),
        (UNIFIED, Membership(None, "/system.slice/docker-abc.scope")),
        ("4:cpu,memory:/x\n", Membership("/x", None)),
        ("", Membership(None, None)),
    ],
)
def test_proc_cgroup_lines(text: str, expected: Membership) -> None:
    assert parse_membership(text) == expected


def files(root: Path, contents: dict[str, str]) -> None:
    for name, text in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_v1_memory_cgroup_of_a_hybrid_machine(tmp_path: Path) -> None:
    proc, sys_root = tmp_path / "proc", tmp_path / "cgroup"
    files(proc, {"42/cgroup": HYBRID})
    files(
        sys_root / "memory/libpod_parent/libpod-abc",
        {
            "memory.max_usage_in_bytes": "105840640\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            "memory.failcnt": "7\n",
        },
    )
    (sys_root / "unified/libpod_parent/libpod-abc").mkdir(parents=True)  # no memory files

    cgroup = locate(42, "abc", proc, sys_root)

    assert locate(42, "another-container", proc, sys_root) is None  # a pid of someone else
    assert cgroup == MemoryCgroup(1, sys_root / "memory/libpod_parent/libpod-abc")
    assert cgroup.source == "cgroup v1 memory.max_usage_in_bytes"
    assert read_sample(cgroup) == Sample(105840640, oom_kills=1, limit_hits=7)


def test_v2_prefers_memory_peak_and_falls_back_to_sampled_current(tmp_path: Path) -> None:
    proc, sys_root = tmp_path / "proc", tmp_path / "cgroup"
    directory = sys_root / "system.slice/docker-abc.scope"
    files(proc, {"7/cgroup": UNIFIED})
    files(
        directory,
        {
            "memory.current": "1000\n",
            "memory.peak": "5000\n",
            "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        },
    )

    cgroup = locate(7, "", proc, sys_root)
    assert cgroup is not None
    assert (cgroup.version, cgroup.source) == (2, "cgroup v2 memory.peak")
    assert read_sample(cgroup) == Sample(5000, oom_kills=1, limit_hits=3)

    (directory / "memory.peak").unlink()  # kernels before 5.19
    assert cgroup.source == "cgroup v2 memory.current (sampled)"
    assert read_sample(cgroup) == Sample(1000, oom_kills=1, limit_hits=3)


def test_no_cgroup_when_the_process_or_the_files_are_not_here(tmp_path: Path) -> None:
    files(tmp_path / "proc", {"5/cgroup": HYBRID})

    assert locate(4, "", tmp_path / "proc", tmp_path / "cgroup") is None  # no such process
    assert locate(5, "", tmp_path / "proc", tmp_path / "cgroup") is None  # no cgroup files
    assert read_sample(MemoryCgroup(1, tmp_path / "gone")) is None


def test_the_sampler_reads_this_process_cgroup_and_keeps_the_maximum() -> None:
    cgroup = locate(os.getpid())
    assert cgroup is not None, (
        "this test process has no readable memory cgroup: the local runner's monitor needs "
        "/proc/<pid>/cgroup and /sys/fs/cgroup (a Linux host with cgroup v1 or v2)"
    )
    sampler = MemorySampler(cgroup, interval=0.001).start()
    ballast = bytearray(32 * 2**20)  # touch 32 MiB while sampling
    ballast[::4096] = b"x" * len(ballast[::4096])

    measured = sampler.stop()

    assert measured is not None
    assert measured.samples >= 2
    assert measured.peak_bytes >= 32 * 2**20
    assert measured.source == cgroup.source
    del ballast
