"""Ingest one lead file: validate it by the lead schema, then write good rows, rejected rows and the batch
in one transaction.

Every row is accounted for: in = loaded + duplicate + rejected. A duplicate is a row whose lead is already
stored, or appears earlier in the same file with identical content. The same lead id with other content
in one file is rejected by validation (core.schema: the first row wins, the later content is kept in
rejected_leads with its reason). A stored lead is never rewritten by a later file; only its label is
recorded when an outcome arrives, and an unlabelled file never erases one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, Table, bindparam, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core import store
from core.clock import UtcDateTime, utc_now
from core.lead_schema import LeadSchema
from core.outcomes import (
    FeedSummary,
    is_outcome_feed,
    read_feed,
    record_feed,
    record_label_history,
    rejected_feed_rows,
    split_repeats,
    validate_feed,
)
from core.schema import LEAD_ID, ROW_NUMBER, ValidatedFile, check_raw_csv, file_sha256, read_raw_csv, validate_leads
from core.score_store import read_chunks


@dataclass(frozen=True)
class IngestSummary:
    """What happened to every row of one file: in = loaded + duplicate + rejected."""

    file_name: str
    batch_id: int
    rows_in: int
    loaded: int
    duplicate: int
    rejected: int
    labels_recorded: int
    already_ingested: bool = False

    def line(self) -> str:
        """The one-line summary the command prints."""
        prefix = "already ingested, nothing changed: " if self.already_ingested else ""
        return (f"{self.file_name}: {prefix}in {self.rows_in} / loaded {self.loaded} / duplicate "
                f"{self.duplicate} / rejected {self.rejected} (labels recorded {self.labels_recorded})")


def ingest_file(engine: Engine, path: Path, now: datetime | None = None) -> IngestSummary | FeedSummary:
    """Ingest a file once, by the lead schema the engine was opened with; the same bytes again change nothing.
    A file with only the id and label columns is an outcome feed (core/outcomes.py)."""
    now = now or utc_now()
    schema = store.engine_schema(engine)
    feed = is_outcome_feed(path, schema)
    if not feed:
        check_raw_csv(path, schema)
    sha = file_sha256(path)
    previous = _batch_with_sha(engine, sha)
    if previous is not None:
        return previous
    validated = None if feed else _validated(path, now, schema)
    try:
        with store.write_transaction(engine) as conn:
            if feed:
                return _write_feed_batch(conn, path, sha, now, schema)
            return _write_batch(conn, path.name, sha, validated, now, schema)
    except IntegrityError:  # the same file was ingested by a concurrent run meanwhile
        previous = _batch_with_sha(engine, sha)
        if previous is None:
            raise
        return previous


def _validated(path: Path, now: datetime, schema: LeadSchema) -> ValidatedFile:
    """Read and validate; the raw text frame is released here, before the write needs memory."""
    raw, bad_lines = read_raw_csv(path, schema)
    validated = validate_leads(raw, now, schema, bad_lines)
    del raw
    pa.default_memory_pool().release_unused()
    return validated


def _batch_with_sha(engine: Engine, sha: str) -> IngestSummary | None:
    with engine.connect() as conn:
        row = conn.execute(select(store.ingest_batches).where(store.ingest_batches.c.sha256 == sha)).mappings().first()
    if row is None:
        return None
    return IngestSummary(row["file_name"], row["batch_id"], row["rows_in"], row["loaded"], row["duplicate"],
                         row["rejected"], row["labels_recorded"], already_ingested=True)


def _write_batch(conn: Connection, file_name: str, sha: str, validated: ValidatedFile, now: datetime,
                 schema: LeadSchema) -> IngestSummary:
    _serialise_ingests(conn)
    batch_id = _open_batch(conn, file_name, sha, validated.rows_in, now)
    rows, label, tables = validated.rows, schema.label.db_name, store.schema_tables(schema)
    good_rows = validated.good_rows
    new_rows = good_rows[~rows[LEAD_ID].iloc[good_rows].duplicated(keep="first").to_numpy()]  # first sightings
    labels = 0
    known = _stored_among(conn, rows, new_rows, tables.lead_labels_stage)  # first sightings already stored
    if known.any():
        if validated.has_label:  # outcomes for stored leads: staged, only those leads' ids and labels
            with store.staging_table(conn, tables.lead_labels_stage, "stage_ids") as stage:
                store.bulk_insert(conn, stage, rows[[LEAD_ID, label]], new_rows[known])
                labels = _record_labels(conn, stage, batch_id, now, label)
        new_rows = new_rows[~known]
    order = _lead_rows(rows, new_rows, batch_id, now, label)
    with store.indexes_and_foreign_keys_after_load(conn, tables.leads, len(order)):
        store.bulk_load(conn, "leads", rows, order)
    store.bulk_insert(conn, "rejected_leads", _rejected_rows(validated.rejected, batch_id))
    summary = IngestSummary(file_name, batch_id, validated.rows_in, len(new_rows), len(good_rows) - len(new_rows),
                            len(validated.rejected), labels)
    _close_batch(conn, summary)
    return summary


def _write_feed_batch(conn: Connection, path: Path, sha: str, now: datetime, schema: LeadSchema) -> FeedSummary:
    """An outcome feed: labels for stored leads, unknown ids and bad values rejected with their reasons."""
    raw = read_feed(path, schema)
    good, bad = validate_feed(raw, schema)
    first, agreeing, contradicting = split_repeats(good, schema)
    _serialise_ingests(conn)
    batch_id = _open_batch(conn, path.name, sha, len(raw), now)
    recorded, unchanged, unknown = record_feed(conn, first, batch_id, now, schema)
    rejected = rejected_feed_rows(bad, contradicting, unknown)
    store.bulk_insert(conn, "rejected_leads", _rejected_rows(rejected, batch_id))
    summary = FeedSummary(path.name, batch_id, len(raw), recorded, unchanged + agreeing, len(unknown),
                          len(bad) + len(contradicting))
    _close_batch(conn, summary)
    return summary


def _serialise_ingests(conn: Connection) -> None:
    """Two ingests never interleave (SQLite already serialises writers)."""
    if store.is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('leadscore.ingest'))"))


def _open_batch(conn: Connection, file_name: str, sha: str, rows_in: int, now: datetime) -> int:
    result = conn.execute(insert(store.ingest_batches).values(
        file_name=file_name, sha256=sha, rows_in=rows_in, loaded=0, duplicate=0, rejected=0,
        labels_recorded=0, started_at=now,
    ).returning(store.ingest_batches.c.batch_id))
    return int(result.scalar_one())


def _stored_among(conn: Connection, rows: pd.DataFrame, positions: np.ndarray, stage_like: Table) -> np.ndarray:
    """Which of the rows at `positions` are leads already stored. A file larger than half the stored leads reads
    every stored id once (1M new rows against 60k stored: ~0.1 s, where staging the file's ids cost ~2 s); a small
    file (the nightly one against millions of leads) has its ids staged and looked up."""
    stored = int(conn.execute(text("SELECT COUNT(*) FROM leads")).scalar_one())
    if stored == 0 or len(positions) == 0:
        return np.zeros(len(positions), dtype=bool)
    if stored <= READ_STORED_IDS_FACTOR * len(positions):
        known = _ids(conn, "SELECT lead_id FROM leads")
    else:
        with store.staging_table(conn, stage_like, "stage_ids") as stage:
            store.bulk_insert(conn, stage, rows[[LEAD_ID]], positions)
            known = _ids(conn, f'SELECT s.lead_id FROM "{stage}" s JOIN leads l ON l.lead_id = s.lead_id')
    ids = pa.array(rows[LEAD_ID].iloc[positions].to_numpy(dtype=object), pa.string())
    return np.asarray(pc.is_in(ids, value_set=known), dtype=bool)


READ_STORED_IDS_FACTOR = 2  # read every stored id when there are at most this many per row of the file


def _ids(conn: Connection, sql: str) -> pa.Array:
    """The query's one column of lead ids, as Arrow text."""
    chunks = [pa.array(chunk[LEAD_ID].to_numpy(dtype=object), pa.string())
              for chunk in read_chunks(conn, sql, {}, ID_CHUNK_ROWS, {LEAD_ID: pa.string()}, [])]
    return pa.chunked_array(chunks, pa.string()).combine_chunks() if chunks else pa.array([], pa.string())


ID_CHUNK_ROWS = 500_000


def _lead_rows(rows: pd.DataFrame, new_rows: np.ndarray, batch_id: int, now: datetime, label: str) -> np.ndarray:
    """Adds the batch columns to the rows in place, and returns the new ones' positions in lead_id order:
    the primary key index then grows at its end, not at random (the writer takes them slice by slice,
    never copying the whole)."""
    ids = rows[LEAD_ID].array
    ids = ids.__arrow_array__() if hasattr(ids, "__arrow_array__") else pa.array(ids, type=pa.string())
    order = new_rows[pc.sort_indices(pc.take(ids, pa.array(new_rows))).to_numpy()]
    labelled = rows[label].notna()
    rows.insert(1, "batch_id", batch_id)
    rows["label_batch_id"] = pd.Series(batch_id, index=rows.index, dtype="Int64").where(labelled)
    rows["label_recorded_at"] = pd.Series(pd.Timestamp(now), index=rows.index).where(labelled)
    return order


def _record_labels(conn: Connection, stage: str, batch_id: int, now: datetime, label: str) -> int:
    """Outcomes that arrive for stored leads: a known label is set, an empty one never erases."""
    record_label_history(conn, stage, batch_id, now, label)  # lead_outcomes keeps every label and when it came
    result = conn.execute(text(
        f'UPDATE leads SET "{label}" = s."{label}", label_batch_id = :batch, label_recorded_at = :now '
        f'FROM "{stage}" s WHERE leads.lead_id = s.lead_id AND s."{label}" IS NOT NULL '
        f'AND (leads."{label}" IS NULL OR leads."{label}" <> s."{label}")'
    ).bindparams(bindparam("now", type_=UtcDateTime())), {"batch": batch_id, "now": now})
    return int(result.rowcount)


def _rejected_rows(rejected: pd.DataFrame, batch_id: int) -> pd.DataFrame:
    rows = rejected[[ROW_NUMBER, "raw_row", "reason"]].copy()
    rows.insert(0, "batch_id", batch_id)
    rows[ROW_NUMBER] = rows[ROW_NUMBER].astype("Int64")
    return rows


def _close_batch(conn: Connection, summary: IngestSummary | FeedSummary) -> None:
    conn.execute(update(store.ingest_batches).where(store.ingest_batches.c.batch_id == summary.batch_id).values(
        loaded=summary.loaded, duplicate=summary.duplicate, rejected=summary.rejected,
        labels_recorded=summary.labels_recorded, finished_at=utc_now(),
    ))


def landing_files(folder: Path) -> list[Path]:
    """CSV files waiting in a landing folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name))


def file_away(path: Path, outcome: str, reason: str | None = None) -> Path:
    """Move a landed file to processed/ or refused/ (with its reason), so the folder only holds new work."""
    target_dir = path.parent / outcome
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{utc_now():%Y%m%dT%H%M%SZ}-{path.name}"  # yesterday's leads.csv is kept too
    path.replace(target)
    if reason:
        target.with_suffix(target.suffix + ".reason.txt").write_text(reason + "\n")
    return target
