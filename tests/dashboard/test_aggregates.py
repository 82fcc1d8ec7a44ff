"""The aggregates a scoring run stores (core/score_aggregates.py) give the Leads and Channels pages exactly what
their queries over the scores give (dashboard/queries.py), on SQLite and Postgres, for any window of business days
(LEADSCORE_TIMEZONE, not UTC here, with leads on both sides of local midnights and daylight-saving changes); and
the pages stop using them as soon as they are no longer those of the current scores."""

from __future__ import annotations

import os
from datetime import date

import pandas as pd
from sqlalchemy import Engine, insert, text

from core import store
from core.clock import utc_now
from core.score_aggregates import refresh_score_aggregates
from dashboard import aggregates, queries
from dashboard.queries import LeadFilters
from dashboard.schema_view import SchemaView, view_of
from tests.dashboard.seed import Seeded, seed_live_outcomes
from tests.dashboard.test_time_zone import CHANNEL, OUTCOME, _per_berlin_day, scored_in_berlin  # noqa: F401

ZONE = "Asia/Kolkata"  # UTC+5:30: local midnight is 18:30 UTC, so UTC days and business days differ
WINDOW_READERS = ("grade_conversion", "score_band_conversion", "live_score_band_conversion")
CHANNEL_READERS = ("channel_summary", "weekly_channel_trend")


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order whatever order ties came in, None and NaN alike, numbers as floats."""
    out = frame.copy()
    for name in out.columns:
        if name not in ("channel", "grade", "week"):
            out[name] = pd.to_numeric(out[name]).astype(float)
    keys = [k for k in ("week", "channel", "grade", "band") if k in out]
    order = out.assign(**{f"_{k}": out[k].astype(str) for k in keys}).sort_values([f"_{k}" for k in keys])
    return order[list(frame.columns)].reset_index(drop=True)


def assert_same(raw: pd.DataFrame, summed: pd.DataFrame, what: str) -> None:
    assert list(summed.columns) == list(raw.columns), what
    pd.testing.assert_frame_equal(_comparable(summed), _comparable(raw), check_exact=False, rtol=1e-9, check_dtype=False, obj=what)


def windows(engine: Engine, view: SchemaView) -> list[tuple[date, date]]:
    """The whole span, a span inside it, and single days at its start and in its middle."""
    options = queries.filter_options(engine, view)
    first, last = options.first_created, options.last_created
    quarter = (last - first) // 4
    middle = first + 2 * quarter
    return [(first, last), (first + quarter, last - quarter), (first, first), (middle, middle)]


def assert_pages_agree(engine: Engine, view: SchemaView, run_id: int) -> None:
    """Every reader of the aggregates against its query over the scores."""
    for start, end in windows(engine, view):
        for name in WINDOW_READERS:
            raw = getattr(queries, name)(engine, view.label_db, start, end)
            assert not raw.empty or (start, end) != windows(engine, view)[0], f"{name}: nothing to compare"
            assert_same(raw, getattr(aggregates, name)(engine, run_id, view.label_db, start, end),
                        f"{name} {start}..{end}")
        for column in view.channels:
            for name in CHANNEL_READERS:
                raw = getattr(queries, name)(engine, view.label_db, column.key, start, end)
                summed = getattr(aggregates, name)(engine, run_id, view.label_db, column.key, start, end)
                assert_same(raw, summed, f"{name} by {column.key} {start}..{end}")
    assert aggregates.filter_options(engine, run_id, view) == queries.filter_options(engine, view)
    assert aggregates.grade_counts(engine, run_id, LeadFilters()) == queries.grade_counts(engine, LeadFilters())
    assert aggregates.grade_counts(engine, run_id, LeadFilters(grades=("A",))) is None  # filtered: read the scores


def check_against_the_queries(seeded: Seeded) -> None:
    engine = store.make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded.schema)
    try:
        if seeded.schema.created_column:
            seed_live_outcomes(engine, seeded)  # outcomes that came back after scoring: the live bands
        written = refresh_score_aggregates(engine, seeded.schema)
        assert written is not None and written.run_id == 2  # run 3 failed: run 2's scores are the current ones
        assert aggregates.usable_run(engine, ZONE) == 2
        assert_pages_agree(engine, view_of(seeded.schema), written.run_id)
    finally:
        engine.dispose()


def test_aggregates_equal_the_queries_over_the_scores(seeded: Seeded, monkeypatch) -> None:
    monkeypatch.setenv("LEADSCORE_TIMEZONE", ZONE)
    check_against_the_queries(seeded)


def test_aggregates_equal_the_queries_on_the_example_schema(seeded_example: Seeded, monkeypatch) -> None:
    """No creation time (days of ingest), its own channels."""
    monkeypatch.setenv("LEADSCORE_TIMEZONE", ZONE)
    check_against_the_queries(seeded_example)


def test_aggregates_are_not_used_once_they_no_longer_describe_the_scores(seeded: Seeded, monkeypatch) -> None:
    monkeypatch.setenv("LEADSCORE_TIMEZONE", ZONE)
    engine = store.make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded.schema)
    try:
        assert aggregates.usable_run(engine, ZONE) is None  # none stored yet
        refresh_score_aggregates(engine, seeded.schema)
        assert aggregates.usable_run(engine, ZONE) == 2
        assert aggregates.usable_run(engine, "UTC") is None  # days of another zone
        with engine.begin() as conn:  # outcomes arrive
            conn.execute(insert(store.ingest_batches).values(
                batch_id=99, file_name="late.csv", sha256="f" * 64, rows_in=1, loaded=0, duplicate=0, rejected=0, labels_recorded=1,
                started_at=utc_now(), finished_at=utc_now()))
        assert aggregates.usable_run(engine, ZONE) is None
        refresh_score_aggregates(engine, seeded.schema)
        assert aggregates.usable_run(engine, ZONE) == 2
        with engine.begin() as conn:  # a new run lands
            conn.execute(insert(store.scoring_runs).values(
                run_id=4, model_name="m", model_version="2", started_at=utc_now(), finished_at=utc_now(),
                status="succeeded", leads_scored=0))
        assert aggregates.usable_run(engine, ZONE) is None
    finally:
        engine.dispose()


def test_days_around_berlin_midnights_and_clock_changes(scored_in_berlin: Engine) -> None:  # noqa: F811
    """Leads just before and after local midnight, on the days clocks change, land on their Berlin day."""
    engine = scored_in_berlin
    with engine.begin() as conn:
        conn.execute(insert(store.scoring_runs).values(
            run_id=1, model_name="m", model_version="1", started_at=utc_now(), finished_at=utc_now(),
            status="succeeded", leads_scored=1))
    written = refresh_score_aggregates(engine, store.engine_schema(engine))
    per_day = _per_berlin_day()
    for day, count in per_day.items():
        raw = queries.grade_conversion(engine, OUTCOME, day, day)
        summed = aggregates.grade_conversion(engine, written.run_id, OUTCOME, day, day)
        assert int(summed["leads"].sum()) == int(raw["leads"].sum()) == count, day
    first, last = min(per_day.index), max(per_day.index)
    assert_same(queries.weekly_channel_trend(engine, OUTCOME, CHANNEL, first, last),
                aggregates.weekly_channel_trend(engine, written.run_id, OUTCOME, CHANNEL, first, last), "weeks")
    with engine.connect() as conn:
        zone = conn.execute(text("SELECT time_zone FROM score_aggregate_runs")).scalar_one()
    assert zone == "Europe/Berlin"


def test_sqlite_list_pages_the_same_through_the_narrow_index_and_without_it(seeded_sqlite: Seeded) -> None:
    """A filtered page found in revision 0006's narrow index equals the one read from the rows, also on a database
    a flow has not migrated yet (no narrow index)."""
    engine = store.make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded_sqlite.schema)
    view = view_of(seeded_sqlite.schema)
    filters = queries.LeadFilters(picks=queries.pick(city_tier=(1.0, 3.0)), min_score=0.2)
    try:
        assert queries._scores_table(engine, filters).endswith(queries.LIST_INDEX)
        pages = [queries.lead_page(engine, view, filters, sort, limit=20, offset=20, selectivity=1e-6)
                 for sort in queries.SORTS]
        counts = queries.grade_counts(engine, filters)
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {queries.LIST_INDEX}"))
        assert queries._scores_table(engine, filters) == "current_scores"
        for sort, page in zip(queries.SORTS, pages, strict=True):
            again = queries.lead_page(engine, view, filters, sort, limit=20, offset=20, selectivity=1e-6)
            assert list(again["lead_id"]) == list(page["lead_id"]) and len(page) == 20, sort
        assert queries.grade_counts(engine, filters) == counts
        expected = seeded_sqlite.current
        assert sum(counts.values()) == int((expected["city_tier"].isin([1.0, 3.0]) & (expected["score"] >= 0.2)).sum())
    finally:
        engine.dispose()
