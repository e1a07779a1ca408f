"""Long-running helper processes (registries, the log agent): start once, find again, stop.

Each process gets a pid file and a log file in the run directory. A pid file alone is not
trusted: the pid must still run the same executable, so a reused pid after a reboot is not
mistaken for our registry. Processes start in their own session, so they outlive the
``scripts/cluster up`` that started them and a Ctrl-C in that terminal does not reach them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True)
class Daemon:
    """One background process of the local cluster, identified by ``name``."""

    name: str
    argv: Sequence[str]
    run_dir: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    def owner_file(self) -> Path:
        return self.run_dir / f"{self.name}.owner"

    def pid(self) -> int | None:
        """The pid if our process runs, else None."""
        pid = _read_pid(self.pid_file)
        if pid is None or not _alive(pid):
            return None
        cmdline = _cmdline(pid)
        # Compare the executable and the first argument: enough to tell our process from a
        # stranger that inherited the pid.
        if cmdline[: min(2, len(self.argv))] != list(self.argv[:2]):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> subprocess.Popen[bytes]:
        """Start the process (the caller checked it is not running).

        The returned handle tells reliably whether the process already died (``poll``).
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the process: SIGTERM, then SIGKILL after ``timeout``. True if it was running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        self.owner_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        return True

    def log_tail(self, lines: int = 20) -> str:
        """The end of the log, for error messages."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def claim(owner_file: Path, owner: str | None) -> None:
    """Record who started a component, so ``down --owner`` stops only what it started."""
    if owner:
        owner_file.parent.mkdir(parents=True, exist_ok=True)
        owner_file.write_text(owner + "\n")


def owned_by(owner_file: Path, owner: str | None) -> bool:
    """True if ``down`` may stop the component: no owner given, or the same owner."""
    if owner is None:
        return True
    try:
        return owner_file.read_text().strip() == owner
    except FileNotFoundError:
        return False


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (0 if it is gone), for ``status``."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
