"""Time helpers for tests: lead times around Berlin's 2022 daylight-saving changes, reading stored moments as
the store holds them, and a host clock set to another zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine

# created as a lead file writes it (Berlin wall-clock time unless an offset says otherwise) -> the UTC instant
CREATED_IN_BERLIN = {
    "2022-03-26 23:30:00": datetime(2022, 3, 26, 22, 30),  # CET, +01
    "2022-03-27 01:59:59": datetime(2022, 3, 27, 0, 59, 59),
    "2022-03-27 02:30:00": datetime(2022, 3, 27, 1, 30),  # skipped by the spring change: the offset before it
    "2022-03-27 03:00:00": datetime(2022, 3, 27, 1, 0),  # CEST, +02
    "2022-10-30 01:30:00": datetime(2022, 10, 29, 23, 30),  # CEST
    "2022-10-30 02:30:00": datetime(2022, 10, 30, 0, 30),  # happened twice: the first time, still CEST
    "2022-10-30 03:00:00": datetime(2022, 10, 30, 2, 0),  # CET
    "2022-03-01T10:00:00+05:30": datetime(2022, 3, 1, 4, 30),  # an offset: that instant
    "2022-03-27T23:30:00Z": datetime(2022, 3, 27, 23, 30),  # Z: UTC (Monday 01:30 in Berlin)
}


@contextmanager
def host_clock_in(zone: str) -> Iterator[None]:
    """The host's local clock in `zone` (TZ), so code reading it instead of UTC gets another time."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def stored_values(engine: Engine, sql: str) -> list:
    """Values as the store holds them, read through the driver without the product's column types."""
    with engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql(sql)]


def as_stored(engine: Engine, instant: datetime) -> object:
    """How a UTC instant (naive) is held: aware UTC from Postgres' timestamptz, the naive text in SQLite."""
    if engine.dialect.name == "postgresql":
        return instant.replace(tzinfo=UTC)
    return instant.strftime("%Y-%m-%d %H:%M:%S.%f")


def stored_instant(engine: Engine, value: object) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite's text is the UTC instant)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value
