"""Every SQL statement the dashboard runs, in one place: read-only, parametrised, filtered and paged in the database.

Filter values only ever travel as bound parameters. The SQL text is assembled from constant
fragments picked by whitelisted keys (sort orders, channel dimensions, dialect helpers).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import DateTime, Engine, bindparam, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

EXPORT_MAX_ROWS = 50_000
DETAIL_HISTORY_MAX = 500
REJECTED_ROWS_MAX = 500
TABLES = ("leads", "ingest_batches", "rejected_leads", "scoring_runs", "lead_scores",
          "model_versions", "drift_reports")

LEAD_COLUMNS = ("lead_id", "run_id", "model_version", "score", "grade", "rank", "predicted", "previous_score",
                "trend", "reasons_positive", "reasons_negative", "created_date", "city_tier", "first_platform_c",
                "first_utm_medium_c", "first_utm_source_c", "referred_lead", "scored_at")

SORTS: dict[str, str] = {
    "Score, best first": "score DESC, lead_id",
    "Score, lowest first": "score ASC, lead_id",
    "Newest leads first": "created_date DESC, lead_id",
    "Oldest leads first": "created_date ASC, lead_id",
}
DEFAULT_SORT = "Score, best first"
SCORE_SORTS = ("Score, best first", "Score, lowest first")

DIMENSIONS: dict[str, str] = {
    "UTM source": "s.first_utm_source_c",
    "UTM medium": "s.first_utm_medium_c",
    "Platform": "s.first_platform_c",
    "City tier": "s.city_tier",
}

_WEEK = {
    "postgresql": "CAST(date_trunc('week', s.created_date) AS date)",
    "sqlite": "date(s.created_date, 'weekday 0', '-6 days')",
}
_UNINDEXED_SORT = {  # the same ordering value, but the planner cannot walk an index for it
    "postgresql": {"score": "(score + 0)", "created_date": "(created_date + interval '0 seconds')"},
    "sqlite": {"score": "+score", "created_date": "+created_date"},
}
INDEX_WALK_ROWS = 30_000  # index entries worth walking for one page before filtering-then-sorting is cheaper
_SCORE_BAND = {
    "postgresql": "LEAST(CAST(floor(s.score * 10) AS integer), 9)",
    "sqlite": "MIN(CAST(s.score * 10 AS INTEGER), 9)",
}

# (filter field, SQL condition); list filters bind an expanding IN parameter of the same name
_LIST_CONDITIONS = (
    ("grades", "grade IN :grades"),
    ("city_tiers", "city_tier IN :city_tiers"),
    ("sources", "first_utm_source_c IN :sources"),
    ("mediums", "first_utm_medium_c IN :mediums"),
    ("platforms", "first_platform_c IN :platforms"),
)
_VALUE_CONDITIONS = (
    ("created_from", "created_date >= :created_from"),
    ("created_before", "created_date < :created_before"),
    ("min_score", "score >= :min_score"),
    ("new_since", "previous_score IS NULL AND scored_at >= :new_since"),
)
_DATETIME_PARAMS = ("created_from", "created_before", "new_since")


@dataclass(frozen=True)
class LeadFilters:
    """What a sales rep narrows the lead list by; empty tuples and None mean 'any'."""

    grades: tuple[str, ...] = ()
    city_tiers: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    mediums: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    created_from: date | None = None
    created_to: date | None = None  # inclusive day
    min_score: float | None = None
    new_since: datetime | None = None  # first scored at or after this moment

    def bound_values(self) -> dict[str, object]:
        """The parameters of the active filters, keyed as in the SQL conditions."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["created_from"] = _start_of(self.created_from)
        values["created_before"] = _start_of(self.created_to + timedelta(days=1)) if self.created_to else None
        values.pop("created_to")
        return {k: (_texts(v) if isinstance(v, tuple) else v) for k, v in values.items() if v not in (None, ())}


@dataclass(frozen=True)
class FilterOptions:
    """The values a filter can take, read from the current scores."""

    sources: tuple[str, ...]
    mediums: tuple[str, ...]
    platforms: tuple[str, ...]
    city_tiers: tuple[int, ...]
    first_created: date | None
    last_created: date | None


def _texts(values: tuple) -> list:
    """A filter list as bound values; NUL characters, which Postgres text cannot hold, are dropped."""
    return [_text(v) if isinstance(v, str) else v for v in values]


def _text(value: str) -> str:
    return value.replace("\x00", "")


def _columns(prefix: str = "") -> str:
    return ", ".join(prefix + name for name in LEAD_COLUMNS)


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min)


def _frame(conn: Connection | Engine, clause: TextClause, params: dict | None = None,
           dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Run a statement and return a frame, with date columns parsed whatever the dialect returns."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return _frame(connection, clause, params, dates)
    result = conn.execute(clause, params or {})
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for name in dates:
        frame[name] = pd.to_datetime(frame[name], format="mixed")
    return frame


def _dialect(conn: Connection | Engine) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _where_current(filters: LeadFilters) -> tuple[str, dict[str, object]]:
    """The WHERE clause of the current-score list (constant fragments only) and its parameters."""
    values = filters.bound_values()
    conditions = ["is_current"]
    conditions += [sql for name, sql in _LIST_CONDITIONS + _VALUE_CONDITIONS if name in values]
    return " AND ".join(conditions), values


def _bind(sql: str, values: dict[str, object]) -> TextClause:
    """A text clause whose list parameters expand into IN-lists and whose moments are typed."""
    clause = text(sql)
    lists = [bindparam(name, expanding=True) for name, _ in _LIST_CONDITIONS if name in values]
    moments = [bindparam(name, type_=DateTime()) for name in _DATETIME_PARAMS if name in values]
    return clause.bindparams(*lists, *moments)


# ---- presence -------------------------------------------------------------------------------

def tables_with_rows(conn: Connection | Engine) -> set[str]:
    """Which of the platform's tables exist and hold at least one row (for empty states)."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return tables_with_rows(connection)
    existing = set(inspect(conn).get_table_names()) & set(TABLES)
    return {name for name in existing if conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first()}


def scoring_marker(conn: Connection | Engine) -> str:
    """Changes whenever a scoring run starts or finishes (a tiny table): cached aggregates are fresh while it holds."""
    sql = "SELECT COUNT(*) AS runs, MAX(run_id) AS latest, MAX(finished_at) AS finished FROM scoring_runs"
    row = _frame(conn, text(sql)).iloc[0]
    return f"{row['runs']}:{row['latest']}:{row['finished']}"


# ---- leads (sales rep) ----------------------------------------------------------------------

def lead_page(conn: Connection | Engine, filters: LeadFilters, sort: str = DEFAULT_SORT,
              limit: int = 50, offset: int = 0, selectivity: float | None = None) -> pd.DataFrame:
    """One page of current scores matching the filters, in the chosen order.

    selectivity (matching share of the current scores, when the caller knows it) picks the plan: walking
    the sort index is fast until the page sits beyond many non-matching entries; then the matches are
    filtered first and sorted (same rows, same order).
    """
    if filters.grades and sort in SCORE_SORTS:
        return _lead_page_by_grade(conn, filters, SORTS[sort], int(limit), int(offset))
    order = _order(conn, sort, int(offset) + int(limit), selectivity)
    where, values = _where_current(filters)
    sql = f"SELECT {_columns()} FROM lead_scores WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"
    params = {**values, "limit": int(limit), "offset": int(offset)}
    return _frame(conn, _bind(sql, values), params, dates=("created_date", "scored_at"))


def _order(conn: Connection | Engine, sort: str, rows_needed: int, selectivity: float | None) -> str:
    """The sort, or the same sort through an expression no index serves when walking the index would be slow."""
    order = SORTS[sort]
    if selectivity is None or rows_needed / max(selectivity, 1e-9) <= INDEX_WALK_ROWS:
        return order
    column = order.split()[0]
    return _UNINDEXED_SORT[_dialect(conn)][column] + order[len(column):]


def _lead_page_by_grade(conn: Connection | Engine, filters: LeadFilters, order: str, limit: int,
                        offset: int) -> pd.DataFrame:
    """Grade-filtered pages by score: one ordered branch per grade (its own index range), merged.

    Grades are bands of the score, so one scan in score order would first wade through every lead
    of the better grades; each branch instead reads its grade's leads in score order and stops early.
    """
    grades = sorted({_text(g) for g in filters.grades})
    where, values = _where_current(replace(filters, grades=()))
    branches = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {_columns()} FROM lead_scores WHERE {where} AND grade = :grade_{i} "
        f"ORDER BY {order} LIMIT :window) AS grade_{i}" for i in range(len(grades)))
    sql = f"SELECT {_columns()} FROM ({branches}) AS merged ORDER BY {order} LIMIT :limit OFFSET :offset"
    params = {**values, **{f"grade_{i}": g for i, g in enumerate(grades)},
              "window": offset + limit, "limit": limit, "offset": offset}
    return _frame(conn, _bind(sql, values), params, dates=("created_date", "scored_at"))


def grade_counts(conn: Connection | Engine, filters: LeadFilters) -> dict[str, int]:
    """How many current scores match the filters, per grade (one scan gives the total too)."""
    where, values = _where_current(filters)
    sql = f"SELECT grade, COUNT(*) AS n FROM lead_scores WHERE {where} GROUP BY grade"
    frame = _frame(conn, _bind(sql, values), values)
    return {str(g): int(n) for g, n in zip(frame["grade"], frame["n"], strict=True)}


def export_leads(conn: Connection | Engine, filters: LeadFilters, sort: str = DEFAULT_SORT,
                 max_rows: int = EXPORT_MAX_ROWS) -> pd.DataFrame:
    """The filtered list for a CSV call list, capped by the query itself."""
    return lead_page(conn, filters, sort, limit=max_rows, offset=0)


def filter_options(conn: Connection | Engine) -> FilterOptions:
    """Channel codes, tiers and the created-date span of the current scores, in one scan."""
    sql = ("SELECT first_utm_source_c AS source, first_utm_medium_c AS medium, first_platform_c AS platform, "
           "city_tier AS tier, MIN(created_date) AS lo, MAX(created_date) AS hi FROM lead_scores "
           "WHERE is_current GROUP BY first_utm_source_c, first_utm_medium_c, first_platform_c, city_tier")
    combos = _frame(conn, text(sql), dates=("lo", "hi"))
    lo, hi = combos["lo"].min(), combos["hi"].max()
    return FilterOptions(
        sources=_natural(combos["source"].unique()), mediums=_natural(combos["medium"].unique()),
        platforms=_natural(combos["platform"].unique()), city_tiers=tuple(sorted(int(t) for t in combos["tier"].unique())),
        first_created=None if pd.isna(lo) else lo.date(), last_created=None if pd.isna(hi) else hi.date())


def _natural(codes: object) -> tuple[str, ...]:
    """Level2 before Level10: sort codes by their number when they have one."""
    def key(code: str) -> tuple:
        digits = "".join(ch for ch in code if ch.isdigit())
        return (code.rstrip("0123456789"), int(digits) if digits else -1, code)
    return tuple(sorted((str(c) for c in codes), key=key))


def lead_current(conn: Connection | Engine, lead_id: str) -> pd.DataFrame:
    """A lead's latest score with its stored lead row (outcome, city), zero or one row."""
    sql = (f"SELECT {_columns('s.')}, l.city_mapped, l.app_complete_flag, "
           "l.total_leads_droppped FROM lead_scores s LEFT JOIN leads l ON l.lead_id = s.lead_id "
           "WHERE s.is_current AND s.lead_id = :lead_id")
    return _frame(conn, text(sql), {"lead_id": _text(lead_id)}, dates=("created_date", "scored_at"))


def lead_history(conn: Connection | Engine, lead_id: str) -> pd.DataFrame:
    """Every score a lead has had, oldest first, with when each run finished."""
    sql = ("SELECT s.run_id, s.model_version, s.score, s.grade, s.rank, s.trend, s.scored_at, r.finished_at "
           "FROM lead_scores s LEFT JOIN scoring_runs r ON r.run_id = s.run_id "
           "WHERE s.lead_id = :lead_id ORDER BY s.run_id LIMIT :limit")
    params = {"lead_id": _text(lead_id), "limit": DETAIL_HISTORY_MAX}
    return _frame(conn, text(sql), params, dates=("scored_at", "finished_at"))


# ---- channels (sales manager) ---------------------------------------------------------------

def _channel_sql(select: str, group: str, dimension: str | None = None) -> str:
    """An aggregate over current scores joined to outcomes; the dimension comes from the whitelist."""
    column = DIMENSIONS[dimension] if dimension else "NULL"
    return (f"SELECT {select.format(channel=column)}, COUNT(*) AS leads, AVG(s.score) AS mean_score, "
            "COUNT(l.app_complete_flag) AS with_outcome, "
            "SUM(CASE WHEN l.app_complete_flag = 1 THEN 1 ELSE 0 END) AS completed "
            "FROM lead_scores s LEFT JOIN leads l ON l.lead_id = s.lead_id "
            "WHERE s.is_current AND s.created_date >= :lo AND s.created_date < :hi "
            f"GROUP BY {group.format(channel=column)}")


def _span(created_from: date, created_to: date) -> dict[str, datetime]:
    return {"lo": _start_of(created_from), "hi": _start_of(created_to + timedelta(days=1))}


def _span_clause(sql: str) -> TextClause:
    return text(sql).bindparams(bindparam("lo", type_=DateTime()), bindparam("hi", type_=DateTime()))


def channel_summary(conn: Connection | Engine, dimension: str, created_from: date,
                    created_to: date) -> pd.DataFrame:
    """Per channel: volume, mean score, grade mix and actual L2AC where outcomes are known."""
    grade_mix = ", ".join(f"SUM(CASE WHEN s.grade = '{g}' THEN 1 ELSE 0 END) AS grade_{g.lower()}" for g in "ABCD")
    sql = _channel_sql("{channel} AS channel, " + grade_mix, "{channel}", dimension) + " ORDER BY leads DESC"
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))


def weekly_channel_trend(conn: Connection | Engine, dimension: str, created_from: date,
                         created_to: date) -> pd.DataFrame:
    """Per week (Monday) and channel: volume, mean score and outcomes."""
    week = _WEEK[_dialect(conn)]
    sql = _channel_sql(f"{week} AS week, {{channel}} AS channel", f"{week}, {{channel}}", dimension)
    frame = _frame(conn, _span_clause(sql + " ORDER BY week"), _span(created_from, created_to))
    frame["week"] = pd.to_datetime(frame["week"], format="mixed")
    return frame


def score_band_conversion(conn: Connection | Engine, created_from: date, created_to: date) -> pd.DataFrame:
    """Per score band of width 0.1: volume and actual L2AC where known (does the score separate?)."""
    band = _SCORE_BAND[_dialect(conn)]
    sql = _channel_sql(f"{band} AS band", band) + " ORDER BY band"
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))


def grade_conversion(conn: Connection | Engine, created_from: date, created_to: date) -> pd.DataFrame:
    """Per grade: volume, mean score and actual L2AC where known."""
    sql = _channel_sql("s.grade AS grade", "s.grade") + " ORDER BY grade"
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))


# ---- model (data team) ----------------------------------------------------------------------

def model_versions(conn: Connection | Engine) -> pd.DataFrame:
    """Every registered model version, newest first, with its stored evaluation JSON."""
    sql = ("SELECT model_name, version, mlflow_run_id, created_at, is_champion, promoted, decision_reason, "
           "metrics_json, threshold, grade_cutoffs_json, curves_json, feature_importance_json "
           "FROM model_versions ORDER BY created_at DESC, version DESC")
    frame = _frame(conn, text(sql), dates=("created_at",))
    for name in ("is_champion", "promoted"):
        frame[name] = frame[name].astype(bool)
    return frame


# ---- drift (data team) ----------------------------------------------------------------------

def drift_history(conn: Connection | Engine) -> pd.DataFrame:
    """The drift summary of every scoring run that has one, oldest first."""
    sql = ("SELECT d.run_id, d.created_at, r.model_version, r.finished_at, d.rows_current, d.rows_reference, "
           "d.share_drifted_columns, d.dataset_drift, d.predicted_positive_share, d.reference_positive_share "
           "FROM drift_reports d LEFT JOIN scoring_runs r ON r.run_id = d.run_id ORDER BY d.run_id")
    frame = _frame(conn, text(sql), dates=("created_at", "finished_at"))
    frame["dataset_drift"] = frame["dataset_drift"].astype(bool)
    return frame


def drift_column_scores(conn: Connection | Engine, run_id: int) -> str | None:
    """The stored per-column JSON of one run's drift report."""
    row = _frame(conn, text("SELECT column_scores FROM drift_reports WHERE run_id = :run_id"), {"run_id": int(run_id)})
    return None if row.empty else row["column_scores"].iloc[0]


def drift_snapshot(conn: Connection | Engine, run_id: int) -> str | None:
    """The stored Evidently snapshot of one run (rendered to HTML on demand)."""
    row = _frame(conn, text("SELECT snapshot_json FROM drift_reports WHERE run_id = :run_id"), {"run_id": int(run_id)})
    return None if row.empty else row["snapshot_json"].iloc[0]


# ---- pipeline health (data team) ------------------------------------------------------------

def ingest_batches(conn: Connection | Engine) -> pd.DataFrame:
    """Every ingested file with where its rows went, newest first."""
    sql = ("SELECT batch_id, file_name, rows_in, loaded, duplicate, rejected, labels_recorded, started_at, "
           "finished_at, sha256 FROM ingest_batches ORDER BY batch_id DESC")
    return _frame(conn, text(sql), dates=("started_at", "finished_at"))


def rejection_reasons(conn: Connection | Engine) -> pd.DataFrame:
    """How many rows were rejected for each reason."""
    sql = "SELECT reason, COUNT(*) AS rows_rejected FROM rejected_leads GROUP BY reason ORDER BY rows_rejected DESC"
    return _frame(conn, text(sql))


def rejected_rows(conn: Connection | Engine, batch_id: int | None = None,
                  limit: int = REJECTED_ROWS_MAX) -> pd.DataFrame:
    """Rejected rows with their reasons, optionally of one batch, capped."""
    where = "WHERE batch_id = :batch_id" if batch_id is not None else ""
    sql = (f"SELECT batch_id, row_number, reason, raw_row FROM rejected_leads {where} "
           "ORDER BY batch_id DESC, row_number LIMIT :limit")
    params = {"limit": int(limit), **({"batch_id": int(batch_id)} if batch_id is not None else {})}
    return _frame(conn, text(sql), params)


def scoring_runs(conn: Connection | Engine) -> pd.DataFrame:
    """Every scoring run with its duration and outcome, newest first."""
    sql = ("SELECT run_id, model_name, model_version, started_at, finished_at, status, leads_scored, "
           "duration_s, error FROM scoring_runs ORDER BY run_id DESC")
    return _frame(conn, text(sql), dates=("started_at", "finished_at"))
