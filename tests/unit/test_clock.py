"""Time: the business time zone (LEADSCORE_TIMEZONE) and its daylight-saving rule, lead times read in it and
stored as UTC, the features and weeks on its clock, and a bad zone name refused in one line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from core import clock
from core.config import Settings, load_settings
from core.features import feature_values
from core.lead_schema import load_schema
from core.live import OVERALL, live_performance
from core.schema import validate_leads
from tests.samples import real_sample

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _python_fold0(wall: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The rule by the standard library, one time at a time: fold=0 (the default) of each wall-clock time."""
    return np.array([None if pd.isna(w) else w.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
                     for w in wall.astype(datetime)], dtype="datetime64[us]")


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"])
def test_wall_times_convert_to_utc_by_the_fold0_rule_around_every_2022_change(name):
    zone = ZoneInfo(name)
    wall = np.arange(np.datetime64("2022-01-01T00:00"), np.datetime64("2023-01-01T00:00"),
                     np.timedelta64(5, "m")).astype("datetime64[us]")
    wall[[7, 70_000]] = np.datetime64("NaT")
    converted = clock.wall_times_to_utc(wall, zone)
    expected = _python_fold0(wall, zone)
    same = (converted == expected) | (np.isnat(converted) & np.isnat(expected))
    assert same.all(), wall[~same][:5]
    assert np.isnat(converted).sum() == 2  # no time is lost, however odd


def test_berlin_times_repeated_and_skipped_in_2022():
    zone = ZoneInfo("Europe/Berlin")
    written = np.array(["2022-03-27T01:59:59", "2022-03-27T02:00:00", "2022-03-27T02:30:00", "2022-03-27T03:00:00",
                        "2022-10-30T01:59:59", "2022-10-30T02:00:00", "2022-10-30T02:59:59", "2022-10-30T03:00:00"],
                       dtype="datetime64[us]")
    assert [str(t) for t in clock.wall_times_to_utc(written, zone).astype("datetime64[s]")] == [
        "2022-03-27T00:59:59", "2022-03-27T01:00:00",  # the skipped hour: offset before the change (+01)
        "2022-03-27T01:30:00", "2022-03-27T01:00:00",  # 03:00 is the first summer-time instant (+02)
        "2022-10-29T23:59:59", "2022-10-30T00:00:00",  # the repeated hour: its first time, still summer time
        "2022-10-30T00:59:59", "2022-10-30T02:00:00"]


def _leads_created(values: list[str]) -> pd.DataFrame:
    raw = real_sample(len(values))
    raw["created_date"] = values
    return raw.astype("str")


def test_an_offset_or_z_is_that_instant_and_a_time_without_one_is_business_zone_time():
    raw = _leads_created(["2022-03-01T10:00:00+05:30", "2022-03-01 10:00:00Z", "2022-03-01 10:00:00-0500",
                          "2022-03-01 10:00:00", "2022-03-01T10:00:00", "2022-03-01",
                          "2022-11-06 01:30:00", "2022-03-13 02:30:00"])
    validated = validate_leads(raw, NOW, load_schema(), zone=ZoneInfo("America/New_York"))
    assert validated.rejected.empty  # the repeated and the skipped New York times are kept too
    assert [str(t) for t in validated.rows["created_date"]] == [
        "2022-03-01 04:30:00", "2022-03-01 10:00:00", "2022-03-01 15:00:00",  # their offsets
        "2022-03-01 15:00:00", "2022-03-01 15:00:00", "2022-03-01 05:00:00",  # New York winter time (-05)
        "2022-11-06 05:30:00",  # 01:30 twice that night: the first, summer time (-04)
        "2022-03-13 07:30:00"]  # 02:30 never happened: read with the offset before the change (-05)


def test_leads_read_their_times_in_leadscore_timezone_by_default(monkeypatch):
    raw = _leads_created(["2022-07-01 09:00:00", "2022-07-01T09:00:00+02:00"])
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Asia/Kolkata")
    kolkata = validate_leads(raw, NOW, load_schema()).rows["created_date"]
    monkeypatch.delenv("LEADSCORE_TIMEZONE")
    utc = validate_leads(raw, NOW, load_schema()).rows["created_date"]
    assert [str(t) for t in kolkata] == ["2022-07-01 03:30:00", "2022-07-01 07:00:00"]
    assert [str(t) for t in utc] == ["2022-07-01 09:00:00", "2022-07-01 07:00:00"]


def test_the_future_is_judged_on_the_utc_instant():
    now = datetime(2022, 7, 1, 12, 0, tzinfo=UTC)
    raw = _leads_created(["2022-07-01 13:30:00", "2022-07-01 14:30:00"])  # Berlin: 11:30 and 12:30 UTC
    validated = validate_leads(raw, now, load_schema(), zone=ZoneInfo("Europe/Berlin"))
    assert validated.rejected["reason"].tolist() == ["created_date is in the future: 2022-07-01 14:30:00"]


def test_hour_and_weekday_features_read_the_business_zones_clock(monkeypatch):
    schema = load_schema()
    stored = pd.DataFrame({"created_date": pd.to_datetime(["2022-07-01 07:00:00", "2022-07-03 22:30:00"])})  # UTC
    hour, weekday = schema.feature("created_hour"), schema.feature("created_weekday")
    assert feature_values(stored, schema, hour).tolist() == [7.0, 22.0]
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berlin")
    assert feature_values(stored, schema, hour).tolist() == [9.0, 0.0]
    assert feature_values(stored, schema, weekday).tolist() == [4.0, 0.0]  # Friday; Sunday night is Monday there
    assert hour.describe(9.0) == "enquired in the morning (09h)"


def test_live_weeks_begin_at_monday_midnight_in_the_business_zone():
    rng = np.random.default_rng(0)
    created = pd.Timestamp("2026-03-08 23:30") + pd.to_timedelta(rng.integers(0, 60, 200), unit="min")  # UTC
    scored = pd.DataFrame({"model_version": "1", "score": rng.random(200), "grade": "A",
                           "label": rng.integers(0, 2, 200), "created": created})
    berlin = [r.period for r in live_performance(scored, {"1": 0.5}, ZoneInfo("Europe/Berlin")) if r.period != OVERALL]
    new_york = [r.period for r in live_performance(scored, {"1": 0.5}, ZoneInfo("America/New_York"))
                if r.period != OVERALL]
    assert berlin == ["2026-03-09"]  # Monday 00:30 to 01:29 in Berlin
    assert new_york == ["2026-03-02"]  # Sunday evening in New York


def test_a_day_begins_at_midnight_in_the_zone_as_a_utc_instant():
    assert clock.day_start(date(2022, 10, 30), ZoneInfo("Europe/Berlin")) == datetime(2022, 10, 29, 22, 0, tzinfo=UTC)
    assert clock.day_start(date(2022, 10, 31), ZoneInfo("Europe/Berlin")) == datetime(2022, 10, 30, 23, 0, tzinfo=UTC)
    # Santiago skipped midnight on 2022-09-11 (00:00 -> 01:00): the day began at the change
    assert clock.day_start(date(2022, 9, 11), ZoneInfo("America/Santiago")) == datetime(2022, 9, 11, 4, 0, tzinfo=UTC)
    assert clock.local_date(datetime(2022, 10, 29, 22, 30), ZoneInfo("Europe/Berlin")) == date(2022, 10, 30)


def test_now_is_aware_utc_whatever_the_host_clock_zone():
    moment = clock.utc_now()
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("name", ["Europe/Berln", "CEST", "+02:00", "../../etc/passwd", "Mars/Olympus_Mons"])
def test_a_bad_zone_name_is_refused_in_one_line(monkeypatch, name):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", name)
    with pytest.raises(clock.TimeZoneError) as refused:
        load_settings()
    assert str(refused.value) == (f"LEADSCORE_TIMEZONE={name!r} is not an IANA time zone name "
                                  "(for example Europe/Berlin, America/New_York or UTC)")
    with pytest.raises(clock.TimeZoneError):
        validate_leads(_leads_created(["2022-07-01 09:00:00"]), NOW, load_schema())


def test_the_zone_defaults_to_utc_and_takes_any_iana_name(monkeypatch):
    monkeypatch.delenv("LEADSCORE_TIMEZONE", raising=False)
    assert Settings().business_zone().key == "UTC" and clock.business_zone().key == "UTC"
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "America/Argentina/Buenos_Aires")
    assert load_settings().business_zone() == clock.business_zone() == ZoneInfo("America/Argentina/Buenos_Aires")
