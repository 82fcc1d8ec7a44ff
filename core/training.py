"""Training orchestration: labelled leads -> candidate -> comparison with the champion -> registry -> model_versions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine

from core import registry, store
from core.config import Settings
from core.evaluation import arrived_sql
from core.features import input_select_items, quoted
from core.lead_schema import LeadSchema
from core.model import (
    Candidate,
    Decision,
    LeadModel,
    ModelConfig,
    check_label_counts,
    decide_promotion,
    train_candidate,
)

MIN_COMPARISON_LABELS = 20  # per class, among holdout leads the champion never saw


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training did: the registered version, its holdout figures and the promotion decision."""

    version: str
    run_id: str
    metrics: dict[str, float]
    window: dict[str, str]
    decision: Decision
    report: dict = field(default_factory=dict)  # bars, leakage lines, holdout method, recall interval

    def summary_lines(self) -> list[str]:
        """What the command prints."""
        m, w = self.metrics, self.window
        span = f" {w['data_start']} .. {w['data_end']}" if w.get("data_start") else ""
        start = f" from {w['holdout_start']}" if w.get("holdout_start") not in (None, "", "random") else ""
        return [
            f"data: {m['refit_rows']} labelled leads{span}; holdout = {m['holdout_rows']} leads{start} "
            f"({self.report.get('holdout_method', 'holdout')})",
            f"holdout: AUC {m['auc']:.4f}  PR-AUC {m['pr_auc']:.4f}  precision {m['precision']:.4f}  "
            f"recall {m['recall']:.4f} (expected on new leads {m['recall_low']:.3f} .. {m['recall_high']:.3f})  "
            f"F1 {m['f1']:.4f}  accuracy {m['accuracy']:.4f}  Brier {m['brier']:.4f}  threshold {m['threshold']:.4f}",
            *self.report.get("leakage", []),
            f"version {self.version}: {'PROMOTED to champion' if self.decision.promote else 'not promoted'} "
            f"({self.decision.reason})",
        ]


def labelled_leads_sql(schema: LeadSchema) -> str:
    """Labelled leads with the sums added up in the database (fewer columns to move), oldest first."""
    label = quoted(schema.label.db_name)
    position = [schema.raw(n).db_name for n in (schema.created_column, schema.order_column) if n]
    order = ", ".join(f"l.{quoted(c)}" for c in [*position[:1], store.LEAD_ID])
    return (f"SELECT l.{store.LEAD_ID}, {', '.join(input_select_items(schema))}, l.{label} FROM leads l "
            f"WHERE l.{label} IS NOT NULL ORDER BY {order}")


def load_labelled_leads(engine: Engine, schema: LeadSchema | None = None) -> pd.DataFrame:
    """Every lead with a known outcome, oldest first."""
    schema = schema or store.engine_schema(engine)
    created = [schema.raw(schema.created_column).db_name] if schema.created_column else []
    frame = store.read_frame(engine, labelled_leads_sql(schema), parse_dates=created)
    frame[schema.label.db_name] = frame[schema.label.db_name].astype("int8")
    return frame


def label_counts(engine: Engine, schema: LeadSchema | None = None) -> tuple[int, int]:
    """(positives, negatives) among labelled leads: a cheap check before any training starts."""
    label = quoted((schema or store.engine_schema(engine)).label.db_name)
    counts = store.read_frame(engine, f"SELECT {label} AS label, COUNT(*) AS n FROM leads "
                                      f"WHERE {label} IS NOT NULL GROUP BY {label}")
    by_label = dict(zip(counts["label"].astype(int), counts["n"].astype(int), strict=True))
    return by_label.get(1, 0), by_label.get(0, 0)


def check_enough_labels(engine: Engine, schema: LeadSchema | None = None) -> None:
    """Refuse fast (BadInputError) when the stored labels cannot train a model."""
    schema = schema or store.engine_schema(engine)
    check_label_counts(*label_counts(engine, schema), schema.label)


@dataclass(frozen=True)
class NewestOutcomes:
    """The champion as it scores, and the leads whose outcomes arrived after it was trained (it never learned them)."""

    model: LeadModel
    lead_ids: frozenset[str]


def load_newest_outcomes(engine: Engine, settings: Settings,
                         baseline: registry.ChampionBaseline | None) -> NewestOutcomes | None:
    """Leads labelled after the champion's training (outcome feeds, late labels), with the champion to judge on them."""
    if baseline is None:
        return None
    trained = store.read_frame(engine, "SELECT created_at FROM model_versions WHERE model_name = :m AND version = :v",
                               {"m": settings.model_name, "v": baseline.version})
    if trained.empty:
        return None
    arrived = store.read_frame(engine, f"SELECT lead_id FROM ({arrived_sql(store.engine_schema(engine))}) a "
                                       "WHERE a.arrived_at > :t", {"t": trained["created_at"].iloc[0]})
    if arrived.empty:
        return None
    champion = registry.load_champion(settings)
    if champion.version != baseline.version:
        return None
    return NewestOutcomes(champion.model, frozenset(arrived["lead_id"]))


def compare_with_champion(candidate: Candidate, baseline: registry.ChampionBaseline | None,
                          newest: NewestOutcomes | None = None) -> Decision:
    """The promotion decision: the schema's bars, then AUC against the champion on the newest labelled leads.

    First choice: the challenger's holdout leads whose outcomes arrived after the champion was trained, judged
    with the champion as it scores (it never learned them; outcome feeds land here). Else the champion's
    evaluation model on holdout leads it never saw. With a random holdout there is no "never saw": the champion
    is judged on the challenger's holdout as it is, which can only favour the champion (a conservative comparison)."""
    bars = candidate.bars
    if baseline is None:
        return decide_promotion(candidate.metrics, bars=bars)
    fresh = _labelled_after_champion(candidate, newest)
    if fresh is not None:
        labels = fresh[candidate.schema.label.db_name].astype(int).to_numpy()
        champion_auc = float(roc_auc_score(labels, newest.model.predict_proba(fresh)))
        challenger_auc = float(roc_auc_score(labels, fresh["score"].to_numpy()))
        decision = decide_promotion(candidate.metrics, baseline.version, champion_auc, challenger_auc, bars=bars)
        return keep_a_better_champion(decision, f"the newest {len(labels)} labelled leads (outcomes that arrived "
                                                f"after champion v{baseline.version} was trained)")
    unseen = _unseen_by_champion(candidate, baseline.holdout_start)
    labels = unseen[candidate.schema.label.db_name].astype(int).to_numpy()
    if min(int(labels.sum()), int(len(labels) - labels.sum())) < MIN_COMPARISON_LABELS:
        return decide_promotion(candidate.metrics, baseline.version, bars=bars)
    champion_auc = float(roc_auc_score(labels, baseline.evaluation_model.predict_proba(unseen)))
    challenger_auc = float(roc_auc_score(labels, unseen["score"].to_numpy()))
    decision = decide_promotion(candidate.metrics, baseline.version, champion_auc, challenger_auc, bars=bars)
    return keep_a_better_champion(decision, f"the newest {len(labels)} labelled leads it never saw")


def _labelled_after_champion(candidate: Candidate, newest: NewestOutcomes | None) -> pd.DataFrame | None:
    """The holdout leads labelled after the champion's training, when both classes have enough of them."""
    if newest is None:
        return None
    fresh = candidate.holdout[candidate.holdout[store.LEAD_ID].isin(newest.lead_ids)]
    labels = fresh[candidate.schema.label.db_name].astype(int)
    if min(int(labels.sum()), int(len(labels) - labels.sum())) < MIN_COMPARISON_LABELS:
        return None
    return fresh


def keep_a_better_champion(decision: Decision, compared_on: str) -> Decision:
    """The gate on the newest labelled leads (the challenger's holdout, outcomes from feeds included) is strict:
    a challenger whose AUC there is below the champion's never replaces it (no noise tolerance), so a retrain
    on evidence can never replace a better champion."""
    if decision.champion_auc is None or decision.challenger_auc is None:
        return decision
    worse = decision.challenger_auc < decision.champion_auc
    verdict = decision.promote and not worse
    relation = "worse than" if worse else "not worse than"
    reason = (f"clears the mission bars {'and' if verdict else 'but'} AUC {decision.challenger_auc:.4f} is {relation} champion v{decision.champion_version} "
              f"({decision.champion_auc:.4f}) on {compared_on}")
    return replace(decision, promote=verdict, reason=reason)


def _unseen_by_champion(candidate: Candidate, start) -> pd.DataFrame:
    holdout = candidate.holdout
    column = candidate.split.column if candidate.split is not None else None
    if column is None or start is None:
        return holdout
    values = holdout[column]
    if isinstance(start, pd.Timestamp) != pd.api.types.is_datetime64_any_dtype(values):
        return holdout.iloc[0:0]  # the champion followed another column: nothing provably unseen
    return holdout[np.asarray(values >= start)]


def register_and_record(engine: Engine, settings: Settings, candidate: Candidate, decision: Decision) -> TrainingOutcome:
    """Log and register the candidate, then write its model_versions row."""
    registered = registry.register_candidate(settings, candidate, decision)
    registry.record_version(engine, settings.model_name, registered, candidate, decision)
    return TrainingOutcome(registered.version, registered.run_id, candidate.metrics, candidate.window, decision,
                           candidate.report)


def run_training(engine: Engine, settings: Settings, config: ModelConfig | None = None) -> TrainingOutcome:
    """The whole training without Prefect: check, load, train, compare, register, record."""
    schema = store.engine_schema(engine)
    check_enough_labels(engine, schema)
    registry.reconcile_versions(engine, settings)
    candidate = train_candidate(load_labelled_leads(engine, schema), config, schema)
    baseline = registry.load_champion_baseline(settings)
    decision = compare_with_champion(candidate, baseline, load_newest_outcomes(engine, settings, baseline))
    return register_and_record(engine, settings, candidate, decision)

