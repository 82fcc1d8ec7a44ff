"""Retraining on evidence, as the nightly score flow runs it after scoring and drift.

Live figures below the bars, drift on several runs in a row, or many new outcomes (LEADSCORE_RETRAIN_*): retrain
through the train flow (the same champion gate), and keep the decision, its reason and what the retraining did.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from core.clock import utc_now
from core.config import Settings
from core.errors import BadInputError
from core.retraining import (
    RetrainDecision,
    decide_retraining,
    describe_training,
    gather_evidence,
    policy_from_settings,
    record_decision,
)
from core.store import make_engine
from flows.train import train_flow


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def decide_on_evidence(settings: Settings, champion_version: str) -> RetrainDecision:
    """Live figures below the bars, repeated drift, or many new outcomes: retrain (thresholds LEADSCORE_RETRAIN_*)."""
    schema = settings.lead_schema()
    engine = make_engine(settings.resolved_database_url(), schema)
    try:
        return decide_retraining(gather_evidence(engine, champion_version), schema.bars, policy_from_settings(settings))
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def record_retrain_decision(settings: Settings, decision: RetrainDecision, champion_version: str,
                            outcome: str | None) -> None:
    """Keep the decision, its reason and what the retraining did, for the Model page."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        record_decision(engine, decision, champion_version, utc_now(), outcome)
    finally:
        engine.dispose()


def retrain_on_evidence(settings: Settings, champion_version: str) -> str | None:
    """Decide, say why, retrain through the train flow (the same champion gate) when the evidence says so."""
    decision = decide_on_evidence(settings, champion_version)
    print(decision.reason)
    outcome = None
    if decision.retrain:
        try:
            trained = train_flow()
            outcome = describe_training(trained.version, trained.decision.promote, trained.decision.reason)
        except BadInputError as error:
            outcome = f"training refused: {error}"
        print(outcome)
    record_retrain_decision(settings, decision, champion_version, outcome)
    return outcome
