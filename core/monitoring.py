"""Drift of a scoring run's inputs and scores against the champion's training reference."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from core.scoring import ScoringRun, read_drift_sample


def current_frame(model, sample: pd.DataFrame) -> pd.DataFrame:
    """The run's model inputs as the reference has them, plus score and predicted."""
    current = model.readable_features(sample).reset_index(drop=True)
    current["score"] = sample["score"].to_numpy()
    current["predicted"] = sample["predicted"].astype("int64").to_numpy()
    return current


def report_run_drift(engine: Engine, model, reference: pd.DataFrame, run: ScoringRun, now: datetime | None = None):
    """Build the Evidently report for a run and store it next to the run."""
    from core.drift import build_drift_report, save_drift_report

    sample = read_drift_sample(engine, run.run_id, run.leads_scored)
    summary = build_drift_report(reference=reference, current=current_frame(model, sample))
    with engine.begin() as conn:
        save_drift_report(conn, run.run_id, summary, now or datetime.now())
    return summary
