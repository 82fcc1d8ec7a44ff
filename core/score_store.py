"""Moving a scoring run's rows: stream leads out, spill scored chunks to disk, write the run in bulk, once.

Reading uses Postgres `COPY (query) TO STDOUT` parsed by Arrow (several times faster than fetching
rows); scored chunks are spilled to an Arrow file so memory stays flat while the run's ranks are
computed from the scores alone. `write_run(conn, run_id, spill)` then writes the run in the caller's
transaction: its rows are appended to the history `lead_scores` (Postgres: a second connection COPYs them into a
bare table with its key while the run's connection writes current_scores, and the run attaches it as its partition;
SQLite: copied from the staged rows), and the same rows become their leads' rows in `current_scores` (one row per
lead), staged by one COPY on Postgres and through a scratch file on SQLite: an upsert /
INSERT OR REPLACE when the run touches a small share of the leads, else the table is rebuilt beside the old
one with its indexes built in bulk, and swapped in under the same names. No old row is ever updated.
"""

from __future__ import annotations

import ctypes
import io
import threading
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from core import store
from core.features import quoted
from core.lead_schema import LeadSchema
from core.sqlite_export import read_in_child, rechunked, rows_as_tables

KNOWN_OUTCOME = "known_outcome_"  # the scoring query's alias of each lead's label (NULL: no outcome yet)
ENCODE_ROWS = 20_000  # rows encoded for COPY at a time (~8 MB of wide score rows)
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
                                     "predicted": pa.int64(), KNOWN_OUTCOME: pa.float64()}
    for column in schema.raw_columns:
        if column.kind in ("number", "flag"):
            types[column.db_name] = pa.float64()
        elif column.kind == "text":
            types[column.db_name] = pa.string()
    types.update({f.key: pa.float64() for f in schema.features if f.type == "sum"})
    return types


def read_lead_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, schema: LeadSchema,
                     time_columns: list[str], read_ahead: bool = False) -> Iterator[pd.DataFrame]:
    """The scoring query's rows in chunks, typed as the schema declares them (see read_chunks)."""
    yield from read_chunks(conn, sql, params, chunk_rows, lead_chunk_types(schema), time_columns, read_ahead)


def read_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, types: dict[str, pa.DataType],
                time_columns: list[str], read_ahead: bool = False) -> Iterator[pd.DataFrame]:
    """The query's rows in chunks (columns of the given types, time_columns parsed as naive UTC): COPY + Arrow on
    Postgres, the driver's cursor on SQLite; read_ahead (a query using no function registered on this connection):
    a SQLite file is read by a child process while the caller works on the previous chunk (core/sqlite_export.py).
    (ADBC's SQLite reader is 3x faster but links a second SQLite library into the process, and two libraries
    holding one database file break each other's POSIX locks: sqlite.org/howtocorrupt.html, 2.2.1.)"""
    if store.is_postgres(conn):
        yield from _copy_out_chunks(conn, sql, params, chunk_rows, types, time_columns)
    elif read_ahead and (database := store.sqlite_file(conn)) is not None:
        for table in read_in_child(database, _literal_sql(conn, sql, params), chunk_rows, types):
            yield _parse_times(table.to_pandas(), time_columns)
    else:
        yield from _cursor_chunks(conn, sql, params, chunk_rows, types, time_columns)


def _literal_sql(conn: Connection, sql: str, params: dict) -> str:
    return str(text(sql).bindparams(**params).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _cursor_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, types: dict[str, pa.DataType],
                   time_columns: list[str]) -> Iterator[pd.DataFrame]:
    """sqlite3's tuples turned into Arrow columns (no SQLAlchemy row objects, no per-row frame building)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        for table in rows_as_tables(cursor, chunk_rows, types):
            yield _parse_times(table.to_pandas(), time_columns)
    finally:
        cursor.close()


def _parse_times(frame: pd.DataFrame, time_columns: list[str]) -> pd.DataFrame:
    """Moments as naive UTC instants (SQLite's text is UTC; Postgres' timestamptz arrives with its offset)."""
    for column in time_columns:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        if frame[column].dt.tz is not None:
            frame[column] = frame[column].dt.tz_convert(None)
    return frame


def _copy_out_chunks(conn: Connection, sql: str, params: dict, chunk_rows: int, types: dict[str, pa.DataType],
                     time_columns: list[str]) -> Iterator[pd.DataFrame]:
    literal = _literal_sql(conn, sql, params)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({literal}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        reader = pa_csv.open_csv(_CopyStream(copy), read_options=pa_csv.ReadOptions(block_size=8 << 20),
                                 convert_options=pa_csv.ConvertOptions(
                                     column_types=types,
                                     strings_can_be_null=True, timestamp_parsers=[pa_csv.ISO8601]))
        for table in rechunked(reader, chunk_rows, reader.schema):
            yield _parse_times(table.to_pandas(), time_columns)


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
    """Scored chunks on disk (Arrow IPC), read back with their ranks when the run is written."""

    def __init__(self, folder: Path, layout: pa.Schema) -> None:
        self.path = folder / "scores.arrow"
        self.layout = layout
        self._writer = pa_ipc.new_file(str(self.path), layout)
        self.rows = 0
        self.rescored = 0
        self.in_key_order = True  # every row's lead id after the previous row's (the usual run: one ingest batch)
        self._last_id: str | None = None
        self._ranks: np.ndarray | None = None

    def append(self, rows: pd.DataFrame) -> None:
        """Add one scored chunk (rank still 0)."""
        table = pa.Table.from_pandas(rows[self.layout.names], schema=self.layout, preserve_index=False)
        self._writer.write_table(table)
        self.rows += len(rows)
        self.rescored += int(rows["previous_score"].notna().sum())
        self._note_key_order(table.column("lead_id"))

    def _note_key_order(self, lead_ids: pa.ChunkedArray) -> None:
        if not self.in_key_order or not len(lead_ids):
            return
        ids = lead_ids.combine_chunks()
        ascending = len(ids) < 2 or pc.all(pc.less(ids[:-1], ids[1:])).as_py()
        self.in_key_order = ascending and (self._last_id is None or self._last_id < ids[0].as_py())
        self._last_id = ids[-1].as_py()

    def ranks(self) -> np.ndarray:
        """Each spilled row's rank in the run (1 = best score, ties by lead id), computed once."""
        if self._ranks is None:
            self._writer.close()
            self._ranks = ranks_of_files([self.path], self.in_key_order)
        return self._ranks

    def ranked_batches(self, run_id: int) -> Iterator[pa.RecordBatch]:
        """The spilled rows with their run id and rank, chunk by chunk."""
        yield from ranked_file_batches([self.path], self.layout, run_id, self.ranks())


def ranked_file_batches(paths: list[Path], layout: pa.Schema, run_id: int,
                        ranks: np.ndarray) -> Iterator[pa.RecordBatch]:
    """The rows of Arrow files with the run id and their rank over all files (ranks_of_files), one batch at a time
    (a memory-mapped read of every column would keep the whole run resident: 2.5 GB at 10M leads)."""
    offset = 0
    for path in paths:
        with pa.OSFile(str(path)) as source:
            reader = pa_ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield _with_rank(batch, layout, run_id, ranks[offset:offset + batch.num_rows])
                offset += batch.num_rows


def release_freed_memory() -> None:
    """Hand freed memory back to the system: Arrow's pool and glibc's heap both keep what a run's chunks freed
    (measured at 3M leads: 320 MB resident after scoring, on top of which the ranks and the write came)."""
    pa.default_memory_pool().release_unused()
    with suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def ranks_of_files(paths: list[Path], in_key_order: bool = False) -> np.ndarray:
    """Each row's rank over all files (1 = best score, ties by lead id). Memory stays flat whatever the run's size:
    the scoring's freed heap is handed back first, and only the files' score and lead-id columns are read, in place
    (memory-mapped, not copied); only the scores when the rows are in ascending lead-id order (a stable sort of the
    scores then keeps equal scores in row order, which is lead-id order: the same ranks as global_ranks without
    sorting any lead id)."""
    release_freed_memory()
    with ExitStack() as maps:
        tables = [pa_ipc.open_file(maps.enter_context(pa.memory_map(str(path)))).read_all() for path in paths]
        scores = pa.chunked_array([chunk for table in tables for chunk in table.column("score").chunks], pa.float64())
        if in_key_order:
            return _ranks_of_order(np.argsort(-scores.to_numpy(), kind="stable"))
        lead_ids = [chunk for table in tables for chunk in table.column("lead_id").chunks]
        return global_ranks(scores, pa.chunked_array(lead_ids, pa.string()))


def _ranks_of_order(order: np.ndarray) -> np.ndarray:
    """Rank (1 = first) of each row, given the rows' positions in rank order."""
    ranks = np.empty(len(order), dtype="int32")
    ranks[order] = np.arange(1, len(order) + 1, dtype="int32")
    return ranks


def global_ranks(scores: pa.ChunkedArray, lead_ids: pa.ChunkedArray) -> np.ndarray:
    """Rank 1 = best score; equal scores (frequent) ordered by lead id, so ranks never depend on read order
    or on how a run was split into partitions."""
    order = pc.sort_indices(pa.table({"score": scores, "lead_id": lead_ids}),
                            sort_keys=[("score", "descending"), ("lead_id", "ascending")]).to_numpy()
    return _ranks_of_order(order)


def _with_rank(batch: pa.RecordBatch, layout: pa.Schema, run_id: int, ranks: np.ndarray) -> pa.RecordBatch:
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns["run_id"] = pa.array(np.full(batch.num_rows, run_id, dtype="int32"))
    columns["rank"] = pa.array(ranks)
    return pa.RecordBatch.from_arrays([columns[name] for name in layout.names], schema=layout)


HISTORY_COLUMNS = ("lead_id", "run_id", "model_version", "score", "grade", "rank", "predicted", "previous_score",
                   "trend", "created_date", "scored_at")  # what the history keeps of each score


def write_run(conn: Connection, run_id: int, spill: ScoreSpill) -> None:
    """Write a run's spilled rows once, in the caller's transaction (a failure leaves every table unchanged):
    loaded wide into a staging table (the next current_scores when the run replaces a large share of it, else a
    temporary table) that becomes its leads' current scores, and the history's columns appended to lead_scores
    (on Postgres written aside at the same time: HistoryAside). Reasons and copied columns live in current_scores
    only; a history row keeps the score, grade, rank and trend of its run (rows of runs from before this layout
    keep theirs too)."""
    stored = _stored_current_rows(conn)
    rebuild = spill.rows >= REBUILD_SHARE * stored
    staging = _create_staging(conn, rebuild)
    if store.is_postgres(conn):
        _write_postgres(conn, run_id, spill, staging, rebuild, stored)
        return
    _load_staging(conn, staging, spill, run_id)
    _append_history(conn, run_id, staging)
    _make_current(conn, staging, spill, rebuild, stored)


def _write_postgres(conn: Connection, run_id: int, spill: ScoreSpill, staging: str, rebuild: bool,
                    stored: int) -> None:
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))  # the key and index builds sort in memory
    drop_unattached_history(conn)
    spill.ranks()  # once, before both connections read the ranked rows
    history = HistoryAside(conn, run_id, spill)
    try:
        _load_staging(conn, staging, spill, run_id)
        _make_current(conn, staging, spill, rebuild, stored)
        history.attach(conn)
    finally:
        history.discard()


def _make_current(conn: Connection, staging: str, spill: ScoreSpill, rebuild: bool, stored: int) -> None:
    """The staged rows become their leads' current scores."""
    names = spill.layout.names
    if rebuild:
        # a run that rescored every lead holding a current score (a rescore of all) leaves none to carry over
        _swap_in_current(conn, staging, names, carry_over=spill.rescored < stored)
    else:
        _upsert_current(conn, staging, names)


class HistoryAside:
    """Postgres: the run's history partition written by a second connection while the run's own connection writes
    current_scores, so the server works on both at once (1M leads: the run ~1-2 s shorter on 2 cores): a bare table
    with its key, committed on its own but in no query's reach until the run's transaction attaches it. A run that
    fails drops it (discard); a killed one leaves it unattached and the next run drops it (drop_unattached_history)."""

    def __init__(self, conn: Connection, run_id: int, spill: ScoreSpill) -> None:
        self.engine, self.run_id = conn.engine, int(run_id)
        self.part = f"{HISTORY_PART_PREFIX}{self.run_id}"
        self.attached = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, args=(spill,), name="leadscore-history", daemon=True)
        self._thread.start()

    def _write(self, spill: ScoreSpill) -> None:
        try:
            with self.engine.connect() as conn, conn.begin():
                conn.execute(text("SET LOCAL lock_timeout = '60s'"))  # never waits forever on the run's own locks
                conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
                conn.execute(text(f"CREATE TABLE {self.part} (LIKE lead_scores INCLUDING DEFAULTS, "
                                  f"CONSTRAINT {self.part}_run CHECK (run_id = {self.run_id}))"))  # ATTACH scans nothing
                layout = pa.schema([spill.layout.field(c) for c in HISTORY_COLUMNS])
                _copy_batches(conn, self.part, layout,
                              (b.select(list(HISTORY_COLUMNS)) for b in spill.ranked_batches(self.run_id)))
                conn.execute(text(f"ALTER TABLE {self.part} ADD CONSTRAINT {self.part}_pkey "
                                  f"PRIMARY KEY ({store.LEAD_ID}, run_id)"))  # the key ATTACH would build
        except BaseException as error:  # noqa: BLE001 - raised in the run's thread by attach
            self._error = error

    def attach(self, conn: Connection) -> None:
        """Wait for the partition, then make it the run's part of lead_scores in the run's transaction."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        conn.execute(text(f"ALTER TABLE lead_scores ATTACH PARTITION {self.part} FOR VALUES IN ({self.run_id})"))
        self.attached = True

    def discard(self) -> None:
        """After a failed run: its partition, if written, is dropped (if the database cannot be reached now, the next
        run drops it)."""
        self._thread.join()
        if self.attached:
            return
        with suppress(SQLAlchemyError), self.engine.connect() as conn, conn.begin():
            conn.execute(text(f"DROP TABLE IF EXISTS {self.part}"))


HISTORY_PART_PREFIX = "lead_scores_run_"


def drop_unattached_history(conn: Connection) -> None:
    """Postgres, under the run lock: history partitions left unattached by a run killed before its commit."""
    rows = conn.execute(text("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition "
                             "AND c.relname LIKE :prefix"), {"prefix": HISTORY_PART_PREFIX.replace("_", r"\_") + "%"})
    for (name,) in rows.all():
        conn.execute(text(f'DROP TABLE "{name}"'))


def _stored_current_rows(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM current_scores")).scalar_one())


def _create_staging(conn: Connection, rebuild: bool) -> str:
    """current_scores_next (no secondary index yet) for a rebuild, else a temporary table dropped at commit."""
    if store.is_postgres(conn):
        if rebuild:
            conn.execute(text("CREATE TABLE current_scores_next (LIKE current_scores INCLUDING DEFAULTS)"))
            return "current_scores_next"
        conn.execute(text("CREATE TEMP TABLE run_scores (LIKE current_scores INCLUDING DEFAULTS) ON COMMIT DROP"))
        return "run_scores"
    schema = store.engine_schema(conn)
    if rebuild:
        Table("current_scores_next", MetaData(), *store.current_score_columns(schema)).create(conn)
        return "current_scores_next"
    Table("run_scores", MetaData(), *store.current_score_columns(schema), prefixes=["TEMPORARY"]).create(conn)
    return "run_scores"  # SQLite finds a temporary table first


def _load_staging(conn: Connection, staging: str, spill: ScoreSpill, run_id: int) -> None:
    """The run's rows with their ranks: one COPY on Postgres; on SQLite through a scratch database file."""
    if store.is_postgres(conn):
        _copy_batches(conn, staging, spill.layout, spill.ranked_batches(run_id))
    else:
        _stage_through_file(conn, staging, spill, run_id)


def _stage_through_file(conn: Connection, staging: str, spill: ScoreSpill, run_id: int) -> None:
    """SQLite: the run's rows written by ADBC into scratch database files (1M rows in ~2 s of CPU against ~7 s
    through Python's prepared inserts), attached and copied from inside the run's transaction in parts, each
    copied while the next is written, in lead-id order (the staging table's key takes rows in its order 2-3x
    faster: 1M shuffled rows 6.5 s, sorted first 2.9 s)."""
    ready = _sqlite_layout(spill.layout)
    rows = (_sqlite_values(batch, ready) for batch in spill.ranked_batches(run_id))  # made on the writing thread
    columns = ", ".join(quoted(c) for c in spill.layout.names)
    order = "" if spill.in_key_order else f" ORDER BY {store.LEAD_ID}"
    part_rows = max(store.SCRATCH_PART_ROWS, -(-spill.rows // store.MAX_SCRATCH_PARTS))
    for scratch in store.attach_scratch_parts(conn, "run_rows", ready, rows, part_rows):
        conn.execute(text(f"INSERT INTO {staging} ({columns}) SELECT {columns} FROM {scratch}.run_rows{order}"))


def _sqlite_layout(layout: pa.Schema) -> pa.Schema:
    """Timestamps become SQLAlchemy's SQLite text ('YYYY-MM-DD HH:MM:SS.ffffff'), everything else stays."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in layout])


def _sqlite_values(batch: pa.RecordBatch, ready: pa.Schema) -> pa.RecordBatch:
    columns = [pc.cast(pc.cast(column, pa.timestamp("us")), pa.string()) if pa.types.is_timestamp(column.type)
               else column for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=ready)


def _copy_batches(conn: Connection, table: str, layout: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """The batches in Postgres' binary COPY format, encoded from the Arrow columns by pgpq: the server reads
    values instead of parsing text (1M wide score rows: 1.6 s against 3.5 s as CSV, a third of the client CPU).
    The layout's types are the table's (int32 -> integer, int16 -> smallint, float64 -> double precision,
    string -> text / varchar, UTC timestamp -> timestamptz): binary values are not converted by the server."""
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(layout)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({', '.join(quoted(c) for c in layout.names)}) FROM STDIN WITH (FORMAT binary)",
                        writer=store.queued_copy_writer(cursor)) as copy:
        copy.write(encoder.write_header())
        for batch in batches:
            for start in range(0, batch.num_rows, ENCODE_ROWS):  # a few MB at a time, queued without a copy
                copy.write(memoryview(encoder.write_batch(batch.slice(start, ENCODE_ROWS))))
        copy.write(encoder.finish())


def _append_history(conn: Connection, run_id: int, staging: str) -> None:
    """SQLite: the staged rows' history columns appended to lead_scores (Postgres writes them aside: HistoryAside)."""
    columns = ", ".join(quoted(c) for c in HISTORY_COLUMNS)
    conn.execute(text(f"INSERT INTO lead_scores ({columns}) SELECT {columns} FROM {staging}"))


def _upsert_current(conn: Connection, staging: str, names: list[str]) -> None:
    """A run replacing a small share of current_scores: each staged row replaces its lead's row."""
    columns = ", ".join(quoted(c) for c in names)
    if store.is_postgres(conn):
        updates = ", ".join(f"{quoted(c)} = EXCLUDED.{quoted(c)}" for c in names if c != store.LEAD_ID)
        conn.execute(text(f"INSERT INTO current_scores ({columns}) SELECT {columns} FROM {staging} "
                          f"ON CONFLICT ({store.LEAD_ID}) DO UPDATE SET {updates}"))
    else:
        conn.execute(text(f"INSERT OR REPLACE INTO current_scores ({columns}) SELECT {columns} FROM {staging}"))
        conn.execute(text(f"DROP TABLE {staging}"))


def _swap_in_current(conn: Connection, staging: str, names: list[str], carry_over: bool) -> None:
    """current_scores_next holds the run's rows: the leads the run did not score keep their rows, the key and
    indexes are built in one sort each, and the table is swapped in under the same names (readers wait only for
    the commit; measured 1M rows: an upsert into the indexed table is several times slower)."""
    columns = ", ".join(quoted(c) for c in names)
    if carry_over:
        conn.execute(text(f"INSERT INTO {staging} ({columns}) SELECT {columns} FROM current_scores c "
                          f"WHERE NOT EXISTS (SELECT 1 FROM {staging} r WHERE r.lead_id = c.lead_id)"))
    indexes = store.current_score_indexes(conn, store.engine_schema(conn))
    if store.is_postgres(conn):
        _swap_in_postgres(conn, staging, indexes)
        return
    conn.execute(text("DROP TABLE current_scores"))
    conn.execute(text(f"ALTER TABLE {staging} RENAME TO current_scores"))
    for index in indexes:  # built in one sort each (WAL readers keep their snapshot meanwhile)
        index.create(conn)


def _swap_in_postgres(conn: Connection, staging: str, indexes) -> None:
    conn.execute(text(f"ALTER TABLE {staging} ADD CONSTRAINT {staging}_pkey PRIMARY KEY ({store.LEAD_ID})"))
    for index in indexes:
        on = ", ".join(quoted(column.name) for column in index.columns)
        where = index.dialect_options["postgresql"].get("where")  # a partial index stays partial
        conn.execute(text(f"CREATE INDEX {index.name}_next ON {staging} ({on})" + (f" WHERE {where}" if where is not None else "")))
    conn.execute(text("DROP TABLE current_scores"))
    conn.execute(text(f"ALTER TABLE {staging} RENAME TO current_scores"))
    conn.execute(text(f"ALTER TABLE current_scores RENAME CONSTRAINT {staging}_pkey TO current_scores_pkey"))
    for index in indexes:
        conn.execute(text(f"ALTER INDEX {index.name}_next RENAME TO {index.name}"))
