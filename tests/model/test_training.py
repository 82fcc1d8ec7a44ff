"""Training end to end without Prefect: MLflow run, registered version, champion alias, model_versions rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from core import registry, store
from core.errors import BadInputError, NoChampionError
from core.ingest import ingest_file
from core.lead_schema import load_schema
from core.model import ModelConfig, train_candidate
from core.registry import load_champion, promote
from core.schema import validate_leads
from core.training import compare_with_champion, load_labelled_leads, run_training
from tests.model.conftest import DEV_FILE

LABEL = "app_complete_flag"


def _versions(engine) -> pd.DataFrame:
    return store.read_frame(engine, "SELECT * FROM model_versions ORDER BY CAST(version AS INTEGER)")


def _client(settings) -> MlflowClient:
    return registry.connect(settings)


def _tags(settings, version: str) -> dict[str, str]:
    return _client(settings).get_model_version(settings.model_name, version).tags


def _shuffle_stored_labels(engine, seed: int) -> None:
    leads = store.read_frame(engine, f"SELECT lead_id, {LABEL} FROM leads ORDER BY lead_id")
    shuffled = np.random.default_rng(seed).permutation(leads[LABEL].to_numpy())
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE leads SET {LABEL} = ? WHERE lead_id = ?",
                             [(int(v), k) for v, k in zip(shuffled, leads["lead_id"], strict=True)])


def test_first_training_becomes_champion_with_everything_logged(settings, dev_engine):
    outcome = run_training(dev_engine, settings)
    assert outcome.version == "1" and outcome.decision.promote
    champion = load_champion(settings)
    assert (champion.version, champion.run_id) == ("1", outcome.run_id)
    leads = load_labelled_leads(dev_engine)
    np.testing.assert_allclose(champion.model.predict_proba(leads).mean(), leads[LABEL].mean(), atol=0.03)
    assert list(champion.reference.columns) == [*champion.model.feature_names, "score", "predicted"]
    assert len(champion.reference) == len(leads) == 15096
    run = _client(settings).get_run(outcome.run_id)
    assert run.data.metrics["auc"] == pytest.approx(outcome.metrics["auc"])
    assert run.data.metrics["auc"] > 0.75
    assert run.data.metrics["refit_rows"] == 15096 and run.data.params["holdout_start"].startswith("2021-12-29")
    artifacts = {a.path for a in _client(settings).list_artifacts(outcome.run_id, "plots")}
    assert artifacts == {f"plots/{n}.png" for n in ("roc", "pr", "calibration", "feature_importance")}
    assert _tags(settings, "1")["decision"] == "promoted"


def test_model_versions_row_is_complete(settings, dev_engine):
    outcome = run_training(dev_engine, settings)
    row = _versions(dev_engine).iloc[0]
    assert (row["version"], row["mlflow_run_id"], bool(row["is_champion"]), bool(row["promoted"])) == (
        "1", outcome.run_id, True, True)
    metrics = json.loads(row["metrics_json"])
    assert metrics["auc"] == pytest.approx(outcome.metrics["auc"]) and metrics["refit_rows"] == 15096
    assert metrics["tp"] + metrics["fp"] + metrics["tn"] + metrics["fn"] == metrics["holdout_rows"]
    assert set(metrics["window"]) == {"data_start", "holdout_start", "data_end"}
    curves = json.loads(row["curves_json"])
    assert set(curves) == {"roc", "pr", "calibration", "confusion_matrix"}
    assert curves["confusion_matrix"]["matrix"] == [[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]]
    assert len(curves["roc"]["fpr"]) == len(curves["roc"]["tpr"]) > 10
    cutoffs = json.loads(row["grade_cutoffs_json"])
    assert cutoffs["A"] > cutoffs["B"] > cutoffs["C"] == pytest.approx(row["threshold"])
    importance = json.loads(row["feature_importance_json"])
    assert sum(importance.values()) == pytest.approx(1.0) and "created_hour" in importance
    assert row["decision_reason"] == "clears the mission bars; no champion yet"
    assert metrics["bars"] == {"auc": 0.75, "precision": 0.65, "recall": 0.75}
    assert metrics["leakage"] == [] and metrics["holdout_method"] == "newest 20% by created_date"
    low, high = metrics["recall_interval"]
    assert 0.75 < low < metrics["recall"] < high
    run = _client(settings).get_run(outcome.run_id)
    assert run.data.tags["holdout"] == "newest 20% by created_date" and run.data.tags["leakage"] == "none"
    assert (run.data.metrics["recall_low"], run.data.metrics["recall_high"]) == pytest.approx((low, high))
    report = _client(settings).download_artifacts(outcome.run_id, "evaluation/report.json")
    assert json.loads(Path(report).read_text())["recall_interval"] == [low, high]


def test_shuffled_labels_are_registered_but_never_champion(settings, dev_engine):
    _shuffle_stored_labels(dev_engine, seed=0)
    outcome = run_training(dev_engine, settings)
    assert outcome.metrics["auc"] == pytest.approx(0.5, abs=0.04) and not outcome.decision.promote
    with pytest.raises(NoChampionError, match="no champion model yet: run python -m flows.train"):
        load_champion(settings)
    assert _tags(settings, "1")["decision"] == "not_promoted"
    assert "misses the mission bars" in _tags(settings, "1")["decision_reason"]
    assert not _versions(dev_engine)["is_champion"].astype(bool).any()


def test_a_worse_model_does_not_replace_the_champion(settings, dev_engine):
    run_training(dev_engine, settings)
    worse = run_training(dev_engine, settings, ModelConfig(level_coverage=0.5))
    assert worse.metrics["auc"] < 0.75 and not worse.decision.promote
    assert load_champion(settings).version == "1"
    assert list(_versions(dev_engine)["is_champion"].astype(bool)) == [True, False]


def test_a_better_model_replaces_a_worse_champion_on_the_same_holdout(settings, dev_engine):
    good_labels = store.read_frame(dev_engine, f"SELECT lead_id, {LABEL} FROM leads")
    _shuffle_stored_labels(dev_engine, seed=1)
    run_training(dev_engine, settings)
    promote(settings, "1", "test: a chance-level champion")
    with dev_engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE leads SET {LABEL} = ? WHERE lead_id = ?",
                             [(int(v), k) for k, v in good_labels.itertuples(index=False)])
    better = run_training(dev_engine, settings)
    decision = better.decision
    assert decision.promote and decision.champion_version == "1"
    assert decision.champion_auc == pytest.approx(0.5, abs=0.05) and decision.challenger_auc > 0.75
    assert load_champion(settings).version == "2"
    assert list(_versions(dev_engine)["is_champion"].astype(bool)) == [False, True]


def test_retraining_on_the_same_data_compares_on_the_same_holdout(settings, dev_engine):
    first = run_training(dev_engine, settings)
    second = run_training(dev_engine, settings)
    assert second.decision.champion_auc == pytest.approx(first.metrics["auc"])
    assert second.decision.promote and "not worse than champion v1" in second.decision.reason
    assert _tags(settings, "2")["compared_with_version"] == "1"


def test_manual_promotion_moves_the_alias_and_records_why(settings, dev_engine):
    run_training(dev_engine, settings)
    run_training(dev_engine, settings)
    promote(settings, "1", "roll back: v2 scored a bad batch")
    assert load_champion(settings).version == "1"
    rows = _versions(dev_engine)
    assert list(rows["is_champion"].astype(bool)) == [True, False]
    assert rows.iloc[0]["decision_reason"] == "promoted by hand: roll back: v2 scored a bad batch"
    assert _tags(settings, "1")["decision_reason"] == "manual: roll back: v2 scored a bad batch"
    with pytest.raises(BadInputError, match="has no version 9"):
        promote(settings, "9", "typo")
    with pytest.raises(BadInputError, match="reason is required"):
        promote(settings, "2", "  ")
    assert load_champion(settings).version == "1"


def _ingest_subset(engine, tmp_path: Path, positives: int, negatives: int) -> None:
    raw = pd.read_csv(DEV_FILE, index_col=0, dtype=str, keep_default_na=False)
    subset = pd.concat([raw[raw[LABEL] == "1"].head(positives), raw[raw[LABEL] == "0"].head(negatives)])
    subset.to_csv(tmp_path / "subset.csv", index=False)
    ingest_file(engine, tmp_path / "subset.csv")


@pytest.mark.parametrize(
    ("positives", "negatives", "message"),
    [(0, 0, "no labelled leads to train on"), (300, 0, "all 300 labelled leads have app_complete_flag = 1"),
     (39, 500, "too few labelled leads: 39 with app_complete_flag = 1 and 500 with 0")],
)
def test_refusals_register_nothing(settings, empty_engine, tmp_path, positives, negatives, message):
    if positives or negatives:
        _ingest_subset(empty_engine, tmp_path, positives, negatives)
    with pytest.raises(BadInputError, match=message):
        run_training(empty_engine, settings)
    assert _client(settings).search_registered_models() == []
    assert _versions(empty_engine).empty


ROUND_TRIP = """
import sys, mlflow, numpy as np, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/" + sys.argv[2] + "@champion")
raw = pd.read_csv(sys.argv[3], dtype=str, keep_default_na=False)
np.save(sys.argv[4], model.predict(raw)["score"].to_numpy("float64"))
"""


def test_champion_loads_in_a_fresh_process_with_the_same_scores(settings, dev_engine, tmp_path):
    run_training(dev_engine, settings)
    raw = pd.read_csv(DEV_FILE, dtype=str, keep_default_na=False).iloc[:, 1:].drop(columns=[LABEL]).tail(2000)
    raw.to_csv(tmp_path / "leads.csv", index=False)
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the model brings its own code
    subprocess.run([sys.executable, "-c", ROUND_TRIP, settings.resolved_tracking_uri(), settings.model_name,
                    str(tmp_path / "leads.csv"), str(tmp_path / "scores.npy")],
                   cwd=tmp_path, check=True, timeout=120, env=plain)
    fresh = np.load(tmp_path / "scores.npy")
    leads = validate_leads(raw.reset_index(drop=True), datetime.now(), load_schema()).good
    np.testing.assert_array_equal(fresh, load_champion(settings).model.predict_proba(leads))
    assert fresh.std() > 0.05


def test_a_worse_challenger_that_clears_the_bars_is_not_promoted(dev_candidate):
    baseline = registry.ChampionBaseline("4", dev_candidate.evaluation_model, dev_candidate.holdout["created_date"].min())
    noisy = dev_candidate.holdout.assign(
        score=dev_candidate.holdout["score"] + np.random.default_rng(0).normal(0, 0.15, len(dev_candidate.holdout)))
    worse = replace(dev_candidate, holdout=noisy)
    decision = compare_with_champion(worse, baseline)
    assert not decision.promote and decision.champion_version == "4"
    assert decision.champion_auc == pytest.approx(dev_candidate.metrics["auc"])
    assert decision.challenger_auc < decision.champion_auc - 0.005
    assert "is worse than champion v4" in decision.reason


def test_the_champion_is_judged_only_on_leads_it_never_saw(dev_candidate, dev_leads):
    holdout = dev_candidate.holdout
    late_start = holdout["created_date"].quantile(0.5)
    other = train_candidate(dev_leads, ModelConfig(num_boost_round=20, feature_set="course")).evaluation_model
    baseline = registry.ChampionBaseline("4", other, late_start)  # a different model than the challenger's
    decision = compare_with_champion(dev_candidate, baseline)
    unseen = holdout[holdout["created_date"] >= late_start]
    expected = roc_auc_score(unseen[LABEL], other.predict_proba(unseen))
    assert expected != pytest.approx(roc_auc_score(unseen[LABEL], unseen["score"]))
    assert decision.champion_auc == pytest.approx(expected)
    too_late = registry.ChampionBaseline("4", dev_candidate.evaluation_model, holdout["created_date"].max())
    decision = compare_with_champion(dev_candidate, too_late)
    assert not decision.promote and "cannot be compared" in decision.reason


def test_labelled_leads_read_the_same_on_sqlite_and_postgres(engine, tmp_path):
    from core.synthetic import generate_leads, write_leads_csv
    from core.training import label_counts

    frame = generate_leads(3000, seed=2)
    frame.loc[frame.index[:500], [c for f in load_schema().features if f.type == "sum" for c in f.sources][:6]] = 2.0  # make sure the sums have something to add
    write_leads_csv(frame, tmp_path / "leads.csv")
    ingest_file(engine, tmp_path / "leads.csv")
    leads = load_labelled_leads(engine)
    stored = store.read_frame(engine, "SELECT count(*) AS n FROM leads")["n"][0]
    assert len(leads) == stored and leads["created_date"].is_monotonic_increasing
    assert label_counts(engine) == (int(leads[LABEL].sum()), int((leads[LABEL] == 0).sum()))
    unique = frame.drop_duplicates(subset=list(frame.columns.drop(LABEL)))
    sums = [f for f in load_schema().features if f.type == "sum"]
    expected = {f.key: unique[list(f.sources)].fillna(0).to_numpy().sum() for f in sums}
    assert leads[list(expected)].sum().to_dict() == pytest.approx(expected)
