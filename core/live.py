"""Live performance: how each model version did on the leads it scored before their outcomes arrived.

The holdout judges a model once, at training time. Here every version is judged again on the outcomes that
came back later, with the score each lead got *then* (from the score history), overall and per week of
lead creation (weeks from Monday midnight in the business time zone, LEADSCORE_TIMEZONE). Fewer than
MIN_PER_CLASS outcomes of either class give no figures, only how many more are needed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.clock import wall_times

MIN_PER_CLASS = 40
GRADES = ("A", "B", "C", "D")
CALIBRATION_BINS = 10
OVERALL = "all"


@dataclass(frozen=True)
class LiveFigures:
    """One version's live figures over one period (OVERALL, or the Monday of a creation week)."""

    model_version: str
    period: str
    period_start: str | None
    period_end: str | None
    n_labelled: int
    n_positive: int
    auc: float | None = None
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    completion_by_grade: dict[str, float | None] = field(default_factory=dict)
    calibration: dict[str, list[float]] = field(default_factory=dict)
    needed: int = 0  # outcomes of the scarcer class still missing before figures are shown

    def as_row(self) -> dict:
        """The shape of a live_performance row (JSON for the nested figures)."""
        row = asdict(self)
        row["completion_by_grade"] = json.dumps(self.completion_by_grade)
        row["calibration"] = json.dumps(self.calibration)
        return row


def outcomes_needed(labels: np.ndarray) -> int:
    """How many more outcomes of the scarcer class are needed before figures mean something."""
    positives = int(np.sum(labels == 1))
    negatives = int(np.sum(labels == 0))
    return max(0, MIN_PER_CLASS - positives) + max(0, MIN_PER_CLASS - negatives)


def figures_for(version: str, period: str, scored: pd.DataFrame, threshold: float) -> LiveFigures:
    """Figures of one version on one period's labelled leads (columns: score, grade, label, created)."""
    labels = scored["label"].to_numpy("int64")
    start, end = _span(scored["created"])
    base = LiveFigures(version, period, start, end, len(labels), int(labels.sum()))
    needed = outcomes_needed(labels)
    if needed:
        return LiveFigures(**{**asdict(base), "needed": needed})
    # ~0.8 s to import: paid when outcomes are judged, not by every command importing this module (an ingest)
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

    scores = scored["score"].to_numpy("float64")
    predicted = (scores >= threshold).astype(int)
    return LiveFigures(
        **{**asdict(base), "auc": float(roc_auc_score(labels, scores)),
           "pr_auc": float(average_precision_score(labels, scores)),
           "precision": float(precision_score(labels, predicted, zero_division=0)),
           "recall": float(recall_score(labels, predicted, zero_division=0)),
           "completion_by_grade": completion_by_grade(scored), "calibration": calibration(labels, scores)})


def completion_by_grade(scored: pd.DataFrame) -> dict[str, float | None]:
    """Share of leads that completed, per grade (None for a grade with no labelled leads)."""
    rates = scored.groupby("grade")["label"].mean()
    return {grade: (float(rates[grade]) if grade in rates.index else None) for grade in GRADES}


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, list[float]]:
    """Mean score vs observed completion rate per score decile band (equal-width bins over 0..1)."""
    band = np.minimum((scores * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"band": band, "score": scores, "label": labels}).groupby("band")
    summary = frame.agg(predicted=("score", "mean"), observed=("label", "mean"), leads=("label", "size"))
    return {"predicted": [round(float(v), 5) for v in summary["predicted"]],
            "observed": [round(float(v), 5) for v in summary["observed"]],
            "leads": [int(v) for v in summary["leads"]]}


def live_performance(scored: pd.DataFrame, thresholds: dict[str, float],
                     zone: ZoneInfo | None = None) -> list[LiveFigures]:
    """Every version's figures, overall and per week of lead creation in `zone` (default: the business zone).

    `scored`: one row per (version, lead) with the version's score from before the outcome arrived:
    columns model_version, score, grade, label (0/1), created (naive UTC timestamp)."""
    rows: list[LiveFigures] = []
    for version, part in scored.groupby("model_version", sort=True):
        threshold = thresholds[str(version)]
        rows.append(figures_for(str(version), OVERALL, part, threshold))
        weeks = wall_times(part["created"], zone).dt.to_period("W-SUN").dt.start_time
        for week, week_part in part.groupby(weeks, sort=True):
            rows.append(figures_for(str(version), f"{week:%Y-%m-%d}", week_part, threshold))
    return rows


def _span(created: pd.Series) -> tuple[str | None, str | None]:
    if created.empty or created.isna().all():
        return None, None
    return str(created.min()), str(created.max())
