"""The stored JSON columns are read tolerantly: the producers' shape, a few others, and n/a for anything missing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard import stored_json


def test_metrics_in_the_producers_shape() -> None:
    raw = json.dumps({"auc": 0.81, "precision": 0.7, "recall": 0.8, "f1": 0.75, "accuracy": 0.72, "brier": 0.18,
                      "pr_auc": 0.79, "train_rows": 100, "holdout_rows": 25, "refit_rows": 125,
                      "window": {"data_start": "2021-07-01", "holdout_start": "2022-01-05", "data_end": "2022-02-14"},
                      "comparison": {"champion_version": "3", "champion_auc": 0.8}})
    metrics = stored_json.metrics(raw)
    assert metrics["auc"] == 0.81 and metrics["holdout_rows"] == 25 and metrics["refit_rows"] == 125
    assert (metrics["train_start"], metrics["holdout_start"], metrics["holdout_end"]) == \
        ("2021-07-01", "2022-01-05", "2022-02-14")
    assert (metrics["champion_version"], metrics["champion_auc"]) == ("3", 0.8)


@pytest.mark.parametrize("raw", [None, "", "not json", "[1, 2]", json.dumps({"unrelated": 1}), float("nan")])
def test_missing_or_malformed_metrics_are_na(raw) -> None:
    metrics = stored_json.metrics(raw)
    assert set(metrics.values()) == {None}
    assert stored_json.show(metrics["auc"]) == "n/a"


def test_other_spellings_and_nesting_are_accepted() -> None:
    metrics = stored_json.metrics(json.dumps({"holdout": {"roc_auc": 0.77, "brier_score": 0.2}, "n_train": 9}))
    assert (metrics["auc"], metrics["brier"], metrics["train_rows"]) == (0.77, 0.2, 9)


def test_show_formats_numbers() -> None:
    assert stored_json.show(0.80149) == "0.801"
    assert stored_json.show(12080) == "12,080"
    assert stored_json.show("2022-01-05") == "2022-01-05"


@pytest.mark.parametrize("section", [
    {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]},
    [[0, 0], [0.5, 0.8], [1, 1]],
    [{"fpr": 0, "tpr": 0}, {"fpr": 0.5, "tpr": 0.8}, {"fpr": 1, "tpr": 1}],
])
def test_roc_curve_in_any_shape(section) -> None:
    curve = stored_json.curve(json.dumps({"roc": section}), "roc")
    assert curve == stored_json.Curve([0.0, 0.5, 1.0], [0.0, 0.8, 1.0])


def test_calibration_in_the_producers_shape_and_broken_curves() -> None:
    raw = json.dumps({"calibration": {"predicted": [0.1, 0.9], "observed": [0.2, 0.8]},
                      "pr": {"recall": [0, 1], "precision": [1]}})
    assert stored_json.curve(raw, "calibration") == stored_json.Curve([0.1, 0.9], [0.2, 0.8])
    assert stored_json.curve(raw, "pr") is None  # lengths differ
    assert stored_json.curve(raw, "roc") is None
    assert stored_json.curve(None, "roc") is None


@pytest.mark.parametrize(("curves", "metrics"), [
    ({"confusion_matrix": {"labels": [0, 1], "matrix": [[5, 2], [1, 7]]}}, None),
    ({"confusion_matrix": [[5, 2], [1, 7]]}, None),
    ({"confusion_matrix": {"tn": 5, "fp": 2, "fn": 1, "tp": 7}}, None),
    (None, {"tn": 5, "fp": 2, "fn": 1, "tp": 7}),
])
def test_confusion_matrix_in_any_shape(curves, metrics) -> None:
    matrix = stored_json.confusion_matrix(json.dumps(curves) if curves else None,
                                          json.dumps(metrics) if metrics else None)
    assert matrix == [[5, 2], [1, 7]]


def test_no_confusion_matrix_anywhere() -> None:
    assert stored_json.confusion_matrix(json.dumps({"roc": {}}), json.dumps({"auc": 0.8})) is None


@pytest.mark.parametrize("raw", [
    {"source": 0.6, "referred": 0.4},
    [{"feature": "source", "importance": 0.6}, {"feature": "referred", "importance": 0.4}],
    [["referred", 0.4], ["source", 0.6]],
    {"features": ["referred", "source"], "importance": [0.4, 0.6]},
])
def test_feature_importance_in_any_shape_largest_first(raw) -> None:
    frame = stored_json.feature_importance(json.dumps(raw))
    assert list(frame["feature"]) == ["source", "referred"]
    assert list(frame["importance"]) == [0.6, 0.4]


def test_reasons_cutoffs_and_column_scores() -> None:
    assert stored_json.reasons('["referred by a student", "came from source Level16"]') == \
        ["referred by a student", "came from source Level16"]
    assert stored_json.reasons(None) == [] and stored_json.reasons("{}") == []
    assert stored_json.grade_cutoffs('{"A": 0.7, "B": 0.5, "C": 0.3}') == {"A": 0.7, "B": 0.5, "C": 0.3}
    columns = stored_json.column_scores(json.dumps([
        {"column": "b", "method": "chi-square p_value", "score": 0.4, "threshold": 0.05, "drifted": False},
        {"column": "a", "score": 0.001, "threshold": 0.05, "drifted": True},
    ]))
    assert list(columns["column"]) == ["a", "b"] and list(columns["drifted"]) == [True, False]
    assert pd.isna(columns.loc[0, "method"])
    assert stored_json.column_scores("garbage").empty
