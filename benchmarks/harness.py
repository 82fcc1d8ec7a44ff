"""What every benchmark needs: a fresh Postgres database, peak memory, a budget line."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

ADMIN_URL = os.environ.get("LEADSCORE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_postgres_database(keep: bool = False) -> Iterator[str]:
    """A new empty database on the local Postgres, dropped afterwards unless keep."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"leadscore_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(work: Callable[[], object]) -> tuple[object, float]:
    """Run work and return its result and wall seconds."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def verdict(label: str, seconds: float, budget_s: float, rows: int | None = None, peak_mb: float | None = None,
            budget_mb: float | None = None) -> str:
    """One line per measurement: figure, budget, within or over."""
    parts = [f"{label}: {seconds:.2f} s (budget {budget_s:.0f} s)"]
    if rows:
        parts.append(f"{rows / seconds:,.0f} rows/s")
    if peak_mb is not None:
        parts.append(f"peak RSS {peak_mb:,.0f} MB" + (f" (budget {budget_mb:,.0f} MB)" if budget_mb else ""))
    ok = seconds <= budget_s and (budget_mb is None or peak_mb is None or peak_mb <= budget_mb)
    return " | ".join(parts) + ("  OK" if ok else "  OVER BUDGET")
