"""Live performance figures and the retraining decision (pure logic; the pipeline tests use real leads)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from core.live import MIN_PER_CLASS, OVERALL, live_performance, outcomes_needed
from core.retraining import Evidence, RetrainPolicy, decide_retraining

BARS = {"auc": 0.75, "precision": 0.65, "recall": 0.75}


def _scored(rows: int, seed: int, version: str = "1") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    score = np.clip(0.35 * label + rng.random(rows) * 0.65, 0, 1)
    grade = np.select([score >= 0.8, score >= 0.6, score >= 0.45], ["A", "B", "C"], "D")
    created = pd.Timestamp("2026-03-02") + pd.to_timedelta(rng.integers(0, 21 * 24, rows), unit="h")
    return pd.DataFrame({"model_version": version, "score": score, "grade": grade, "label": label,
                         "created": created})


def test_overall_figures_equal_sklearn_on_the_same_leads():
    scored = pd.concat([_scored(600, 1, "1"), _scored(400, 2, "2")], ignore_index=True)
    rows = live_performance(scored, {"1": 0.5, "2": 0.55})
    overall = {r.model_version: r for r in rows if r.period == OVERALL}
    for version, threshold in (("1", 0.5), ("2", 0.55)):
        part = scored[scored["model_version"] == version]
        predicted = (part["score"] >= threshold).astype(int)
        assert overall[version].auc == pytest.approx(roc_auc_score(part["label"], part["score"]), abs=1e-12)
        assert overall[version].precision == pytest.approx(precision_score(part["label"], predicted), abs=1e-12)
        assert overall[version].recall == pytest.approx(recall_score(part["label"], predicted), abs=1e-12)
        assert overall[version].n_labelled == len(part)


def test_weekly_periods_partition_the_leads():
    scored = _scored(900, 3)
    rows = [r for r in live_performance(scored, {"1": 0.5}) if r.period != OVERALL]
    assert [r.period for r in rows] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert sum(r.n_labelled for r in rows) == 900


def test_too_few_outcomes_give_no_figures_and_say_how_many_more():
    scored = _scored(1000, 4)
    few = pd.concat([scored[scored["label"] == 1].head(30), scored[scored["label"] == 0].head(100)])
    (row,) = [r for r in live_performance(few, {"1": 0.5}) if r.period == OVERALL]
    assert row.auc is None and row.precision is None
    assert row.needed == MIN_PER_CLASS - 30
    assert outcomes_needed(np.array([1] * 5)) == (MIN_PER_CLASS - 5) + MIN_PER_CLASS


def test_completion_by_grade_is_the_share_completed_per_grade():
    scored = _scored(2000, 5)
    (row,) = [r for r in live_performance(scored, {"1": 0.5}) if r.period == OVERALL]
    for grade in "ABCD":
        part = scored[scored["grade"] == grade]
        assert row.completion_by_grade[grade] == pytest.approx(part["label"].mean())
    assert row.completion_by_grade["A"] > row.completion_by_grade["D"]


@pytest.mark.parametrize(("evidence", "retrain", "words"), [
    (Evidence("3", live_n=500, live_auc=0.62, live_precision=0.70), True, "live AUC 0.620"),
    (Evidence("3", live_n=500, live_auc=0.80, live_precision=0.60), True, "live precision 0.600"),
    (Evidence("3", live_n=50, live_auc=0.50, live_precision=0.40), False, "50 live outcomes"),
    (Evidence("3", consecutive_drift_runs=3), True, "drift flagged on the last 3"),
    (Evidence("3", outcomes_since_training=6000), True, "6000 new outcomes"),
    (Evidence("3", live_n=500, live_auc=0.80, live_precision=0.70), False, "clear the bars"),
    (Evidence(None), True, "no champion"),
])
def test_retraining_decision_says_why(evidence, retrain, words):
    decision = decide_retraining(evidence, BARS, RetrainPolicy())
    assert decision.retrain is retrain
    assert words in decision.reason
    assert "\n" not in decision.reason
