"""Judge each model version on the outcomes that came back: select, compute (core.live), store.

A lead counts for a version when that version scored it *before* its outcome first arrived; the score
used is the version's latest score from before that moment (the score history keeps it). Outcomes for
leads never scored, and for leads scored only after their outcome arrived, are excluded and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select

from core import store
from core.clock import utc_now
from core.lead_schema import LeadSchema
from core.live import OVERALL, LiveFigures, live_performance


@dataclass(frozen=True)
class EvaluationSummary:
    """What one evaluation found, in the words the command prints."""

    computed_at: datetime
    outcomes: int
    never_scored: int
    scored_after_outcome: int
    overall: list[LiveFigures]

    def lines(self) -> list[str]:
        """One line per version, then the exclusions."""
        out = []
        for row in self.overall:
            if row.auc is None:
                out.append(f"model version {row.model_version}: {row.n_labelled} outcomes, no figures yet "
                           f"({row.needed} more needed)")
            else:
                out.append(f"model version {row.model_version}: {row.n_labelled} outcomes, live AUC {row.auc:.3f}, "
                           f"precision {row.precision:.3f}, recall {row.recall:.3f}")
        out.append(f"{self.outcomes} outcomes: excluded {self.never_scored} never scored, "
                   f"{self.scored_after_outcome} scored only after the outcome arrived")
        return out


def lead_time_sql(schema: LeadSchema) -> str:
    """The lead's creation time (alias l), or its ingest time (alias b) when the schema has none."""
    if schema.created_column:
        return f'l."{schema.raw(schema.created_column).db_name}"'
    return "b.started_at"


def arrived_sql(schema: LeadSchema) -> str:
    """Per labelled lead: when its outcome first arrived (its first lead_outcomes row, else the time its label
    was recorded: a lead whose label came with the lead file has no history row)."""
    label = schema.label.db_name
    return (f"SELECT l.lead_id, COALESCE(o.first_at, l.label_recorded_at) AS arrived_at FROM leads l "
            f"LEFT JOIN (SELECT lead_id, MIN(recorded_at) AS first_at FROM lead_outcomes GROUP BY lead_id) o "
            f'ON o.lead_id = l.lead_id WHERE l."{label}" IS NOT NULL')


def scored_before_outcome_sql(schema: LeadSchema) -> str:
    """Per (version, lead): the version's latest score from before the lead's outcome first arrived."""
    label = schema.label.db_name
    return f"""
        WITH arrived AS ({arrived_sql(schema)}),
        ranked AS (
            SELECT s.model_version, s.lead_id, s.score, s.grade, l."{label}" AS label, {lead_time_sql(schema)} AS created,
                   ROW_NUMBER() OVER (PARTITION BY s.model_version, s.lead_id ORDER BY s.run_id DESC) AS pick
            FROM lead_scores s
            JOIN arrived a ON a.lead_id = s.lead_id
            JOIN leads l ON l.lead_id = s.lead_id
            JOIN ingest_batches b ON b.batch_id = l.batch_id
            WHERE s.scored_at < a.arrived_at AND l."{label}" IS NOT NULL
        )
        SELECT model_version, lead_id, score, grade, label, created FROM ranked WHERE pick = 1
    """


def exclusion_counts_sql(schema: LeadSchema) -> str:
    """Labelled leads with an arrival time: how many were never scored, how many only after the outcome."""
    label = schema.label.db_name
    return f"""
        WITH arrived AS ({arrived_sql(schema)}),
        per_lead AS (
            SELECT a.lead_id, COUNT(s.lead_id) AS scores,
                   SUM(CASE WHEN s.scored_at < a.arrived_at THEN 1 ELSE 0 END) AS before
            FROM arrived a JOIN leads l ON l.lead_id = a.lead_id AND l."{label}" IS NOT NULL
            LEFT JOIN lead_scores s ON s.lead_id = a.lead_id
            GROUP BY a.lead_id
        )
        SELECT COUNT(*) AS outcomes,
               COALESCE(SUM(CASE WHEN scores = 0 THEN 1 ELSE 0 END), 0) AS never_scored,
               COALESCE(SUM(CASE WHEN scores > 0 AND before = 0 THEN 1 ELSE 0 END), 0) AS scored_after
        FROM per_lead
    """


def read_scored_before_outcome(engine: Engine, schema: LeadSchema) -> pd.DataFrame:
    """The rows live performance is computed on."""
    frame = store.read_frame(engine, scored_before_outcome_sql(schema))
    frame["created"] = pd.to_datetime(frame["created"], format="ISO8601")
    frame["label"] = frame["label"].astype("int64")
    frame["model_version"] = frame["model_version"].astype(str)
    return frame


def version_thresholds(engine: Engine) -> dict[str, float]:
    """Each registered version's decision threshold."""
    with engine.connect() as conn:
        rows = conn.execute(select(store.model_versions.c.version, store.model_versions.c.threshold)).all()
    return {str(version): float(threshold) for version, threshold in rows}


def evaluate_live(engine: Engine, schema: LeadSchema, now: datetime | None = None,
                  with_snapshots: bool = True) -> EvaluationSummary:
    """Compute and store every version's live figures; returns what was stored."""
    now = now or utc_now()
    scored = read_scored_before_outcome(engine, schema)
    thresholds = version_thresholds(engine)
    scored = scored[scored["model_version"].isin(thresholds)]
    figures = live_performance(scored, thresholds)
    exclusions = store.read_frame(engine, exclusion_counts_sql(schema)).iloc[0]
    rows = [_row(f, now, thresholds, exclusions) for f in figures]
    if with_snapshots:
        _attach_snapshots(rows, scored, thresholds)
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(store.live_performance), rows)
    overall = [f for f in figures if f.period == OVERALL]
    return EvaluationSummary(now, int(exclusions["outcomes"]), int(exclusions["never_scored"]),
                             int(exclusions["scored_after"]), overall)


def _row(figures: LiveFigures, now: datetime, thresholds: dict[str, float], exclusions: pd.Series) -> dict:
    row = figures.as_row()
    row.update(computed_at=now, threshold=thresholds[figures.model_version],
               excluded_never_scored=int(exclusions["never_scored"]),
               excluded_scored_after_outcome=int(exclusions["scored_after"]), snapshot_json=None)
    return row


def _attach_snapshots(rows: list[dict], scored: pd.DataFrame, thresholds: dict[str, float]) -> None:
    """An Evidently classification report per version with figures (overall rows only)."""
    for row in rows:
        if row["period"] != OVERALL or row["auc"] is None:
            continue
        part = scored[scored["model_version"] == row["model_version"]]
        row["snapshot_json"] = classification_snapshot(part["label"].to_numpy(), part["score"].to_numpy(),
                                                       thresholds[row["model_version"]])


def classification_snapshot(labels: np.ndarray, scores: np.ndarray, threshold: float) -> str:
    """Evidently's classification preset on the live outcomes, as snapshot JSON (HTML rendered on demand)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report  # ~4 s import: only when used
    from evidently.presets import ClassificationPreset

    frame = pd.DataFrame({"target": labels.astype(int), "prediction": scores.astype(float)})
    definition = DataDefinition(classification=[BinaryClassification(
        target="target", prediction_probas="prediction", pos_label=1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = Dataset.from_pandas(frame, data_definition=definition)
        snapshot = Report([ClassificationPreset(probas_threshold=threshold)]).run(current_data=dataset,
                                                                                   reference_data=None)
    return snapshot.dumps()
