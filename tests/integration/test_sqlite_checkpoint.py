"""A bulk write on SQLite commits without folding the write-ahead log into the database file (SQLite's automatic
checkpoint would add ~1.5 s to a 1M-lead run); a checkpoint on a thread of its own does that after the commit, and
the pooled connection gets SQLite's automatic checkpoints back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from core import store


def wal_frames(path: Path) -> tuple[int, int]:
    """(frames in the log, frames already in the database file), asking without checkpointing anything."""
    with sqlite3.connect(path) as connection:
        _busy, log, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log, done


def test_bulk_write_commits_then_checkpoints_on_its_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "leads.db"
    engine = store.make_engine(f"sqlite:///{path}")
    with store.write_transaction(engine) as conn:
        assert conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        conn.execute(text("CREATE TABLE filler (value TEXT)"))
        conn.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
                          "INSERT INTO filler SELECT printf('%0200d', i) FROM n"))
    store.wait_for_checkpoints()
    log, done = wal_frames(path)
    assert log > store.WAL_AUTOCHECKPOINT_PAGES and done == log  # a large log, every frame in the database file
    with engine.connect() as conn:  # the same pooled connection: automatic checkpoints again for small writes
        assert conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 20000
    engine.dispose()


def test_failed_bulk_write_keeps_nothing_and_restores_automatic_checkpoints(tmp_path: Path) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE filler (value TEXT)"))
    with pytest.raises(RuntimeError, match="mid-write"), store.write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO filler VALUES ('a'), ('b')"))
        raise RuntimeError("mid-write")
    store.wait_for_checkpoints()
    with engine.connect() as conn:
        assert conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 0
    engine.dispose()
