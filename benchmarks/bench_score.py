"""Nightly scoring of the built-in schema's synthetic leads: 1,000,000 leads end to end <= 10 s on Postgres
(<= 12 s on SQLite) with peak memory <= 1.5 GB; larger sizes with the same peak memory; and the faithfulness
of the fast reasons against exact TreeSHAP.

python -m benchmarks.bench_score [--sqlite] [ROWS ...]   (default: 1000000 3000000, Postgres)
Each size runs in its own process: fill a fresh database with synthetic leads (COPY), train a model on
80,000 labelled synthetic leads, then time score_leads (read -> features -> predict -> grades and
reasons -> write), then a rescore of every lead (each current score replaced, the history appended), and
report peak RSS of the scoring process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import fresh_postgres_database, peak_rss_mb, timed, verdict

BUDGET_S = {"postgresql": 10.0, "sqlite": 12.0}
BUDGET_MB = 1536.0
FILL_CHUNK = 500_000


def trained_model():
    from core.model import ModelConfig, train_candidate
    from core.store import LEAD_ID

    leads = typed_leads(80_000, seed=3, labelled=True).drop(columns=[LEAD_ID])
    return train_candidate(leads, ModelConfig()).model


def typed_leads(rows: int, seed: int, labelled: bool) -> pd.DataFrame:
    """Synthetic leads as the leads table holds them (typed columns and a lead_id)."""
    from core.lead_schema import load_schema
    from core.store import LEAD_ID
    from core.synthetic import generate_leads

    schema = load_schema()
    frame = generate_leads(rows, seed=seed, labelled=labelled)
    created = schema.raw(schema.created_column).db_name
    frame[created] = pd.to_datetime(frame[created])
    frame.insert(0, LEAD_ID, [f"s{seed}-{i:09d}" for i in range(rows)])
    if not labelled:
        frame[schema.label.db_name] = pd.Series(pd.NA, index=frame.index, dtype="Int8")
    return frame


def fill_leads(url: str, rows: int) -> None:
    """Unscored leads straight into the leads table (one ingest batch), in chunks."""
    from sqlalchemy import insert

    from core import store
    from core.clock import utc_now

    engine = store.make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(store.ingest_batches).values(
            batch_id=1, file_name="bench", sha256="bench", rows_in=rows, loaded=rows, duplicate=0, rejected=0,
            labels_recorded=0, started_at=utc_now()))
    for start in range(0, rows, FILL_CHUNK):
        chunk = typed_leads(min(FILL_CHUNK, rows - start), seed=100 + start // FILL_CHUNK, labelled=False)
        chunk.insert(1, "batch_id", 1)
        chunk.insert(2, "row_number", np.arange(len(chunk)))
        with engine.begin() as conn:
            store.bulk_insert(conn, "leads", chunk)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE leads" if store.is_postgres(conn) else "ANALYZE")
        # the fill's writes flushed before the timing starts (the run's own checkpoints stay in its figure)
        conn.exec_driver_sql("CHECKPOINT" if store.is_postgres(conn) else "PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def measure(url: str, rows: int) -> None:
    """Child process: train, then score every lead once, and print the verdict."""
    from core.forest import warm_forest_cache
    from core.scoring import score_leads
    from core.store import make_engine

    model = trained_model()
    compiled, seconds = timed(lambda: warm_forest_cache(model.booster))
    print(f"trees compiled for scoring in {seconds:.1f} s (once per model and machine, done by training; "
          f"{'compiled' if compiled else 'NOT compiled: LightGBM fallback'})")
    engine = make_engine(url)
    budget = BUDGET_S[engine.dialect.name] * rows / 1_000_000
    run, seconds = timed(lambda: score_leads(engine, model, "bench", "1"))
    print(run.line())
    print(verdict(f"score {rows:,} leads on {engine.dialect.name}", seconds, budget, rows, peak_rss_mb(), BUDGET_MB))
    report_checkpoint_aside()
    run, seconds = timed(lambda: score_leads(engine, model, "bench", "1", rescore_all=True))
    print(run.line())
    print(verdict(f"rescore all {rows:,} leads on {engine.dialect.name} (each lead's current score replaced)",
                  seconds, budget, rows, peak_rss_mb(), BUDGET_MB))
    report_checkpoint_aside()
    report_faithfulness(model, engine)


def report_checkpoint_aside() -> None:
    """SQLite: the run is visible at its commit; its log is copied into the database file by a background thread
    (core/store.py checkpoint_aside), whose remaining time is reported, not hidden."""
    from core.store import wait_for_checkpoints

    count, seconds = timed(wait_for_checkpoints)
    if count:
        print(f"  the log's background checkpoint ended {seconds:.1f} s after the run returned")


def report_faithfulness(model, engine) -> None:
    """Top-factor agreement of the lookup-table reasons with exact TreeSHAP on 5,000 scored leads."""
    from core.reasons import agreement_with_exact, learn_reason_table
    from core.scoring import created_column, unscored_leads_sql
    from core.store import read_frame

    leads = read_frame(engine, unscored_leads_sql(model.schema, rescore_all=True) + " ORDER BY l.lead_id LIMIT 23000")
    column = created_column(model.schema)
    leads[column] = pd.to_datetime(leads[column], format="ISO8601")
    matrix = model.features(leads)
    table = learn_reason_table(model.booster, matrix.iloc[:3_000], list(model.categorical_features))
    figures = agreement_with_exact(model.booster, table, matrix.iloc[18_000:])
    print("reasons vs exact TreeSHAP on 5,000 other leads: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


def main(sizes: list[int], sqlite: bool = False) -> None:
    for rows in sizes:
        with (fresh_sqlite_database() if sqlite else fresh_postgres_database()) as url:
            fill_leads(url, rows)
            subprocess.run([sys.executable, "-m", "benchmarks.bench_score", "--child", url, str(rows)], check=True)


@contextmanager
def fresh_sqlite_database() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'leadscore.db'}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure(sys.argv[2], int(sys.argv[3]))
    else:
        arguments = sys.argv[1:]
        use_sqlite = "--sqlite" in arguments
        main([int(a) for a in arguments if a != "--sqlite"] or [1_000_000, 3_000_000], use_sqlite)
