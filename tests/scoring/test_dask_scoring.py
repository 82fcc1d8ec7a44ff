"""Scoring in partitions on a Dask LocalCluster of 2 worker processes, through prefect-dask's DaskTaskRunner.

Given the real nightly file and a champion trained on the real dev file, the partitioned run must give
exactly the single-process run's scores, grades, ranks and reasons; a worker killed mid-run leaves no
visible run and the work completes; a second run scores nothing new; on SQLite and Postgres.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import dask
import pandas as pd
import pytest
from distributed import LocalCluster
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect_dask import DaskTaskRunner
from sqlalchemy import Engine, text

from core import store
from core.config import Settings
from core.ingest import ingest_file
from core.partitions import lead_partition, partition_sql, reading_engine, score_partition
from core.scoring import score_leads
from flows.score_partitions import score_in_partitions
from tests.paths import SHARED_DATA

INFERENCE_LEADS = 24_983
CHUNK_ROWS = 30_000  # the run's first chunk (the reasons' sample) holds every lead, as the default 200,000 would
PARTITION_CHUNK_ROWS = 2_500  # several chunks per partition: the kill comes mid-partition
COMPARED = ["lead_id", "score", "grade", "rank", "predicted", "reasons_positive", "reasons_negative", "trend"]


def _local_cluster(workers: int = 2) -> LocalCluster:
    """Worker processes; a task whose worker dies twice fails the run (allowed-failures = 1)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")


@pytest.fixture(scope="module")
def cluster():
    """Shared by the tests that kill no worker."""
    with _local_cluster() as local:
        yield local


@pytest.fixture
def own_cluster():
    """A cluster of its own for a test that kills workers: a nanny that fails to restart its worker under load
    must not leave the next test without workers."""
    with _local_cluster() as local:
        yield local


@pytest.fixture
def nightly(engine: Engine) -> Engine:
    ingest_file(engine, SHARED_DATA / "leadscoring_inference.csv")
    return engine


def _settings(engine: Engine, home: Path) -> Settings:
    """Settings pointing at this test's database (workers read the same SQLite file or Postgres database)."""
    return Settings(home=home, database_url=engine.url.render_as_string(hide_password=False),
                    score_chunk_rows=CHUNK_ROWS)


def _scores(engine: Engine) -> pd.DataFrame:
    """Each lead's current score with its reasons (the history keeps the run's score, grade and rank)."""
    return store.read_frame(engine, "SELECT * FROM current_scores").sort_values("lead_id").reset_index(drop=True)


def _history(engine: Engine) -> pd.DataFrame:
    return store.read_frame(engine, "SELECT * FROM lead_scores").sort_values("lead_id").reset_index(drop=True)


def _runs(engine: Engine) -> pd.DataFrame:
    return store.read_frame(engine, "SELECT * FROM scoring_runs ORDER BY run_id")


def _forget_scores(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM current_scores")
        conn.exec_driver_sql("DELETE FROM lead_scores")
        conn.exec_driver_sql("DELETE FROM scoring_runs")


def _run_on_dask(cluster, settings: Settings, model, partition_task=None):
    """The flow's partitioned path on the cluster (as LEADSCORE_DASK_ADDRESS would run it)."""
    runner = DaskTaskRunner(address=cluster.scheduler_address)

    @flow(name="score-on-dask", task_runner=runner)
    def scoring():
        extra = {"partition_task": partition_task} if partition_task is not None else {}
        return score_in_partitions(settings, model, "1", False, **extra)

    return scoring()


def _kill_own_worker_once(marker: Path):
    """A chunk hook that kills this worker process (SIGKILL, mid-partition) the first time it runs anywhere."""
    def after_chunk(index: int) -> None:
        if index == 1 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return after_chunk


def _always_kill_own_worker(index: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@task(cache_policy=NO_CACHE)
def partition_killing_its_worker_once(settings: Settings, model, plan, partition: int):
    hook = _kill_own_worker_once(plan.folder.parent / "killed-once") if partition == 1 else None
    engine = reading_engine(settings.resolved_database_url())
    try:
        return score_partition(engine, model, plan, partition, after_chunk=hook, chunk_rows=PARTITION_CHUNK_ROWS)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def partition_killing_every_worker(settings: Settings, model, plan, partition: int):
    engine = reading_engine(settings.resolved_database_url())
    try:
        return score_partition(engine, model, plan, partition,
                               after_chunk=_always_kill_own_worker if partition == 0 else None,
                               chunk_rows=PARTITION_CHUNK_ROWS)
    finally:
        engine.dispose()


def test_partitions_are_a_stable_hash_of_lead_id_on_every_store(nightly):
    with nightly.connect() as conn:  # the SQL of each store computes the same partition as Python
        sql = partition_sql(conn, store.engine_schema(nightly), rescore_all=False)
        chosen = conn.execute(text(f"SELECT lead_id FROM ({sql}) p"), {"version": "1", "partitions": 4,
                                                                        "partition": 2}).scalars().all()
    leads = store.read_frame(nightly, "SELECT lead_id FROM leads")["lead_id"]
    expected = {lead for lead in leads if lead_partition(lead, 4) == 2}
    assert len(chosen) == len(set(chosen)) and set(chosen) == expected and 0.2 < len(expected) / len(leads) < 0.3
    assert lead_partition("abc", 4) == int("900150983cd24fb0d6963f7d28e17f72"[:8], 16) % 4  # md5("abc")


def test_dask_run_equals_single_process_run_and_second_run_scores_nothing(prefect_harness, cluster, nightly,
                                                                          dev_model, tmp_path):
    single = score_leads(nightly, dev_model, "m", "1", chunk_rows=CHUNK_ROWS)
    expected = _scores(nightly)
    _forget_scores(nightly)

    run = _run_on_dask(cluster, _settings(nightly, tmp_path), dev_model)

    scored = _scores(nightly)
    assert run.leads_scored == single.leads_scored == INFERENCE_LEADS == len(scored)
    pd.testing.assert_frame_equal(scored[COMPARED], expected[COMPARED], check_dtype=False)
    assert sorted(scored["rank"]) == list(range(1, INFERENCE_LEADS + 1))
    assert (scored["run_id"] == run.run_id).all() and _runs(nightly)["status"].tolist() == ["succeeded"]
    again = _run_on_dask(cluster, _settings(nightly, tmp_path), dev_model)
    assert again.leads_scored == 0 and len(_scores(nightly)) == len(_history(nightly)) == INFERENCE_LEADS
    assert list((tmp_path / "spill").iterdir()) == []  # the partition files are removed after the write


def test_worker_killed_mid_partition_is_retried_and_the_run_is_complete(prefect_harness, own_cluster, nightly,
                                                                        dev_model, tmp_path):
    score_leads(nightly, dev_model, "m", "1", chunk_rows=CHUNK_ROWS)
    expected = _scores(nightly)
    _forget_scores(nightly)

    run = _run_on_dask(own_cluster, _settings(nightly, tmp_path), dev_model, partition_killing_its_worker_once)

    assert (tmp_path / "spill" / "killed-once").exists()  # a worker process really died mid-partition
    assert run.leads_scored == INFERENCE_LEADS
    pd.testing.assert_frame_equal(_scores(nightly)[COMPARED], expected[COMPARED], check_dtype=False)
    assert _runs(nightly)["status"].tolist() == ["succeeded"]


def test_partition_whose_worker_keeps_dying_fails_the_run_with_nothing_visible(prefect_harness, own_cluster, cluster,
                                                                               nightly, dev_model, tmp_path):
    settings = _settings(nightly, tmp_path)
    with pytest.raises(Exception, match="(?i)killed|died|worker"):
        _run_on_dask(own_cluster, settings, dev_model, partition_killing_every_worker)

    assert len(_scores(nightly)) == len(_history(nightly)) == 0
    failed = _runs(nightly)
    assert failed["status"].tolist() == ["failed"] and failed["leads_scored"].tolist() == [0]
    rerun = _run_on_dask(cluster, settings, dev_model)
    assert rerun.leads_scored == INFERENCE_LEADS == _scores(nightly)["lead_id"].nunique()


@task(cache_policy=NO_CACHE)
def partition_that_never_ends(settings: Settings, model, plan, partition: int):
    (plan.folder.parent / f"started-{partition}").touch()
    time.sleep(600)


def _close_every_worker_once_a_partition_runs(cluster: LocalCluster, spill: Path) -> threading.Thread:
    def close_workers() -> None:
        deadline = time.monotonic() + 120
        while not any(spill.glob("started-*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        cluster.scale(0)
    closer = threading.Thread(target=close_workers, daemon=True)
    closer.start()
    return closer


def test_cluster_left_without_workers_fails_the_run_instead_of_waiting_for_ever(prefect_harness, own_cluster, nightly,
                                                                                dev_model, tmp_path):
    settings = _settings(nightly, tmp_path).model_copy(update={"dask_no_worker_patience_s": 3.0})
    closer = _close_every_worker_once_a_partition_runs(own_cluster, tmp_path / "spill")
    started = time.monotonic()
    with pytest.raises(Exception, match="has had no worker for 3 s with [1-9][0-9]* of 4 partitions unscored"):
        _run_on_dask(own_cluster, settings, dev_model, partition_that_never_ends)

    closer.join()
    assert time.monotonic() - started < 120 and not own_cluster.scheduler_info["workers"]
    assert len(_scores(nightly)) == len(_history(nightly)) == 0
    assert _runs(nightly)["status"].tolist() == ["failed"]


def test_settings_choose_the_task_runner(tmp_path, monkeypatch):
    from flows.score import score_flow, scoring_flow
    from flows.score_partitions import dask_task_runner

    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    assert not Settings().scores_on_dask() and scoring_flow(Settings()) is score_flow
    monkeypatch.setenv("LEADSCORE_DASK_WORKERS", "2")
    local = dask_task_runner(Settings())
    assert Settings().scores_on_dask() and local.address is None and local.cluster_kwargs["n_workers"] == 2
    monkeypatch.setenv("LEADSCORE_DASK_ADDRESS", "tcp://scheduler:8786")
    assert dask_task_runner(Settings()).address == "tcp://scheduler:8786"
    assert type(scoring_flow(Settings()).task_runner).__name__ == "DaskTaskRunner"


def test_score_flow_with_local_dask_workers_scores_the_nightly_file(prefect_harness, settings, monkeypatch):
    """The operator's path: LEADSCORE_DASK_WORKERS=2, champion from MLflow, then the drift report of the run."""
    from flows.ingest import ingest_flow
    from flows.score import scoring_flow
    from flows.train import train_flow

    ingest_flow([str(SHARED_DATA / "leads_labelled_dev.csv")])
    assert train_flow().decision.promote
    engine = store.make_engine(settings.resolved_database_url())
    with engine.begin() as conn:  # the nightly file scores only its own leads in this test
        conn.exec_driver_sql("DELETE FROM leads")
    ingest_flow([str(SHARED_DATA / "leadscoring_inference.csv")])
    monkeypatch.setenv("LEADSCORE_DASK_WORKERS", "2")

    run = scoring_flow(Settings())()

    scores = _scores(engine)
    assert run.leads_scored == len(scores) == scores["lead_id"].nunique() == INFERENCE_LEADS
    assert sorted(scores["rank"]) == list(range(1, INFERENCE_LEADS + 1))
    assert store.read_frame(engine, "SELECT run_id FROM drift_reports")["run_id"].tolist() == [run.run_id]
    # the aggregates step runs beside the drift report, in the flow's process
    assert store.read_frame(engine, "SELECT run_id FROM score_aggregate_runs")["run_id"].tolist() == [run.run_id]
    engine.dispose()
