"""A private Postgres cluster for tests that crash and restart the server: the machine's shared server is never
touched.

`private_cluster()` runs `initdb` into a new folder under the system temp directory (the `postgres` OS user
owns it when the tests run as root, since initdb refuses root; a pytest tmp_path under /tmp/pytest-of-root is
closed to that user), starts the cluster on a free port of 127.0.0.1 with trust authentication and its socket
in that folder, and always stops it (immediate mode) and removes the folder on the way out, whatever happened.
Without Postgres's server binaries the test skips with the reason, which fails the run under LEADSCORE_CI=1
(tests/conftest.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

SERVER_OWNER = "postgres"  # the OS user the cluster runs as when the tests run as root
START_WAIT_S = 120  # pg_ctl -w waits at most this long for the server to accept connections


def postgres_bindir() -> Path | None:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/N/bin), else those on PATH."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _major(p.parent.parent.name))
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def _major(version: str) -> int:
    return int(version) if version.isdigit() else -1


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateCluster:
    """One Postgres cluster of our own: start it, crash it (immediate stop), start it again."""

    bindir: Path
    folder: Path
    port: int
    run_as: str | None  # None: as the current user

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start (after a crash: recovery first); returns once the server accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "-w", "-t", str(START_WAIT_S), "-l", str(self.log), "-o", options)

    def stop_immediately(self) -> None:
        """What a crash or a kill -9 of the server looks like to its clients: every connection is cut, no
        checkpoint, recovery on the next start."""
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def running(self) -> bool:
        return self._run([str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)], check=False).returncode == 0

    def create_database(self, name: str) -> str:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run([str(self.bindir / "pg_ctl"), action, "-D", str(self.data), *args])

    def _run(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess:
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_WAIT_S + 60,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}\n"
                               f"{self.server_log()[-3000:]}")
        return result


def _owner() -> str | None:
    """Who runs the cluster: the postgres OS user when we are root (initdb refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_OWNER)
    except KeyError:
        pytest.skip(f"running as root and there is no {SERVER_OWNER!r} OS user to run a private Postgres cluster")
    return SERVER_OWNER


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, stopped and removed afterwards even when the test fails."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no Postgres server binaries (initdb, pg_ctl) to start a private cluster: install postgresql")
    owner = _owner()
    folder = Path(tempfile.mkdtemp(prefix="leadscore-private-pg-"))
    if owner is not None:
        record = pwd.getpwnam(owner)
        os.chown(folder, record.pw_uid, record.pw_gid)
    cluster = PrivateCluster(bindir, folder, _free_port(), owner)
    try:
        cluster._run([str(bindir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync"])
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop_immediately()
        shutil.rmtree(folder, ignore_errors=True)
