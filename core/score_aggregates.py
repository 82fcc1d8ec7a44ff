"""What the dashboard's Leads and Channels pages sum over every current score, computed once per scoring run.

A run's aggregates are small rows per business day (LEADSCORE_TIMEZONE), so the pages answer any window of days
by summing a few thousand rows instead of reading a million scores on every view:

- `grade_band`: per day, grade and score band (width 0.1): leads, score sum, leads with a known outcome, successes;
- `channel`: per day, channel column (`dimension`) and its value, and grade: the same counts;
- `live_band`: per day (of the lead's creation) and score band: leads whose outcome arrived after they were scored,
  counted once under the latest score they had before it arrived;
- `pick` / `low` / `high`: the values of each pick column, and the lowest / highest value of each range column.

Days are bucketed as dashboard/queries.py windows them: the bounds are the UTC instants at which each business
day begins (core.clock.day_start); each stored UTC moment is placed among them in numpy.
`score_aggregate_runs` records the run, the time zone the days are of and the newest ingest batch then stored:
the dashboard uses a run's aggregates while that run is the latest that succeeded, the zone is its own and no
later batch recorded outcomes; otherwise it reads the scores themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.engine import Connection

from core import store
from core.clock import day_start, local_date, utc_now, zone_name
from core.features import quoted
from core.lead_schema import LeadSchema
from core.score_store import read_chunks

SUCCEEDED = "succeeded"  # the status core.scoring writes for a finished run
CHOICE_TYPES = ("category", "flag", "lookup")  # the copied columns a rep filters by picking values
COUNTS = ("leads", "score_sum", "with_outcome", "completed")
CHUNK_ROWS = 200_000
# the leads with a known outcome, read once (SQLite would otherwise look every scored lead up in the wide leads
# table: 1M scores 6.8 s against 1.6 s; MATERIALIZED needs SQLite 3.35, Postgres 12)
_KNOWN_OUTCOMES = "WITH known AS MATERIALIZED (SELECT lead_id, {label} AS label FROM leads WHERE {label} IS NOT NULL)"


@dataclass(frozen=True)
class AggregatesWritten:
    run_id: int
    rows: int
    days: int
    seconds: float

    def line(self) -> str:
        return (f"run {self.run_id}: dashboard aggregates stored ({self.rows:,} rows over {self.days:,} days) "
                f"in {self.seconds:.1f} s")


def latest_succeeded_run(conn: Connection) -> int | None:
    """The newest scoring run that finished (its scores are the current ones)."""
    return conn.execute(select(store.scoring_runs.c.run_id).where(store.scoring_runs.c.status == SUCCEEDED)
                        .order_by(store.scoring_runs.c.run_id.desc()).limit(1)).scalar()


def refresh_score_aggregates(engine: Engine, schema: LeadSchema) -> AggregatesWritten | None:
    """Replace the stored aggregates by those of the current scores, tagged with the latest succeeded run (None:
    no run has succeeded yet). One transaction: readers see the old aggregates or the new, never half."""
    start = time.perf_counter()
    with engine.begin() as conn:
        run_id = latest_succeeded_run(conn)
        if run_id is None:
            return None
        # read before the scores: an ingest committed meanwhile makes the aggregates look older, never newer
        batch = conn.execute(text("SELECT MAX(batch_id) FROM ingest_batches")).scalar()
        days = _days(conn)
        frames = [] if not days else [*_one_pass(conn, schema, days), _live_bands(conn, schema, days)]
        rows = pd.concat([f for f in frames if not f.empty], ignore_index=True) if frames else pd.DataFrame()
        conn.execute(delete(store.score_aggregates))
        conn.execute(delete(store.score_aggregate_runs))
        store.bulk_insert(conn, store.score_aggregates.name, _stored(rows.assign(run_id=run_id)))
        conn.execute(insert(store.score_aggregate_runs).values(
            run_id=run_id, time_zone=zone_name(), last_batch_id=batch or 0, computed_at=utc_now(),
            rows=len(rows), duration_s=time.perf_counter() - start))
    return AggregatesWritten(run_id, len(rows), len(days), time.perf_counter() - start)


def _stored(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows in the table's column order, counts as integers."""
    names = [c.name for c in store.score_aggregates.columns]
    out = rows.reindex(columns=names)
    for name in ("leads", "with_outcome", "completed", "run_id"):
        out[name] = out[name].fillna(0).astype("int64")
    out["band"] = out["band"].astype("Int64")
    return out


def _days(conn: Connection) -> list[date]:
    """Every business day from the first current score's creation to the last one's."""
    first, last = conn.execute(text("SELECT MIN(created_date), MAX(created_date) FROM current_scores")).one()
    if first is None:
        return []
    lo, hi = (local_date(pd.Timestamp(v).to_pydatetime()) for v in (first, last))
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


def day_indexes(moments: pd.Series, days: list[date]) -> np.ndarray:
    """The index of the business day each stored moment (naive UTC) falls in (0 = days[0]): its position among
    the UTC instants at which the days begin (core.clock.day_start); a moment without a value counts on the last day."""
    starts = np.array([day_start(day).replace(tzinfo=None) for day in days[1:]], dtype="datetime64[us]")
    values = moments.to_numpy(dtype="datetime64[us]")
    found = np.searchsorted(starts, values, side="right")
    return np.where(np.isnat(values), len(days) - 1, found)


def score_bands(scores: pd.Series) -> np.ndarray:
    """The score band (width 0.1, a score of 1 in the top band 9)."""
    return np.minimum(np.floor(scores.to_numpy(dtype="float64") * 10), 9).astype("int64")


def _with_days(frame: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    frame["day"] = [days[int(i)] for i in frame.pop("day_index")]
    return frame


def _one_pass(conn: Connection, schema: LeadSchema, days: list[date]) -> list[pd.DataFrame]:
    """Grade / band rows, channel rows and the filter options, from one read of the current scores with the outcomes
    of their leads (in chunks, each summed as it arrives: memory stays flat); days and bands found here, in numpy
    (1M scores: about 0.1 s, where comparisons in SQL took seconds)."""
    copied = list({f.key: f for f in schema.score_copy_features()}.values())
    channels = list(dict.fromkeys(schema.feature(name).key for name in schema.channels))
    names = {f"c_{i}": f.key for i, f in enumerate(copied)}
    columns = "".join(f", s.{quoted(f.key)} AS c_{i}" for i, f in enumerate(copied))
    sql = (f"{_KNOWN_OUTCOMES.format(label=quoted(schema.label.db_name))} "
           f"SELECT s.created_date AS created_date, s.grade AS grade, s.score AS score, k.label AS label{columns} "
           "FROM current_scores s LEFT JOIN known k ON k.lead_id = s.lead_id")
    types = {"grade": pa.string(), "score": pa.float64(), "label": pa.float64(),
             **{f"c_{i}": pa.float64() if f.numeric else pa.string() for i, f in enumerate(copied)}}
    groupings = {("grade_band", None): ["day_index", "grade", "band"],
                 **{("channel", key): ["day_index", "grade", key] for key in channels}}
    partial: dict[tuple, list[pd.DataFrame]] = {group: [] for group in groupings}
    picks: dict[str, set] = {f.key: set() for f in copied if f.type in CHOICE_TYPES}
    spans: dict[str, list[float]] = {f.key: [] for f in copied if f.type not in CHOICE_TYPES}
    for chunk in read_chunks(conn, sql, {}, CHUNK_ROWS, types, ["created_date"], read_ahead=True):
        chunk = _counted(chunk, days).rename(columns=names)
        for group, keys in groupings.items():
            partial[group].append(_summed(chunk, keys))
        for key, seen in picks.items():
            seen.update(chunk[key].dropna().unique().tolist())
        for key, bounds in spans.items():
            values = pd.to_numeric(chunk[key]).dropna()
            bounds.extend([float(values.min()), float(values.max())] if len(values) else [])
    numeric = {f.key: f.numeric for f in copied}
    out = []
    for (kind, key), parts in partial.items():
        frame = _with_days(_summed(pd.concat(parts, ignore_index=True), groupings[(kind, key)]), days)
        if key is not None:
            frame = _valued(frame.rename(columns={key: "value"}), numeric[key]).assign(dimension=key)
        out.append(frame.assign(kind=kind))
    out += [_valued(pd.DataFrame({"value": pd.Series(sorted(seen, key=str), dtype=object)}), numeric[key])
            .assign(kind="pick", dimension=key) for key, seen in picks.items()]
    out += [pd.DataFrame({"kind": ["low", "high"], "dimension": key, "value_number": [min(bounds), max(bounds)]})
            for key, bounds in spans.items() if bounds]
    return out


def _counted(chunk: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """A chunk of scores with their day and band, and the counts each row adds (one lead, its score, its outcome)."""
    label = chunk.pop("label")
    out = chunk.drop(columns=["created_date", "score"])
    out["day_index"] = day_indexes(chunk["created_date"], days)
    out["band"] = score_bands(chunk["score"])
    out["leads"] = 1
    out["score_sum"] = chunk["score"]
    out["with_outcome"] = label.notna().astype("int64")
    out["completed"] = (label == 1).astype("int64")
    return out


def _summed(frame: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    return frame.groupby(groups, as_index=False, dropna=False, sort=False)[list(COUNTS)].sum()


def _valued(frame: pd.DataFrame, numeric: bool) -> pd.DataFrame:
    """A value column split into value_number (numeric columns) or value_text."""
    values = frame.pop("value")
    if numeric:
        return frame.assign(value_number=pd.to_numeric(values, errors="coerce"), value_text=None)
    return frame.assign(value_text=values.astype(object).where(values.notna(), None), value_number=None)


def _live_bands(conn: Connection, schema: LeadSchema, days: list[date]) -> pd.DataFrame:
    """Leads whose outcome arrived after they were scored, by the latest score they had before it arrived."""
    label = f"l.{quoted(schema.label.db_name)}"
    sql = (
        "WITH arrived AS (SELECT lead_id, MIN(recorded_at) AS arrived_at FROM lead_outcomes GROUP BY lead_id), "
        f"known AS (SELECT l.lead_id, {label} AS label, COALESCE(a.arrived_at, l.label_recorded_at) AS arrived_at "
        f"FROM leads l LEFT JOIN arrived a ON a.lead_id = l.lead_id WHERE {label} IS NOT NULL), "
        "picked AS (SELECT s.score, s.created_date, k.label, "
        "ROW_NUMBER() OVER (PARTITION BY s.lead_id ORDER BY s.run_id DESC) AS pick "
        "FROM lead_scores s JOIN known k ON k.lead_id = s.lead_id WHERE s.scored_at < k.arrived_at) "
        "SELECT s.created_date AS created_date, s.score AS score, s.label AS label FROM picked s WHERE s.pick = 1")
    types = {"score": pa.float64(), "label": pa.float64()}
    keys = ["day_index", "band"]
    parts = [_summed(_counted(chunk, days), keys) for chunk in read_chunks(conn, sql, {}, CHUNK_ROWS, types,
                                                                          ["created_date"])]
    if not parts:
        return pd.DataFrame(columns=[*keys, *COUNTS, "kind"])
    return _with_days(_summed(pd.concat(parts, ignore_index=True), keys), days).assign(kind="live_band")
