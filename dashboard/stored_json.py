"""Reading the JSON columns the pipeline writes, in one small place, tolerant of missing or renamed keys.

The producers (training, scoring, drift) may still rename keys: every reader here accepts a few
spellings, returns None for anything missing, and never raises on malformed text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

NA = "n/a"

# metric shown -> accepted key spellings, first found wins
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "auc": ("auc", "roc_auc", "holdout_auc"),
    "pr_auc": ("pr_auc", "average_precision", "ap"),
    "precision": ("precision", "holdout_precision"),
    "recall": ("recall", "holdout_recall"),
    "f1": ("f1", "f1_score"),
    "accuracy": ("accuracy",),
    "brier": ("brier", "brier_score"),
    "train_rows": ("train_rows", "n_train", "rows_train"),
    "holdout_rows": ("holdout_rows", "n_holdout", "rows_holdout"),
    "refit_rows": ("refit_rows", "rows_refit"),
    "champion_version": ("champion_version",),
    "champion_auc": ("champion_auc",),
    "train_start": ("train_start", "train_from", "data_start", "window_start"),
    "holdout_start": ("holdout_start", "holdout_from", "cutoff", "holdout_cutoff"),
    "holdout_end": ("holdout_end", "holdout_to", "data_end", "window_end"),
}
_NESTED = ("holdout", "metrics", "window", "data_window", "evaluation", "comparison")


def loads(raw: object) -> object:
    """Parsed JSON, or None for NULL, empty or malformed text."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _flatten(data: object) -> dict:
    """Top-level keys plus the keys of well-known nested sections (top level wins)."""
    if not isinstance(data, dict):
        return {}
    flat: dict = {}
    for section in _NESTED:
        if isinstance(data.get(section), dict):
            flat.update(data[section])
    flat.update({k: v for k, v in data.items() if not isinstance(v, dict)})
    return flat


def _first(data: dict, keys: tuple[str, ...]) -> object:
    return next((data[k] for k in keys if data.get(k) is not None), None)


def metrics(raw: object) -> dict[str, object]:
    """The holdout metrics under canonical names; None where the producer did not write one."""
    flat = _flatten(loads(raw))
    return {name: _first(flat, keys) for name, keys in METRIC_KEYS.items()}


def bars(raw: object, default: dict[str, float]) -> dict[str, float]:
    """The business bars this version was judged against (metrics_json "bars"), else `default`."""
    data = loads(raw)
    stored = data.get("bars") if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        return dict(default)
    return {**default, **{k: float(v) for k, v in stored.items() if k in default and _is_number(v)}}


def recall_interval(raw: object) -> tuple[float, float] | None:
    """The expected recall range on new leads at the threshold (metrics_json "recall_interval": [low, high])."""
    data = loads(raw)
    pair = data.get("recall_interval") if isinstance(data, dict) else None
    if isinstance(pair, list | tuple) and len(pair) == 2 and all(_is_number(v) for v in pair):
        return float(pair[0]), float(pair[1])
    return None


def holdout_method(raw: object) -> str | None:
    """How the holdout was chosen (metrics_json "holdout_method"), e.g. 'newest 20% by Lead Number'."""
    data = loads(raw)
    method = data.get("holdout_method") if isinstance(data, dict) else None
    return str(method) if isinstance(method, str) and method.strip() else None


def leakage(raw: object) -> list[str]:
    """The training's leakage warnings (metrics_json "leakage": a list of lines); [] when absent."""
    data = loads(raw)
    lines = data.get("leakage") if isinstance(data, dict) else None
    if isinstance(lines, str):
        lines = [lines]
    return [str(line) for line in lines or [] if isinstance(line, str) and line.strip()] if isinstance(lines, list) else []


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def show(value: object, digits: int = 3) -> str:
    """A number for a metric card, or n/a."""
    if value is None:
        return NA
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def reasons(raw: object) -> list[str]:
    """A JSON array of reason sentences, strongest first; [] when absent."""
    data = loads(raw)
    return [str(item) for item in data] if isinstance(data, list) else []


def grade_cutoffs(raw: object) -> dict[str, float]:
    """Lowest score of each grade, e.g. {"A": 0.7, "B": 0.5, "C": 0.3}."""
    data = loads(raw)
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


@dataclass(frozen=True)
class Curve:
    """A curve's points, ready for a line chart."""

    x: list[float]
    y: list[float]


_CURVES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # curve -> (section names, x key spellings, y key spellings)
    "roc": (("roc", "roc_curve"), ("fpr", "false_positive_rate", "x"), ("tpr", "true_positive_rate", "y")),
    "pr": (("pr", "pr_curve", "precision_recall"), ("recall", "x"), ("precision", "y")),
    "calibration": (("calibration", "calibration_curve", "reliability"),
                    ("mean_predicted", "prob_pred", "predicted", "mean_predicted_value", "x"),
                    ("fraction_positive", "prob_true", "observed", "fraction_of_positives", "y")),
}


def curve(raw: object, name: str) -> Curve | None:
    """One of roc / pr / calibration from curves_json, in any of the shapes a producer may write."""
    data = loads(raw)
    sections, xkeys, ykeys = _CURVES[name]
    section = _first(data, sections) if isinstance(data, dict) else None
    if isinstance(section, dict):
        xs, ys = _first(section, xkeys), _first(section, ykeys)
        return _curve_of(xs, ys)
    if isinstance(section, list) and section:
        return _curve_of_points(section, xkeys, ykeys)
    return None


def _curve_of(xs: object, ys: object) -> Curve | None:
    if not isinstance(xs, list) or not isinstance(ys, list) or not xs or len(xs) != len(ys):
        return None
    return Curve([float(v) for v in xs], [float(v) for v in ys])


def _curve_of_points(points: list, xkeys: tuple[str, ...], ykeys: tuple[str, ...]) -> Curve | None:
    """Points as [[x, y], ...] or [{"fpr": .., "tpr": ..}, ...]."""
    if all(isinstance(p, list | tuple) and len(p) == 2 for p in points):
        return _curve_of([p[0] for p in points], [p[1] for p in points])
    if all(isinstance(p, dict) for p in points):
        return _curve_of([_first(p, xkeys) for p in points], [_first(p, ykeys) for p in points])
    return None


def confusion_matrix(curves_raw: object, metrics_raw: object = None) -> list[list[int]] | None:
    """[[TN, FP], [FN, TP]] from curves_json (or metrics_json), as a nested list or tn/fp/fn/tp keys."""
    for raw in (curves_raw, metrics_raw):
        data = loads(raw)
        found = _confusion_in({**_flatten(data), **data}) if isinstance(data, dict) else None
        if found is not None:
            return found
    return None


def _confusion_in(data: dict) -> list[list[int]] | None:
    matrix = _first(data, ("confusion_matrix", "confusion"))
    if isinstance(matrix, list) and len(matrix) == 2 and all(isinstance(r, list) and len(r) == 2 for r in matrix):
        return [[int(v) for v in row] for row in matrix]
    if isinstance(matrix, dict) and isinstance(matrix.get("matrix"), list):
        return _confusion_in({"confusion_matrix": matrix["matrix"]})
    if isinstance(matrix, dict):
        data = matrix
    cells = [data.get(k) for k in ("tn", "fp", "fn", "tp")]
    if all(isinstance(c, int | float) for c in cells):
        return [[int(cells[0]), int(cells[1])], [int(cells[2]), int(cells[3])]]
    return None


def feature_importance(raw: object) -> pd.DataFrame:
    """Features and their importance, largest first, from a mapping, a list of pairs/records or two lists."""
    data = loads(raw)
    pairs: list[tuple[object, object]] = []
    if isinstance(data, dict) and isinstance(data.get("features"), list):
        values = _first(data, ("importance", "importances", "gain", "values")) or []
        pairs = list(zip(data["features"], values, strict=False))
    elif isinstance(data, dict):
        pairs = list(data.items())
    elif isinstance(data, list):
        pairs = [_importance_pair(item) for item in data]
    rows = [(str(f), float(v)) for f, v in pairs if f is not None and isinstance(v, int | float)]
    frame = pd.DataFrame(rows, columns=["feature", "importance"])
    return frame.sort_values("importance", ascending=False, ignore_index=True)


def _importance_pair(item: object) -> tuple[object, object]:
    if isinstance(item, dict):
        return _first(item, ("feature", "name")), _first(item, ("importance", "gain", "value"))
    if isinstance(item, list | tuple) and len(item) == 2:
        return item[0], item[1]
    return None, None


def column_scores(raw: object) -> pd.DataFrame:
    """The drift report's per-column list as a table: column, method, score, threshold, drifted."""
    data = loads(raw)
    if isinstance(data, dict):  # {"column": {...}} also accepted
        data = [{"column": k, **v} for k, v in data.items() if isinstance(v, dict)]
    rows = [item for item in data or [] if isinstance(item, dict)]
    frame = pd.DataFrame(rows)
    for name in ("column", "method", "score", "threshold", "drifted"):
        if name not in frame:
            frame[name] = None
    frame["drifted"] = frame["drifted"].fillna(False).astype(bool)
    frame = frame[["column", "method", "score", "threshold", "drifted"]]
    return frame.sort_values(["drifted", "column"], ascending=[False, True], ignore_index=True)
