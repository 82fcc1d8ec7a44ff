"""The dashboard's days and weeks are those of the business time zone (LEADSCORE_TIMEZONE; Berlin here, around its
2022 daylight-saving changes): the created-date filter, the span it offers, the weekly trend, the times shown, on
SQLite and Postgres. Every page names the zone; a zone name that is not one is a one-line message on the page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from core import store
from core.ingest import ingest_file
from dashboard import queries
from dashboard.queries import LeadFilters
from dashboard.schema_view import view_of
from tests.dashboard.reading import assert_clean
from tests.dashboard.seed import Seeded
from tests.samples import real_sample, write_sample
from tests.times import CREATED_IN_BERLIN

BERLIN = ZoneInfo("Europe/Berlin")
OUTCOME = "app_complete_flag"
CHANNEL = "first_utm_source_c"


def berlin_wall(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC).astimezone(BERLIN).replace(tzinfo=None)


@pytest.fixture
def scored_in_berlin(engine: Engine, tmp_path, monkeypatch) -> Engine:
    """The leads of CREATED_IN_BERLIN ingested under LEADSCORE_TIMEZONE=Europe/Berlin, each with a current score."""
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berlin")
    leads = real_sample(len(CREATED_IN_BERLIN)).drop(columns=[OUTCOME], errors="ignore")
    leads["created_date"] = list(CREATED_IN_BERLIN)
    ingest_file(engine, write_sample(tmp_path / "dst.csv", leads))
    stored = store.read_frame(engine, "SELECT lead_id, created_date FROM leads ORDER BY row_number",
                              parse_dates=["created_date"])
    tables = store.schema_tables(store.engine_schema(engine))
    rows = pd.DataFrame({column.name: None for column in tables.current_scores.columns}, index=stored.index)
    rows = rows.assign(lead_id=stored["lead_id"], run_id=1, model_version="1", score=np.linspace(0.9, 0.1, len(rows)),
                       grade="A", rank=np.arange(1, len(rows) + 1), predicted=1, previous_score=np.nan,
                       reasons_positive="[]", reasons_negative="[]", created_date=stored["created_date"],
                       scored_at=pd.Timestamp("2026-11-30 02:00"), **{CHANNEL: "Level1"})
    with engine.begin() as conn:
        store.bulk_insert(conn, "current_scores", rows)
    return engine


def _per_berlin_day() -> pd.Series:
    return pd.Series([berlin_wall(t).date() for t in CREATED_IN_BERLIN.values()]).value_counts()


def test_created_dates_filter_by_berlin_days(scored_in_berlin: Engine):
    per_day = _per_berlin_day()
    assert per_day[date(2022, 3, 28)] == 1 and date(2022, 10, 29) not in per_day  # Z and CEST times move days
    for day in (date(2022, 3, 26), date(2022, 3, 27), date(2022, 3, 28), date(2022, 10, 29), date(2022, 10, 30)):
        counts = queries.grade_counts(scored_in_berlin, LeadFilters(created_from=day, created_to=day))
        assert sum(counts.values()) == per_day.get(day, 0), day
    options = queries.filter_options(scored_in_berlin, view_of(store.engine_schema(scored_in_berlin)))
    assert (options.first_created, options.last_created) == (min(per_day.index), max(per_day.index))


def test_weekly_trend_buckets_by_berlin_weeks(scored_in_berlin: Engine):
    weekly = queries.weekly_channel_trend(scored_in_berlin, OUTCOME, CHANNEL, date(2022, 2, 1), date(2022, 12, 31))
    mondays = pd.Series([pd.Timestamp(d) - pd.Timedelta(days=d.weekday()) for d in
                         (berlin_wall(t).date() for t in CREATED_IN_BERLIN.values())]).value_counts().sort_index()
    assert dict(zip(weekly["week"], weekly["leads"], strict=True)) == mondays.to_dict()
    assert mondays[pd.Timestamp("2022-03-28")] == 1  # Sunday 23:30 UTC is Monday in Berlin
    one_week = queries.weekly_channel_trend(scored_in_berlin, OUTCOME, CHANNEL, date(2022, 3, 27), date(2022, 3, 27))
    assert one_week[["week", "leads"]].values.tolist() == [[pd.Timestamp("2022-03-21"), 3]]  # that Sunday only


def test_times_are_shown_on_berlins_clock(scored_in_berlin: Engine):
    view = view_of(store.engine_schema(scored_in_berlin))
    page = queries.lead_page(scored_in_berlin, view, LeadFilters(), sort="Oldest leads first", limit=50)
    expected = sorted(berlin_wall(t) for t in CREATED_IN_BERLIN.values())
    assert [t.to_pydatetime() for t in page["created_date"]] == expected
    assert set(page["scored_at"]) == {pd.Timestamp("2026-11-30 03:00")}  # 02:00 UTC, winter time


def test_pages_name_the_zone_and_show_its_times(seeded_sqlite: Seeded, open_page, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Asia/Kolkata")
    at = open_page("pipeline")
    assert_clean(at)
    assert "Times in `Asia/Kolkata` (LEADSCORE_TIMEZONE); stored in UTC" in [c.value for c in at.sidebar.caption]
    [runs] = [frame.value for frame in at.dataframe if "leads_scored" in frame.value.columns]
    stored = seeded_sqlite.runs.set_index("run_id")["started_at"]  # UTC
    shown = runs.set_index("run_id")["started_at"]
    assert (shown - stored[shown.index]).tolist() == [pd.Timedelta(hours=5, minutes=30)] * len(shown)


def test_a_bad_zone_name_is_one_line_on_the_page(seeded_sqlite: Seeded, open_page, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berln")
    at = open_page("leads")
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "Time zone problem: LEADSCORE_TIMEZONE='Europe/Berln' is not an IANA time zone name "
        "(for example Europe/Berlin, America/New_York or UTC)"]
