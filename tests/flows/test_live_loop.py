"""The live loop on real leads: train on the older part of the dev sample, score the rest as unlabelled leads,
feed their outcomes back as an id + label file, judge the champion on them, and retrain on the evidence.

Real pipeline throughout (flows.ingest / train / score / evaluate, core.scoring, real MLflow under
LEADSCORE_HOME), on SQLite and on Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from core import store
from core.config import load_settings
from core.model import LeadModel
from core.registry import EVALUATION_ARTIFACT, champion_version, connect
from core.training import load_labelled_leads
from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from flows.score import score_flow
from flows.train import train_flow
from tests.paths import PROJECT_ROOT, SHARED_DATA

DEV_FILE = SHARED_DATA / "leads_labelled_dev.csv"
LABEL = "app_complete_flag"
CUT = "2021-12-01"  # train on leads created before, score the rest as unlabelled leads
CODEPRO_SCHEMA = PROJECT_ROOT / "schemas" / "codepro.yaml"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, settings, monkeypatch) -> str:
    """This test's store: the SQLite file under LEADSCORE_HOME, or a fresh Postgres database."""
    if request.param == "postgres":
        monkeypatch.setenv("LEADSCORE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return request.param


def _command(module: str) -> subprocess.CompletedProcess:
    """A command as the operator runs it, against the test session's Prefect server (no temporary one to start)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    return subprocess.run([sys.executable, "-m", module], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def _engine():
    settings = load_settings()
    return store.make_engine(settings.resolved_database_url(), settings.lead_schema())


def _split_dev(folder: Path) -> tuple[Path, Path, pd.DataFrame]:
    """(labelled older leads, the newer leads without labels, their true outcomes), every lead named dev-<index>."""
    dev = pd.read_csv(DEV_FILE, index_col=0, dtype=str, keep_default_na=False)
    dev.insert(0, "lead_id", [f"dev-{i}" for i in dev.index])
    older, newer = dev[dev["created_date"] < CUT], dev[dev["created_date"] >= CUT]
    older.to_csv(folder / "older.csv", index=False)
    newer.drop(columns=[LABEL]).to_csv(folder / "newer.csv", index=False)
    return folder / "older.csv", folder / "newer.csv", newer[["lead_id", LABEL]].astype({LABEL: int})


def _write_feed(path: Path, outcomes: pd.DataFrame) -> Path:
    outcomes[["lead_id", LABEL]].to_csv(path, index=False)
    return path


def _train_score_and_feed(folder: Path, outcomes_of=lambda truth: truth) -> tuple[pd.DataFrame, object]:
    """Ingest and train on the older leads, ingest and score the newer ones, then feed outcomes for them."""
    older, newer, truth = _split_dev(folder)
    ingest_flow([str(older)])
    assert train_flow().decision.promote
    ingest_flow([str(newer)])
    score_flow()
    fed = outcomes_of(truth)
    [summary] = ingest_flow([str(_write_feed(folder / "outcomes.csv", fed))])
    return fed, summary


def _latest_live(engine, version: str) -> pd.Series:
    rows = store.read_frame(engine, "SELECT * FROM live_performance WHERE model_version = :v AND period = 'all' "
                                    "ORDER BY computed_at DESC, id DESC", {"v": version})
    return rows.iloc[0]


def test_live_auc_equals_roc_auc_score_on_the_stored_scores(prefect_harness, database, tmp_path):
    truth, summary = _train_score_and_feed(tmp_path)
    engine = _engine()
    stored = store.read_frame(engine, "SELECT lead_id FROM leads WHERE label_batch_id = :b", {"b": summary.batch_id})
    assert summary.labels_recorded == len(stored) == len(truth)  # every newer lead of the file was stored
    assert (summary.rows_in, summary.duplicate, summary.rejected) == (len(truth), 0, 0)

    version = champion_version(connect(load_settings()), load_settings().model_name).version
    scores = store.read_frame(engine, "SELECT lead_id, score FROM lead_scores WHERE model_version = :v",
                              {"v": str(version)}).merge(truth, on="lead_id")
    assert len(scores) == len(truth)
    threshold = float(store.read_frame(engine, "SELECT threshold FROM model_versions WHERE version = :v",
                                       {"v": str(version)})["threshold"].iloc[0])
    predicted = (scores["score"] >= threshold).astype(int)
    live = _latest_live(engine, str(version))
    assert live["n_labelled"] == len(truth) and live["n_positive"] == truth[LABEL].sum()
    assert abs(live["auc"] - roc_auc_score(scores[LABEL], scores["score"])) < 1e-9
    assert abs(live["precision"] - precision_score(scores[LABEL], predicted)) < 1e-9
    assert abs(live["recall"] - recall_score(scores[LABEL], predicted)) < 1e-9
    assert live["threshold"] == threshold and live["snapshot_json"]
    print(f"live AUC {live['auc']:.6f} precision {live['precision']:.6f} recall {live['recall']:.6f} "
          f"on {len(truth)} leads")  # shown with pytest -rA
    weeks = store.read_frame(engine, "SELECT period, n_labelled, computed_at FROM live_performance "
                                     "WHERE model_version = :v AND period <> 'all'", {"v": str(version)})
    weeks = weeks[weeks["computed_at"] == live["computed_at"]]
    assert weeks["n_labelled"].sum() == len(truth) and len(weeks) >= 10  # ten weeks of leads from 1 Dec on


def test_outcomes_never_scored_or_scored_after_they_arrived_are_excluded_and_counted(prefect_harness, database,
                                                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_RETRAIN_NEW_OUTCOMES", "1000000")  # this test is about the figures, not retraining
    monkeypatch.setenv("LEADSCORE_RETRAIN_MIN_LIVE_OUTCOMES", "1000000")
    truth, _ = _train_score_and_feed(tmp_path)
    engine = _engine()
    trained_on = int(store.read_frame(engine, f"SELECT COUNT(*) AS n FROM leads WHERE {LABEL} IS NOT NULL")["n"][0])
    trained_on -= len(truth)  # the older leads came with their labels: scored only after those arrived
    late = pd.read_csv(DEV_FILE, index_col=0, dtype=str, keep_default_na=False).tail(30)
    late.insert(0, "lead_id", [f"late-{i}" for i in late.index])
    late.drop(columns=[LABEL]).to_csv(tmp_path / "late.csv", index=False)
    ingest_flow([str(tmp_path / "late.csv")])
    ingest_flow([str(_write_feed(tmp_path / "late-outcomes.csv", late.astype({LABEL: int})))])  # never scored

    summary = evaluate_flow()
    assert (summary.never_scored, summary.scored_after_outcome) == (30, trained_on)
    assert summary.outcomes == trained_on + len(truth) + 30
    version = summary.overall[0].model_version
    live = _latest_live(engine, version)
    assert (live["excluded_never_scored"], live["excluded_scored_after_outcome"]) == (30, trained_on)
    assert live["n_labelled"] == len(truth)
    score_flow()  # the late leads are scored now, after their outcomes arrived: still excluded
    summary = evaluate_flow()
    assert (summary.never_scored, summary.scored_after_outcome) == (0, trained_on + 30)
    assert _latest_live(engine, version)["n_labelled"] == len(truth)
    if database == "sqlite":  # the command prints the same counts
        result = _command("flows.evaluate")
        assert result.returncode == 0, result.stderr
        assert (f"{trained_on + len(truth) + 30} outcomes: excluded 0 never scored, {trained_on + 30} scored only "
                "after the outcome arrived") in result.stdout + result.stderr


def _shuffled(truth: pd.DataFrame) -> pd.DataFrame:
    labels = np.random.default_rng(3).permutation(truth[LABEL].to_numpy())
    return truth.assign(**{LABEL: labels})


def _evaluation_model(run_id: str) -> LeadModel:
    with tempfile.TemporaryDirectory() as folder:
        return LeadModel.load(Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=folder)))


def _scoring_model(version: str) -> LeadModel:
    settings = load_settings()
    connect(settings)
    return mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}").unwrap_python_model().lead_model


def _independent_gate(engine, fed: pd.DataFrame, challenger: str, champion: str, bars: dict) -> dict:
    """The champion gate recomputed here: the challenger's holdout is the newest 20% of labelled leads by
    creation; both are judged on those whose outcomes were fed after the champion was trained."""
    leads = load_labelled_leads(engine)
    created = leads["created_date"].sort_values(kind="stable").to_numpy()
    holdout = leads[leads["created_date"] >= created[len(created) - int(np.ceil(len(created) * 0.2))]]
    run_id = store.read_frame(engine, "SELECT mlflow_run_id FROM model_versions WHERE version = :v",
                              {"v": challenger})["mlflow_run_id"].iloc[0]
    evaluation = _evaluation_model(run_id)
    labels, scores = holdout[LABEL].astype(int), evaluation.predict_proba(holdout)
    predicted = (scores >= evaluation.threshold).astype(int)
    clears = (roc_auc_score(labels, scores) > bars["auc"] and precision_score(labels, predicted) > bars["precision"]
              and recall_score(labels, predicted) > bars["recall"])
    fresh = holdout["lead_id"].isin(fed["lead_id"]).to_numpy()
    challenger_auc = roc_auc_score(labels[fresh], scores[fresh])
    champion_auc = roc_auc_score(labels[fresh], _scoring_model(champion).predict_proba(holdout[fresh]))
    return {"clears": clears, "challenger_auc": challenger_auc, "champion_auc": champion_auc,
            "promote": bool(clears and challenger_auc >= champion_auc)}


def _decisions(engine) -> pd.DataFrame:
    return store.read_frame(engine, "SELECT * FROM retrain_decisions ORDER BY id")


def test_a_worse_live_model_makes_the_nightly_flow_retrain_and_say_why(prefect_harness, database, tmp_path):
    fed, _ = _train_score_and_feed(tmp_path, _shuffled)
    engine = _engine()
    live = _latest_live(engine, "1")
    assert live["auc"] < 0.6 and live["n_labelled"] == len(fed)
    assert _decisions(engine)["retrain"].tolist() == [False]  # the first night had no outcomes yet

    result = _command("flows.score")
    assert result.returncode == 0, result.stderr
    reason = (f"retrain: champion v1's live AUC {live['auc']:.3f} is not above the bar 0.75 on "
              f"{len(fed)} outcomes")
    assert reason in result.stdout + result.stderr
    decision = _decisions(engine).iloc[-1]
    assert bool(decision["retrain"]) and decision["reason"] == reason and decision["champion_version"] == "1"

    gate = _independent_gate(engine, fed, "2", "1", {"auc": 0.75, "precision": 0.65, "recall": 0.75})
    print(decision["reason"], decision["outcome"], gate, sep="\n")  # shown with pytest -rA
    champion = champion_version(connect(load_settings()), load_settings().model_name).version
    assert str(champion) == ("2" if gate["promote"] else "1")
    assert decision["outcome"].startswith("version 2 " + ("promoted" if gate["promote"] else "not promoted"))
    if gate["clears"]:
        assert f"AUC {gate['challenger_auc']:.4f}" in decision["outcome"]
        assert f"champion v1 ({gate['champion_auc']:.4f})" in decision["outcome"]
    else:
        assert "misses the mission bars" in decision["outcome"]


def test_a_retrain_never_replaces_a_better_champion(prefect_harness, database, tmp_path, monkeypatch):
    schema = tmp_path / "codepro-lower-bars.yaml"  # bars the worse challenger clears, so the AUC comparison decides
    schema.write_text(CODEPRO_SCHEMA.read_text().replace("bars: {auc: 0.75, precision: 0.65, recall: 0.75}",
                                                         "bars: {auc: 0.70, precision: 0.60, recall: 0.75}"))
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(schema))
    monkeypatch.setenv("LEADSCORE_RETRAIN_NEW_OUTCOMES", "1000")
    truth, _ = _train_score_and_feed(tmp_path)
    older = pd.read_csv(tmp_path / "older.csv", usecols=["lead_id", LABEL])
    wrong = older[np.random.default_rng(1).random(len(older)) < 0.5]  # half the old outcomes corrected wrongly
    [summary] = ingest_flow([str(_write_feed(tmp_path / "wrong.csv", wrong.assign(**{LABEL: 1 - wrong[LABEL]})))])
    assert summary.labels_recorded == len(wrong)

    score_flow()
    engine = _engine()
    decision = _decisions(engine).iloc[-1]
    assert bool(decision["retrain"]) and decision["reason"].startswith("retrain: ")
    gate = _independent_gate(engine, truth, "2", "1", {"auc": 0.70, "precision": 0.60, "recall": 0.75})
    print(decision["reason"], decision["outcome"], gate, sep="\n")  # shown with pytest -rA
    assert gate["clears"] and gate["champion_auc"] > gate["challenger_auc"]  # the situation this test is about
    assert not gate["promote"]
    assert str(champion_version(connect(load_settings()), load_settings().model_name).version) == "1"
    assert decision["outcome"].startswith("version 2 not promoted")
    assert f"is worse than champion v1 ({gate['champion_auc']:.4f})" in decision["outcome"]
    assert f"newest {len(truth[truth['lead_id'].isin(_holdout_ids(engine))])} labelled leads" in decision["outcome"]
    history = store.read_frame(engine, "SELECT lead_id, label, batch_id FROM lead_outcomes WHERE lead_id = :i "
                                       "ORDER BY id", {"i": wrong["lead_id"].iloc[0]})
    first = int(wrong[LABEL].iloc[0])
    assert history["label"].tolist() == [first, 1 - first] and history["batch_id"].tolist()[1] == summary.batch_id


def _holdout_ids(engine) -> set[str]:
    leads = load_labelled_leads(engine)
    created = leads["created_date"].sort_values(kind="stable").to_numpy()
    return set(leads.loc[leads["created_date"] >= created[len(created) - int(np.ceil(len(created) * 0.2))], "lead_id"])
