"""Ingest of a 1,000,000-row synthetic CSV into Postgres and SQLite (budget: 15 s, 2 GB into Postgres).

python -m benchmarks.bench_ingest [ROWS]. Each store is measured in its own process so the peak memory
is the ingest's own.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import fresh_postgres_database, peak_rss_mb, timed, verdict

BUDGET_S = 15.0
BUDGET_MB = 2048.0


def make_csv(rows: int, folder: Path) -> Path:
    from core.synthetic import generate_leads, write_leads_csv

    path = folder / f"leads_{rows}.csv"
    write_leads_csv(generate_leads(rows, seed=11), path)
    return path


def measure_ingest(url: str, path: Path, label: str) -> None:
    """Runs in a child process: ingest the file once and print the verdict."""
    from core.ingest import ingest_file
    from core.store import make_engine

    engine = make_engine(url)
    summary, seconds = timed(lambda: ingest_file(engine, path))
    print(summary.line())
    if label == "postgres":  # the budget is for Postgres; SQLite, the laptop default, is reported only
        print(verdict(f"ingest into {label}", seconds, BUDGET_S, summary.rows_in, peak_rss_mb(), BUDGET_MB))
    else:
        print(f"ingest into {label}: {seconds:.2f} s | {summary.rows_in / seconds:,.0f} rows/s | "
              f"peak RSS {peak_rss_mb():,.0f} MB (reported, no budget)")


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_csv(rows, Path(tmp))
        print(f"{rows:,} rows, {path.stat().st_size / 1e6:.0f} MB CSV")
        with fresh_postgres_database() as url:
            _child(url, path, "postgres")
        _child(f"sqlite:///{Path(tmp) / 'bench.db'}", path, "sqlite")


def _child(url: str, path: Path, label: str) -> None:
    subprocess.run([sys.executable, "-m", "benchmarks.bench_ingest", "--child", url, str(path), label], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure_ingest(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
