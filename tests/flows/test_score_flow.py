"""Nightly scoring as the operator runs it: real MLflow champion, real files, Prefect flows, drift stored."""

import json
import os
import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest

from core import store
from core.config import Settings
from flows.ingest import ingest_flow
from flows.score import score_flow
from flows.train import train_flow
from tests.model.crm import CRM_SCHEMA_FILE, crm_leads, crm_schema, names_codepro, store_crm_leads
from tests.paths import PROJECT_ROOT, SHARED_DATA

INFERENCE_LEADS = 24_983


def _score_command(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.score"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


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
    scores = store.read_frame(engine, "SELECT * FROM current_scores")
    assert len(scores) == scores["lead_id"].nunique() == INFERENCE_LEADS
    cutoffs = json.loads(store.read_frame(engine, "SELECT grade_cutoffs_json FROM model_versions")["grade_cutoffs_json"][0])
    expected = np.select([scores["score"] >= cutoffs[g] for g in "ABC"], list("ABC"), "D")
    assert scores["grade"].tolist() == expected.tolist() and set(expected) == {"A", "B", "C", "D"}
    assert scores["reasons_positive"].map(json.loads).map(len).gt(0).mean() > 0.5
    drift = store.read_frame(engine, "SELECT * FROM drift_reports")
    assert drift["run_id"].tolist() == [run.run_id]
    assert store.read_frame(engine, "SELECT run_id FROM score_aggregate_runs")["run_id"].tolist() == [run.run_id]
    column_scores = json.loads(drift["column_scores"].iloc[0])
    drifted = sum(bool(c["drifted"]) for c in column_scores)
    assert drift["share_drifted_columns"].iloc[0] == pytest.approx(drifted / len(column_scores))
    columns = {c["column"] for c in column_scores}
    assert {"first_platform_c", "score"} <= columns
    assert abs(drift["predicted_positive_share"].iloc[0] - scores["predicted"].mean()) < 0.02

    again = score_flow()
    assert again.leads_scored == 0
    assert len(store.read_frame(engine, "SELECT lead_id FROM lead_scores")) == INFERENCE_LEADS


def test_score_command_refuses_a_bad_schema_file_with_one_line(settings, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlabel: {column: y, positive: ['1']}\nfeatures: {a: {type: category}}\nleakage: [a]\n")
    result = _score_command(LEADSCORE_SCHEMA=str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "error: schema bad.yaml: leakage: column 'a' is also in features.a (a column has one role)"


def test_score_command_refuses_a_database_of_another_schema(settings):
    store.make_engine(settings.resolved_database_url()).dispose()  # a CodePro database
    result = _score_command(LEADSCORE_SCHEMA=str(CRM_SCHEMA_FILE))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("error: the database holds leads of schema 'CodePro'")


def test_example_crm_schema_through_the_train_and_score_flows(prefect_harness, settings, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(CRM_SCHEMA_FILE))
    schema = crm_schema()
    engine = store.make_engine(settings.resolved_database_url(), schema)
    store_crm_leads(engine, crm_leads(8_000, seed=11), schema, datetime(2026, 3, 1, 1))
    outcome = train_flow()
    assert outcome.decision.promote, outcome.decision.reason
    assert outcome.report["holdout_method"] == "newest 20% by Lead Number" and outcome.report["leakage"] == []
    store_crm_leads(engine, crm_leads(3_000, seed=12).assign(Outcome=""), schema, datetime(2026, 3, 2, 1))
    run = score_flow()
    assert run.leads_scored == 11_000  # the labelled history and the new night
    scores = store.read_frame(engine, "SELECT * FROM current_scores")
    reasons = " ".join(scores["reasons_positive"]) + " ".join(scores["reasons_negative"])
    drift = store.read_frame(engine, "SELECT column_scores FROM drift_reports")
    columns = [c["column"] for c in json.loads(drift["column_scores"].iloc[0])]
    assert "lead_source" in columns and names_codepro(reasons + " ".join(columns)) == []
    versions = store.read_frame(engine, "SELECT metrics_json FROM model_versions")
    metrics = json.loads(versions["metrics_json"].iloc[0])
    assert metrics["holdout_method"] == "newest 20% by Lead Number" and len(metrics["recall_interval"]) == 2
    engine.dispose()
