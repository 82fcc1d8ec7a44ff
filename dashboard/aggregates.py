"""The Leads and Channels pages' sums read from the aggregates the scoring run stored (core/score_aggregates.py).

Each reader returns exactly what its namesake in dashboard/queries.py returns from the scores themselves (same
columns, same order), summing the rows of the business days in the window. `usable_run` says whether the stored
aggregates answer for the current scores; when they do not, the pages call dashboard/queries.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from dashboard.queries import FilterOptions, LeadFilters, _natural
from dashboard.schema_view import SchemaView

SUCCEEDED = "succeeded"  # the status core.scoring gives a finished run (core.score_aggregates tags its aggregates)
_SUMS = ("SUM(leads) AS leads, SUM(score_sum) / SUM(leads) AS mean_score, SUM(with_outcome) AS with_outcome, "
         "SUM(completed) AS completed")
_STATE = ("SELECT a.run_id, a.time_zone, a.last_batch_id, "
          "(SELECT MAX(run_id) FROM scoring_runs WHERE status = :succeeded) AS latest, "
          "(SELECT MAX(batch_id) FROM ingest_batches WHERE labels_recorded > 0) AS labelled "
          "FROM score_aggregate_runs a")


def usable_run(conn: Connection | Engine, zone: str) -> int | None:
    """The run whose stored aggregates are those of the current scores and outcomes, in business zone `zone`:
    the latest succeeded run, no ingest batch since then recorded outcomes. None: read the scores."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return usable_run(connection, zone)
    if not inspect(conn).has_table("score_aggregate_runs"):  # a database not migrated to revision 0006 yet
        return None
    row = conn.execute(text(_STATE), {"succeeded": SUCCEEDED}).first()
    if row is None or row.run_id != row.latest or row.time_zone != zone:
        return None
    return row.run_id if (row.labelled or 0) <= row.last_batch_id else None


def _frame(conn: Connection | Engine, sql: str, params: dict) -> pd.DataFrame:
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return _frame(connection, sql, params)
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for name in frame.columns:  # Postgres sums integers as numeric (Decimal)
        if name in ("leads", "score_sum", "mean_score", "with_outcome", "completed", "n") or name.startswith("grade_"):
            frame[name] = pd.to_numeric(frame[name].map(lambda v: None if v is None else float(v)))
    return frame


def _window(run_id: int, kind: str, created_from: date, created_to: date, dimension: str | None = None) -> tuple[str, dict]:
    where = "run_id = :run_id AND kind = :kind AND day >= :lo AND day <= :hi"
    params = {"run_id": run_id, "kind": kind, "lo": created_from, "hi": created_to}
    if dimension is not None:
        where += " AND dimension = :dimension"
        params["dimension"] = dimension
    return where, params


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers and the mean score as a float, as the queries over the scores return them."""
    for name in frame.columns:
        if name in ("leads", "with_outcome", "completed") or name.startswith("grade_"):
            frame[name] = frame[name].astype("int64")
    if "mean_score" in frame:
        frame["mean_score"] = frame["mean_score"].astype(float)
    return frame


def grade_conversion(conn: Connection | Engine, run_id: int, outcome: str, created_from: date,
                     created_to: date) -> pd.DataFrame:
    """Per grade: volume, mean score and the actual outcome rate where known."""
    where, params = _window(run_id, "grade_band", created_from, created_to)
    sql = f"SELECT grade, {_SUMS} FROM score_aggregates WHERE {where} GROUP BY grade ORDER BY grade"
    return _numbers(_frame(conn, sql, params))


def score_band_conversion(conn: Connection | Engine, run_id: int, outcome: str, created_from: date,
                          created_to: date) -> pd.DataFrame:
    """Per score band of width 0.1: volume and the actual outcome rate where known."""
    where, params = _window(run_id, "grade_band", created_from, created_to)
    sql = f"SELECT band, {_SUMS} FROM score_aggregates WHERE {where} GROUP BY band ORDER BY band"
    return _numbers(_frame(conn, sql, params))


def live_score_band_conversion(conn: Connection | Engine, run_id: int, outcome: str, created_from: date,
                               created_to: date) -> pd.DataFrame:
    """Per score band: leads whose outcome arrived after they were scored, by the score they had then."""
    where, params = _window(run_id, "live_band", created_from, created_to)
    sql = f"SELECT band, {_SUMS} FROM score_aggregates WHERE {where} GROUP BY band ORDER BY band"
    return _numbers(_frame(conn, sql, params))


def _channel(frame: pd.DataFrame) -> pd.DataFrame:
    """One channel column from value_text / value_number (a numeric channel stores only numbers)."""
    text_values, numbers = frame.pop("value_text"), frame.pop("value_number")
    numeric = text_values.isna().all() and numbers.notna().any()
    return frame.assign(channel=numbers.astype(float) if numeric else text_values.astype(object))


def channel_summary(conn: Connection | Engine, run_id: int, outcome: str, channel: str, created_from: date,
                    created_to: date) -> pd.DataFrame:
    """Per value of a channel column: volume, mean score, grade mix and the actual outcome rate where known."""
    where, params = _window(run_id, "channel", created_from, created_to, channel)
    grade_mix = ", ".join(f"SUM(CASE WHEN grade = '{g}' THEN leads ELSE 0 END) AS grade_{g.lower()}" for g in "ABCD")
    sql = ("SELECT value_text, value_number, SUM(leads) AS leads, SUM(score_sum) / SUM(leads) AS mean_score, "
           f"SUM(with_outcome) AS with_outcome, SUM(completed) AS completed, {grade_mix} FROM score_aggregates "
           f"WHERE {where} GROUP BY value_text, value_number ORDER BY leads DESC, value_text, value_number")
    frame = _numbers(_channel(_frame(conn, sql, params)))
    columns = ["channel", *(f"grade_{g}" for g in "abcd"), "leads", "mean_score", "with_outcome", "completed"]
    return frame[columns]


def weekly_channel_trend(conn: Connection | Engine, run_id: int, outcome: str, channel: str, created_from: date,
                         created_to: date) -> pd.DataFrame:
    """Per week (from Monday in the business time zone) and channel value: volume, mean score and outcomes."""
    where, params = _window(run_id, "channel", created_from, created_to, channel)
    sql = ("SELECT day, value_text, value_number, SUM(leads) AS leads, SUM(score_sum) AS score_sum, "
           "SUM(with_outcome) AS with_outcome, SUM(completed) AS completed FROM score_aggregates "
           f"WHERE {where} GROUP BY day, value_text, value_number")
    days = _channel(_frame(conn, sql, params))
    days["week"] = [pd.Timestamp(_monday(pd.Timestamp(d).date())) for d in days["day"]]
    weekly = days.groupby(["week", "channel"], as_index=False, dropna=False)[
        ["leads", "score_sum", "with_outcome", "completed"]].sum()
    weekly["mean_score"] = weekly.pop("score_sum").astype(float) / weekly["leads"]
    weekly["week"] = pd.to_datetime(weekly["week"])
    ordered = weekly.sort_values(["week", "channel"], na_position="first", kind="stable").reset_index(drop=True)
    return _numbers(ordered[["week", "channel", "leads", "mean_score", "with_outcome", "completed"]])


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def grade_counts(conn: Connection | Engine, run_id: int, filters: LeadFilters) -> dict[str, int] | None:
    """Current scores per grade when no filter is set (None otherwise: the scores must be read)."""
    if filters != LeadFilters():
        return None
    sql = "SELECT grade, SUM(leads) AS n FROM score_aggregates WHERE run_id = :run_id AND kind = 'grade_band' GROUP BY grade"
    frame = _frame(conn, sql, {"run_id": run_id})
    return {str(g): int(n) for g, n in zip(frame["grade"], frame["n"], strict=True)}


def filter_options(conn: Connection | Engine, run_id: int, view: SchemaView) -> FilterOptions:
    """Values of the pick columns, spans of the range columns and the created-date span."""
    rows = _frame(conn, "SELECT kind, dimension, value_text, value_number FROM score_aggregates "
                        "WHERE run_id = :run_id AND kind IN ('pick', 'low', 'high')", {"run_id": run_id})
    days = _frame(conn, "SELECT MIN(day) AS lo, MAX(day) AS hi FROM score_aggregates "
                        "WHERE run_id = :run_id AND kind = 'grade_band'", {"run_id": run_id}).iloc[0]
    choices = []
    for column in (c for c in view.copied if c.choice):
        mine = rows[(rows["kind"] == "pick") & (rows["dimension"] == column.key)]
        values = mine["value_number" if column.numeric else "value_text"].dropna()
        choices.append((column.key, _natural([float(v) for v in values] if column.numeric else list(values))))
    spans = []
    for column in (c for c in view.copied if not c.choice):
        low = rows[(rows["kind"] == "low") & (rows["dimension"] == column.key)]["value_number"]
        high = rows[(rows["kind"] == "high") & (rows["dimension"] == column.key)]["value_number"]
        spans.append((column.key, float(low.iloc[0]) if len(low) else None, float(high.iloc[0]) if len(high) else None))
    return FilterOptions(choices=tuple(choices), spans=tuple(spans), first_created=_day(days["lo"]),
                         last_created=_day(days["hi"]))


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()
