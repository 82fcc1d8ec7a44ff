"""Training orchestration: labelled leads -> candidate -> comparison with the champion -> registry -> model_versions."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine

from core import registry, store
from core.config import Settings
from core.features import INTERACTION_GROUPS, interaction_mapping
from core.model import (
    Candidate,
    Decision,
    ModelConfig,
    check_label_counts,
    decide_promotion,
    train_candidate,
)
from core.schema import CODE_COLUMNS, INTERACTION_COLUMNS, LABEL, LEAD_ID

MIN_COMPARISON_LABELS = 20  # per class, among holdout leads the champion never saw


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training did: the registered version, its holdout figures and the promotion decision."""

    version: str
    run_id: str
    metrics: dict[str, float]
    window: dict[str, str]
    decision: Decision

    def summary_lines(self) -> list[str]:
        """What the command prints."""
        m = self.metrics
        return [
            f"data: {m['refit_rows']} labelled leads {self.window['data_start']} .. {self.window['data_end']}; "
            f"holdout = {m['holdout_rows']} leads from {self.window['holdout_start']}",
            f"holdout: AUC {m['auc']:.4f}  PR-AUC {m['pr_auc']:.4f}  precision {m['precision']:.4f}  "
            f"recall {m['recall']:.4f}  F1 {m['f1']:.4f}  accuracy {m['accuracy']:.4f}  Brier {m['brier']:.4f}  "
            f"threshold {m['threshold']:.4f}",
            f"version {self.version}: {'PROMOTED to champion' if self.decision.promote else 'not promoted'} "
            f"({self.decision.reason})",
        ]


def _interaction_sum_sql(group: str) -> str:
    members = [c for c in INTERACTION_COLUMNS if interaction_mapping()[c] == group]
    return " + ".join(f'COALESCE("{c}", 0)' for c in members) + f' AS "{group}"'


def labelled_leads_sql() -> str:
    """Labelled leads with the five interaction aggregates summed in the database (fewer columns to move)."""
    columns = [LEAD_ID, "created_date", "city_mapped", *CODE_COLUMNS, "total_leads_droppped", "referred_lead"]
    sums = ", ".join(_interaction_sum_sql(group) for group in INTERACTION_GROUPS)
    quoted = ", ".join(f'"{c}"' for c in columns)
    return (f'SELECT {quoted}, {sums}, "{LABEL}" FROM leads WHERE "{LABEL}" IS NOT NULL '
            f'ORDER BY created_date, "{LEAD_ID}"')


def load_labelled_leads(engine: Engine) -> pd.DataFrame:
    """Every lead with a known outcome, oldest first."""
    frame = store.read_frame(engine, labelled_leads_sql(), parse_dates=["created_date"])
    frame[LABEL] = frame[LABEL].astype("int8")
    return frame


def label_counts(engine: Engine) -> tuple[int, int]:
    """(positives, negatives) among labelled leads: a cheap check before any training starts."""
    counts = store.read_frame(engine, f'SELECT "{LABEL}" AS label, COUNT(*) AS n FROM leads '
                                      f'WHERE "{LABEL}" IS NOT NULL GROUP BY "{LABEL}"')
    by_label = dict(zip(counts["label"].astype(int), counts["n"].astype(int), strict=True))
    return by_label.get(1, 0), by_label.get(0, 0)


def check_enough_labels(engine: Engine) -> None:
    """Refuse fast (BadInputError) when the stored labels cannot train a model."""
    check_label_counts(*label_counts(engine))


def compare_with_champion(candidate: Candidate, baseline: registry.ChampionBaseline | None) -> Decision:
    """The promotion decision: mission bars, then AUC against the champion on holdout leads neither model saw."""
    if baseline is None:
        return decide_promotion(candidate.metrics)
    unseen = candidate.holdout[candidate.holdout["created_date"] >= baseline.holdout_start]
    labels = unseen[LABEL].astype(int).to_numpy()
    if min(int(labels.sum()), int(len(labels) - labels.sum())) < MIN_COMPARISON_LABELS:
        return decide_promotion(candidate.metrics, baseline.version)
    champion_auc = float(roc_auc_score(labels, baseline.evaluation_model.predict_proba(unseen)))
    challenger_auc = float(roc_auc_score(labels, unseen["score"].to_numpy()))
    return decide_promotion(candidate.metrics, baseline.version, champion_auc, challenger_auc)


def register_and_record(engine: Engine, settings: Settings, candidate: Candidate, decision: Decision) -> TrainingOutcome:
    """Log and register the candidate, then write its model_versions row."""
    registered = registry.register_candidate(settings, candidate, decision)
    registry.record_version(engine, settings.model_name, registered, candidate, decision)
    return TrainingOutcome(registered.version, registered.run_id, candidate.metrics, candidate.window, decision)


def run_training(engine: Engine, settings: Settings, config: ModelConfig | None = None) -> TrainingOutcome:
    """The whole training without Prefect: check, load, train, compare, register, record."""
    check_enough_labels(engine)
    registry.reconcile_versions(engine, settings)
    candidate = train_candidate(load_labelled_leads(engine), config)
    decision = compare_with_champion(candidate, registry.load_champion_baseline(settings))
    return register_and_record(engine, settings, candidate, decision)

