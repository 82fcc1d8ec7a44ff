"""Every SQL statement the dashboard runs, in one place: read-only, parametrised, filtered and paged in the database.

Filter values only ever travel as bound parameters. The SQL text is assembled from constant
fragments picked by whitelisted keys (sort orders, dialect helpers) and from the lead schema's column
identifiers, each checked to be a plain identifier and quoted (`_quoted`).

Time: stored moments are UTC (core/clock.py); days and weeks are those of the business time zone
(LEADSCORE_TIMEZONE). Their bounds are computed here, in Python, as UTC instants, and the SQL compares the stored
values with them (an index still serves the comparison; no row is converted). Moments read come back as
wall-clock times in the business zone, as the pages show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, bindparam, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from core.clock import UtcDateTime, day_start, wall_times
from core.config import Settings
from core.lead_schema import LeadSchema, parse_schema
from dashboard.schema_view import SchemaView

EXPORT_MAX_ROWS = 50_000
DETAIL_HISTORY_MAX = 500
REJECTED_ROWS_MAX = 500
TABLES = ("leads", "ingest_batches", "rejected_leads", "scoring_runs", "lead_scores", "current_scores",
          "model_versions", "drift_reports")

# the fixed columns of current_scores (each lead's latest score) the list reads; the schema's channels and list columns follow them
LEAD_COLUMNS = ("lead_id", "run_id", "model_version", "score", "grade", "rank", "predicted", "previous_score",
                "trend", "reasons_positive", "reasons_negative", "created_date", "scored_at")
_IDENTIFIER = re.compile(r"^[a-z0-9_]{1,63}$")

SORTS: dict[str, str] = {
    "Score, best first": "score DESC, lead_id",
    "Score, lowest first": "score ASC, lead_id",
    "Newest leads first": "created_date DESC, lead_id",
    "Oldest leads first": "created_date ASC, lead_id",
}
DEFAULT_SORT = "Score, best first"
SCORE_SORTS = ("Score, best first", "Score, lowest first")

_UNINDEXED_SORT = {  # the same ordering value, but the planner cannot walk an index for it
    "postgresql": {"score": "(score + 0)", "created_date": "(created_date + interval '0 seconds')"},
    "sqlite": {"score": "+score", "created_date": "+created_date"},
}
_SORT_INDEXES = {"score": "ix_current_scores_score", "created_date": "ix_current_scores_created"}
INDEX_WALK_ROWS = 30_000  # index entries worth walking for one page before filtering-then-sorting is cheaper
SQLITE_INDEX_WALK_ROWS = 5_000  # SQLite reads each walked entry's wide row; its narrow list index filters cheaply
LIST_INDEX = "ix_current_scores_list"  # SQLite: the list's filter columns, grade, score, created time, lead id
_SCORE_BAND = {
    "postgresql": "LEAST(CAST(floor(s.score * 10) AS integer), 9)",
    "sqlite": "MIN(CAST(s.score * 10 AS INTEGER), 9)",
}
_VALUE_CONDITIONS = (
    ("created_from", "created_date >= :created_from"),
    ("created_before", "created_date < :created_before"),
    ("min_score", "score >= :min_score"),
    ("new_since", "previous_score IS NULL AND scored_at >= :new_since"),
)
_DATETIME_PARAMS = ("created_from", "created_before", "new_since")


def pick(**columns: tuple) -> tuple[tuple[str, tuple], ...]:
    """Value filters by lead_scores column, e.g. pick(lead_source=("Google",)), in the shape LeadFilters keeps."""
    return tuple((name, tuple(values)) for name, values in sorted(columns.items()) if values)


@dataclass(frozen=True)
class LeadFilters:
    """What a sales rep narrows the lead list by; empty tuples and None mean 'any'.

    picks: (schema column, values): the lead's value is one of them (channels, flags, lookups);
    ranges: (schema column, low, high): inclusive bounds of a number column (None: open)."""

    grades: tuple[str, ...] = ()
    picks: tuple[tuple[str, tuple], ...] = ()
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()
    created_from: date | None = None
    created_to: date | None = None  # inclusive day
    min_score: float | None = None
    new_since: datetime | None = None  # first scored at or after this moment (aware, or naive UTC)

    def bound_values(self) -> dict[str, object]:
        """The parameters of the active filters, keyed as in the SQL conditions."""
        values: dict[str, object] = {"grades": _texts(self.grades)} if self.grades else {}
        for i, (_, chosen) in enumerate(self.picks):
            if chosen:
                values[f"pick_{i}"] = _texts(tuple(chosen))
        for i, (_, low, high) in enumerate(self.ranges):
            values.update({k: float(v) for k, v in ((f"low_{i}", low), (f"high_{i}", high)) if v is not None})
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name in ("min_score", "new_since")}
        plain["created_from"] = _start_of(self.created_from)
        plain["created_before"] = _start_of(self.created_to + timedelta(days=1)) if self.created_to else None
        return {**values, **{k: v for k, v in plain.items() if v is not None}}

    def conditions(self) -> list[str]:
        """The SQL conditions of the active filters (constant fragments and checked identifiers only)."""
        values = self.bound_values()
        out = ["grade IN :grades"] if "grades" in values else []
        out += [f"{_quoted(column)} IN :pick_{i}" for i, (column, _) in enumerate(self.picks) if f"pick_{i}" in values]
        for i, (column, _, _) in enumerate(self.ranges):
            out += [f"{_quoted(column)} {op} :{name}_{i}" for name, op in (("low", ">="), ("high", "<="))
                    if f"{name}_{i}" in values]
        return out + [sql for name, sql in _VALUE_CONDITIONS if name in values]


@dataclass(frozen=True)
class FilterOptions:
    """The values a filter can take, read from the current scores."""

    choices: tuple[tuple[str, tuple], ...]  # pick column -> its values, in a natural order
    spans: tuple[tuple[str, float | None, float | None], ...]  # range column -> lowest and highest value
    first_created: date | None
    last_created: date | None

    def values_of(self, column: str) -> tuple:
        """The values a pick column holds."""
        return dict(self.choices).get(column, ())

    def span_of(self, column: str) -> tuple[float | None, float | None]:
        """The lowest and highest value of a range column."""
        return next(((lo, hi) for name, lo, hi in self.spans if name == column), (None, None))


def _quoted(name: str) -> str:
    """A schema column identifier, double-quoted; anything but a plain identifier is refused."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"not a column identifier: {name!r}")
    return f'"{name}"'


def _texts(values: tuple) -> list:
    """A filter list as bound values; NUL characters, which Postgres text cannot hold, are dropped."""
    return [_text(v) if isinstance(v, str) else v for v in values]


def _text(value: str) -> str:
    return value.replace("\x00", "")


def _columns(view: SchemaView, prefix: str = "") -> str:
    names = [prefix + name for name in LEAD_COLUMNS] + [prefix + _quoted(c.key) for c in view.copied]
    return ", ".join(names)


def _start_of(day: date | None) -> datetime | None:
    """When the day begins in the business time zone, as an aware UTC instant."""
    return None if day is None else day_start(day)


def _frame(conn: Connection | Engine, clause: TextClause, params: dict | None = None,
           dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Run a statement and return a frame, with moment columns as wall-clock times in the business time zone
    (whatever the dialect returns: SQLite's text of the UTC instant, Postgres' timestamptz)."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return _frame(connection, clause, params, dates)
    result = conn.execute(clause, params or {})
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for name in dates:
        frame[name] = wall_times(pd.to_datetime(frame[name], format="mixed", utc=True))
    return frame


def _dialect(conn: Connection | Engine) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _where_current(filters: LeadFilters) -> tuple[str, dict[str, object]]:
    """The WHERE clause of the current-score list and its parameters."""
    return " AND ".join(filters.conditions()) or "1 = 1", filters.bound_values()


def _bind(sql: str, values: dict[str, object]) -> TextClause:
    """A text clause whose list parameters expand into IN-lists and whose moments are typed."""
    clause = text(sql)
    lists = [bindparam(name, expanding=True) for name in values if name == "grades" or name.startswith("pick_")]
    moments = [bindparam(name, type_=UtcDateTime()) for name in _DATETIME_PARAMS if name in values]
    return clause.bindparams(*lists, *moments)


# ---- the lead schema of the database ------------------------------------------------------------

def stored_schema_text(conn: Connection | Engine) -> str | None:
    """The lead schema (YAML) the database was written under, or None when it records none."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return stored_schema_text(connection)
    if not inspect(conn).has_table("schema_info"):
        return None
    row = conn.execute(text("SELECT source_text FROM schema_info ORDER BY id LIMIT 1")).first()
    return None if row is None else row[0]


def lead_schema(conn: Connection | Engine) -> LeadSchema:
    """The database's lead schema; LEADSCORE_SCHEMA (else the built-in one) when it records none yet."""
    source = stored_schema_text(conn)
    return parse_schema(source, origin="schema_info") if source else Settings().lead_schema()


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

def lead_page(conn: Connection | Engine, view: SchemaView, filters: LeadFilters, sort: str = DEFAULT_SORT,
              limit: int = 50, offset: int = 0, selectivity: float | None = None) -> pd.DataFrame:
    """One page of current scores matching the filters, in the chosen order.

    selectivity (matching share of the current scores, when the caller knows it) picks the plan: walking
    the sort index is fast until the page sits beyond many non-matching entries; then the matches are
    filtered first and sorted (same rows, same order).
    """
    if filters.grades and sort in SCORE_SORTS:
        return _lead_page_by_grade(conn, view, filters, SORTS[sort], int(limit), int(offset))
    order = _order(conn, sort, int(offset) + int(limit), selectivity)
    where, values = _where_current(filters)
    table = _scores_table(conn, filters, order, sort)
    page = f"FROM {table} WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"
    if table.endswith(LIST_INDEX):  # the page's rows found in the narrow index alone, then only they are read
        sql = (f"SELECT {_columns(view)} FROM current_scores WHERE rowid IN (SELECT rowid {page}) "
               f"ORDER BY {SORTS[sort]}")
    else:
        sql = f"SELECT {_columns(view)} {page}"
    params = {**values, "limit": int(limit), "offset": int(offset)}
    return _frame(conn, _bind(sql, values), params, dates=("created_date", "scored_at"))


def _order(conn: Connection | Engine, sort: str, rows_needed: int, selectivity: float | None) -> str:
    """The sort, or the same sort through an expression no index serves when walking the index would be slow."""
    order = SORTS[sort]
    walk = INDEX_WALK_ROWS if _dialect(conn) == "postgresql" else SQLITE_INDEX_WALK_ROWS
    if selectivity is None or rows_needed / max(selectivity, 1e-9) <= walk:
        return order
    column = order.split()[0]
    return _UNINDEXED_SORT[_dialect(conn)][column] + order[len(column):]


def _scores_table(conn: Connection | Engine, filters: LeadFilters, order: str | None = None,
                  sort: str | None = None) -> str:
    """current_scores, on SQLite with the index to read named (INDEXED BY): its planner has no per-value statistics
    and would otherwise read every lead of a created-date range, a grade or a channel value through an index and
    sort them. A page in the sort's order walks the sort's index; the rest read the narrow index of the list's
    filter columns instead of the wide rows, unless only grades or "new since" are asked (their own indexes)."""
    if _dialect(conn) != "sqlite":
        return "current_scores"
    if sort is not None and order == SORTS[sort]:
        return f"current_scores INDEXED BY {_SORT_INDEXES[order.split()[0]]}"
    narrowing = set(filters.bound_values()) - {"grades", "new_since"}  # conditions only the narrow index serves
    return f"current_scores INDEXED BY {LIST_INDEX}" if narrowing and _has_list_index(conn) else "current_scores"


def _has_list_index(conn: Connection | Engine) -> bool:
    """The narrow index exists (a database not yet migrated to revision 0006 by a flow has none)."""
    sql = text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :name")
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return connection.execute(sql, {"name": LIST_INDEX}).first() is not None
    return conn.execute(sql, {"name": LIST_INDEX}).first() is not None


def _lead_page_by_grade(conn: Connection | Engine, view: SchemaView, filters: LeadFilters, order: str, limit: int,
                        offset: int) -> pd.DataFrame:
    """Grade-filtered pages by score: one ordered branch per grade (its own index range), merged.

    Grades are bands of the score, so one scan in score order would first wade through every lead
    of the better grades; each branch instead reads its grade's leads in score order and stops early.
    """
    grades = sorted({_text(g) for g in filters.grades})
    where, values = _where_current(replace(filters, grades=()))
    columns = _columns(view)
    table = "current_scores INDEXED BY ix_current_scores_grade_score" if _dialect(conn) == "sqlite" else "current_scores"
    branches = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {columns} FROM {table} WHERE {where} AND grade = :grade_{i} "
        f"ORDER BY {order} LIMIT :window) AS grade_{i}" for i in range(len(grades)))
    sql = f"SELECT {columns} FROM ({branches}) AS merged ORDER BY {order} LIMIT :limit OFFSET :offset"
    params = {**values, **{f"grade_{i}": g for i, g in enumerate(grades)},
              "window": offset + limit, "limit": limit, "offset": offset}
    return _frame(conn, _bind(sql, values), params, dates=("created_date", "scored_at"))


def grade_counts(conn: Connection | Engine, filters: LeadFilters) -> dict[str, int]:
    """How many current scores match the filters, per grade (one scan gives the total too)."""
    where, values = _where_current(filters)
    sql = f"SELECT grade, COUNT(*) AS n FROM {_scores_table(conn, filters)} WHERE {where} GROUP BY grade"
    frame = _frame(conn, _bind(sql, values), values)
    return {str(g): int(n) for g, n in zip(frame["grade"], frame["n"], strict=True)}


def export_leads(conn: Connection | Engine, view: SchemaView, filters: LeadFilters, sort: str = DEFAULT_SORT,
                 max_rows: int = EXPORT_MAX_ROWS) -> pd.DataFrame:
    """The filtered list for a CSV call list, capped by the query itself."""
    return lead_page(conn, view, filters, sort, limit=max_rows, offset=0)


def filter_options(conn: Connection | Engine, view: SchemaView) -> FilterOptions:
    """Values of the pick columns, spans of the range columns and the created-date span, in one scan."""
    picks = [c.key for c in view.copied if c.choice]
    ranges = [c.key for c in view.copied if not c.choice]
    select = [f"{_quoted(k)} AS c_{i}" for i, k in enumerate(picks)]
    select += [f"MIN({_quoted(k)}) AS lo_{i}, MAX({_quoted(k)}) AS hi_{i}" for i, k in enumerate(ranges)]
    select += ["MIN(created_date) AS lo, MAX(created_date) AS hi"]
    group = f" GROUP BY {', '.join(_quoted(k) for k in picks)}" if picks else ""
    combos = _frame(conn, text(f"SELECT {', '.join(select)} FROM current_scores{group}"),
                    dates=("lo", "hi"))
    lo, hi = combos["lo"].min(), combos["hi"].max()
    return FilterOptions(
        choices=tuple((k, _natural(combos[f"c_{i}"].dropna().unique())) for i, k in enumerate(picks)),
        spans=tuple((k, _number(combos[f"lo_{i}"].min()), _number(combos[f"hi_{i}"].max()))
                    for i, k in enumerate(ranges)),
        first_created=None if pd.isna(lo) else lo.date(), last_created=None if pd.isna(hi) else hi.date())


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _natural(codes: object) -> tuple:
    """Numbers in order; texts with Level2 before Level10 (by their number when they have one)."""
    values = list(codes)
    if all(isinstance(v, int | float) for v in values):
        return tuple(sorted(float(v) for v in values))

    def key(code: str) -> tuple:
        digits = "".join(ch for ch in code if ch.isdigit())
        return (code.rstrip("0123456789"), int(digits) if digits else -1, code)
    return tuple(sorted((str(c) for c in values), key=key))


def lead_current(conn: Connection | Engine, view: SchemaView, lead_id: str) -> pd.DataFrame:
    """A lead's latest score with its stored lead row: raw__0.. in the schema's column order, and its outcome
    (outcome__; double underscores keep these apart from the schema's own column keys)."""
    raw = ", ".join(f"l.{_quoted(db_name)} AS raw__{i}" for i, (_, db_name) in enumerate(view.raw_columns))
    sql = (f"SELECT {_columns(view, 's.')}, {raw + ', ' if raw else ''}l.{_quoted(view.label_db)} AS outcome__ "
           "FROM current_scores s LEFT JOIN leads l ON l.lead_id = s.lead_id WHERE s.lead_id = :lead_id")
    return _frame(conn, text(sql), {"lead_id": _text(lead_id)}, dates=("created_date", "scored_at"))


def lead_history(conn: Connection | Engine, lead_id: str) -> pd.DataFrame:
    """Every score a lead has had, oldest first, with when each run finished."""
    sql = ("SELECT s.run_id, s.model_version, s.score, s.grade, s.rank, s.trend, s.scored_at, r.finished_at "
           "FROM lead_scores s LEFT JOIN scoring_runs r ON r.run_id = s.run_id "
           "WHERE s.lead_id = :lead_id ORDER BY s.run_id LIMIT :limit")
    params = {"lead_id": _text(lead_id), "limit": DETAIL_HISTORY_MAX}
    return _frame(conn, text(sql), params, dates=("scored_at", "finished_at"))


# ---- channels (sales manager) ---------------------------------------------------------------

def _channel_sql(outcome: str, select: str, group: str, channel: str | None = None) -> str:
    """An aggregate over current scores joined to outcomes (the schema's label column in `leads`)."""
    column = f"s.{_quoted(channel)}" if channel else "NULL"
    label = f"l.{_quoted(outcome)}"
    return (f"SELECT {select.format(channel=column)}, COUNT(*) AS leads, AVG(s.score) AS mean_score, "
            f"COUNT({label}) AS with_outcome, SUM(CASE WHEN {label} = 1 THEN 1 ELSE 0 END) AS completed "
            "FROM current_scores s LEFT JOIN leads l ON l.lead_id = s.lead_id "
            "WHERE s.created_date >= :lo AND s.created_date < :hi "
            f"GROUP BY {group.format(channel=column)}")


def _span(created_from: date, created_to: date) -> dict[str, datetime]:
    return {"lo": _start_of(created_from), "hi": _start_of(created_to + timedelta(days=1))}


def _span_clause(sql: str, moments: tuple[str, ...] = ()) -> TextClause:
    return text(sql).bindparams(*(bindparam(name, type_=UtcDateTime()) for name in ("lo", "hi", *moments)))


def channel_summary(conn: Connection | Engine, outcome: str, channel: str, created_from: date,
                    created_to: date) -> pd.DataFrame:
    """Per value of a channel column: volume, mean score, grade mix and the actual outcome rate where known."""
    grade_mix = ", ".join(f"SUM(CASE WHEN s.grade = '{g}' THEN 1 ELSE 0 END) AS grade_{g.lower()}" for g in "ABCD")
    sql = _channel_sql(outcome, "{channel} AS channel, " + grade_mix, "{channel}", channel) + " ORDER BY leads DESC"
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))


def weekly_channel_trend(conn: Connection | Engine, outcome: str, channel: str, created_from: date,
                         created_to: date) -> pd.DataFrame:
    """Per week (from Monday midnight in the business time zone) and channel value: volume, mean score and
    outcomes. Each lead's week is found by comparing its stored UTC time with the weeks' UTC starts."""
    weeks = _mondays(created_from, created_to)
    starts = {f"week_{i}": _start_of(monday) for i, monday in enumerate(weeks) if i > 0}
    bucket = _week_of("s.created_date", 0, len(weeks) - 1)
    sql = _channel_sql(outcome, f"{bucket} AS week, {{channel}} AS channel", "1, 2", channel)
    frame = _frame(conn, _span_clause(sql + " ORDER BY 1, 2", tuple(starts)), {**_span(created_from, created_to), **starts})
    frame["week"] = pd.to_datetime(pd.Series([weeks[int(i)] for i in frame["week"]], dtype=object))
    return frame


def _mondays(created_from: date, created_to: date) -> list[date]:
    """The Mondays of the weeks from created_from's to created_to's (at least created_from's)."""
    first = created_from - timedelta(days=created_from.weekday())
    return [first + timedelta(weeks=i) for i in range(max(0, (created_to - first).days // 7) + 1)]


def _week_of(column: str, first: int, last: int) -> str:
    """The index of the week (first..last) a moment falls in: a balanced tree of comparisons with the bound
    week starts `:week_i`, a handful per row. Rows before week `first`'s start are not asked about (the span
    excludes them)."""
    if first == last:
        return str(first)
    middle = (first + last + 1) // 2
    return (f"CASE WHEN {column} < :week_{middle} THEN {_week_of(column, first, middle - 1)} "
            f"ELSE {_week_of(column, middle, last)} END")


def score_band_conversion(conn: Connection | Engine, outcome: str, created_from: date,
                          created_to: date) -> pd.DataFrame:
    """Per score band of width 0.1: volume and the actual outcome rate where known (does the score separate?)."""
    band = _SCORE_BAND[_dialect(conn)]
    sql = _channel_sql(outcome, f"{band} AS band", band) + " ORDER BY band"
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))


def grade_conversion(conn: Connection | Engine, outcome: str, created_from: date, created_to: date) -> pd.DataFrame:
    """Per grade: volume, mean score and the actual outcome rate where known."""
    sql = _channel_sql(outcome, "s.grade AS grade", "s.grade") + " ORDER BY grade"
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


# ---- live performance: outcomes that came back (data team, sales manager) -------------------

LIVE_TABLES = ("lead_outcomes", "live_performance", "retrain_decisions")
LIVE_OVERALL = "all"  # core.live.OVERALL: the period of a version's overall row
DECISIONS_MAX = 200
_LIVE_FIGURES = ("p.model_version, p.computed_at, p.period, p.period_start, p.period_end, p.n_labelled, p.n_positive, "
                 "p.needed, p.auc, p.pr_auc, p.precision, p.recall, p.threshold, p.completion_by_grade")
_LIVE_MOMENTS = ("computed_at", "period_start", "period_end")  # period_*: the UTC text of the first / last creation
_LATEST_OVERALL = ("SELECT id, model_version, computed_at, ROW_NUMBER() OVER (PARTITION BY model_version "
                   "ORDER BY computed_at DESC, id DESC) AS pick FROM live_performance WHERE period = :overall")


def live_overall(conn: Connection | Engine) -> pd.DataFrame:
    """Each version's latest overall live figures (one row per version, newest version first), with the
    calibration and exclusion counts of that evaluation."""
    sql = (f"SELECT {_LIVE_FIGURES}, p.calibration, p.excluded_never_scored, p.excluded_scored_after_outcome "
           f"FROM live_performance p JOIN ({_LATEST_OVERALL}) t ON t.id = p.id AND t.pick = 1 "
           "ORDER BY p.computed_at DESC, p.model_version DESC")
    return _frame(conn, text(sql), {"overall": LIVE_OVERALL}, dates=_LIVE_MOMENTS)


def live_weekly(conn: Connection | Engine) -> pd.DataFrame:
    """The weekly rows of each version's latest evaluation (the evaluation of its latest overall row), by week."""
    sql = (f"SELECT {_LIVE_FIGURES} FROM live_performance p "
           f"JOIN ({_LATEST_OVERALL}) t ON t.model_version = p.model_version AND t.computed_at = p.computed_at "
           "AND t.pick = 1 WHERE p.period <> :overall ORDER BY p.model_version, p.period")
    return _frame(conn, text(sql), {"overall": LIVE_OVERALL}, dates=_LIVE_MOMENTS)


def live_snapshot(conn: Connection | Engine, model_version: str) -> str | None:
    """The Evidently classification snapshot of a version's latest overall evaluation (HTML on demand)."""
    sql = (f"SELECT p.snapshot_json FROM live_performance p JOIN ({_LATEST_OVERALL}) t ON t.id = p.id AND t.pick = 1 "
           "WHERE p.model_version = :version")
    row = _frame(conn, text(sql), {"overall": LIVE_OVERALL, "version": _text(str(model_version))})
    return None if row.empty else row["snapshot_json"].iloc[0]


def live_tables_with_rows(conn: Connection | Engine) -> set[str]:
    """Which of the outcome tables (issue 11) exist and hold at least one row."""
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return live_tables_with_rows(connection)
    existing = set(inspect(conn).get_table_names()) & set(LIVE_TABLES)
    return {name for name in existing if conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first()}


def retrain_decisions(conn: Connection | Engine, limit: int = DECISIONS_MAX) -> pd.DataFrame:
    """The nightly retraining decisions with their one-line reasons, newest first."""
    sql = ("SELECT decided_at, champion_version, retrain, reason, outcome FROM retrain_decisions "
           "ORDER BY decided_at DESC, id DESC LIMIT :limit")
    frame = _frame(conn, text(sql), {"limit": int(limit)}, dates=("decided_at",))
    frame["retrain"] = frame["retrain"].astype(bool)
    return frame


def _live_band_sql(outcome: str, band: str) -> str:
    """Per lead with a known outcome: the latest score it got before its outcome first arrived (the first
    outcome feed's time, else when the label was recorded), then counted per score band."""
    label = f"l.{_quoted(outcome)}"
    return (
        "WITH arrived AS (SELECT lead_id, MIN(recorded_at) AS arrived_at FROM lead_outcomes GROUP BY lead_id), "
        f"known AS (SELECT l.lead_id, {label} AS label, COALESCE(a.arrived_at, l.label_recorded_at) AS arrived_at "
        f"FROM leads l LEFT JOIN arrived a ON a.lead_id = l.lead_id WHERE {label} IS NOT NULL), "
        "picked AS (SELECT s.score, k.label, ROW_NUMBER() OVER (PARTITION BY s.lead_id ORDER BY s.run_id DESC) AS pick "
        "FROM lead_scores s JOIN known k ON k.lead_id = s.lead_id "
        "WHERE s.scored_at < k.arrived_at AND s.created_date >= :lo AND s.created_date < :hi) "
        f"SELECT {band} AS band, COUNT(*) AS leads, AVG(s.score) AS mean_score, COUNT(*) AS with_outcome, "
        "SUM(CASE WHEN s.label = 1 THEN 1 ELSE 0 END) AS completed FROM picked s WHERE s.pick = 1 "
        f"GROUP BY {band} ORDER BY band")


def live_score_band_conversion(conn: Connection | Engine, outcome: str, created_from: date,
                               created_to: date) -> pd.DataFrame:
    """Per score band: leads whose outcome arrived after they were scored, by the score they had then,
    and how many of them succeeded (does the score work on outcomes it did not see?)."""
    sql = _live_band_sql(outcome, _SCORE_BAND[_dialect(conn)])
    return _frame(conn, _span_clause(sql), _span(created_from, created_to))
