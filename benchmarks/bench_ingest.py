"""Ingest of a 1,000,000-row synthetic CodePro CSV into Postgres and SQLite (budget: 10 s on either store).

python -m benchmarks.bench_ingest [ROWS] [--csv PATH]. The CSV is made with
`python -m core.synthetic --rows ROWS --seed 7` unless --csv names one. Each store is measured in its own
process, on a fresh database, so the peak memory is the ingest's own. Before the lead schema release:
Postgres 13.5 s, SQLite 28.2 s (1.5 GB). Where the time goes, stage by stage (wall, this process's CPU and the
Postgres server's CPU): python -m benchmarks.profile_ingest CSV --store postgres|sqlite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import fresh_postgres_database, peak_rss_mb, timed, verdict

BUDGET_S = 10.0
BUDGET_MB = 1536.0


def make_csv(rows: int, folder: Path) -> Path:
    """The synthetic leads through the generator's own command line."""
    path = folder / f"leads_{rows}.csv"
    subprocess.run([sys.executable, "-m", "core.synthetic", "--rows", str(rows), "--seed", "7", "--out", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def measure_ingest(url: str, path: Path, label: str) -> None:
    """Runs in a child process: ingest the file once and print the verdict."""
    from core.ingest import ingest_file
    from core.store import make_engine

    engine = make_engine(url)
    cpu = time.process_time()
    summary, seconds = timed(lambda: ingest_file(engine, path))
    cpu = time.process_time() - cpu
    print(summary.line())
    print(verdict(f"ingest into {label}", seconds, BUDGET_S, summary.rows_in, peak_rss_mb(), BUDGET_MB)
          + f" | this process's CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
          flush=True)


def main(rows: int, csv: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = csv or make_csv(rows, Path(tmp))
        print(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB CSV", flush=True)
        with fresh_postgres_database() as url:
            _child(url, path, "postgres")
        _child(f"sqlite:///{Path(tmp) / 'bench.db'}", path, "sqlite")


def _child(url: str, path: Path, label: str) -> None:
    subprocess.run([sys.executable, "-m", "benchmarks.bench_ingest", "--child", url, str(path), label], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure_ingest(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingest", description=__doc__)
        parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
        parser.add_argument("--csv", type=Path, help="an existing raw CSV to ingest instead of generating one")
        args = parser.parse_args()
        main(args.rows, args.csv)
