"""Drift of a scoring run's inputs and scores against the champion's training reference."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from core import store
from core.clock import utc_now
from core.model import scored_inputs
from core.scoring import ScoringRun, read_drift_sample


def report_run_drift(engine: Engine, model, reference: pd.DataFrame, run: ScoringRun, now: datetime | None = None):
    """Store the Evidently report of a run next to the run: the one built while the run was written, else built now
    on the sample the run drew while it scored, else on one read back (a report made after the run)."""
    from core.drift import save_drift_report

    summary = run.drift_summary
    if summary is None:
        sample = run.drift_sample
        if sample is None:
            sample = read_drift_sample(engine, run.run_id, run.leads_scored, schema=model.schema)
        summary = drift_of_sample(model, reference, sample)
    with engine.begin() as conn:
        save_drift_report(conn, run.run_id, summary, now or utc_now())
    return summary


def drift_of_sample(model, reference: pd.DataFrame, sample: pd.DataFrame):
    """The Evidently report of a run's sample of leads (inputs, score, predicted) against the training reference."""
    from core.drift import build_drift_report

    return build_drift_report(reference=reference, current=scored_inputs(model, sample, sample["score"].to_numpy()))


def runs_missing_drift(engine: Engine, model_version: str) -> list[ScoringRun]:
    """Succeeded runs of this model without a drift report (this night's, or one whose report failed)."""
    frame = store.read_frame(engine, (
        "SELECT r.run_id, r.model_version, r.leads_scored, r.duration_s FROM scoring_runs r "
        "WHERE r.status = 'succeeded' AND r.leads_scored > 0 AND r.model_version = :version "
        "AND NOT EXISTS (SELECT 1 FROM drift_reports d WHERE d.run_id = r.run_id) ORDER BY r.run_id"
    ), {"version": model_version})
    return [ScoringRun(int(r.run_id), str(r.model_version), int(r.leads_scored), float(r.duration_s or 0))
            for r in frame.itertuples()]
