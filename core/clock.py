"""Time in the product: one UTC clock, the business time zone, and how a moment is stored.

Every moment the product stores is UTC. On Postgres the columns are `timestamptz` and every connection's
session TimeZone is UTC (core.store.make_engine), so even a naive value written by COPY means a UTC instant.
SQLite has no time type: a moment is stored as the naive ISO text of its UTC instant
("2022-03-01 04:30:00.000000"), which sorts and compares as time. `UtcDateTime` is that column type: it takes
aware values (converted to UTC) or naive ones (taken as UTC already) and gives back aware UTC datetimes. Frames
read from either store hold naive datetime64 values of UTC instants (core.store.read_frame), so pandas code never
mixes aware and naive values.

The business time zone, LEADSCORE_TIMEZONE (an IANA name such as Europe/Berlin; default UTC), is the zone people
work in: a lead file's time without an offset is a wall-clock time there, and the dashboard's days and weeks begin
at its midnight. A wall-clock time that a daylight-saving change repeats or skips follows Python's fold=0 rule:
a repeated time (the autumn hour that happens twice) is its first occurrence, still summer time; a skipped time
(the spring hour that never happens) is read with the offset in force before the change, so it lands as far past
the change as it is past the skipped hour's start (Europe/Berlin 2022-03-27 02:30 is 01:30 UTC, 03:30 summer time).
Distinct wall-clock times stay distinct and in order; no row is dropped.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from core.errors import BadInputError

TIMEZONE_ENV = "LEADSCORE_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"


class TimeZoneError(BadInputError):
    """LEADSCORE_TIMEZONE is not an IANA time zone name."""


def utc_now() -> datetime:
    """Now, as an aware UTC datetime: the one clock every stored moment comes from."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The moment as an aware UTC datetime; a naive one is taken as UTC already (as the product stores them)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone of that name, or TimeZoneError with one line."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise TimeZoneError(f"{TIMEZONE_ENV}={name!r} is not an IANA time zone name (for example Europe/Berlin, "
                        "America/New_York or UTC)")


def business_zone() -> ZoneInfo:
    """The business time zone: LEADSCORE_TIMEZONE, read when asked for (default UTC)."""
    return zone_named(os.environ.get(TIMEZONE_ENV) or DEFAULT_TIMEZONE)


def is_utc(zone: ZoneInfo) -> bool:
    """True for UTC under any of its names: wall-clock times there are UTC instants."""
    return zone.key in ("UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu",
                        "Etc/GMT", "GMT", "Etc/Greenwich", "Greenwich", "Etc/GMT0", "GMT0")


def zone_name(zone: ZoneInfo | None = None) -> str:
    """The zone's IANA name, as pages show it."""
    return (zone or business_zone()).key


# ---------------------------------------------------------------- many moments at once (vectorised)


def wall_times_to_utc(wall: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Naive datetime64 wall-clock times in `zone` -> naive datetime64 UTC instants (NaT stays NaT), by the
    fold=0 rule of the module docstring. Vectorised: repeated times are localised as summer time in one call;
    only skipped times (the hour a spring change removes: a few rows a year) go through zoneinfo one by one
    (pandas' own shifting of them is wrong in some zones)."""
    if is_utc(zone) or len(wall) == 0:
        return wall
    written = pd.DatetimeIndex(wall)
    located = written.tz_localize(zone, ambiguous=np.ones(len(written), dtype=bool), nonexistent="NaT")
    instants = located.tz_convert(UTC).tz_localize(None).to_numpy(dtype=wall.dtype, copy=True)
    skipped = np.flatnonzero(located.isna() & written.notna())
    if len(skipped):
        instants[skipped] = [as_utc(moment.replace(tzinfo=zone)).replace(tzinfo=None)
                             for moment in written[skipped].to_pydatetime()]
    return instants


def wall_times(moments: pd.Series | pd.DatetimeIndex, zone: ZoneInfo | None = None) -> pd.Series | pd.DatetimeIndex:
    """Moments (aware, or naive UTC as stored) as naive wall-clock times in `zone` (default: the business zone)."""
    zone = zone or business_zone()
    index = moments if isinstance(moments, pd.DatetimeIndex) else pd.DatetimeIndex(moments)
    if index.tz is None:
        if is_utc(zone):
            return moments
        index = index.tz_localize(UTC)
    local = index.tz_convert(zone).tz_localize(None)
    return local if isinstance(moments, pd.DatetimeIndex) else pd.Series(local, index=moments.index, name=moments.name)


def as_utc_instants(values: pd.Series) -> pd.Series:
    """A column of moments as naive datetime64 UTC instants, whatever a store returned: text or naive values
    (SQLite: UTC already), aware datetimes (Postgres timestamptz)."""
    parsed = pd.to_datetime(values, format="mixed", utc=True)
    return parsed.dt.tz_localize(None)


# ---------------------------------------------------------------- days in the business zone


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The aware UTC instant at which `day` begins in `zone` (its midnight; fold=0 where midnight is skipped)."""
    return datetime.combine(day, time.min, tzinfo=zone or business_zone()).astimezone(UTC)


def local_date(moment: datetime, zone: ZoneInfo | None = None) -> date:
    """The date a moment (aware, or naive UTC) falls on in `zone`."""
    return as_utc(moment).astimezone(zone or business_zone()).date()


# ---------------------------------------------------------------- how moments are stored


def postgres_session_options(*settings: str) -> dict[str, str]:
    """Connection arguments of a Postgres session: TimeZone UTC (a naive moment written, by COPY too, means a UTC
    instant, and moments read come back in UTC whatever the server's default), plus `settings` ("name=value")."""
    return {"options": " ".join(f"-c {setting}" for setting in ("TimeZone=UTC", *settings))}


class UtcDateTime(TypeDecorator):
    """A stored moment: `timestamptz` on Postgres, the naive text of the UTC instant on SQLite (SQLite keeps no
    offset). Aware values are converted to UTC, naive ones are taken as UTC; values read back are aware UTC."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        moment = as_utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)
