"""A scoring run's times are stored as UTC on both stores (timestamptz on Postgres, the UTC text on SQLite):
the run's start and end, each score's scored_at, and the leads' creation times copied through the run unchanged,
whatever the zone of the host's clock, of `now`, and of LEADSCORE_TIMEZONE."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from core.clock import utc_now
from core.ingest import ingest_file
from core.scoring import score_leads
from tests.samples import real_sample, write_sample
from tests.times import CREATED_IN_BERLIN, as_stored, host_clock_in, stored_instant, stored_values


def test_run_times_are_utc(engine: Engine, dev_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berlin")
    leads = real_sample(len(CREATED_IN_BERLIN)).drop(columns=["app_complete_flag"], errors="ignore")
    leads["created_date"] = list(CREATED_IN_BERLIN)
    ingest_file(engine, write_sample(tmp_path / "dst.csv", leads))
    now = datetime(2026, 11, 30, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 02:00 UTC
    before = utc_now()
    with host_clock_in("Asia/Kolkata"):  # the host's local clock 5:30 ahead of UTC
        score_leads(engine, dev_model, "m", "1", now=now)
    after = utc_now()

    expected = as_stored(engine, datetime(2026, 11, 30, 2, 0))
    assert stored_values(engine, "SELECT started_at FROM scoring_runs") == [expected]
    for table in ("lead_scores", "current_scores"):
        assert set(stored_values(engine, f"SELECT scored_at FROM {table}")) == {expected}
        created = stored_values(engine, f"SELECT s.created_date FROM {table} s JOIN leads l ON l.lead_id = s.lead_id "
                                        "ORDER BY l.row_number")
        assert created == [as_stored(engine, instant) for instant in CREATED_IN_BERLIN.values()]
    finished = stored_instant(engine, stored_values(engine, "SELECT finished_at FROM scoring_runs")[0])
    assert before <= finished <= after  # the UTC clock, not the host's local one (5:30 ahead)
    if engine.dialect.name == "postgresql":
        kinds = stored_values(engine, "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_name "
                                      "LIKE 'lead\\_scores\\_run\\_%%' AND column_name IN ('created_date', 'scored_at')")
        assert kinds == ["timestamp with time zone"]  # the run's own partition too
