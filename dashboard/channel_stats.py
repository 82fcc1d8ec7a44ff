"""Rates a sales manager reads, derived from the channel aggregates (counts come from SQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import style
from dashboard.schema_view import ListColumn

OTHER = "other channels"


def with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds the actual conversion (among leads with a known outcome) and the share of each grade."""
    out = frame.copy()
    known = out["with_outcome"].astype(float)
    out["conversion"] = np.where(known > 0, out["completed"].astype(float) / known.where(known > 0, 1.0), np.nan)
    out["mean_score"] = out["mean_score"].astype(float)
    for grade in style.GRADES:
        column = f"grade_{grade.lower()}"
        if column in out:
            out[f"share_{grade.lower()}"] = out[column].astype(float) / out["leads"].astype(float)
    return out


def channel_labels(frame: pd.DataFrame, column: ListColumn) -> pd.DataFrame:
    """Channel values as text ('City tier 1' for a numeric channel) so charts treat them as categories."""
    out = frame.copy()
    if column.numeric:
        out["channel"] = [f"{column.label} {column.shown(v)}" for v in out["channel"]]
    else:
        out["channel"] = out["channel"].map(column.shown)
    return out


def band_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """'0.0-0.1' .. '0.9-1.0' for score bands 0..9."""
    out = frame.copy()
    out["band"] = [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in out["band"].astype(int)]
    return out


def fold_small_channels(weekly: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """Weekly rows of channels outside `keep` summed into one 'other channels' line."""
    out = weekly.copy()
    out["channel"] = out["channel"].where(out["channel"].isin(keep), OTHER)
    out["score_sum"] = out["mean_score"].astype(float) * out["leads"]
    grouped = out.groupby(["week", "channel"], as_index=False)[["leads", "score_sum", "with_outcome", "completed"]].sum()
    grouped["mean_score"] = grouped["score_sum"] / grouped["leads"]
    return with_rates(grouped.drop(columns="score_sum"))


def weekly_totals(weekly: pd.DataFrame) -> pd.DataFrame:
    """All channels together per week: volume, mean score and actual conversion."""
    out = weekly.assign(score_sum=weekly["mean_score"].astype(float) * weekly["leads"])
    grouped = out.groupby("week", as_index=False)[["leads", "score_sum", "with_outcome", "completed"]].sum()
    grouped["mean_score"] = grouped["score_sum"] / grouped["leads"]
    return with_rates(grouped.drop(columns="score_sum"))
