"""SQLite scratch parts (core/store.py attach_scratch_parts): a run's rows written by ADBC one part ahead of the
copy inside SQLite; every row arrives once, in order, the files are detached with the transaction, and a failure
while writing reaches the caller."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from core import store

LAYOUT = pa.schema([("lead_id", pa.string()), ("score", pa.float64())])


def _batches(count: int, rows: int, fail_at: int | None = None):
    for index in range(count):
        if index == fail_at:
            raise RuntimeError("the spill could not be read (injected)")
        ids = [f"L{index * rows + i:06d}" for i in range(rows)]
        yield pa.RecordBatch.from_arrays([pa.array(ids), pa.array([i / rows for i in range(rows)])], schema=LAYOUT)


@pytest.fixture
def sqlite_engine(sqlite_engine: Engine) -> Engine:
    with sqlite_engine.begin() as conn:
        conn.execute(text("CREATE TABLE copied (lead_id TEXT PRIMARY KEY, score FLOAT)"))
    return sqlite_engine


def _copy_in_parts(conn, batches, part_rows: int) -> list[str]:
    names = []
    for scratch in store.attach_scratch_parts(conn, "rows", LAYOUT, batches, part_rows):
        conn.execute(text(f"INSERT INTO copied SELECT lead_id, score FROM {scratch}.rows"))
        names.append(scratch)
    return names


def test_every_row_arrives_once_in_parts_and_the_files_are_detached(sqlite_engine: Engine):
    with store.write_transaction(sqlite_engine) as conn:
        names = _copy_in_parts(conn, _batches(10, 100), part_rows=250)
        attached = [row[1] for row in conn.execute(text("PRAGMA database_list"))]
    assert names == ["scratch_0", "scratch_1", "scratch_2", "scratch_3"]  # 300 + 300 + 300 + 100 rows
    assert set(names) <= set(attached)
    with sqlite_engine.connect() as conn:
        ids = [row[0] for row in conn.execute(text("SELECT lead_id FROM copied ORDER BY rowid"))]
        left = [row[1] for row in conn.execute(text("PRAGMA database_list"))]
    assert ids == [f"L{i:06d}" for i in range(1_000)]
    assert not [name for name in left if name.startswith("scratch")]


def test_a_failure_while_writing_a_part_reaches_the_caller_and_nothing_is_kept(sqlite_engine: Engine):
    # ADBC wraps the reading error in its own; its message carries the reason
    with pytest.raises(Exception, match="the spill could not be read"), store.write_transaction(sqlite_engine) as conn:
        _copy_in_parts(conn, _batches(10, 100, fail_at=7), part_rows=250)
    with sqlite_engine.connect() as conn:
        copied = conn.execute(text("SELECT COUNT(*) FROM copied")).scalar_one()
        left = [row[1] for row in conn.execute(text("PRAGMA database_list"))]
    assert copied == 0  # the parts copied before the failure went with the transaction
    assert not [name for name in left if name.startswith("scratch")]
