"""Model behaviour on the real labelled sample, and the rules that pick threshold and grades (no MLflow here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import BadInputError
from core.features import OTHERS, sum_values
from core.lead_schema import load_schema
from core.model import (
    LeadModel,
    check_label_counts,
    choose_grade_cutoffs,
    choose_threshold,
    cross_validated_auc,
    decide_promotion,
    holdout_metrics,
    recall_interval,
    train_candidate,
    wilson_interval,
)

LABEL = "app_complete_flag"
SCHEMA = load_schema()
SUMS = [f for f in SCHEMA.features if f.type == "sum"]
INTERACTION_GROUPS = [f.key for f in SUMS]
INTERACTION_COLUMNS = [c for f in SUMS for c in f.sources]


def interaction_sums(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({f.key: sum_values(raw, SCHEMA, f) for f in SUMS}, index=raw.index)


def test_time_based_holdout_on_real_leads_clears_the_mission_bars(dev_candidate):
    metrics = dev_candidate.metrics
    print(f"\nreal dev sample, time-based holdout: AUC {metrics['auc']:.4f} precision {metrics['precision']:.4f} "
          f"recall {metrics['recall']:.4f} PR-AUC {metrics['pr_auc']:.4f} threshold {metrics['threshold']:.4f}")
    assert metrics["auc"] > 0.75
    assert metrics["precision"] > 0.65
    assert metrics["recall"] > 0.75
    assert decide_promotion(metrics).promote


def test_holdout_is_the_most_recent_fifth(dev_leads, dev_candidate):
    holdout = dev_candidate.holdout
    older = dev_leads[~dev_leads["lead_id"].isin(holdout["lead_id"])]
    assert older["created_date"].max() < holdout["created_date"].min()
    assert len(holdout) == pytest.approx(0.2 * len(dev_leads), abs=5)
    assert dev_candidate.metrics["refit_rows"] == len(dev_leads)
    assert dev_candidate.metrics["train_rows"] + dev_candidate.metrics["holdout_rows"] == len(dev_leads)


def test_five_fold_random_cv_auc_on_real_leads(dev_leads):
    auc = cross_validated_auc(dev_leads)
    print(f"\nreal dev sample, 5-fold random-split CV AUC {auc:.4f}")
    assert auc >= 0.80


def test_cross_validated_auc_is_chance_on_shuffled_labels(dev_leads):
    shuffled = dev_leads.assign(**{LABEL: np.random.default_rng(1).permutation(dev_leads[LABEL].to_numpy())})
    assert cross_validated_auc(shuffled.head(6000)) == pytest.approx(0.5, abs=0.04)


def test_shuffled_labels_give_chance_auc_and_are_never_promoted(dev_leads):
    shuffled = dev_leads.assign(**{LABEL: np.random.default_rng(0).permutation(dev_leads[LABEL].to_numpy())})
    candidate = train_candidate(shuffled)
    assert candidate.metrics["auc"] == pytest.approx(0.5, abs=0.04)
    decision = decide_promotion(candidate.metrics)
    assert not decision.promote and "misses the mission bars" in decision.reason


def test_probabilities_are_probabilities_and_flags_follow_the_threshold(dev_leads, dev_candidate):
    model = dev_candidate.model
    scores = model.predict_proba(dev_leads)
    assert scores.shape == (len(dev_leads),)
    assert scores.mean() == pytest.approx(dev_leads[SCHEMA.label.db_name].mean(), abs=0.01) and scores.std() > 0.05  # calibrated
    assert np.array_equal(model.predicted(scores), (scores >= model.threshold).astype(int))
    assert model.threshold == dev_candidate.evaluation_model.threshold == dev_candidate.metrics["threshold"]


def test_grades_rank_the_holdout_by_completion(dev_candidate):
    holdout = dev_candidate.holdout
    cuts = dev_candidate.model.grade_cutoffs
    assert cuts["A"] > cuts["B"] > cuts["C"] == dev_candidate.model.threshold
    grades = dev_candidate.evaluation_model.grades(holdout["score"].to_numpy())
    completion = holdout.groupby(grades)[LABEL].mean()
    print("\nholdout completion by grade: " + ", ".join(f"{g} {r:.2f}" for g, r in completion.items()))
    assert list(completion.index) == ["A", "B", "C", "D"]
    assert completion["A"] >= 0.8 > completion["B"] > completion["C"] > completion["D"]


def test_a_referred_lead_scores_higher_than_the_same_lead_not_referred(dev_leads, dev_candidate):
    leads = dev_leads.head(500)
    referred = dev_candidate.model.predict_proba(leads.assign(referred_lead=1.0))
    not_referred = dev_candidate.model.predict_proba(leads.assign(referred_lead=0.0))
    assert (referred > not_referred).mean() > 0.95


def _brute_force_threshold(labels: np.ndarray, scores: np.ndarray, min_recall: float) -> float:
    best = None
    for t in np.unique(scores):
        predicted = scores >= t
        tp = (predicted & (labels == 1)).sum()
        recall, precision = tp / labels.sum(), tp / predicted.sum()
        if recall > min_recall and (best is None or precision > best[0] or (precision == best[0] and t > best[1])):
            best = (precision, t)
    return float(best[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_is_the_best_precision_keeping_recall(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(np.clip(0.3 * labels + rng.normal(0.4, 0.2, 300), 0, 1), 2)
    threshold = choose_threshold(labels, scores, 0.75)
    assert threshold == pytest.approx(_brute_force_threshold(labels, scores, 0.75))
    assert holdout_metrics(labels, scores, threshold)["recall"] > 0.75


def test_grade_cutoffs_follow_the_documented_rule():
    labels = np.array([1] * 9 + [0] + [1] * 6 + [0] * 4 + [1] * 3 + [0] * 7 + [0] * 10)
    scores = np.linspace(0.99, 0.01, len(labels))
    cuts = choose_grade_cutoffs(labels, scores, threshold=float(scores[29]))
    assert cuts["C"] == pytest.approx(scores[29])
    assert cuts["A"] == pytest.approx(scores[17])  # the top 18 leads complete at 15/18 = 83%; the top 19 at 79%
    between = scores[(scores >= cuts["C"]) & (scores < cuts["A"])]
    assert cuts["B"] == pytest.approx(np.median(between))


def test_unseen_and_missing_levels_fold_to_others(dev_candidate, dev_leads):
    model = dev_candidate.model
    leads = dev_leads.head(3).assign(first_platform_c=["Level999", None, model.levels["first_platform_c"][0]],
                                     city_mapped=["atlantis", None, "mumbai"])
    readable = model.readable_features(leads)
    codes = model.features(leads)
    assert list(readable["first_platform_c"]) == [OTHERS, OTHERS, model.levels["first_platform_c"][0]]
    assert list(codes["first_platform_c"][:2]) == [len(model.levels["first_platform_c"])] * 2
    assert list(readable["city_tier"]) == [3.0, 3.0, 1.0]
    assert np.all(np.isfinite(model.predict_proba(leads)))


def test_raw_and_pre_summed_interactions_give_the_same_scores(dev_candidate):
    rng = np.random.default_rng(3)
    raw = pd.DataFrame({c: np.where(rng.random(200) < 0.3, rng.integers(1, 4, 200), np.nan) for c in INTERACTION_COLUMNS})
    base = dev_candidate.holdout.head(200).reset_index(drop=True).drop(columns=list(INTERACTION_GROUPS))
    with_raw = pd.concat([base, raw], axis=1)
    summed = pd.concat([base, interaction_sums(raw)], axis=1)
    model = dev_candidate.model
    pd.testing.assert_frame_equal(model.features(with_raw), model.features(summed))
    assert model.features(with_raw)[list(INTERACTION_GROUPS)].to_numpy().sum() == np.nansum(raw.to_numpy())


def test_save_and_load_give_the_same_model(tmp_path: Path, dev_candidate, dev_leads):
    dev_candidate.model.save(tmp_path / "m")
    loaded = LeadModel.load(tmp_path / "m")
    assert loaded.levels == dev_candidate.model.levels and loaded.grade_cutoffs == dev_candidate.model.grade_cutoffs
    np.testing.assert_array_equal(loaded.predict_proba(dev_leads), dev_candidate.model.predict_proba(dev_leads))


def test_reference_sample_is_readable_features_with_score_and_flag(dev_candidate):
    reference = dev_candidate.reference
    assert list(reference.columns) == [*dev_candidate.model.feature_names, "score", "predicted"]
    assert len(reference) == dev_candidate.metrics["refit_rows"]  # fewer than 20,000: every lead
    assert set(reference["first_utm_source_c"]) <= {*dev_candidate.model.levels["first_utm_source_c"], OTHERS}


@pytest.mark.parametrize(
    ("positives", "negatives", "message"),
    [(0, 0, "no labelled leads"), (500, 0, "all 500 labelled leads have app_complete_flag = 1"),
     (0, 80, "all 80 labelled leads have app_complete_flag = 0"), (39, 900, "too few labelled leads: 39"),
     (900, 39, "and 39 with 0")],
)
def test_refuses_labels_that_cannot_train(positives, negatives, message):
    with pytest.raises(BadInputError, match=message):
        check_label_counts(positives, negatives)


def test_forty_of_each_class_is_enough():
    check_label_counts(40, 40)


def test_refuses_when_the_recent_holdout_has_one_outcome(dev_leads):
    leads = dev_leads.copy()
    recent = leads["created_date"] >= leads["created_date"].quantile(0.7)
    leads.loc[recent, LABEL] = 1
    with pytest.raises(BadInputError, match="holdout"):
        train_candidate(leads)


@pytest.mark.parametrize(("champion_auc", "promote"), [(0.79, True), (0.804, True), (0.806, False), (0.82, False)])
def test_promotion_rule_tolerates_noise_but_not_a_worse_auc(champion_auc, promote):
    metrics = {"auc": 0.8, "precision": 0.7, "recall": 0.76}
    decision = decide_promotion(metrics, "3", champion_auc=champion_auc, challenger_auc=0.80)
    assert decision.promote is promote
    assert ("not worse than" in decision.reason) is promote


def test_promotion_rule_checks_the_bars_first():
    decision = decide_promotion({"auc": 0.9, "precision": 0.6, "recall": 0.8}, "3", 0.5, 0.9)
    assert not decision.promote and decision.reason == "misses the mission bars: precision 0.600 <= 0.65"


def test_threshold_never_lands_on_recall_exactly_at_the_bar():
    labels, scores = np.array([1, 1, 1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert choose_threshold(labels, scores, 0.75) == 0.5  # 0.7 gives recall 0.75 exactly: not above the bar


def test_threshold_keeps_the_recall_interval_above_the_bar(dev_candidate):
    holdout = dev_candidate.holdout
    labels, scores = holdout[LABEL].astype(int).to_numpy(), holdout["score"].to_numpy()
    low, high = dev_candidate.report["recall_interval"]
    print(f"\nthreshold {dev_candidate.model.threshold:.4f}: holdout recall {dev_candidate.metrics['recall']:.4f}, "
          f"expected on new leads {low:.4f} .. {high:.4f}, precision {dev_candidate.metrics['precision']:.4f} "
          f"(plain rule: threshold {choose_threshold(labels, scores, 0.75):.4f})")
    assert 0.75 < low < dev_candidate.metrics["recall"] < high
    assert dev_candidate.model.threshold <= choose_threshold(labels, scores, 0.75)
    assert dev_candidate.metrics["precision"] > 0.65
    assert [dev_candidate.metrics["recall_low"], dev_candidate.metrics["recall_high"]] == [low, high]


def test_the_margin_shrinks_with_more_positives():
    wide = wilson_interval(75, 100)
    narrow = wilson_interval(7_500, 10_000)
    assert wide[0] < narrow[0] < 0.75 < narrow[1] < wide[1]
    assert wilson_interval(75, 100, z=0.0) == pytest.approx((0.75, 0.75))


def test_threshold_with_margin_gives_up_precision_only_where_recall_is_uncertain():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 400)
    scores = np.clip(0.25 * labels + rng.normal(0.4, 0.2, 400), 0, 1)
    plain, margin = choose_threshold(labels, scores, 0.75), choose_threshold(labels, scores, 0.75, z=1.645)
    assert margin < plain
    assert recall_interval(labels, scores, margin)[0] > 0.75 >= recall_interval(labels, scores, plain)[0]


def test_saved_model_carries_its_schema_and_loads_without_it(tmp_path: Path, dev_candidate):
    dev_candidate.model.save(tmp_path / "m")
    assert (tmp_path / "m" / "schema.yaml").read_text() == SCHEMA.source_text
    loaded = LeadModel.load(tmp_path / "m")
    assert loaded.schema.fingerprint == SCHEMA.fingerprint and loaded.feature_names == dev_candidate.model.feature_names


def test_codepro_reasons_read_as_before():
    from core.reasons import describe

    by_key = {f.key: f for f in SCHEMA.features}
    said = {key: describe(by_key[key], value) for key, value in [
        ("referred_lead", 1.0), ("city_tier", 1.0), ("first_utm_source_c", "Level16"),
        ("total_leads_droppped", 3.0), ("career_interaction", 0.0), ("created_hour", 9.0),
        ("first_platform_c", OTHERS), ("total_leads_droppped", 1.0), ("syllabus_interaction", 2.0)]}
    assert said == {"referred_lead": "referred by a student", "city_tier": "tier-1 city",
                    "first_utm_source_c": "came through source Level16", "total_leads_droppped": "left 1 earlier lead",
                    "career_interaction": "no career interactions", "created_hour": "enquired in the morning (09h)",
                    "first_platform_c": "came through a rare platform",
                    "syllabus_interaction": "2 syllabus interactions on the site"}
    assert describe(by_key["total_leads_droppped"], 3.0) == "left 3 earlier leads"
    assert describe(by_key["referred_lead"], 0.0) == "not referred by a student"
