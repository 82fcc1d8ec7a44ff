"""Stored moments are UTC on both stores: timestamptz holding the UTC instant on Postgres, the naive text of the
UTC instant on SQLite. Lead times written without an offset are read in LEADSCORE_TIMEZONE (Berlin here, around
its 2022 daylight-saving changes), the batch's times come from a UTC clock whatever the host's zone, and a
`now` given in another zone is stored as its UTC instant."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from core.clock import utc_now
from core.ingest import ingest_file
from tests.samples import real_sample, write_sample
from tests.times import CREATED_IN_BERLIN, as_stored, host_clock_in, stored_instant, stored_values


@pytest.fixture
def host_clock_in_kolkata():
    """The host's local clock runs 5:30 ahead of UTC (the product must not read it)."""
    with host_clock_in("Asia/Kolkata"):
        yield


def test_lead_times_are_read_in_the_business_zone_and_stored_as_utc(engine: Engine, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berlin")
    leads = real_sample(len(CREATED_IN_BERLIN))
    leads["created_date"] = list(CREATED_IN_BERLIN)
    summary = ingest_file(engine, write_sample(tmp_path / "dst.csv", leads))
    assert (summary.loaded, summary.rejected) == (len(CREATED_IN_BERLIN), 0)  # nothing dropped at the changes
    stored = stored_values(engine, "SELECT created_date FROM leads ORDER BY row_number")
    assert stored == [as_stored(engine, instant) for instant in CREATED_IN_BERLIN.values()]
    if engine.dialect.name == "postgresql":
        assert stored_values(engine, "SELECT DISTINCT pg_typeof(created_date)::text FROM leads") == [
            "timestamp with time zone"]


def test_batch_times_are_utc_whatever_the_zone_of_the_host_and_of_now(engine: Engine, tmp_path,
                                                                       host_clock_in_kolkata):
    labelled = real_sample(5)
    labelled["app_complete_flag"] = ["1", "0", "1", "0", "1"]
    now = datetime(2026, 11, 29, 21, 30, tzinfo=ZoneInfo("America/New_York"))  # 02:30 UTC on the 30th
    before = utc_now()
    ingest_file(engine, write_sample(tmp_path / "labelled.csv", labelled), now=now)
    after = utc_now()
    started = stored_values(engine, "SELECT started_at FROM ingest_batches")[0]
    assert started == as_stored(engine, datetime(2026, 11, 30, 2, 30))
    assert set(stored_values(engine, "SELECT label_recorded_at FROM leads")) == {started}
    finished = stored_instant(engine, stored_values(engine, "SELECT finished_at FROM ingest_batches")[0])
    assert before <= finished <= after  # the UTC clock, not the host's local one (5:30 ahead)
    if engine.dialect.name == "postgresql":
        kinds = stored_values(engine, "SELECT DISTINCT data_type FROM information_schema.columns "
                                      "WHERE table_name = 'ingest_batches' AND column_name IN ('started_at', 'finished_at')")
        assert kinds == ["timestamp with time zone"]


def test_outcome_feed_times_are_utc(engine: Engine, tmp_path, host_clock_in_kolkata):
    leads = real_sample(3).drop(columns=["app_complete_flag"], errors="ignore")
    leads.insert(0, "lead_id", ["a", "b", "c"])
    ingest_file(engine, write_sample(tmp_path / "leads.csv", leads))
    feed = write_sample(tmp_path / "feed.csv", leads[["lead_id"]].assign(app_complete_flag=["1", "0", "1"]))
    ingest_file(engine, feed, now=datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Asia/Kolkata")))
    expected = as_stored(engine, datetime(2026, 11, 30, 2, 30))
    assert set(stored_values(engine, "SELECT recorded_at FROM lead_outcomes")) == {expected}
    assert set(stored_values(engine, "SELECT label_recorded_at FROM leads")) == {expected}
