"""Outcome feeds: a file with only the id column and the label column records labels for stored leads.

What a CRM exports when applications complete. Every row is accounted for in ingest_batches
(in = loaded + duplicate + rejected): a recorded label counts as loaded, an unchanged one as duplicate,
an unknown id or a bad value as rejected (with its reason in rejected_leads). Every label recorded for a
stored lead, by a feed or by a labelled lead file, appends a row to lead_outcomes, so a label that changes
keeps its history and when it changed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from core import store
from core.clock import UtcDateTime
from core.errors import BadInputError
from core.lead_schema import LeadSchema

# the label rule and the id rule of lead files, so a feed's bad value reads exactly like a lead file's
from core.schema import ROW_NUMBER, _file_lead_ids, _parse_label, _Reasons  # noqa: PLC2701

FEED_HEADER_BYTES = 64 * 1024
_NOW = bindparam("now", type_=UtcDateTime())  # stored as the tables' moments are: UTC (SQLite compares text)


@dataclass(frozen=True)
class FeedSummary:
    """What one outcome feed did: in = recorded + unchanged + unknown + bad."""

    file_name: str
    batch_id: int
    rows_in: int
    labels_recorded: int
    unchanged: int
    unknown: int
    bad: int
    already_ingested: bool = False

    @property
    def loaded(self) -> int:
        return self.labels_recorded

    @property
    def duplicate(self) -> int:
        return self.unchanged

    @property
    def rejected(self) -> int:
        return self.unknown + self.bad

    def line(self) -> str:
        """The one-line summary the ingest command prints."""
        return (f"{self.file_name}: outcome feed: in {self.rows_in} / labels recorded {self.labels_recorded} / "
                f"unchanged {self.unchanged} / unknown lead {self.unknown} / rejected {self.bad}")


def feed_id_column(schema: LeadSchema) -> str:
    """The id column an outcome feed names leads by (the schema's id column, else lead_id)."""
    return schema.id_column or store.LEAD_ID


def is_outcome_feed(path: Path, schema: LeadSchema) -> bool:
    """True when the file's columns are only the id and the label (optionally after an unnamed index)."""
    names = _header_names(path)
    if names and (names[0] == "" or names[0].startswith("Unnamed: 0")):
        names = names[1:]
    return len(names) == 2 and set(names) == {feed_id_column(schema), schema.label.column}


def _header_names(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            head = handle.read(FEED_HEADER_BYTES)
    except OSError:
        return []  # the lead-file checks refuse it with their one-line reason
    text_head = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    try:
        return [name.strip() for name in next(csv.reader(io.StringIO(text_head, newline="")), [])]
    except csv.Error:
        return []


def read_feed(path: Path, schema: LeadSchema) -> pd.DataFrame:
    """Every cell as text, the schema's na_values empty, indexed by row position (row_number = position + 1)."""
    try:
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=list(schema.na_values),
                            usecols=[feed_id_column(schema), schema.label.column], encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise BadInputError(f"{path.name} is not a readable outcome feed ({str(error)[:120]})") from error
    if frame.empty:
        raise BadInputError(f"{path.name} has a header but no rows")
    return frame.reset_index(drop=True)


def validate_feed(raw: pd.DataFrame, schema: LeadSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows: lead_id, label, row_number; rejected rows: row_number, raw_row, reason) by the lead-file rules."""
    id_name, label = feed_id_column(schema), schema.label
    reasons = _Reasons(len(raw))
    ids = _file_lead_ids(raw, schema, reasons) if schema.id_column else None
    values = _parse_label(raw, label, reasons)
    empty_label = pd.isna(values)
    reasons.add(np.asarray(empty_label) & reasons.none(), f"{label.column} is empty")
    if ids is None:
        reasons.add(raw[id_name].fillna("").str.strip().eq("").to_numpy() & reasons.none(), f"{id_name} is empty")
    lead_ids = raw[id_name].fillna("").str.strip()
    good = pd.DataFrame({store.LEAD_ID: lead_ids, label.db_name: pd.array(values, dtype="Int64"),
                         ROW_NUMBER: np.arange(1, len(raw) + 1)})[reasons.none()]
    rows, texts = reasons.of_bad_rows()
    rejected = pd.DataFrame({ROW_NUMBER: rows + 1, "raw_row": [_raw_json(raw, r) for r in rows], "reason": texts})
    return good, rejected


def _raw_json(raw: pd.DataFrame, row: int) -> str:
    return json.dumps({k: (None if pd.isna(v) else v) for k, v in raw.iloc[row].items()}, ensure_ascii=False)


def split_repeats(good: pd.DataFrame, schema: LeadSchema) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """(first row per id, repeats that agree with it: counted unchanged, repeats that contradict it: rejected)."""
    label, id_name = schema.label.db_name, feed_id_column(schema)
    first = good.drop_duplicates(store.LEAD_ID, keep="first")
    repeats = good[good.duplicated(store.LEAD_ID, keep="first")]
    agreed = repeats.merge(first[[store.LEAD_ID, label]], on=store.LEAD_ID, suffixes=("", "_first"))
    conflicting = agreed[agreed[label] != agreed[f"{label}_first"]]
    rejected = pd.DataFrame({
        ROW_NUMBER: conflicting[ROW_NUMBER].to_numpy(),
        "raw_row": [json.dumps({id_name: i, schema.label.column: str(v)}) for i, v in
                    zip(conflicting[store.LEAD_ID], conflicting[label], strict=True)],
        "reason": [f"{schema.label.column} contradicts an earlier row of this file for {id_name} '{i}'"
                   for i in conflicting[store.LEAD_ID]]})
    return first, len(agreed) - len(conflicting), rejected


def record_feed(conn: Connection, good: pd.DataFrame, batch_id: int, now: datetime,
                schema: LeadSchema) -> tuple[int, int, pd.DataFrame]:
    """Record the feed's labels for stored leads: (recorded, unchanged, the unknown ids' rejected rows)."""
    label, tables = schema.label.db_name, store.schema_tables(schema)
    with store.staging_table(conn, tables.lead_labels_stage, "stage_outcomes") as stage:
        store.bulk_insert(conn, stage, good[[store.LEAD_ID, label]])
        known = {row[0] for row in conn.execute(text(
            f'SELECT s.lead_id FROM "{stage}" s JOIN leads l ON l.lead_id = s.lead_id'))}
        recorded = record_label_history(conn, stage, batch_id, now, label)
        update_lead_labels(conn, stage, batch_id, now, label)
    unknown = good[~good[store.LEAD_ID].isin(known)]
    return recorded, len(good) - len(unknown) - recorded, unknown_rows(unknown, schema)


def unknown_rows(unknown: pd.DataFrame, schema: LeadSchema) -> pd.DataFrame:
    """Rejected rows for ids no stored lead has."""
    id_name, label = feed_id_column(schema), schema.label
    return pd.DataFrame({
        ROW_NUMBER: unknown[ROW_NUMBER].to_numpy(),
        "raw_row": [json.dumps({id_name: i, label.column: str(v)}) for i, v in
                    zip(unknown[store.LEAD_ID], unknown[label.db_name], strict=True)],
        "reason": [f"unknown lead: no stored lead has {id_name} '{i}'" for i in unknown[store.LEAD_ID]]})


def record_label_history(conn: Connection, stage: str, batch_id: int, now: datetime, label: str) -> int:
    """Append to lead_outcomes every label that changes for a stored lead (a first label too); a lead whose
    earlier label has no history row yet gets that label first, with when it was recorded. Returns how many
    labels were recorded. Call before the labels are written to leads."""
    changes = (f'"{stage}" s JOIN leads l ON l.lead_id = s.lead_id WHERE s."{label}" IS NOT NULL '
               f'AND (l."{label}" IS NULL OR l."{label}" <> s."{label}")')
    conn.execute(text(
        f'INSERT INTO lead_outcomes (lead_id, label, batch_id, recorded_at) '
        f'SELECT l.lead_id, l."{label}", COALESCE(l.label_batch_id, l.batch_id), '
        f'COALESCE(l.label_recorded_at, (SELECT b.started_at FROM ingest_batches b WHERE b.batch_id = l.batch_id)) '
        f'FROM {changes} AND l."{label}" IS NOT NULL '
        f'AND NOT EXISTS (SELECT 1 FROM lead_outcomes o WHERE o.lead_id = l.lead_id)'))
    result = conn.execute(text(
        f'INSERT INTO lead_outcomes (lead_id, label, batch_id, recorded_at) '
        f'SELECT s.lead_id, s."{label}", :batch, :now FROM {changes}').bindparams(_NOW),
        {"batch": batch_id, "now": now})
    return int(result.rowcount)


def update_lead_labels(conn: Connection, stage: str, batch_id: int, now: datetime, label: str) -> int:
    """Set the labels that are new or different; an empty label never erases one."""
    result = conn.execute(text(
        f'UPDATE leads SET "{label}" = s."{label}", label_batch_id = :batch, label_recorded_at = :now '
        f'FROM "{stage}" s WHERE leads.lead_id = s.lead_id AND s."{label}" IS NOT NULL '
        f'AND (leads."{label}" IS NULL OR leads."{label}" <> s."{label}")'
    ).bindparams(_NOW), {"batch": batch_id, "now": now})
    return int(result.rowcount)


def rejected_feed_rows(*parts: pd.DataFrame) -> pd.DataFrame:
    """The feed's rejected rows in file order."""
    frames = [p for p in parts if not p.empty]
    if not frames:
        return pd.DataFrame({ROW_NUMBER: pd.Series([], dtype="int64"), "raw_row": [], "reason": []})
    return pd.concat(frames, ignore_index=True).sort_values(ROW_NUMBER, kind="stable")
