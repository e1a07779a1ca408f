"""A throw-away PostgreSQL server for Airflow with two schedulers (SQLite cannot do HA).

The server binaries come from Debian (``scripts/install-postgres``). ``PostgresServer``
runs ``initdb`` and ``pg_ctl`` as the ``postgres`` user (the server refuses to run as root)
in a temporary directory of its own, listening on 127.0.0.1 on a free port, with trust
authentication for local test connections only; ``stop`` shuts it down and removes the
directory. Nothing of the machine's own PostgreSQL setup is used or touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.airflow import free_port

INSTALL_HINT = "install PostgreSQL with scripts/install-postgres (Debian's postgresql package)"


class PostgresUnavailable(RuntimeError):
    """The server binaries or the ``postgres`` user are missing."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(f"no initdb below /usr/lib/postgresql: {INSTALL_HINT}")
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bin_dir: Path
    user: str = "airflow"
    database: str = "airflow"

    @property
    def url(self) -> str:
        """SQLAlchemy URL for Airflow (psycopg2, Airflow's PostgreSQL driver)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _as_postgres(self, *argv: str) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        self._as_postgres(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._as_postgres(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )
        self._as_postgres(
            str(self.bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            self.database,
        )
        return self

    def stop(self) -> None:
        try:
            self._as_postgres(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"
            )
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def postgres_server() -> PostgresServer:
    """A new, not yet started server in a fresh directory owned by ``postgres``."""
    bin_dir = _bin_dir()
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(f"no postgres user: {INSTALL_HINT}") from None
    directory = Path(tempfile.mkdtemp(prefix="kaapana-pg-"))
    os.chown(directory, account.pw_uid, account.pw_gid)
    return PostgresServer(directory=directory, port=free_port(), bin_dir=bin_dir)
