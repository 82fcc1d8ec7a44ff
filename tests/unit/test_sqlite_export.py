"""The SQLite read-ahead child (core/sqlite_export.py): the same rows as reading in the process, its errors as one
line, and a child that dies mid-stream fails the read instead of ending it early."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from core.sqlite_export import ExportFailed, read_in_child, rechunked, rows_as_tables

TYPES = {"id": pa.string(), "amount": pa.float64(), "note": pa.string()}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """5,000 rows whose first 3,000 have no amount and no note (a reader inferring types from them would fail)."""
    path = tmp_path / "leads.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id TEXT, amount REAL, note TEXT, created TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                         [(f"{i:05d}", None if i < 3000 else i / 7, None if i < 3000 else f"n{i}",
                           f"2024-01-01 00:00:{i % 60:02d}") for i in range(5000)])
    return path


def _in_process(path: Path, sql: str, chunk_rows: int) -> list[pa.Table]:
    with sqlite3.connect(path) as conn:
        return list(rows_as_tables(conn.execute(sql), chunk_rows, TYPES))


def test_child_sends_the_rows_and_types_of_reading_in_the_process(database):
    sql = "SELECT id, amount, note, created FROM t WHERE id >= '00010' ORDER BY id"
    tables = list(read_in_child(database, sql, 1_000, TYPES))

    assert [t.num_rows for t in tables] == [1_000] * 4 + [990]
    got, expected = pa.concat_tables(tables), pa.concat_tables(_in_process(database, sql, 1_000))
    assert got.equals(expected.cast(got.schema)) and got.schema.field("created").type == pa.string()
    assert got.column("amount").null_count == 2_990 and got.schema.field("amount").type == pa.float64()


def test_a_query_the_child_cannot_run_fails_with_sqlites_reason(database):
    with pytest.raises(ExportFailed, match="no such column: missing"):
        list(read_in_child(database, "SELECT missing FROM t", 100, TYPES))


def test_text_where_a_number_is_declared_fails_the_read_instead_of_becoming_a_number(database):
    with sqlite3.connect(database) as conn:
        conn.execute("INSERT INTO t VALUES ('99999', 'not a number', NULL, NULL)")
    with pytest.raises(ExportFailed, match="reading the leads failed"):
        list(read_in_child(database, "SELECT id, amount FROM t", 1_000, TYPES))


def test_an_empty_result_is_no_table(database):
    assert list(read_in_child(database, "SELECT id FROM t WHERE id = 'none'", 100, TYPES)) == []


def test_a_child_killed_mid_stream_fails_the_read(database):
    rows = read_in_child(database, "SELECT id, amount, note FROM t", 100, TYPES)
    next(rows)
    for child in psutil.Process().children():
        if "sqlite_export" in " ".join(child.cmdline()):
            os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ExportFailed):
        list(rows)  # the child may have written more batches before it died: they are read, then the stream ends


def test_a_consumer_that_stops_early_leaves_no_child(database):
    rows = read_in_child(database, "SELECT id FROM t", 10, TYPES)
    next(rows)
    rows.close()
    assert not [c for c in psutil.Process().children() if "sqlite_export" in " ".join(c.cmdline())]


def test_rechunked_gives_tables_of_exactly_chunk_rows_in_order_whatever_the_batch_sizes():
    layout = pa.schema([("n", pa.int64())])
    sizes = [3, 7, 1, 12, 2, 5]  # 30 rows in uneven batches
    values = iter(range(30))
    batches = [pa.RecordBatch.from_arrays([pa.array([next(values) for _ in range(size)])], schema=layout)
               for size in sizes]
    tables = list(rechunked(batches, 8, layout))
    assert [t.num_rows for t in tables] == [8, 8, 8, 6]
    assert [v for t in tables for v in t.column("n").to_pylist()] == list(range(30))
    assert all(t.column("n").num_chunks == 1 for t in tables)
    assert list(rechunked([], 8, layout)) == []
