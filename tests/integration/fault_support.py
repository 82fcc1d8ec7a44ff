"""Helpers for the fault tests: a large lead file whose outcome is known from the file alone, commands run as the
operator runs them (their own process group, so a kill reaches everything they started), and the real states
a fault is injected at (a COPY in progress on Postgres, an ingest's transaction spilling into SQLite's WAL)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from tests.paths import PROJECT_ROOT

LABEL = "app_complete_flag"
BAD_REFERRED = "7"  # "referred_lead must be 0 or 1, got 7": the row is rejected
STATE_POLL_S = 0.02
WAIT_FOR_STATE_S = 600  # a safety net so a broken test cannot hang; no speed is asserted


@dataclass(frozen=True)
class LeadFile:
    """A synthetic lead file and what ingesting it must give, counted from the file itself."""

    path: Path
    rows: int
    loaded: int
    duplicate: int
    rejected: int


def lead_file_with_rejects(path: Path, rows: int, reject_every: int, seed: int = 7,
                           unlabelled: bool = False) -> LeadFile:
    """core.synthetic's leads with every reject_every-th row made invalid; loaded = the distinct valid rows
    (a lead without an id is its content), duplicate = the valid rows repeating an earlier one."""
    command = [sys.executable, "-m", "core.synthetic", "--rows", str(rows), "--seed", str(seed), "--out", str(path)]
    subprocess.run(command + (["--unlabelled"] if unlabelled else []), cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=300)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    bad = (frame.index % reject_every) == reject_every - 1
    frame.loc[bad, "referred_lead"] = BAD_REFERRED
    frame.to_csv(path, index=False)
    good = frame[~bad]
    distinct = len(good.drop_duplicates())
    if LABEL in good.columns:  # no lead repeated with another label: every repeat is a plain duplicate
        assert len(good.drop(columns=[LABEL]).drop_duplicates()) == distinct
    return LeadFile(path, rows, distinct, len(good) - distinct, int(bad.sum()))


def start_command(module: str, *args: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    """`python -m module args` in its own session (process group), output to files under logs."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{module}.out", "ab") as out, open(logs / f"{module}.err", "ab") as err:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)


def run_command(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=WAIT_FOR_STATE_S)


def command_output(module: str, logs: Path) -> tuple[str, str]:
    return ((logs / f"{module}.out").read_text(errors="replace"), (logs / f"{module}.err").read_text(errors="replace"))


def kill_process_group(process: subprocess.Popen) -> int:
    """SIGKILL the command and everything it started (Prefect's temporary server too); its exit status."""
    os.killpg(process.pid, signal.SIGKILL)
    return process.wait(timeout=60)


def end_process_group(process: subprocess.Popen) -> None:
    """Teardown: whatever is left of a command we started is killed."""
    if process.poll() is None:
        kill_process_group(process)


def wait_for_state(process: subprocess.Popen, reached: Callable[[], bool], what: str,
                   timeout: float = WAIT_FOR_STATE_S) -> None:
    """Poll real state until `reached`; fail if the command ends first (the fault would not be mid-run)."""
    deadline = time.monotonic() + timeout
    while not reached():
        if process.poll() is not None:
            pytest.fail(f"the command ended (exit {process.returncode}) before it was {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"the command was not {what} within {timeout:.0f} s")
        time.sleep(STATE_POLL_S)


def copy_rows_in_progress(engine: Engine, command: str, table: str | None = None) -> int:
    """Rows a COPY ('COPY FROM' / 'COPY TO') running in the engine's database has processed so far (0: none
    running); with `table`, only a COPY into or out of that table."""
    sql = ("SELECT COALESCE(MAX(tuples_processed), 0) FROM pg_stat_progress_copy "
           "WHERE datname = current_database() AND command = :command")
    if table is not None:
        sql += " AND relid = to_regclass(:table)"
    with engine.connect() as conn:
        return int(conn.execute(text(sql), {"command": command, "table": table}).scalar_one())


def sqlite_writing(database: Path, min_wal_bytes: int) -> bool:
    """A write transaction is open (the write lock is held: BEGIN IMMEDIATE is refused at once) and has spilled
    at least min_wal_bytes of pages into the WAL: a large write is under way, not committed."""
    wal = database.with_name(database.name + "-wal")
    if not wal.exists() or wal.stat().st_size < min_wal_bytes:
        return False
    with closing(sqlite3.connect(database, timeout=0, isolation_level=None)) as conn:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # "database is locked": another connection is writing
            return "locked" in str(error)
        conn.execute("ROLLBACK")  # nobody was writing: release the lock at once
        return False


def other_sessions(engine: Engine) -> int:
    """Connections to the engine's database other than this one (a killed client's backend ends soon after)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()")).scalar_one())
