"""SQLAlchemy engine, the one definition of the tables, and bulk reads/writes for SQLite and Postgres.

Every stored moment is UTC (core/clock.py): `UtcDateTime` columns are `timestamptz` on Postgres, whose sessions
run with TimeZone UTC, and the naive text of the UTC instant on SQLite."""

from __future__ import annotations

import io
import os
import queue
import sqlite3
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, count
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from core.clock import UtcDateTime, as_utc_instants, postgres_session_options, utc_now
from core.errors import BadInputError
from core.lead_schema import LeadSchema, load_schema
from core.migrate import upgrade_database

LEAD_ID = "lead_id"
LOCK_NOT_AVAILABLE = "55P03"  # Postgres: a NOWAIT lock is held by another session
LARGE_BATCH_ROWS = 50_000  # from this many rows, bulk_load splits narrow and wide rows (SQLite: via a scratch file)
SCRATCH_NAME, SCRATCH_KEY = "scratch", "leadscore_scratch_database"  # SQLite: the attached scratch file
SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default
CHECKPOINT_ASIDE_BYTES = 64 << 20  # a write-ahead log this large after a commit is checkpointed on a thread
SQLITE_PAGE_BYTES = 8192  # new databases: a 1M-lead run's current scores written and indexed 14% faster than 4096
NEW_LEAD = text("previous_score IS NULL")  # a current score that is the lead's first
LIST_INDEX = "ix_current_scores_list"  # SQLite: the lead list's filter columns, grade, score, created time, lead id


class SchemaMismatchError(BadInputError):
    """The database was written under another lead schema."""


metadata = MetaData()  # the tables every schema shares; leads and lead_scores come from the lead schema

ingest_batches = Table(
    "ingest_batches", metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("file_name", Text, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("rows_in", Integer, nullable=False),
    Column("loaded", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("labels_recorded", Integer, nullable=False, default=0),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

rejected_leads = Table(
    "rejected_leads", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("batch_id", Integer, ForeignKey("ingest_batches.batch_id"), nullable=False),
    Column("row_number", Integer),
    Column("raw_row", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_rejected_leads_batch_id", "batch_id"),
)

scoring_runs = Table(
    "scoring_runs", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("status", String(16), nullable=False),
    Column("leads_scored", Integer, nullable=False, default=0),
    Column("duration_s", Float),
    Column("error", Text),
)

model_versions = Table(
    "model_versions", metadata,
    Column("model_name", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("mlflow_run_id", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("is_champion", Boolean, nullable=False),
    Column("promoted", Boolean, nullable=False),
    Column("decision_reason", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),  # holdout metrics, refit figures, row counts, window
    Column("threshold", Float, nullable=False),
    Column("grade_cutoffs_json", Text, nullable=False),
    Column("curves_json", Text),  # ROC / PR / calibration points, confusion matrix
    Column("feature_importance_json", Text),
)

drift_reports = Table(
    "drift_reports", metadata,
    Column("run_id", Integer, ForeignKey("scoring_runs.run_id"), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rows_current", Integer, nullable=False),
    Column("rows_reference", Integer, nullable=False),
    Column("share_drifted_columns", Float, nullable=False),
    Column("dataset_drift", Boolean, nullable=False),
    Column("predicted_positive_share", Float),
    Column("reference_positive_share", Float),
    Column("column_scores", Text, nullable=False),
    Column("snapshot_json", Text, nullable=False),
)

# every outcome that arrived for a stored lead, kept with when it arrived (a changed label adds a row)
lead_outcomes = Table(
    "lead_outcomes", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("lead_id", String(64), nullable=False),
    Column("label", SmallInteger, nullable=False),
    Column("batch_id", Integer, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index("ix_lead_outcomes_lead_id", "lead_id"),
)

# each evaluation appends one row per model version and period (overall, and each week of lead creation)
live_performance = Table(
    "live_performance", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("computed_at", UtcDateTime(), nullable=False),
    Column("model_version", Text, nullable=False),
    Column("period", String(16), nullable=False),  # "all" or the Monday of the creation week
    Column("period_start", Text),
    Column("period_end", Text),
    Column("n_labelled", Integer, nullable=False),
    Column("n_positive", Integer, nullable=False),
    Column("needed", Integer, nullable=False),  # outcomes still missing before figures are shown
    Column("auc", Float),
    Column("pr_auc", Float),
    Column("precision", Float),
    Column("recall", Float),
    Column("threshold", Float),
    Column("completion_by_grade", Text),  # JSON {grade: share completed}
    Column("calibration", Text),  # JSON {predicted: [...], observed: [...], leads: [...]}
    Column("excluded_never_scored", Integer),
    Column("excluded_scored_after_outcome", Integer),
    Column("snapshot_json", Text),  # Evidently classification report (overall rows with figures)
    Index("ix_live_performance_computed", "computed_at"),
)

retrain_decisions = Table(
    "retrain_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("champion_version", Text),
    Column("retrain", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("outcome", Text),  # what the retraining did (new version promoted or not, and why)
)

schema_info = Table(
    "schema_info", metadata,
    Column("id", Integer, primary_key=True),  # one row: the lead schema this database was written under
    Column("name", Text, nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

run_lock = Table(
    "run_lock", metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", Text),
    Column("acquired_at", UtcDateTime()),
)

# the Leads and Channels pages' sums over the current scores, computed once per scoring run (core/score_aggregates.py)
score_aggregate_runs = Table(
    "score_aggregate_runs", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),  # the latest succeeded scoring run when they were computed
    Column("time_zone", Text, nullable=False),  # the business zone whose days bucket the rows
    Column("last_batch_id", Integer, nullable=False),  # the newest ingest batch then stored (0: none)
    Column("computed_at", UtcDateTime(), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("duration_s", Float),
)

score_aggregates = Table(
    "score_aggregates", metadata,
    Column("run_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # grade_band, channel, live_band, pick, low, high
    Column("dimension", Text),  # the channel or list column (feature key) of channel / pick / low / high rows
    Column("value_text", Text),
    Column("value_number", Float),
    Column("day", Date),  # the business day of the leads' creation
    Column("grade", String(1)),
    Column("band", SmallInteger),
    Column("leads", BigInteger, nullable=False),
    Column("score_sum", Float),
    Column("with_outcome", BigInteger, nullable=False),
    Column("completed", BigInteger, nullable=False),
    Index("ix_score_aggregates_kind_day", "kind", "dimension", "day"),
)


SCHEMA_TABLES: dict[str, SchemaTables] = {}
ENGINE_SCHEMAS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> its lead schema


@dataclass(frozen=True)
class SchemaTables:
    """The tables whose columns follow the lead schema (one database serves one schema)."""

    metadata: MetaData
    leads: Table
    lead_scores: Table  # history: every run's scores
    current_scores: Table  # each lead's latest score
    lead_labels_stage: Table  # the narrow staging table an ingest uses to find stored leads and late labels


def schema_tables(schema: LeadSchema) -> SchemaTables:
    """The lead schema's tables, built once per schema fingerprint."""
    if schema.fingerprint not in SCHEMA_TABLES:
        SCHEMA_TABLES[schema.fingerprint] = _build_schema_tables(schema)
    return SCHEMA_TABLES[schema.fingerprint]


def _raw_sql_type(kind: str):
    return {"datetime": UtcDateTime, "number": Float, "flag": Float}.get(kind, Text)


def _build_schema_tables(schema: LeadSchema) -> SchemaTables:
    meta = MetaData()
    label = schema.label.db_name
    leads_table = Table(
        "leads", meta,
        Column(LEAD_ID, String(64), primary_key=True),
        Column("batch_id", Integer, nullable=False),
        Column("row_number", Integer),
        *[Column(c.db_name, _raw_sql_type(c.kind), nullable=not (c.kind == "datetime" and c.required))
          for c in schema.raw_columns],
        Column(label, SmallInteger),
        Column("label_batch_id", Integer),
        Column("label_recorded_at", UtcDateTime()),
        Index("ix_leads_batch_id", "batch_id"),
        *([Index("ix_leads_created_date", schema.raw(schema.created_column).db_name)] if schema.created_column else []),
    )
    stage = Table("lead_labels_stage", MetaData(), Column(LEAD_ID, String(64)), Column(label, SmallInteger))
    return SchemaTables(meta, leads_table, _scores_table(meta, schema), _current_scores_table(meta, schema), stage)


def score_columns(schema: LeadSchema) -> list[Column]:
    """The columns a score row has, in history and in the current table alike (fresh objects per table).
    `created_date` is the lead's creation time, or its ingest time when the schema declares none."""
    copied = [Column(f.key, Float if f.numeric else Text) for f in schema.score_copy_features()]
    return [
        Column("model_version", Text, nullable=False),
        Column("score", Float, nullable=False),
        Column("grade", String(1), nullable=False),
        Column("rank", Integer, nullable=False),
        Column("predicted", SmallInteger, nullable=False),
        Column("previous_score", Float),
        Column("trend", String(10)),
        Column("reasons_positive", Text),  # JSON array of sentences, strongest first
        Column("reasons_negative", Text),  # JSON array of sentences, strongest first
        Column("created_date", UtcDateTime(), nullable=False),
        *copied,  # the schema's channels and list columns, so the rep's list is one indexed table
        Column("scored_at", UtcDateTime(), nullable=False),
    ]


def _scores_table(meta: MetaData, schema: LeadSchema) -> Table:
    """The append-only history: every score of every run, written once. On Postgres each run is its own
    partition: the run is COPY'd into a bare table whose key index is then built in bulk when it is attached."""
    return Table(
        "lead_scores", meta,
        Column(LEAD_ID, String(64), primary_key=True),  # the key also serves lookups by lead
        Column("run_id", Integer, primary_key=True),
        *score_columns(schema),
        postgresql_partition_by="LIST (run_id)",
    )


def current_score_columns(schema: LeadSchema) -> list[Column]:
    """current_scores' columns (fresh objects): the lead is the key, its latest run one column."""
    return [Column(LEAD_ID, String(64), primary_key=True), Column("run_id", Integer, nullable=False),
            *score_columns(schema)]


def _current_scores_table(meta: MetaData, schema: LeadSchema) -> Table:
    """Each lead's latest score, one row per lead, replaced by the run that scores the lead again: what the
    lead list and the channel pages read, with the indexes their sorts and filters walk."""
    return Table(
        "current_scores", meta,
        *current_score_columns(schema),
        Index("ix_current_scores_score", "score"),
        Index("ix_current_scores_created", "created_date"),
        # the dashboard's grade filter: each grade's leads in score order, and per-grade counts from the index alone
        Index("ix_current_scores_grade_score", "grade", "score"),
        # "new since yesterday": leads scored for the first time, by when (a small share of the leads; revision 0006)
        Index("ix_current_scores_new", "scored_at", sqlite_where=NEW_LEAD, postgresql_where=NEW_LEAD),
        list_columns_index(schema),
    )


def list_columns_index(schema: LeadSchema) -> Index:
    """SQLite: the lead list's filter columns (the schema's channels and list columns), grade, score, created time
    and lead id in one narrow index (revision 0006). A filtered page is found in it alone (filter and order) instead
    of in the wide rows (their reasons), and then only the page's rows are read."""
    keys = dict.fromkeys(f.key for f in schema.score_copy_features())
    return Index(LIST_INDEX, *keys, "grade", "score", "created_date", LEAD_ID).ddl_if(dialect="sqlite")


def current_score_indexes(conn: Connection, schema: LeadSchema) -> list[Index]:
    """current_scores' secondary indexes on this connection's database (the narrow list index is SQLite's only:
    Postgres filters by channel without it). Each one is rebuilt by a run that replaces the table (1M leads: ~0.7-2 s
    of the run each), so an index belongs here only when the lead list needs it to stay within 200 ms: one
    (channel, score) index per channel on Postgres took 3 channels from ~200 to ~35 ms but cost the nightly run
    ~6 s, more than its whole margin, and is not kept."""
    table = schema_tables(schema).current_scores
    return [index for index in table.indexes if index.name != LIST_INDEX or not is_postgres(conn)]


def make_engine(url: str, schema: LeadSchema | None = None) -> Engine:
    """An engine for the URL with the database migrated to the newest revision (core/migrate.py), the tables
    of a new database created for the lead schema (LEADSCORE_SCHEMA, else CodePro); a database written under
    another schema is refused. SQLite gets WAL mode and a busy timeout; Postgres sessions run in UTC."""
    schema = schema or load_schema(os.environ.get("LEADSCORE_SCHEMA") or None)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args=postgres_session_options())
    upgrade_database(engine, schema)  # Postgres: lead_scores is partitioned, with a default partition
    _record_or_check_schema(engine, schema)  # revision 0002 recorded the schema of the database
    ENGINE_SCHEMAS[engine] = schema
    return engine


def engine_schema(engine: Engine | Connection) -> LeadSchema:
    """The lead schema an engine was opened with."""
    target = engine.engine if isinstance(engine, Connection) else engine
    return ENGINE_SCHEMAS.get(target) or load_schema(os.environ.get("LEADSCORE_SCHEMA") or None)


def _record_or_check_schema(engine: Engine, schema: LeadSchema) -> None:
    """Refuse another schema's database. Revision 0002 records the schema (CodePro for a database of the release
    before schemas, see core.migrate.stored_schema), so a missing row is only recorded here as a safeguard."""
    with engine.begin() as conn:
        row = conn.execute(select(schema_info.c.name, schema_info.c.fingerprint)).first()
        if row is None:
            conn.execute(insert(schema_info).values(id=1, name=schema.name, fingerprint=schema.fingerprint,
                                                    source_text=schema.source_text, recorded_at=utc_now()))
            return
        if row.fingerprint != schema.fingerprint:
            raise SchemaMismatchError(f"the database holds leads of schema {row.name!r}; schema {schema.name!r} "
                                      "(LEADSCORE_SCHEMA) does not match it: use another database")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")  # takes effect on a new database only (before WAL mode)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # the log file is cut back when it restarts (else it keeps its largest size: checkpoint_aside reads its size as
    # the last commit's log, and a 10M run would hold ~6.6 GB of disk until the last connection closes)
    cursor.execute(f"PRAGMA journal_size_limit={CHECKPOINT_ASIDE_BYTES // 2}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA threads={min(os.cpu_count() or 1, 4)}")  # sorts (index builds) on helper threads: 1M rows
    # x 6 indexes 5.3 -> 4.1 s on 2 cores
    cursor.close()


def is_postgres(conn: Connection | Engine) -> bool:
    """True when the connection talks to Postgres (COPY is available)."""
    return conn.dialect.name == "postgresql"


@contextmanager
def staging_table(conn: Connection, like: Table, name: str) -> Iterator[str]:
    """A temporary table with the columns of `like`, dropped after success (a rollback discards it on Postgres)."""
    temporary = Table(f"{name}_{uuid.uuid4().hex[:10]}", MetaData(),
                      *[Column(c.name, c.type) for c in like.columns], prefixes=["TEMPORARY"])
    temporary.create(conn)
    yield temporary.name
    temporary.drop(conn)


def bulk_insert(conn: Connection, table_name: str, frame: pd.DataFrame, order: np.ndarray | None = None) -> None:
    """Append a frame to a table: COPY on Postgres, batched executemany on SQLite. With `order` (row
    positions), only those rows are written, in that order, one slice at a time (no full reordered copy)."""
    if frame.empty or (order is not None and len(order) == 0):
        return
    if is_postgres(conn):
        _copy_into_postgres(conn, table_name, frame, order)
    else:
        _executemany_into_sqlite(conn, table_name, frame, order)


def bulk_load(conn: Connection, table_name: str, frame: pd.DataFrame, order: np.ndarray | None = None) -> None:
    """bulk_insert for a large batch (from LARGE_BATCH_ROWS rows). As in _executemany_into_sqlite, the rows whose
    sparse columns are all empty (nearly every CodePro lead) are written without those columns, which take their
    NULL default: a narrow part, then a wide one for the other rows, order kept within each. Postgres: a COPY per
    part (1M CodePro leads: a third less CSV to make and ~10% less for the server to parse). SQLite: ADBC writes
    the parts into a scratch database file (values bound in C: 1M leads in ~1 s of CPU against ~5.5 s through
    Python's prepared inserts) which the caller's connection attaches and copies from inside its transaction;
    the caller lets the connection go through `write_transaction`, which detaches the file once the transaction
    has ended."""
    rows = len(frame) if order is None else len(order)
    if rows < LARGE_BATCH_ROWS:
        bulk_insert(conn, table_name, frame, order)
        return
    table = pa.Table.from_pandas(frame, preserve_index=False)
    order = np.arange(len(frame)) if order is None else order
    sparse = _sparse_null_default_columns(conn, table_name, table)
    narrow = _all_null(table, sparse)[order]
    parts = [(table.drop_columns(sparse), order[narrow]), (table, order[~narrow])]
    parts = [(columns, positions) for columns, positions in parts if len(positions)]
    if is_postgres(conn):
        for columns, positions in parts:
            _copy_into_postgres(conn, table_name, columns, positions)
    else:
        _load_through_scratch_file(conn, table_name, parts)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction on one connection; afterwards (committed or rolled back) the connection detaches the
    scratch file a bulk_load attached, before it goes back to the pool. On a SQLite file the commit does not copy
    the log into the database itself: a large log is checkpointed by a background thread (see checkpoint_aside)."""
    with engine.connect() as conn:
        database = sqlite_file(conn)
        if database is not None:
            _set_autocheckpoint(conn, 0)
        try:
            with conn.begin():
                yield conn
        finally:
            detach_scratch(conn)
            if database is not None:
                _set_autocheckpoint(conn, SQLITE_AUTOCHECKPOINT_PAGES)
                checkpoint_aside(conn, database)


_CHECKPOINTS: list[threading.Thread] = []


def _set_autocheckpoint(conn: Connection, pages: int) -> None:
    """Per connection, on the driver's connection (SQLAlchemy would open a transaction around the PRAGMA)."""
    with suppress(sqlite3.Error):  # never in place of the transaction's own error
        conn.connection.driver_connection.execute(f"PRAGMA wal_autocheckpoint = {pages}")


def checkpoint_aside(conn: Connection, database: Path) -> None:
    """Copy the committed write-ahead log into the database file. A large one (a 1M-lead run leaves ~660 MB: ~2 s
    inside its commit) is copied by a thread on its own connection while the caller goes on (the nightly flow's
    aggregates and drift report read meanwhile; readers and writers never wait on a PASSIVE checkpoint); the
    process waits for it before exiting (not a daemon). A checkpoint cut short loses nothing: the log stays and
    the next commit or close copies it. As for any SQLite database in WAL mode, copy the file only when no process
    has it open (in this process: after wait_for_checkpoints); a database removed meanwhile is not recreated."""
    wal = database.with_name(database.name + "-wal")
    if not wal.exists() or wal.stat().st_size < CHECKPOINT_ASIDE_BYTES:
        with suppress(sqlite3.Error):
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return
    thread = threading.Thread(target=_checkpoint_file, args=(database,), name="leadscore-checkpoint")
    _CHECKPOINTS[:] = [*(t for t in _CHECKPOINTS if t.is_alive()), thread]
    thread.start()


def _checkpoint_file(database: Path) -> None:
    with suppress(sqlite3.Error), closing(sqlite3.connect(f"{database.as_uri()}?mode=rw", uri=True, timeout=60)) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def wait_for_checkpoints() -> int:
    """Join the background checkpoints started so far (benchmarks and tests); how many there were."""
    joined = 0
    while _CHECKPOINTS:
        _CHECKPOINTS.pop().join()
        joined += 1
    return joined


def sqlite_file(conn: Connection) -> Path | None:
    """The SQLite database's file (None on Postgres and in memory: no other connection could open it)."""
    name = conn.engine.url.database
    if is_postgres(conn) or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve()


def detach_scratch(conn: Connection) -> None:
    """Detach the scratch files a bulk load attached (SQLite refuses while the transaction that read them is open)."""
    for name in conn.info.pop(SCRATCH_KEY, []):
        conn.execute(text(f"DETACH DATABASE {name}"))


def _load_through_scratch_file(conn: Connection, table_name: str, parts: list[tuple[pa.Table, np.ndarray]],
                               slice_rows: int = 100_000) -> None:
    """Each part (its columns, the positions of its rows) written by ADBC into scratch files and copied from them in
    row parts, each copied while the next is written (attach_scratch_parts; 1M leads: the load ~2 s shorter than
    writing the whole file first). Every part's files stay attached until the transaction ends (write_transaction),
    so the parts share MAX_SCRATCH_PARTS."""
    detach_scratch(conn)  # a leftover of a failed write, not in use by this transaction
    share = max(1, MAX_SCRATCH_PARTS // len(parts))
    for number, (columns, positions) in enumerate(parts):
        batches = (_sqlite_ready(batch) for batch in _arrow_slices(columns, positions, slice_rows))
        first = next(batches)  # a part is never empty
        names = ", ".join(f'"{column}"' for column in columns.column_names)
        part_rows = max(SCRATCH_PART_ROWS, -(-len(positions) // share))
        for scratch in _scratch_parts(conn, f"part_{number}", first.schema, chain([first], batches), part_rows):
            conn.execute(text(f'INSERT INTO "{table_name}" ({names}) SELECT {names} FROM {scratch}.part_{number}'))


SCRATCH_PART_ROWS = 200_000  # rows per scratch file: 1M rows copied in 5 parts, 4 of them while the next is written


def _write_scratch_file(path: Path, tables: dict[str, pa.RecordBatchReader]) -> None:
    import adbc_driver_sqlite.dbapi as adbc  # the SQLite Arrow driver, only where a large SQLite write needs it

    with closing(adbc.connect(str(path))) as scratch:
        with closing(scratch.cursor()) as cursor:
            for name, rows in tables.items():
                cursor.adbc_ingest(name, rows, mode="create")
        scratch.commit()


def _attach_scratch_file(conn: Connection, path: Path, name: str) -> str:
    conn.execute(text(f"ATTACH DATABASE :path AS {name}"), {"path": str(path)})
    conn.info.setdefault(SCRATCH_KEY, []).append(name)  # read in this transaction: detached after it ends
    return name


MAX_SCRATCH_PARTS = 8  # SQLite attaches at most 10 databases to a connection


def attach_scratch_parts(conn: Connection, table: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                         part_rows: int) -> Iterator[str]:
    """SQLite: the batches written by ADBC into a table of one scratch file per part of ~part_rows rows, on a
    background thread one part ahead of the caller, each attached as soon as it is written: the caller copies a
    part inside SQLite while the next is written (two cores instead of one). ADBC's SQLite library only ever opens a
    scratch file, and has closed it before sqlite3 attaches it: two SQLite libraries never hold one file (their
    POSIX locks would break each other: sqlite.org/howtocorrupt.html, 2.2.1); a file is removed once attached
    (Linux keeps it readable until detached), so only a process killed while ADBC writes leaves one in the temporary
    folder. The transaction's owner detaches them after it (write_transaction, detach_scratch). At most
    MAX_SCRATCH_PARTS parts: make part_rows large enough."""
    detach_scratch(conn)  # a leftover of a failed write, not in use by this transaction
    yield from _scratch_parts(conn, table, schema, batches, part_rows)


def _scratch_parts(conn: Connection, table: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   part_rows: int) -> Iterator[str]:
    """attach_scratch_parts without detaching the files attached before in this transaction (the attach names
    number on from them)."""
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="leadscore-scratch-") as folder:
        writer = threading.Thread(target=_write_scratch_parts, name="leadscore-scratch", daemon=True,
                                  args=(Path(folder), table, schema, batches, part_rows, ready, stop))
        writer.start()
        try:
            for path in iter(ready.get, None):
                if isinstance(path, BaseException):
                    raise path
                yield _attach_scratch_file(conn, path, f"{SCRATCH_NAME}_{len(conn.info.get(SCRATCH_KEY, []))}")
        finally:
            stop.set()
            writer.join()


def _write_scratch_parts(folder: Path, table: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                         part_rows: int, ready: queue.Queue, stop: threading.Event) -> None:
    """The writer thread of attach_scratch_parts: a path per part written, then None (or the error)."""
    try:
        rows = iter(batches)
        for index in count():
            first = next(rows, None)
            if first is None or stop.is_set():
                break
            path = folder / f"part{index}.db"
            part = chain([first], _batches_up_to(rows, part_rows - first.num_rows))
            _write_scratch_file(path, {table: pa.RecordBatchReader.from_batches(schema, part)})
            ready.put(path)
    except BaseException as error:  # noqa: BLE001 - raised in the caller's thread
        ready.put(error)
    ready.put(None)


def _batches_up_to(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The next batches while fewer than `rows` rows have been taken (the last one may pass the mark)."""
    while rows > 0 and (batch := next(batches, None)) is not None:
        rows -= batch.num_rows
        yield batch


def _sparse_null_default_columns(conn: Connection, table_name: str, table: pa.Table) -> list[str]:
    """Columns empty in most rows whose default in the table is NULL (left out of an insert, they are NULL)."""
    null_default = _null_default_columns(conn, table_name)
    return [name for name in table.column_names
            if name in null_default and table.column(name).null_count > table.num_rows / 2]


def _null_default_columns(conn: Connection, table_name: str) -> set[str]:
    """The table's nullable columns without a default."""
    if is_postgres(conn):
        rows = conn.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name = :table "
                                 "AND table_schema = current_schema() AND is_nullable = 'YES' "
                                 "AND column_default IS NULL"), {"table": table_name})
        return {row[0] for row in rows}
    return {row[1] for row in conn.execute(text(f'PRAGMA table_info("{table_name}")'))
            if row[4] is None and not row[3]}  # cid, name, type, notnull, default, pk


def _all_null(table: pa.Table, names: list[str]) -> np.ndarray:
    """Per row: every one of these columns is empty."""
    empty = np.ones(table.num_rows, dtype=bool)
    for name in names:
        empty &= table.column(name).is_null().to_numpy(zero_copy_only=False)
    return empty


def _sqlite_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps as SQLAlchemy's SQLite text of the UTC instant ('YYYY-MM-DD HH:MM:SS.ffffff'), as
    _sqlite_values writes them; everything else as it is."""
    columns = [pc.cast(pc.cast(column, pa.timestamp("us")), pa.string()) if pa.types.is_timestamp(column.type)
               else column for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


@contextmanager
def indexes_and_foreign_keys_after_load(conn: Connection, table: Table, incoming_rows: int) -> Iterator[None]:
    """Load a large batch without its secondary indexes, then build them in one sort: faster than growing
    them row by row (1M CodePro leads into Postgres: 3.6 s instead of 5.8 s of server time). On Postgres the
    table's foreign keys are dropped too and added back after the load, which checks every row in one join
    instead of one trigger query per row (1M leads: 0.3 s instead of 1.9 s of server time). Inside the
    caller's transaction, so a failure rolls the drop back too. SQLite: when the batch outnumbers the stored
    rows (WAL readers keep their snapshot meanwhile); its foreign keys stay (a rowid lookup per row is cheap).
    Postgres: only into an empty table, since the drops lock readers of the table (and of the tables its keys
    reference) out until the load commits, and only when those locks are free at once: a reader holding one
    keeps the indexes and keys in place (a slower load, never a deadlock with the reader)."""
    indexes = [index for index in table.indexes if not index.unique]
    foreign_keys = _foreign_keys(conn, table.name) if is_postgres(conn) else []
    if not (indexes or foreign_keys) or _holds_at_least(conn, table.name, 1 if is_postgres(conn) else incoming_rows) \
            or (is_postgres(conn) and not _locked_without_waiting(conn, [f'"{table.name}"', *(f[2] for f in foreign_keys)])):
        yield
        return
    for index in indexes:
        index.drop(conn)
    for name, _definition, _referenced in foreign_keys:
        conn.execute(text(f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{name}"'))
    yield
    for index in indexes:
        index.create(conn)
    for name, definition, _referenced in foreign_keys:
        conn.execute(text(f'ALTER TABLE "{table.name}" ADD CONSTRAINT "{name}" {definition}'))


def _foreign_keys(conn: Connection, table_name: str) -> list[tuple[str, str, str]]:
    """Postgres: the table's foreign keys: name, definition (as pg_dump adds them back), referenced table (as SQL)."""
    rows = conn.execute(text("SELECT conname, pg_get_constraintdef(oid), CAST(CAST(confrelid AS regclass) AS text) "
                             "FROM pg_constraint WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' "
                             "ORDER BY conname"), {"table": f'"{table_name}"'})
    return [(row[0], row[1], row[2]) for row in rows]


def _locked_without_waiting(conn: Connection, tables: list[str]) -> bool:
    """Postgres: the tables (as SQL names) locked for the drops (ACCESS EXCLUSIVE) now, or not at all (the lock
    is kept until the transaction ends)."""
    names = ", ".join(dict.fromkeys(tables))
    try:
        with conn.begin_nested():
            conn.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return False
        raise
    return True


def _holds_at_least(conn: Connection, table_name: str, rows: int) -> bool:
    """Counting stops at `rows`: the answer costs no more than the batch being loaded."""
    sql = f'SELECT count(*) FROM (SELECT 1 FROM "{table_name}" LIMIT :rows) AS head'
    return int(conn.execute(text(sql), {"rows": rows}).scalar_one()) >= rows


def _arrow_slices(data: pd.DataFrame | pa.Table, order: np.ndarray | None, rows: int) -> Iterator[pa.RecordBatch]:
    """The rows (those at `order`, in that order) as Arrow batches of at most `rows` rows: a frame is converted
    once (numbers and Arrow-backed text without a copy; NaN becomes null) and each slice is taken in Arrow,
    never a reordered copy of the whole."""
    table = pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
    total = table.num_rows if order is None else len(order)
    for start in range(0, total, rows):
        piece = table.slice(start, rows) if order is None else table.take(pa.array(order[start:start + rows]))
        yield piece.combine_chunks().to_batches()[0]  # a slice is never empty


def _copy_into_postgres(conn: Connection, table_name: str, data: pd.DataFrame | pa.Table,
                        order: np.ndarray | None = None, slice_rows: int = 100_000) -> None:
    """CSV made by Arrow, one slice at a time; a writer thread sends each slice while the next is made,
    so the server's work overlaps ours."""
    cols = ", ".join(f'"{c}"' for c in (data.column_names if isinstance(data, pa.Table) else data.columns))
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f'COPY "{table_name}" ({cols}) FROM STDIN WITH (FORMAT csv)',
                        writer=queued_copy_writer(cursor)) as copy:
        for piece in _arrow_slices(data, order, slice_rows):
            buffer = io.BytesIO()
            pa_csv.write_csv(naive_utc(piece), buffer, options)
            copy.write(buffer.getbuffer())


COPY_QUEUE_BYTES = 16 << 20


def queued_copy_writer(cursor, queued_bytes: int = COPY_QUEUE_BYTES):
    """psycopg's COPY writer thread (the server reads while we encode the next slice) with its queue bounded by
    bytes: the default queue holds 1,024 blocks of 128 KB, so a client encoding faster than the server keeps up to
    128 MB waiting (measured: +270 MB of peak memory while a 3M-lead run was copied)."""
    from psycopg.copy import QueuedLibpqWriter  # the Postgres driver, only where Postgres is used

    writer = QueuedLibpqWriter(cursor)
    writer._queue = queue.Queue(maxsize=max(1, queued_bytes // COPY_BLOCK_BYTES))  # psycopg 3.3: a private attribute
    return writer


COPY_BLOCK_BYTES = 128 << 10  # psycopg's MAX_BUFFER_SIZE: larger writes are queued in blocks of this size


def naive_utc(data: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """Zone-aware timestamps as naive UTC for COPY's CSV: the session's TimeZone is UTC, so they mean the same
    instants, and Arrow writes naive timestamps 13x faster (1M rows x 2 columns: 0.4 s instead of 5.5 s)."""
    columns = [pc.cast(column, pa.timestamp(column.type.unit)) if pa.types.is_timestamp(column.type)
               and column.type.tz is not None else column for column in data.columns]
    return type(data).from_arrays(columns, names=data.schema.names)


def _executemany_into_sqlite(conn: Connection, table_name: str, frame: pd.DataFrame, order: np.ndarray | None = None,
                             slice_rows: int = 100_000) -> None:
    """Prepared inserts fed column by column: each slice's columns become numpy arrays of the values
    sqlite3 binds (floats as they are: SQLite binds NaN as NULL), zipped into rows never all in memory.
    Columns empty in most rows of a slice (CRM exports are mostly empty) are left out of the statement for
    the rows where they are empty, when their default is NULL: binding a NULL costs as much as a value (3x
    faster for CodePro's leads)."""
    null_default = _null_default_columns(conn, table_name)
    cursor = conn.connection.driver_connection.cursor()
    try:
        for start in range(0, len(frame) if order is None else len(order), slice_rows):
            rows = np.arange(start, min(start + slice_rows, len(frame))) if order is None else \
                order[start:start + slice_rows]
            columns = {name: _sqlite_values(frame[name].iloc[rows]) for name in frame.columns}
            missing = {name: pd.isna(values) for name, values in columns.items()}
            sparse = [name for name, empty in missing.items() if name in null_default and empty.mean() > 0.5]
            narrow = np.logical_and.reduce([missing[name] for name in sparse]) if sparse else np.zeros(len(rows), bool)
            dense = {name: values for name, values in columns.items() if name not in sparse}
            _executemany(cursor, table_name, dense, np.flatnonzero(narrow))
            _executemany(cursor, table_name, columns, np.flatnonzero(~narrow))
    finally:
        cursor.close()


def _executemany(cursor, table_name: str, columns: dict[str, np.ndarray], rows: np.ndarray) -> None:
    if len(rows) == 0:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    every_row = len(rows) == len(next(iter(columns.values())))
    cursor.executemany(f'INSERT INTO "{table_name}" ({names}) VALUES ({marks})',
                       zip(*((v if every_row else v[rows]).tolist() for v in columns.values()), strict=True))


def _sqlite_values(values: pd.Series) -> np.ndarray:
    """One column as a numpy array of what sqlite3 binds: float (NaN is NULL), int, text or None;
    timestamps as SQLAlchemy's SQLite text form of the UTC instant (naive values are UTC already)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dtype, "tz", None) is not None:
            values = values.dt.tz_convert(None)  # SQLite keeps no offset: the UTC instant's text
        text = pc.cast(pa.array(values.to_numpy(dtype="datetime64[us]")), pa.string())  # "... HH:MM:SS.ffffff"
        return text.to_numpy(zero_copy_only=False)
    if pd.api.types.is_float_dtype(values.dtype) or (pd.api.types.is_integer_dtype(values.dtype) and values.hasnans):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if (pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)) and not values.hasnans:
        return values.to_numpy()
    if hasattr(values.array, "__arrow_array__") and values.dtype == "str":  # Arrow-backed text: no pandas objects
        return values.array.__arrow_array__().to_numpy(zero_copy_only=False)  # 8x to_pylist's speed
    return values.astype(object).where(values.notna(), None).to_numpy()


def read_frame(conn: Connection | Engine, sql: str, params: dict | None = None,
               parse_dates: Sequence[str] = ()) -> pd.DataFrame:
    """Run a parametrised SELECT and return a frame. Moments come as naive datetime64 UTC instants from either
    store (Postgres gives aware values: converted), or as SQLite's text where not in `parse_dates`."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return read_frame(connection, sql, params, parse_dates)
    frame = pd.read_sql_query(text(sql), conn, params=params or {}, parse_dates=list(parse_dates))
    for name in frame.columns:
        if _holds_aware_moments(frame[name]):
            frame[name] = as_utc_instants(frame[name])
    return frame


def _holds_aware_moments(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return True
    if values.dtype != object:
        return False
    first = values.first_valid_index()
    return first is not None and isinstance(values[first], datetime) and values[first].tzinfo is not None
