"""SQLite commits of write_transaction (core/store.py): the commit leaves its write-ahead log to be copied into the
database file by checkpoint_aside (a large log on a background thread), not inside the commit; the rows are
readable at once, the file holds them once the checkpoint is done, and a failed transaction keeps nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core import store

ROWS = 20_000  # ~2,500 pages of 8 KB: above SQLite's automatic checkpoint (1,000 pages)


@pytest.fixture
def sqlite_engine(sqlite_engine: Engine) -> Engine:
    with sqlite_engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    store.wait_for_checkpoints()
    return sqlite_engine


def _database(engine: Engine) -> Path:
    return Path(engine.url.database)


def _write_notes(conn) -> None:
    conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), [{"body": f"{i:08d}" * 100} for i in range(ROWS)])


def _autocheckpoint(conn) -> int:
    return int(conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_large_log_is_checkpointed_on_a_thread_after_the_commit(sqlite_engine: Engine, monkeypatch):
    monkeypatch.setattr(store, "CHECKPOINT_ASIDE_BYTES", 1 << 20)
    before = _database(sqlite_engine).stat().st_size
    with store.write_transaction(sqlite_engine) as conn:
        assert _autocheckpoint(conn) == 0  # the commit copies nothing itself
        _write_notes(conn)
    assert store.wait_for_checkpoints() == 1  # one thread did the copy
    assert _database(sqlite_engine).stat().st_size > before + ROWS * 800  # the rows are in the database file
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM notes")).scalar_one() == ROWS
        assert _autocheckpoint(conn) == store.SQLITE_AUTOCHECKPOINT_PAGES  # the pooled connection is as before


def test_a_small_log_is_checkpointed_by_the_committing_connection(sqlite_engine: Engine):
    before = _database(sqlite_engine).stat().st_size
    with store.write_transaction(sqlite_engine) as conn:
        _write_notes(conn)
    assert store.wait_for_checkpoints() == 0  # ~20 MB of log: below the threshold, no thread
    assert _database(sqlite_engine).stat().st_size > before + ROWS * 800


def test_a_failed_transaction_keeps_nothing_and_restores_the_connection(sqlite_engine: Engine, monkeypatch):
    monkeypatch.setattr(store, "CHECKPOINT_ASIDE_BYTES", 1 << 20)
    with pytest.raises(RuntimeError, match="injected"), store.write_transaction(sqlite_engine) as conn:
        _write_notes(conn)
        raise RuntimeError("injected failure after the writes")
    store.wait_for_checkpoints()
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM notes")).scalar_one() == 0
        assert _autocheckpoint(conn) == store.SQLITE_AUTOCHECKPOINT_PAGES
    with sqlite3.connect(_database(sqlite_engine)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_database_removed_before_its_checkpoint_is_not_recreated(tmp_path: Path):
    missing = tmp_path / "removed.db"
    store._checkpoint_file(missing)
    assert list(tmp_path.iterdir()) == []


def test_a_small_commit_after_a_large_one_is_not_sent_to_a_thread(tmp_path: Path, monkeypatch):
    # the log file is cut back when it restarts, so its size is the last commit's log, not the largest one's
    monkeypatch.setattr(store, "CHECKPOINT_ASIDE_BYTES", 1 << 20)
    engine = store.make_engine(f"sqlite:///{tmp_path / 'leadscore.db'}")  # connections opened with that limit
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        with store.write_transaction(engine) as conn:
            _write_notes(conn)
        assert store.wait_for_checkpoints() == 1
        with store.write_transaction(engine) as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES ('one more')"))
        assert store.wait_for_checkpoints() == 0
        assert (tmp_path / "leadscore.db-wal").stat().st_size <= store.CHECKPOINT_ASIDE_BYTES // 2
    finally:
        engine.dispose()
