"""What the dashboard's Leads and Channels pages sum over every current score, computed once per scoring run.

A run's aggregates are small rows per business day (LEADSCORE_TIMEZONE), so the pages answer any window of days
by summing a few thousand rows instead of reading a million scores on every view:

- `grade_band`: per day, grade and score band (width 0.1): leads, score sum, leads with a known outcome, successes;
- `channel`: per day, channel column (`dimension`) and its value, and grade: the same counts;
- `live_band`: per day (of the lead's creation) and score band: leads whose outcome arrived after they were scored,
  counted once under the latest score they had before it arrived;
- `pick` / `low` / `high`: the values of each pick column, and the lowest / highest value of each range column.

Days are bucketed as dashboard/queries.py windows them: the bounds are the UTC instants at which each business
day begins (core.clock.day_start), computed here in Python and compared with the stored UTC moments in SQL.
`score_aggregate_runs` records the run, the time zone the days are of and the newest ingest batch then stored:
the dashboard uses a run's aggregates while that run is the latest that succeeded, the zone is its own and no
later batch recorded outcomes; otherwise it reads the scores themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Engine, bindparam, delete, insert, select, text
from sqlalchemy.engine import Connection

from core import store
from core.clock import UtcDateTime, day_start, local_date, utc_now, zone_name
from core.features import quoted
from core.lead_schema import LeadSchema

SUCCEEDED = "succeeded"  # the status core.scoring writes for a finished run
CHOICE_TYPES = ("category", "flag", "lookup")  # the copied columns a rep filters by picking values
COUNTS = ("leads", "score_sum", "with_outcome", "completed")
CHUNK_ROWS = 200_000
BAND = {"postgresql": "LEAST(CAST(floor(s.score * 10) AS integer), 9)", "sqlite": "MIN(CAST(s.score * 10 AS INTEGER), 9)"}


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
        days = _days(conn)
        frames = [] if not days else [*_one_pass(conn, schema, days), _live_bands(conn, schema, days)]
        rows = pd.concat([f for f in frames if not f.empty], ignore_index=True) if frames else pd.DataFrame()
        conn.execute(delete(store.score_aggregates))
        conn.execute(delete(store.score_aggregate_runs))
        store.bulk_insert(conn, store.score_aggregates.name, _stored(rows.assign(run_id=run_id)))
        batch = conn.execute(text("SELECT MAX(batch_id) FROM ingest_batches")).scalar()
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


def day_bucket(column: str, days: list[date]) -> tuple[str, dict]:
    """The index of the business day a stored moment falls in (0 = days[0]): a balanced tree of comparisons with
    the bound UTC starts of the days (a handful per row; no row's moment is converted), and the bound values."""
    starts = {f"day_{i}": day_start(day) for i, day in enumerate(days) if i > 0}
    return _bucket(column, 0, len(days) - 1), starts


def _bucket(column: str, first: int, last: int) -> str:
    if first == last:
        return str(first)
    middle = (first + last + 1) // 2
    return (f"CASE WHEN {column} < :day_{middle} THEN {_bucket(column, first, middle - 1)} "
            f"ELSE {_bucket(column, middle, last)} END")


def _frame(conn: Connection, sql: str, params: dict) -> pd.DataFrame:
    clause = text(sql).bindparams(*(bindparam(name, type_=UtcDateTime()) for name in params))
    result = conn.execute(clause, params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _with_days(frame: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    frame["day"] = [days[int(i)] for i in frame.pop("day_index")]
    return frame


def _one_pass(conn: Connection, schema: LeadSchema, days: list[date]) -> list[pd.DataFrame]:
    """Grade / band rows, channel rows and the filter options, from one read of the current scores joined to their
    outcomes (in chunks, each summed as it arrives: memory stays flat), the day of each row found in SQL."""
    bucket, params = day_bucket("s.created_date", days)
    copied = list({f.key: f for f in schema.score_copy_features()}.values())
    channels = list(dict.fromkeys(schema.feature(name).key for name in schema.channels))
    label = f"l.{quoted(schema.label.db_name)}"
    columns = "".join(f", s.{quoted(f.key)} AS c_{i}" for i, f in enumerate(copied))
    sql = (f"SELECT {bucket} AS day_index, s.grade AS grade, {BAND[_dialect(conn)]} AS band, s.score AS score_sum, "
           f"{label} AS label{columns} FROM current_scores s LEFT JOIN leads l ON l.lead_id = s.lead_id")
    names = {f"c_{i}": f.key for i, f in enumerate(copied)}
    groupings = {("grade_band", None): ["day_index", "grade", "band"],
                 **{("channel", key): ["day_index", "grade", key] for key in channels}}
    partial: dict[tuple, list[pd.DataFrame]] = {group: [] for group in groupings}
    picks: dict[str, set] = {f.key: set() for f in copied if f.type in CHOICE_TYPES}
    spans: dict[str, list[float]] = {f.key: [] for f in copied if f.type not in CHOICE_TYPES}
    for chunk in _chunks(conn, sql, params):
        label_values = pd.to_numeric(chunk.pop("label"))
        chunk = chunk.rename(columns=names).assign(leads=1, with_outcome=label_values.notna().astype("int64"),
                                                   completed=(label_values == 1).astype("int64"))
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


def _chunks(conn: Connection, sql: str, params: dict, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The statement's rows as frames of at most `rows` rows, read as the driver's tuples (no row objects for a
    million rows): through a server-side cursor on Postgres, SQLite's cursor otherwise."""
    clause = text(sql).bindparams(*(bindparam(name, type_=UtcDateTime()) for name in params))
    if store.is_postgres(conn):
        moments = {name: UtcDateTime().process_bind_param(value, conn.dialect) for name, value in params.items()}
        cursor = conn.connection.driver_connection.cursor(name="score_aggregates_scan")
        cursor.execute(str(clause.compile(dialect=conn.dialect)), moments)
        names = None
    else:
        result = conn.execute(clause, params)
        names, cursor = list(result.keys()), result.cursor
    try:
        while part := cursor.fetchmany(rows):
            names = names or [d[0] for d in cursor.description]
            yield pd.DataFrame.from_records(part, columns=names)
    finally:
        cursor.close()


def _summed(frame: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    return frame.groupby(groups, as_index=False, dropna=False, sort=False)[list(COUNTS)].sum()


def _dialect(conn: Connection) -> str:
    return "postgresql" if store.is_postgres(conn) else "sqlite"


def _valued(frame: pd.DataFrame, numeric: bool) -> pd.DataFrame:
    """A value column split into value_number (numeric columns) or value_text."""
    values = frame.pop("value")
    if numeric:
        return frame.assign(value_number=pd.to_numeric(values, errors="coerce"), value_text=None)
    return frame.assign(value_text=values.astype(object).where(values.notna(), None), value_number=None)


def _live_bands(conn: Connection, schema: LeadSchema, days: list[date]) -> pd.DataFrame:
    """Leads whose outcome arrived after they were scored, by the latest score they had before it arrived."""
    bucket, params = day_bucket("s.created_date", days)
    label = f"l.{quoted(schema.label.db_name)}"
    band = BAND[_dialect(conn)]
    sql = (
        "WITH arrived AS (SELECT lead_id, MIN(recorded_at) AS arrived_at FROM lead_outcomes GROUP BY lead_id), "
        f"known AS (SELECT l.lead_id, {label} AS label, COALESCE(a.arrived_at, l.label_recorded_at) AS arrived_at "
        f"FROM leads l LEFT JOIN arrived a ON a.lead_id = l.lead_id WHERE {label} IS NOT NULL), "
        "picked AS (SELECT s.score, s.created_date, k.label, "
        "ROW_NUMBER() OVER (PARTITION BY s.lead_id ORDER BY s.run_id DESC) AS pick "
        "FROM lead_scores s JOIN known k ON k.lead_id = s.lead_id WHERE s.scored_at < k.arrived_at) "
        f"SELECT {bucket} AS day_index, {band} AS band, COUNT(*) AS leads, SUM(s.score) AS score_sum, "
        "COUNT(*) AS with_outcome, SUM(CASE WHEN s.label = 1 THEN 1 ELSE 0 END) AS completed "
        "FROM picked s WHERE s.pick = 1 GROUP BY 1, 2")
    return _with_days(_frame(conn, sql, params), days).assign(kind="live_band")


