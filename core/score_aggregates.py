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
PARTS_KEPT = 8  # chunk sums held per kind before they are summed into one
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


class ScoreSums:
    """Running sums of scored leads, chunk by chunk (memory stays flat): per business day the grade / band counts and
    the channel counts, the values of each pick column and the span of each range column. Sums of disjoint sets of
    leads merge (merge), so a scoring run sums its own leads as it scores them and only the leads it did not score
    are read back (RunSums)."""

    def __init__(self, schema: LeadSchema) -> None:
        copied = list({f.key: f for f in schema.score_copy_features()}.values())
        self.numeric = {f.key: f.numeric for f in copied}
        self.channels = list(dict.fromkeys(schema.feature(name).key for name in schema.channels))
        self.parts: dict[str | None, list[pd.DataFrame]] = {None: [], **{key: [] for key in self.channels}}
        self.picks: dict[str, set] = {f.key: set() for f in copied if f.type in CHOICE_TYPES}
        self.spans: dict[str, list[float]] = {f.key: [] for f in copied if f.type not in CHOICE_TYPES}

    def add(self, scores: pd.DataFrame, labels: np.ndarray) -> None:
        """One chunk: created_date (naive UTC), grade, score and the copied columns by key; each lead's known
        outcome (NaN: none yet)."""
        if not len(scores):
            return
        day, grade = numbered(business_days(scores["created_date"])), numbered(scores["grade"])
        counts = _counts(scores["score"], labels)
        self._keep(None, summed({"day": day, "grade": grade, "band": numbered(score_bands(scores["score"]))}, counts))
        for key in self.channels:
            self._keep(key, summed({"day": day, "grade": grade, key: numbered(scores[key])}, counts))
        for key, seen in self.picks.items():
            seen.update(scores[key].dropna().unique().tolist())
        for key, bounds in self.spans.items():
            values = pd.to_numeric(scores[key]).dropna()
            bounds.extend([float(values.min()), float(values.max())] if len(values) else [])

    def _keep(self, key: str | None, part: pd.DataFrame) -> None:
        """A chunk's sums; every PARTS_KEPT chunks they are summed into one (memory stays flat at 10M leads)."""
        parts = self.parts[key]
        parts.append(part)
        if len(parts) >= PARTS_KEPT:
            parts[:] = [_resummed(parts, _grouping(key))]

    def merge(self, other: ScoreSums) -> ScoreSums:
        """These sums and another's (of other leads), in place."""
        for key, parts in other.parts.items():
            self.parts[key].extend(parts)
        for key, seen in other.picks.items():
            self.picks[key].update(seen)
        for key, bounds in other.spans.items():
            self.spans[key].extend(bounds)
        return self

    def last_day(self) -> int | None:
        """The latest business day (ordinal) of the summed leads."""
        days = [int(part["day"].max()) for part in self.parts[None] if len(part)]
        return max(days) if days else None

    def frames(self, last_day: int) -> list[pd.DataFrame]:
        """The stored rows of every kind (a lead without a created time counts on `last_day`)."""
        out = []
        for key, parts in self.parts.items():
            frame = _dated(_resummed(parts, _grouping(key)), last_day)
            if key is not None:
                frame = _valued(frame.rename(columns={key: "value"}), self.numeric[key]).assign(dimension=key)
            out.append(frame.assign(kind="grade_band" if key is None else "channel"))
        out += [_valued(pd.DataFrame({"value": pd.Series(sorted(seen, key=str), dtype=object)}), self.numeric[key])
                .assign(kind="pick", dimension=key) for key, seen in self.picks.items()]
        out += [pd.DataFrame({"kind": ["low", "high"], "dimension": key, "value_number": [min(bounds), max(bounds)]})
                for key, bounds in self.spans.items() if bounds]
        return out


def _grouping(channel: str | None) -> list[str]:
    """The keys a kind of sums is grouped by: day and grade, then the score band (None) or the channel's value."""
    return ["day", "grade", "band" if channel is None else channel]


@dataclass(frozen=True)
class RunSums:
    """A scoring run's sums of the leads it scored, and the newest ingest batch when it read their outcomes."""

    run_id: int
    last_batch_id: int
    sums: ScoreSums


def latest_succeeded_run(conn: Connection) -> int | None:
    """The newest scoring run that finished (its scores are the current ones)."""
    return conn.execute(select(store.scoring_runs.c.run_id).where(store.scoring_runs.c.status == SUCCEEDED)
                        .order_by(store.scoring_runs.c.run_id.desc()).limit(1)).scalar()


def newest_batch(conn: Connection) -> int:
    """The newest ingest batch (0: none)."""
    return int(conn.execute(text("SELECT MAX(batch_id) FROM ingest_batches")).scalar() or 0)


def refresh_score_aggregates(engine: Engine, schema: LeadSchema, run: RunSums | None = None) -> AggregatesWritten | None:
    """Replace the stored aggregates by those of the current scores, tagged with the latest succeeded run (None:
    no run has succeeded yet). With the sums of that run's leads (`run`), only the current scores of other runs are
    read back; else every one. One transaction: readers see the old aggregates or the new, never half."""
    start = time.perf_counter()
    with engine.begin() as conn:
        run_id = latest_succeeded_run(conn)
        if run_id is None:
            return None
        run = run if run is not None and run.run_id == run_id else None  # a later run's scores are the current ones
        # read before the scores: an ingest committed meanwhile makes the aggregates look older, never newer
        batch = run.last_batch_id if run is not None else newest_batch(conn)
        sums = _current_sums(conn, schema, run)
        last_day = sums.last_day()
        frames = [] if last_day is None else [*sums.frames(last_day), _live_bands(conn, schema, last_day)]
        rows = pd.concat([f for f in frames if not f.empty], ignore_index=True) if frames else pd.DataFrame()
        conn.execute(delete(store.score_aggregates))
        conn.execute(delete(store.score_aggregate_runs))
        store.bulk_insert(conn, store.score_aggregates.name, _stored(rows.assign(run_id=run_id)))
        conn.execute(insert(store.score_aggregate_runs).values(
            run_id=run_id, time_zone=zone_name(), last_batch_id=batch, computed_at=utc_now(),
            rows=len(rows), duration_s=time.perf_counter() - start))
    days = 0 if rows.empty else rows["day"].dropna().nunique()
    return AggregatesWritten(run_id, len(rows), days, time.perf_counter() - start)


def _stored(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows in the table's column order, counts as integers."""
    names = [c.name for c in store.score_aggregates.columns]
    out = rows.reindex(columns=names)
    for name in ("leads", "with_outcome", "completed", "run_id"):
        out[name] = out[name].fillna(0).astype("int64")
    out["band"] = out["band"].astype("Int64")
    return out


def business_days(moments: pd.Series) -> np.ndarray:
    """The business day (LEADSCORE_TIMEZONE; a date's ordinal) each stored moment (naive UTC) falls in, placed
    among the UTC instants at which the days begin (core.clock.day_start); -1 for a moment without a value."""
    values = moments.to_numpy(dtype="datetime64[us]")
    known = values[~np.isnat(values)]
    if not len(known):
        return np.full(len(values), -1, dtype="int64")
    first, last = (local_date(pd.Timestamp(v).to_pydatetime()) for v in (known.min(), known.max()))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    starts = np.array([day_start(day).replace(tzinfo=None) for day in days[1:]], dtype="datetime64[us]")
    ordinals = np.array([day.toordinal() for day in days], dtype="int64")
    return np.where(np.isnat(values), -1, ordinals[np.searchsorted(starts, values, side="right")])


def score_bands(scores: pd.Series) -> np.ndarray:
    """The score band (width 0.1, a score of 1 in the top band 9)."""
    return np.minimum(np.floor(scores.to_numpy(dtype="float64") * 10), 9).astype("int64")


def _counts(scores: pd.Series, labels: np.ndarray) -> dict[str, np.ndarray]:
    """What each lead adds: itself, its score, its outcome when known, its success."""
    labels = np.asarray(labels, dtype="float64")
    return {"leads": np.ones(len(labels), dtype="int64"), "score_sum": scores.to_numpy(dtype="float64"),
            "with_outcome": (~np.isnan(labels)).astype("int64"), "completed": (labels == 1).astype("int64")}


def numbered(values) -> tuple[np.ndarray, pd.Index]:
    """Each value's number among the distinct values (an empty value is one of them), and those values."""
    codes, levels = pd.factorize(values, use_na_sentinel=False)
    return codes, pd.Index(levels)


def summed(keys: dict[str, tuple[np.ndarray, pd.Index]], counts: dict[str, np.ndarray]) -> pd.DataFrame:
    """The counts summed per distinct combination of the numbered keys (numbered()): the combinations are numbered
    and summed with bincount, in numpy."""
    shape = tuple(max(len(levels), 1) for _, levels in keys.values())
    combined = np.ravel_multi_index(tuple(codes for codes, _ in keys.values()), shape)
    if np.prod(shape, dtype="float64") <= 4 * len(combined):  # few combinations: count them all, keep those seen
        found = np.flatnonzero(np.bincount(combined, minlength=int(np.prod(shape))))
        number = np.zeros(int(np.prod(shape)), dtype="int64")
        number[found] = np.arange(len(found))
        inverse = number[combined]
    else:
        found, inverse = np.unique(combined, return_inverse=True)
    out = {name: levels.take(codes).to_numpy(dtype=object)
           for name, (_, levels), codes in zip(keys, keys.values(), np.unravel_index(found, shape), strict=True)}
    for name, values in counts.items():
        total = np.bincount(inverse, weights=values, minlength=len(found))
        out[name] = total if values.dtype.kind == "f" else np.rint(total).astype("int64")
    return pd.DataFrame(out)


def _resummed(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Partial sums of several chunks summed per key (small frames)."""
    if not parts:
        return pd.DataFrame(columns=[*keys, *COUNTS])
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(keys, as_index=False, dropna=False, sort=False)[list(COUNTS)].sum()


def _dated(frame: pd.DataFrame, last_day: int) -> pd.DataFrame:
    """Day ordinals as dates (a lead without a created time on the last day)."""
    ordinals = frame["day"].to_numpy(dtype="int64")
    frame["day"] = [date.fromordinal(int(o)) for o in np.where(ordinals < 0, last_day, ordinals)]
    return frame


def _valued(frame: pd.DataFrame, numeric: bool) -> pd.DataFrame:
    """A value column split into value_number (numeric columns) or value_text."""
    values = frame.pop("value")
    if numeric:
        return frame.assign(value_number=pd.to_numeric(values, errors="coerce"), value_text=None)
    return frame.assign(value_text=values.astype(object).where(values.notna(), None), value_number=None)


def _current_sums(conn: Connection, schema: LeadSchema, run: RunSums | None) -> ScoreSums:
    """The sums of every current score: those of `run`'s leads as the run summed them, the others read back with
    the outcomes of their leads, in chunks."""
    copied = list({f.key: f for f in schema.score_copy_features()}.values())
    names = {f"c_{i}": f.key for i, f in enumerate(copied)}
    columns = "".join(f", s.{quoted(f.key)} AS c_{i}" for i, f in enumerate(copied))
    sql = (f"{_KNOWN_OUTCOMES.format(label=quoted(schema.label.db_name))} "
           f"SELECT s.created_date AS created_date, s.grade AS grade, s.score AS score, k.label AS label{columns} "
           "FROM current_scores s LEFT JOIN known k ON k.lead_id = s.lead_id"
           + ("" if run is None else " WHERE s.run_id <> :run"))
    types = {"grade": pa.string(), "score": pa.float64(), "label": pa.float64(),
             **{f"c_{i}": pa.float64() if f.numeric else pa.string() for i, f in enumerate(copied)}}
    sums = ScoreSums(schema)
    params = {} if run is None else {"run": run.run_id}
    for chunk in read_chunks(conn, sql, params, CHUNK_ROWS, types, ["created_date"], read_ahead=True):
        labels = chunk.pop("label").to_numpy(dtype="float64")
        sums.add(chunk.rename(columns=names), labels)
    return sums if run is None else sums.merge(run.sums)


def _live_bands(conn: Connection, schema: LeadSchema, last_day: int) -> pd.DataFrame:
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
    keys = ["day", "band"]
    parts = [summed({"day": numbered(business_days(chunk["created_date"])),
                     "band": numbered(score_bands(chunk["score"]))},
                    _counts(chunk["score"], chunk["label"].to_numpy(dtype="float64")))
             for chunk in read_chunks(conn, sql, {}, CHUNK_ROWS, types, ["created_date"])]
    if not parts:
        return pd.DataFrame(columns=[*keys, *COUNTS, "kind"])
    return _dated(_resummed(parts, keys), last_day).assign(kind="live_band")
