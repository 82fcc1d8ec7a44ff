"""Synthetic leads: generate and write 1,000,000 rows (budget: generate <= 10 s).

python -m benchmarks.bench_synthetic [ROWS]. Prints rows/s for generate_leads and write_leads_csv, and peak RSS.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.harness import peak_rss_mb, timed, verdict

GENERATE_BUDGET_S = 10.0


def main(rows: int) -> None:
    measure_generate_and_write(rows)
    measure_drifted(rows)


def measure_generate_and_write(rows: int) -> None:
    """A training-like labelled batch, then its CSV; peak memory is for one frame plus its file."""
    from core.synthetic import generate_leads, write_leads_csv

    frame, generate_s = timed(lambda: generate_leads(rows, seed=11))
    print(verdict(f"generate_leads {rows:,} rows", generate_s, GENERATE_BUDGET_S, rows))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.csv"
        _, write_s = timed(lambda: write_leads_csv(frame, path))
        size_mb = path.stat().st_size / 1e6
    print(f"write_leads_csv {rows:,} rows: {write_s:.2f} s | {rows / write_s:,.0f} rows/s | {size_mb:,.0f} MB CSV")
    print(f"peak RSS after generate + write: {peak_rss_mb():,.0f} MB")


def measure_drifted(rows: int) -> None:
    from core.synthetic import generate_leads

    _, drifted_s = timed(lambda: generate_leads(rows, seed=12, drifted=True, labelled=False))
    print(verdict(f"generate_leads {rows:,} rows, drifted", drifted_s, GENERATE_BUDGET_S, rows))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
