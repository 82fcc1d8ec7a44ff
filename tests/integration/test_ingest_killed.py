"""A real `python -m flows.ingest BIG.csv` SIGKILLed, with everything it started, while it writes the file's leads:
nothing of the batch is visible (its rows, rejected rows and batch row commit together, in one transaction), and
running the same command again loads every row exactly once. On SQLite and on Postgres, each a fresh database.

"While it writes" is observed, not slept for: on Postgres the COPY into `leads` has processed rows
(pg_stat_progress_copy); on SQLite a write transaction is open (the write lock is held) and has spilled
megabytes of pages into the WAL."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from core.store import make_engine
from tests.integration.fault_support import (
    LeadFile,
    command_output,
    copy_rows_in_progress,
    end_process_group,
    kill_process_group,
    lead_file_with_rejects,
    other_sessions,
    run_command,
    sqlite_writing,
    start_command,
    wait_for_state,
)

BIG_ROWS = 300_000
REJECT_EVERY = 500  # 600 rejected rows: loaded = rows - rejected - duplicate, each counted from the file
SQLITE_MID_WRITE_WAL_BYTES = 8 << 20  # a few slices of leads written; the whole file is about 70 MB of pages
POSTGRES_MID_WRITE_ROWS = 1  # the COPY into leads has begun


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> LeadFile:
    return lead_file_with_rejects(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS, REJECT_EVERY)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, isolated_home: Path) -> str:
    """A fresh database, migrated before the command runs: the command's only write is then the ingest."""
    isolated_home.mkdir(parents=True, exist_ok=True)
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else \
        f"sqlite:///{isolated_home / 'leadscore.db'}"
    make_engine(url).dispose()
    return url


def _command_env(home: Path, database_url: str) -> dict[str, str]:
    """The operator's environment, against the test session's Prefect server (no temporary one to start)."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "LEADSCORE_HOME": str(home), "LEADSCORE_DATABASE_URL": database_url,
            "PREFECT_API_URL": PREFECT_API_URL.value() or ""}


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                    for table in ("leads", "rejected_leads", "ingest_batches", "lead_outcomes")}
    finally:
        engine.dispose()


def _mid_write(url: str):
    """The real state the kill waits for."""
    if url.startswith("sqlite"):
        database = Path(url.removeprefix("sqlite:///"))
        return lambda: sqlite_writing(database, SQLITE_MID_WRITE_WAL_BYTES)
    probe = create_engine(url, poolclass=NullPool)
    return lambda: copy_rows_in_progress(probe, "COPY FROM", "leads") >= POSTGRES_MID_WRITE_ROWS


def _wait_for_killed_backend(url: str) -> None:
    """Postgres ends the killed client's backend (rolling its transaction back) once it sees the socket closed."""
    if url.startswith("sqlite"):
        return
    probe = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + 60
    while other_sessions(probe) and time.monotonic() < deadline:
        time.sleep(0.1)
    probe.dispose()


@pytest.mark.slow
def test_ingest_killed_mid_write_leaves_nothing_and_the_rerun_loads_every_row_once(
        prefect_harness, big_file, database_url, isolated_home, tmp_path):
    env = _command_env(isolated_home, database_url)
    process = start_command("flows.ingest", str(big_file.path), env=env, logs=tmp_path / "killed")
    try:
        wait_for_state(process, _mid_write(database_url), "writing the file's leads")
        status = kill_process_group(process)
    finally:
        end_process_group(process)
    assert status == -9, command_output("flows.ingest", tmp_path / "killed")
    _wait_for_killed_backend(database_url)

    assert _counts(database_url) == {"leads": 0, "rejected_leads": 0, "ingest_batches": 0, "lead_outcomes": 0}

    rerun = run_command("flows.ingest", str(big_file.path), env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert _counts(database_url) == {"leads": big_file.loaded, "rejected_leads": big_file.rejected,
                                     "ingest_batches": 1, "lead_outcomes": 0}
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT batch_id, rows_in, loaded, duplicate, rejected, finished_at "
                                  "FROM ingest_batches")).one()
        in_other_batches = conn.execute(text("SELECT count(*) FROM leads WHERE batch_id <> :b"),
                                        {"b": batch.batch_id}).scalar_one()
        distinct_ids = conn.execute(text("SELECT count(DISTINCT lead_id) FROM leads")).scalar_one()
    engine.dispose()
    assert (batch.rows_in, batch.loaded, batch.duplicate, batch.rejected) == (
        big_file.rows, big_file.loaded, big_file.duplicate, big_file.rejected)
    assert batch.finished_at is not None and in_other_batches == 0 and distinct_ids == big_file.loaded
