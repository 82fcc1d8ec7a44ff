"""Retraining on evidence: the nightly flow retrains when the outcomes or the drift say so, and says why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert

from core import store
from core.config import Settings


@dataclass(frozen=True)
class RetrainPolicy:
    """When the evidence is enough to retrain (LEADSCORE_RETRAIN_* settings)."""

    min_live_outcomes: int = 200  # live AUC / precision are trusted from this many labelled leads on
    drift_runs: int = 3  # drift flagged on this many consecutive scoring runs
    new_outcomes: int = 5_000  # outcomes recorded since the champion was trained


def policy_from_settings(settings: Settings) -> RetrainPolicy:
    """The thresholds the operator set (LEADSCORE_RETRAIN_*)."""
    return RetrainPolicy(min_live_outcomes=settings.retrain_min_live_outcomes,
                         drift_runs=settings.retrain_drift_runs, new_outcomes=settings.retrain_new_outcomes)


@dataclass(frozen=True)
class Evidence:
    """What the nightly flow knows about the champion when it decides."""

    champion_version: str | None
    live_n: int = 0
    live_auc: float | None = None
    live_precision: float | None = None
    consecutive_drift_runs: int = 0
    outcomes_since_training: int = 0


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and the one-line reason shown in the flow's output and on the Model page."""

    retrain: bool
    reason: str


def decide_retraining(evidence: Evidence, bars: dict[str, float], policy: RetrainPolicy) -> RetrainDecision:
    """The first reason that holds wins: live figures below the bars, repeated drift, many new outcomes."""
    if evidence.champion_version is None:
        return RetrainDecision(True, "no champion yet: train one")
    champion = f"champion v{evidence.champion_version}"
    if evidence.live_n >= policy.min_live_outcomes:
        for name, value in (("auc", evidence.live_auc), ("precision", evidence.live_precision)):
            if value is not None and not value > bars[name]:
                return RetrainDecision(True, f"retrain: {champion}'s live {name.upper() if name == 'auc' else name} "
                                             f"{value:.3f} is not above the bar {bars[name]} on "
                                             f"{evidence.live_n} outcomes")
    if evidence.consecutive_drift_runs >= policy.drift_runs:
        return RetrainDecision(True, f"retrain: drift flagged on the last {evidence.consecutive_drift_runs} "
                                     f"scoring runs (limit {policy.drift_runs})")
    if evidence.outcomes_since_training >= policy.new_outcomes:
        return RetrainDecision(True, f"retrain: {evidence.outcomes_since_training} new outcomes since "
                                     f"{champion} was trained (limit {policy.new_outcomes})")
    return RetrainDecision(False, _why_not(evidence, champion, policy))


def _why_not(evidence: Evidence, champion: str, policy: RetrainPolicy) -> str:
    live = (f"live AUC {evidence.live_auc:.3f} / precision {evidence.live_precision:.3f} on {evidence.live_n} "
            "outcomes clear the bars" if evidence.live_n >= policy.min_live_outcomes and evidence.live_auc is not None
            else f"{evidence.live_n} live outcomes (figures trusted from {policy.min_live_outcomes})")
    return (f"no retraining: {champion}: {live}; drift on {evidence.consecutive_drift_runs} consecutive runs "
            f"(limit {policy.drift_runs}); {evidence.outcomes_since_training} new outcomes (limit {policy.new_outcomes})")


def gather_evidence(engine: Engine, champion_version: str | None) -> Evidence:
    """What the database says about the champion: its latest live figures, drift streak, outcomes since training."""
    if champion_version is None:
        return Evidence(None)
    live = store.read_frame(engine, (
        "SELECT n_labelled, auc, precision FROM live_performance WHERE model_version = :v AND period = 'all' "
        "ORDER BY computed_at DESC, id DESC LIMIT 1"), {"v": champion_version})
    flags = store.read_frame(engine, (
        "SELECT d.dataset_drift FROM drift_reports d JOIN scoring_runs r ON r.run_id = d.run_id "
        "ORDER BY d.run_id DESC LIMIT 50"))
    trained = store.read_frame(engine, "SELECT created_at FROM model_versions WHERE version = :v",
                               {"v": champion_version})
    since = 0 if trained.empty else outcomes_since(engine, trained["created_at"].iloc[0])
    row = live.iloc[0] if not live.empty else None
    return Evidence(champion_version, live_n=int(row["n_labelled"]) if row is not None else 0,
                    live_auc=_maybe(row, "auc"), live_precision=_maybe(row, "precision"),
                    consecutive_drift_runs=_streak(flags["dataset_drift"].tolist()), outcomes_since_training=since)


def outcomes_since(engine: Engine, trained_at) -> int:
    """Leads whose label was recorded after this time (by an outcome feed or a labelled lead file)."""
    label = store.engine_schema(engine).label.db_name
    return int(store.read_frame(engine, f'SELECT COUNT(*) AS n FROM leads WHERE "{label}" IS NOT NULL '
                                        "AND label_recorded_at > :t", {"t": trained_at})["n"].iloc[0])


def describe_training(version: str, promoted: bool, reason: str) -> str:
    """What a retraining did, in one line (kept with the decision)."""
    return f"version {version} {'promoted to champion' if promoted else 'not promoted'} ({reason})"


def record_decision(engine: Engine, decision: RetrainDecision, champion_version: str | None, decided_at: datetime,
                    outcome: str | None = None) -> None:
    """Keep the decision and its reason for the Model page."""
    with engine.begin() as conn:
        conn.execute(insert(store.retrain_decisions).values(
            decided_at=decided_at, champion_version=champion_version, retrain=decision.retrain,
            reason=decision.reason, outcome=outcome))


def latest_decision_lines(engine: Engine) -> list[str]:
    """The last recorded decision's reason, and what the retraining did when there was one."""
    rows = store.read_frame(engine, "SELECT reason, outcome FROM retrain_decisions ORDER BY id DESC LIMIT 1")
    if rows.empty:
        return []
    outcome = rows["outcome"].iloc[0]
    return [rows["reason"].iloc[0], *([outcome] if isinstance(outcome, str) and outcome else [])]


def _streak(flags: list) -> int:
    count = 0
    for flag in flags:
        if not bool(flag):
            break
        count += 1
    return count


def _maybe(row, name: str) -> float | None:
    if row is None or row[name] is None or row[name] != row[name]:
        return None
    return float(row[name])
