"""Moving a scoring run's rows: stream leads out, spill scored chunks to disk, write the run in bulk, once.

Reading uses Postgres `COPY (query) TO STDOUT` parsed by Arrow (several times faster than fetching
rows); scored chunks are spilled to an Arrow file so memory stays flat while the run's ranks are
computed from the scores alone. `write_run(conn, run_id, spill)` then writes the run in the caller's
transaction: its rows are appended to the history `lead_scores` (Postgres: one COPY into a bare table that
becomes the run's partition, its key built in bulk on attach; SQLite: batched inserts), and the same rows
become their leads' rows in `current_scores` (one row per lead), copied inside the database: an upsert /
INSERT OR REPLACE when the run touches a small share of the leads, else the table is rebuilt beside the old
one with its indexes built in bulk, and swapped in under the same names. No old row is ever updated.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection

from core import store
from core.features import quoted
from core.lead_schema import LeadSchema

REBUILD_SHARE = 0.5  # a run replacing this share of current_scores rebuilds the table rather than updating it
FIXED_SCORE_FIELDS = [
    ("lead_id", pa.string()), ("run_id", pa.int32()), ("model_version", pa.string()), ("score", pa.float64()),
    ("grade", pa.string()), ("rank", pa.int32()), ("predicted", pa.int16()), ("previous_score", pa.float64()),
    ("trend", pa.string()), ("reasons_positive", pa.string()), ("reasons_negative", pa.string()),
    ("created_date", pa.timestamp("us", tz="UTC")),  # stored moments are UTC (core/clock.py)
]


def score_arrow_schema(schema: LeadSchema) -> pa.Schema:
    """The Arrow layout of a run's rows: the fixed score columns, the schema's copied features, scored_at."""
    copied = [(f.key, pa.float64() if f.numeric else pa.string()) for f in schema.score_copy_features()]
    return pa.schema([*FIXED_SCORE_FIELDS, *copied, ("scored_at", pa.timestamp("us", tz="UTC"))])


def lead_chunk_types(schema: LeadSchema) -> dict[str, pa.DataType]:
    """The scoring query's columns, typed as SQLite's cursor returns them (Arrow must not guess: "007" stays text)."""
    types: dict[str, pa.DataType] = {"lead_id": pa.string(), "previous_score": pa.float64(), "score": pa.float64(),
                                     "predicted": pa.int64()}
    for column in schema.raw_columns:
        if column.kind in ("number", "flag"):
            types[column.db_name] = pa.float64()
        elif column.kind == "text":
            types[column.db_name] = pa.string()
    types.update({f.key: pa.float64() for f in schema.features if f.type == "sum"})
    return types


def read_lead_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, schema: LeadSchema,
                     time_columns: list[str]) -> Iterator[pd.DataFrame]:
    """The query's rows in chunks (time_columns parsed): COPY + Arrow on Postgres, a cursor on SQLite."""
    if store.is_postgres(conn):
        yield from _copy_out_chunks(conn, sql, params, chunk_rows, lead_chunk_types(schema), time_columns)
    else:
        yield from _cursor_chunks(conn, sql, params, chunk_rows, time_columns)


def _cursor_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int,
                   time_columns: list[str]) -> Iterator[pd.DataFrame]:
    result = conn.execute(text(sql), params)
    columns = list(result.keys())
    for part in result.partitions(chunk_rows):
        yield _parse_times(pd.DataFrame.from_records(part, columns=columns), time_columns)


def _parse_times(frame: pd.DataFrame, time_columns: list[str]) -> pd.DataFrame:
    """Moments as naive UTC instants (SQLite's text is UTC; Postgres' timestamptz arrives with its offset)."""
    for column in time_columns:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        if frame[column].dt.tz is not None:
            frame[column] = frame[column].dt.tz_convert(None)
    return frame


def _copy_out_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, types: dict[str, pa.DataType],
                     time_columns: list[str]) -> Iterator[pd.DataFrame]:
    literal = str(text(sql).bindparams(**params).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({literal}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        reader = pa_csv.open_csv(_CopyStream(copy), read_options=pa_csv.ReadOptions(block_size=8 << 20),
                                 convert_options=pa_csv.ConvertOptions(
                                     column_types=types,
                                     strings_can_be_null=True, timestamp_parsers=[pa_csv.ISO8601]))
        for frame in _rechunk(reader, chunk_rows):
            yield _parse_times(frame, time_columns)


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
    return table.to_pandas()


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

    def __init__(self, folder: Path, layout: pa.Schema) -> None:
        self.path = folder / "scores.arrow"
        self.layout = layout
        self._writer = pa_ipc.new_file(str(self.path), layout)
        self._scores: list[np.ndarray] = []
        self.rescored = 0

    def append(self, rows: pd.DataFrame) -> None:
        """Add one scored chunk (rank still 0)."""
        table = pa.Table.from_pandas(rows[self.layout.names], schema=self.layout, preserve_index=False)
        self._writer.write_table(table)
        self._scores.append(rows["score"].to_numpy())
        self.rescored += int(rows["previous_score"].notna().sum())

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self._scores)

    def ranked_batches(self, run_id: int) -> Iterator[pa.RecordBatch]:
        """The spilled rows with their run id and rank (1 = best score, ties by lead id), chunk by chunk."""
        self._writer.close()
        with pa.memory_map(str(self.path)) as source:
            reader = pa_ipc.open_file(source)
            table = reader.read_all()  # memory-mapped: the columns are not copied
            ranks = global_ranks(table.column("score"), table.column("lead_id"))
            offset = 0
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield _with_rank(batch, self.layout, run_id, ranks[offset:offset + batch.num_rows])
                offset += batch.num_rows


def global_ranks(scores: pa.ChunkedArray, lead_ids: pa.ChunkedArray) -> np.ndarray:
    """Rank 1 = best score; equal scores (frequent) ordered by lead id, so ranks never depend on read order
    or on how a run was split into partitions."""
    order = pc.sort_indices(pa.table({"score": scores, "lead_id": lead_ids}),
                            sort_keys=[("score", "descending"), ("lead_id", "ascending")]).to_numpy()
    ranks = np.empty(len(order), dtype="int32")
    ranks[order] = np.arange(1, len(order) + 1, dtype="int32")
    return ranks


def _with_rank(batch: pa.RecordBatch, layout: pa.Schema, run_id: int, ranks: np.ndarray) -> pa.RecordBatch:
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns["run_id"] = pa.array(np.full(batch.num_rows, run_id, dtype="int32"))
    columns["rank"] = pa.array(ranks)
    return pa.RecordBatch.from_arrays([columns[name] for name in layout.names], schema=layout)


def write_run(conn: Connection, run_id: int, spill: ScoreSpill) -> None:
    """Write a run's spilled rows once into the history, then make them their leads' current scores, both in
    the caller's transaction (a failure leaves neither table changed)."""
    if store.is_postgres(conn):
        _write_partition(conn, run_id, spill)
        _replace_current_postgres(conn, f"lead_scores_run_{int(run_id)}", spill.layout.names, spill.rows)
    else:
        after = _last_rowid(conn)
        for batch in spill.ranked_batches(run_id):
            store.bulk_insert(conn, "lead_scores", batch.to_pandas())
        _replace_current_sqlite(conn, run_id, after, spill.layout.names, spill.rows)


def _write_partition(conn: Connection, run_id: int, spill: ScoreSpill) -> None:
    part = f"lead_scores_run_{int(run_id)}"
    conn.execute(text(f"CREATE TABLE {part} (LIKE lead_scores INCLUDING DEFAULTS)"))
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {part} ({', '.join(quoted(c) for c in spill.layout.names)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for batch in spill.ranked_batches(run_id):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
            copy.write(buffer.getbuffer())
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    conn.execute(text(f"ALTER TABLE lead_scores ATTACH PARTITION {part} FOR VALUES IN ({int(run_id)})"))


def _replace_current_postgres(conn: Connection, source: str, names: list[str], rows: int) -> None:
    """Each lead's row in current_scores becomes the run's (its partition `source`): an upsert when the run
    replaces a small share of the table, else the table is rebuilt beside the old one and swapped in."""
    if rows < REBUILD_SHARE * _stored_current_rows(conn):
        _upsert_current_postgres(conn, source, names)
    else:
        _rebuild_current_postgres(conn, source, names)


def _stored_current_rows(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM current_scores")).scalar_one())


def _upsert_current_postgres(conn: Connection, source: str, names: list[str]) -> None:
    columns = ", ".join(quoted(c) for c in names)
    updates = ", ".join(f"{quoted(c)} = EXCLUDED.{quoted(c)}" for c in names if c != store.LEAD_ID)
    conn.execute(text(f"INSERT INTO current_scores ({columns}) SELECT {columns} FROM {source} "
                      f"ON CONFLICT ({store.LEAD_ID}) DO UPDATE SET {updates}"))


def _rebuild_current_postgres(conn: Connection, source: str, names: list[str]) -> None:
    """The kept rows and the run's rows into a bare table, its key and indexes built in bulk, then swapped for
    current_scores under the same names (readers wait only for the commit that follows; measured 1M rows: an
    upsert into the indexed table is several times slower)."""
    columns = ", ".join(quoted(c) for c in names)
    conn.execute(text("CREATE TABLE current_scores_next (LIKE current_scores INCLUDING DEFAULTS)"))
    conn.execute(text(f"INSERT INTO current_scores_next ({columns}) SELECT {columns} FROM current_scores c "
                      f"WHERE NOT EXISTS (SELECT 1 FROM {source} r WHERE r.lead_id = c.lead_id)"))
    conn.execute(text(f"INSERT INTO current_scores_next ({columns}) SELECT {columns} FROM {source}"))
    conn.execute(text("ALTER TABLE current_scores_next ADD CONSTRAINT current_scores_next_pkey "
                      f"PRIMARY KEY ({store.LEAD_ID})"))
    indexes = store.schema_tables(store.engine_schema(conn)).current_scores.indexes
    for index in indexes:
        on = ", ".join(quoted(column.name) for column in index.columns)
        conn.execute(text(f"CREATE INDEX {index.name}_next ON current_scores_next ({on})"))
    conn.execute(text("DROP TABLE current_scores"))
    conn.execute(text("ALTER TABLE current_scores_next RENAME TO current_scores"))
    conn.execute(text("ALTER TABLE current_scores RENAME CONSTRAINT current_scores_next_pkey TO current_scores_pkey"))
    for index in indexes:
        conn.execute(text(f"ALTER INDEX {index.name}_next RENAME TO {index.name}"))


def _last_rowid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(MAX(rowid), 0) FROM lead_scores")).scalar_one())


def _replace_current_sqlite(conn: Connection, run_id: int, after: int, names: list[str], rows: int) -> None:
    """The run's history rows (the rowids it just appended) become their leads' current scores, inside SQLite:
    INSERT OR REPLACE for a small run; a run replacing a large share rebuilds the table and swaps it in
    (1M leads rescored under load: 63 s through the replace, each old row deleted from four indexes)."""
    columns = ", ".join(quoted(c) for c in names)
    run_rows = f"SELECT {columns} FROM lead_scores WHERE rowid > :after AND run_id = :run"
    params = {"after": after, "run": run_id}
    if rows < REBUILD_SHARE * _stored_current_rows(conn):
        conn.execute(text(f"INSERT OR REPLACE INTO current_scores ({columns}) {run_rows}"), params)
        return
    table = store.schema_tables(store.engine_schema(conn)).current_scores
    Table("current_scores_next", MetaData(), *store.current_score_columns(store.engine_schema(conn))).create(conn)
    conn.execute(text(f"INSERT INTO current_scores_next ({columns}) SELECT {columns} FROM current_scores c WHERE NOT "
                      "EXISTS (SELECT 1 FROM lead_scores r WHERE r.lead_id = c.lead_id AND r.run_id = :run)"), params)
    conn.execute(text(f"INSERT INTO current_scores_next ({columns}) {run_rows}"), params)
    conn.execute(text("DROP TABLE current_scores"))
    conn.execute(text("ALTER TABLE current_scores_next RENAME TO current_scores"))
    for index in table.indexes:  # built in one sort each (WAL readers keep their snapshot meanwhile)
        index.create(conn)
