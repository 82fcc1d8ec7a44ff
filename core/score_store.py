"""Moving a scoring run's rows: stream leads out, spill scored chunks to disk, write the run in bulk.

Reading uses Postgres `COPY (query) TO STDOUT` parsed by Arrow (several times faster than fetching
rows); scored chunks are spilled to an Arrow file so memory stays flat while the run's ranks are
computed from the scores alone; the run is then written with one COPY into a bare table that becomes
the run's partition of `lead_scores` (its indexes are built in bulk on attach). SQLite, the embedded
default, takes the same rows through batched inserts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import store
from core.features import INTERACTION_GROUPS

SCORE_SCHEMA = pa.schema([
    ("lead_id", pa.string()), ("run_id", pa.int32()), ("model_version", pa.string()), ("score", pa.float64()),
    ("grade", pa.string()), ("rank", pa.int32()), ("predicted", pa.int16()), ("previous_score", pa.float64()),
    ("trend", pa.string()), ("reasons_positive", pa.string()), ("reasons_negative", pa.string()),
    ("is_current", pa.bool_()), ("created_date", pa.timestamp("us")), ("city_tier", pa.int16()),
    ("first_platform_c", pa.string()), ("first_utm_medium_c", pa.string()), ("first_utm_source_c", pa.string()),
    ("referred_lead", pa.int16()), ("scored_at", pa.timestamp("us")),
])
SCORE_COLUMNS = SCORE_SCHEMA.names
# the scoring query's columns, typed as SQLite's cursor returns them (Arrow must not guess: "007" stays text)
LEAD_CHUNK_TYPES = {
    "lead_id": pa.string(), "city_mapped": pa.string(), "first_platform_c": pa.string(),
    "first_utm_medium_c": pa.string(), "first_utm_source_c": pa.string(), "total_leads_droppped": pa.float64(),
    "referred_lead": pa.float64(), "previous_score": pa.float64(), "score": pa.float64(), "predicted": pa.int64(),
    **{group: pa.float64() for group in INTERACTION_GROUPS},
}


def read_lead_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The query's rows in chunks: COPY + Arrow on Postgres, a cursor on SQLite."""
    if store.is_postgres(conn):
        yield from _copy_out_chunks(conn, sql, params, chunk_rows)
    else:
        yield from _cursor_chunks(conn, sql, params, chunk_rows)


def _cursor_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    result = conn.execute(text(sql), params)
    columns = list(result.keys())
    for part in result.partitions(chunk_rows):
        chunk = pd.DataFrame.from_records(part, columns=columns)
        chunk["created_date"] = pd.to_datetime(chunk["created_date"], format="ISO8601")
        yield chunk


def _copy_out_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    literal = str(text(sql).bindparams(**params).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({literal}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        reader = pa_csv.open_csv(_CopyStream(copy), read_options=pa_csv.ReadOptions(block_size=8 << 20),
                                 convert_options=pa_csv.ConvertOptions(
                                     column_types=LEAD_CHUNK_TYPES,
                                     strings_can_be_null=True, timestamp_parsers=[pa_csv.ISO8601]))
        yield from _rechunk(reader, chunk_rows)


def _rechunk(batches, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of exactly chunk_rows rows (the last one shorter), whatever size Arrow's blocks have."""
    pending: pa.Table | None = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        pending = table if pending is None else pa.concat_tables([pending, table])
        while pending.num_rows >= chunk_rows:
            yield _table_to_frame(pending.slice(0, chunk_rows))
            pending = pending.slice(chunk_rows)
    if pending is not None and pending.num_rows:
        yield _table_to_frame(pending)


def _table_to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["created_date"] = pd.to_datetime(frame["created_date"], format="ISO8601")
    return frame


class _CopyStream(io.RawIOBase):
    """A file-like view of a psycopg COPY TO STDOUT (one small block per row) for Arrow's CSV reader."""

    def __init__(self, copy) -> None:
        self._blocks = iter(copy)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Join blocks until `size` bytes are ready (Arrow asks for large blocks)."""
        parts, have = [self._rest], len(self._rest)
        while size < 0 or have < size:
            block = next(self._blocks, None)
            if block is None:
                break
            parts.append(bytes(block))
            have += len(parts[-1])
        data = b"".join(parts)
        cut = len(data) if size < 0 else size
        self._rest = data[cut:]
        return data[:cut]

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class ScoreSpill:
    """Scored chunks on disk (Arrow IPC) and their scores in memory, so ranks need no second pass."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "scores.arrow"
        self._writer = pa_ipc.new_file(str(self.path), SCORE_SCHEMA)
        self._scores: list[np.ndarray] = []
        self.rescored = 0

    def append(self, rows: pd.DataFrame) -> None:
        """Add one scored chunk (rank still 0)."""
        self._writer.write_table(pa.Table.from_pandas(rows[SCORE_COLUMNS], schema=SCORE_SCHEMA, preserve_index=False))
        self._scores.append(rows["score"].to_numpy())
        self.rescored += int(rows["previous_score"].notna().sum())

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self._scores)

    def ranked_batches(self, run_id: int) -> Iterator[pa.RecordBatch]:
        """The spilled rows with their run id and rank (1 = best score), chunk by chunk."""
        self._writer.close()
        ranks = _ranks(np.concatenate(self._scores)) if self._scores else np.empty(0, "int32")
        offset = 0
        with pa.OSFile(str(self.path)) as source:
            reader = pa_ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield _with_rank(batch, run_id, ranks[offset:offset + batch.num_rows])
                offset += batch.num_rows


def _ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype="int32")
    ranks[order] = np.arange(1, len(scores) + 1, dtype="int32")
    return ranks


def _with_rank(batch: pa.RecordBatch, run_id: int, ranks: np.ndarray) -> pa.RecordBatch:
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns["run_id"] = pa.array(np.full(batch.num_rows, run_id, dtype="int32"))
    columns["rank"] = pa.array(ranks)
    return pa.RecordBatch.from_arrays([columns[name] for name in SCORE_COLUMNS], schema=SCORE_SCHEMA)


def write_run(conn: Connection, run_id: int, spill: ScoreSpill) -> None:
    """Write the run's rows: a new partition on Postgres, batched inserts on SQLite."""
    if store.is_postgres(conn):
        _write_partition(conn, run_id, spill)
    else:
        for batch in spill.ranked_batches(run_id):
            store.bulk_insert(conn, "lead_scores", batch.to_pandas())


def _write_partition(conn: Connection, run_id: int, spill: ScoreSpill) -> None:
    part = f"lead_scores_run_{int(run_id)}"
    conn.execute(text(f"CREATE TABLE {part} (LIKE lead_scores INCLUDING DEFAULTS)"))
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {part} ({', '.join(SCORE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for batch in spill.ranked_batches(run_id):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
            copy.write(buffer.getbuffer())
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    conn.execute(text(f"ALTER TABLE lead_scores ATTACH PARTITION {part} FOR VALUES IN ({int(run_id)})"))


def retire_previous_scores(conn: Connection, run_id: int) -> None:
    """Leads this run scored again keep only this run's score as current."""
    conn.execute(text(
        "UPDATE lead_scores SET is_current = FALSE WHERE is_current AND run_id <> :run AND lead_id IN "
        "(SELECT lead_id FROM lead_scores WHERE run_id = :run AND previous_score IS NOT NULL)"
    ), {"run": run_id})
