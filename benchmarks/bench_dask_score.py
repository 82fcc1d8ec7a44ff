"""Scoring on Dask: the same leads scored in one process, then on a LocalCluster of 1 and of 2 workers.

python -m benchmarks.bench_dask_score [ROWS]   (default 3,000,000; Postgres)
A fresh Postgres database is filled with synthetic unscored leads (COPY, not timed) and a model is
trained on 80,000 labelled synthetic leads. Each configuration then scores every lead once through the
product's path (the one process: core.scoring.score_leads; Dask: flows.score_partitions.score_in_partitions on
prefect-dask's DaskTaskRunner, 2 partitions per worker thread); the scores are deleted between
configurations. Reported: the run's time (plan -> partitions -> atomic write; cluster start-up not
included, shown apart: it also imports the product on each worker, as a long-lived worker has), the speed-up over 1 worker, and peak memory of the flow process and of each worker.
This machine has 2 cores: the flow process, the workers and Postgres share them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_score import fill_leads, trained_model
from benchmarks.harness import fresh_postgres_database, timed

DEFAULT_ROWS = 3_000_000


def _process_peak_mb() -> float:
    """This process's own peak resident memory (VmHWM: not inherited from the process that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _warm_worker() -> None:
    """A long-lived worker has imported the product once; the benchmark does not time cold imports."""
    import flows.score  # noqa: F401


def _forget_scores(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM current_scores")  # the leads' current scores: without them all are new
        conn.exec_driver_sql("DELETE FROM lead_scores")
        conn.exec_driver_sql("DELETE FROM scoring_runs")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE current_scores")
        conn.exec_driver_sql("VACUUM ANALYZE lead_scores")


def score_one_process(engine, model, rows: int) -> float:
    from core.scoring import score_leads

    run, seconds = timed(lambda: score_leads(engine, model, "bench", "1"))
    assert run.leads_scored == rows, run.line()
    print(f"one process (no Dask): {seconds:.1f} s, {rows / seconds:,.0f} leads/s, peak RSS {_process_peak_mb():,.0f} MB")
    return seconds


def score_on_dask(url: str, model, rows: int, workers: int, home: Path) -> float:
    """The partitioned path on a fresh LocalCluster of `workers` single-threaded worker processes."""
    from distributed import LocalCluster
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from core.config import Settings
    from flows.score_partitions import score_in_partitions

    settings = Settings(home=home, database_url=url)
    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with cluster.get_client() as client:
            client.run(_warm_worker)
        start_s = time.perf_counter() - started

        @flow(name=f"bench-dask-{workers}", task_runner=DaskTaskRunner(address=cluster.scheduler_address))
        def scoring():
            return score_in_partitions(settings, model, "1", False)

        run, wall = timed(scoring)
        with cluster.get_client() as client:
            worker_peaks = sorted(client.run(_process_peak_mb).values())
    assert run.leads_scored == rows, run.line()
    print(f"Dask, {workers} worker(s): run {run.duration_s:.1f} s (plan -> partitions -> atomic write), flow call "
          f"{wall:.1f} s, cluster start {start_s:.1f} s, {rows / run.duration_s:,.0f} leads/s; peak RSS flow "
          f"process {_process_peak_mb():,.0f} MB, workers " + ", ".join(f"{m:,.0f} MB" for m in worker_peaks))
    return run.duration_s


def main(rows: int) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from core.store import make_engine

    with fresh_postgres_database() as url, tempfile.TemporaryDirectory(prefix="leadscore-dask-") as home, \
            prefect_test_harness(server_startup_timeout=90):
        fill_leads(url, rows)
        model = trained_model()
        engine = make_engine(url)
        print(f"{rows:,} synthetic leads on Postgres; machine: 2 cores shared by flow process, workers and Postgres")
        single = score_one_process(engine, model, rows)
        timings = {}
        for workers in (1, 2):
            _forget_scores(engine)
            timings[workers] = score_on_dask(url, model, rows, workers, Path(home))
        print(f"speed-up of 2 workers over 1: {timings[1] / timings[2]:.2f}x; "
              f"1 worker vs one process: {single / timings[1]:.2f}x")
        engine.dispose()


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else DEFAULT_ROWS)
