"""Leakage guard: a feature that alone separates the outcomes almost perfectly was probably recorded after it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

SOLO_AUC_LIMIT = 0.9  # one column alone at this AUC (either direction) is suspicious
LEVEL_MIN_LEADS = 200  # a level this common ...
LEVEL_PURE_RATE = 0.99  # ... that converts (or fails) at this rate almost surely leaks the outcome


@dataclass(frozen=True)
class LeakageFinding:
    """One suspicious column and why."""

    column: str
    detail: str

    def line(self) -> str:
        """The warning line printed by training and the draft command and shown on the Model page."""
        return f"warning: possible leakage: {self.column!r} {self.detail}; if it is recorded after the outcome, " \
               "list it under `leakage`"


def find_leakage(values: pd.DataFrame, labels: np.ndarray) -> list[LeakageFinding]:
    """Each column measured alone against the 0/1 labels: solo AUC, and near-pure common levels."""
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        return []
    findings = []
    for column in values.columns:
        finding = _solo_auc(column, values[column], labels) or _pure_level(column, values[column], labels)
        if finding is not None:
            findings.append(finding)
    return findings


def _solo_auc(column: str, values: pd.Series, labels: np.ndarray) -> LeakageFinding | None:
    """AUC of the column on its own: numbers as they are, categories by their conversion rate."""
    numeric = pd.to_numeric(values, errors="coerce") if values.dtype != object else None
    if numeric is not None and numeric.notna().mean() > 0.5:
        score = numeric.fillna(numeric.median()).to_numpy("float64")
    else:
        text = values.astype("string").fillna("(empty)")
        rates = pd.Series(labels, index=values.index).groupby(text).mean()
        score = text.map(rates).to_numpy("float64")
    if np.unique(score).size < 2:
        return None
    auc = float(roc_auc_score(labels, score))
    auc = max(auc, 1 - auc)
    if auc >= SOLO_AUC_LIMIT:
        return LeakageFinding(column, f"alone separates the outcomes with AUC {auc:.3f}")
    return None


def _pure_level(column: str, values: pd.Series, labels: np.ndarray) -> LeakageFinding | None:
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype | pd.CategoricalDtype):
        return None
    frame = pd.DataFrame({"level": values.astype("string"), "label": labels}).dropna()
    stats = frame.groupby("level")["label"].agg(["mean", "size"])
    pure = stats[(stats["size"] >= LEVEL_MIN_LEADS)
                 & ((stats["mean"] >= LEVEL_PURE_RATE) | (stats["mean"] <= 1 - LEVEL_PURE_RATE))]
    if pure.empty:
        return None
    level = str(pure["size"].idxmax())
    rate = float(pure.loc[level, "mean"])
    return LeakageFinding(column, f"level {level!r} converts {rate:.0%} over {int(pure.loc[level, 'size'])} leads")
