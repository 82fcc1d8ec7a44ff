"""Drift reports of scoring runs: a batch from the training distribution passes, shifted batches are flagged."""

import threading
from datetime import datetime
from pathlib import Path

import pytest

from core import store
from core.ingest import ingest_file
from core.model import ModelConfig, reference_sample, train_candidate
from core.monitoring import drift_of_sample, report_run_drift, runs_missing_drift
from core.schema import validate_file
from core.scoring import score_leads
from core.synthetic import generate_leads, write_leads_csv
from tests.paths import SHARED_DATA

HISTORY = ("2021-07-01", "2022-02-28")
NEXT_NIGHT = ("2022-03-01", "2022-03-02")


@pytest.fixture(scope="module")
def synthetic_champion(tmp_path_factory):
    """A model trained on synthetic history, and its training reference (as the registry stores it)."""
    path = tmp_path_factory.mktemp("history") / "history.csv"
    write_leads_csv(generate_leads(30_000, seed=21, start=HISTORY[0], end=HISTORY[1]), path)
    leads = validate_file(path, datetime(2026, 1, 1)).good
    candidate = train_candidate(leads, ModelConfig(num_boost_round=120))
    return candidate.model, reference_sample(candidate.model, leads)


def _score_file(sqlite_engine, model, reference, path: Path):
    ingest_file(sqlite_engine, path)
    run = score_leads(sqlite_engine, model, "m", "1")
    return report_run_drift(sqlite_engine, model, reference, run)


def _batch(tmp_path, name: str, drifted: bool) -> Path:
    path = tmp_path / name
    write_leads_csv(generate_leads(6_000, seed=33, drifted=drifted, labelled=False,
                                   start=NEXT_NIGHT[0], end=NEXT_NIGHT[1]), path)
    return path


def test_batch_from_training_distribution_is_not_flagged(sqlite_engine, synthetic_champion, tmp_path):
    summary = _score_file(sqlite_engine, *synthetic_champion, _batch(tmp_path, "normal.csv", drifted=False))
    assert not summary.dataset_drift
    assert summary.share_drifted_columns < 0.3


def test_drifted_synthetic_batch_is_flagged(sqlite_engine, synthetic_champion, tmp_path):
    summary = _score_file(sqlite_engine, *synthetic_champion, _batch(tmp_path, "drifted.csv", drifted=True))
    assert summary.dataset_drift
    drifted = {c["column"] for c in summary.columns if c["drifted"]}
    assert "first_platform_c" in drifted
    stored = store.read_frame(sqlite_engine, "SELECT dataset_drift, share_drifted_columns FROM drift_reports")
    assert bool(stored["dataset_drift"].iloc[0]) and stored["share_drifted_columns"].iloc[0] >= 0.3


def test_real_nightly_file_against_synthetic_history_is_flagged(sqlite_engine, synthetic_champion):
    summary = _score_file(sqlite_engine, *synthetic_champion, SHARED_DATA / "leadscoring_inference.csv")
    assert summary.dataset_drift
    assert summary.rows_current <= 50_000


def test_a_run_whose_drift_report_failed_is_completed_later(sqlite_engine, synthetic_champion, tmp_path):
    model, reference = synthetic_champion
    ingest_file(sqlite_engine, _batch(tmp_path, "normal.csv", drifted=False))
    run = score_leads(sqlite_engine, model, "m", "1")  # the scores landed, the drift step never ran
    assert [r.run_id for r in runs_missing_drift(sqlite_engine, "1")] == [run.run_id]
    report_run_drift(sqlite_engine, model, reference, runs_missing_drift(sqlite_engine, "1")[0])
    assert runs_missing_drift(sqlite_engine, "1") == []
    assert store.read_frame(sqlite_engine, "SELECT run_id FROM drift_reports")["run_id"].tolist() == [run.run_id]


def test_the_report_built_while_the_run_is_written_is_the_report_of_its_sample(sqlite_engine, synthetic_champion,
                                                                                tmp_path):
    model, reference = synthetic_champion
    ingest_file(sqlite_engine, _batch(tmp_path, "drifted.csv", drifted=True))
    built_on = []

    def report(sample):
        built_on.append(threading.current_thread().name)
        return drift_of_sample(model, reference, sample)

    run = score_leads(sqlite_engine, model, "m", "1", drift_report=report)
    assert built_on and built_on[0].startswith("leadscore-drift")  # on its own thread, beside the write
    assert run.drift_summary is not None and run.drift_summary.dataset_drift
    afterwards = drift_of_sample(model, reference, run.drift_sample)
    assert run.drift_summary.columns == afterwards.columns
    assert report_run_drift(sqlite_engine, model, reference, run) is run.drift_summary  # stored as built


def test_a_report_failing_beside_the_write_fails_nothing_and_is_built_after_the_run(sqlite_engine, synthetic_champion,
                                                                                    tmp_path):
    model, reference = synthetic_champion
    ingest_file(sqlite_engine, _batch(tmp_path, "normal.csv", drifted=False))

    def broken(sample):
        raise RuntimeError("evidently fell over")

    run = score_leads(sqlite_engine, model, "m", "1", drift_report=broken)
    assert run.leads_scored > 0 and run.drift_summary is None
    summary = report_run_drift(sqlite_engine, model, reference, run)
    assert not summary.dataset_drift and runs_missing_drift(sqlite_engine, "1") == []
