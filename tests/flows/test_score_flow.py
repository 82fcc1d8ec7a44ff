"""Nightly scoring as the operator runs it: real MLflow champion, real files, Prefect flows, drift stored."""

import json
import os
import subprocess
import sys

from core import store
from core.config import Settings
from flows.ingest import ingest_flow
from flows.score import score_flow
from flows.train import train_flow
from tests.paths import PROJECT_ROOT, SHARED_DATA

INFERENCE_LEADS = 24_983


def _engine(settings: Settings):
    return store.make_engine(settings.resolved_database_url())


def test_score_without_champion_exits_with_one_line(settings):
    result = subprocess.run([sys.executable, "-m", "flows.score"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no champion model yet")


def test_train_on_dev_then_score_real_nightly_file(prefect_harness, settings):
    ingest_flow([str(SHARED_DATA / "leads_labelled_dev.csv")])
    outcome = train_flow()
    assert outcome.decision.promote
    engine = _engine(settings)
    with engine.begin() as conn:  # the nightly file scores only its own leads in this test
        conn.exec_driver_sql("DELETE FROM leads")
    ingest_flow([str(SHARED_DATA / "leadscoring_inference.csv")])

    run = score_flow()
    assert run.leads_scored == INFERENCE_LEADS
    scores = store.read_frame(engine, "SELECT * FROM lead_scores")
    assert len(scores) == scores["lead_id"].nunique() == INFERENCE_LEADS
    assert set(scores["grade"]) <= {"A", "B", "C", "D"} and scores["score"].between(0, 1).all()
    assert scores["reasons_positive"].map(json.loads).map(len).gt(0).mean() > 0.5
    drift = store.read_frame(engine, "SELECT * FROM drift_reports")
    assert drift["run_id"].tolist() == [run.run_id]
    assert 0 <= drift["share_drifted_columns"].iloc[0] <= 1
    columns = {c["column"] for c in json.loads(drift["column_scores"].iloc[0])}
    assert {"first_platform_c", "score"} <= columns
    assert abs(drift["predicted_positive_share"].iloc[0] - scores["predicted"].mean()) < 0.02

    again = score_flow()
    assert again.leads_scored == 0
    assert len(store.read_frame(engine, "SELECT lead_id FROM lead_scores")) == INFERENCE_LEADS
