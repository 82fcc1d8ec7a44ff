"""Nightly scoring flow: python -m flows.score [--rescore-all] (grades, reasons, then a drift report)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.config import Settings, load_settings
from core.errors import BadInputError
from core.monitoring import report_run_drift, runs_missing_drift
from core.registry import Champion, load_champion, require_champion
from core.retraining import (
    RetrainDecision,
    decide_retraining,
    describe_training,
    gather_evidence,
    latest_decision_lines,
    policy_from_settings,
    record_decision,
)
from core.scoring import ScoringRun, score_leads
from core.store import make_engine
from flows.cli import retry_unless_bad_input, run_command
from flows.train import train_flow


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def load_champion_model(settings: Settings) -> Champion:
    """The model carrying the champion alias (MLflow may be briefly unreachable)."""
    return load_champion(settings)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def score_unscored_leads(settings: Settings, champion: Champion, rescore_all: bool) -> ScoringRun:
    """One atomic run; a retry after a crash completes the work (nothing half-written to redo)."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        return score_leads(engine, champion.model, settings.model_name, champion.version,
                           rescore_all=rescore_all, chunk_rows=settings.score_chunk_rows)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def report_drift(settings: Settings, champion: Champion, run: ScoringRun) -> float:
    """Evidently drift of this run against the champion's training reference."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        summary = report_run_drift(engine, champion.model, champion.reference, run)
    finally:
        engine.dispose()
    return summary.share_drifted_columns


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def runs_without_drift_report(settings: Settings, model_version: str) -> list[ScoringRun]:
    """This run, and any earlier run whose drift report failed: the rerun completes them."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        return runs_missing_drift(engine, model_version)
    finally:
        engine.dispose()


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
        record_decision(engine, decision, champion_version, datetime.now(), outcome)
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


@flow(name="score", log_prints=True)
def score_flow(rescore_all: bool = False) -> ScoringRun:
    """Score every lead the champion has not scored yet, report drift, then decide on retraining and say why."""
    settings = load_settings()
    champion = load_champion_model(settings)
    run = score_unscored_leads(settings, champion, rescore_all)
    print(run.line())
    for pending in runs_without_drift_report(settings, champion.version):
        share = report_drift(settings, champion, pending)
        print(f"run {pending.run_id}: drift report stored, share of drifted columns {share:.2f}")
    retrain_on_evidence(settings, champion.version)
    return run


def check_before_starting() -> None:
    """Refuse in a second, before Prefect starts: a bad schema file, a database of another schema, no champion."""
    settings = load_settings()
    make_engine(settings.resolved_database_url(), settings.lead_schema()).dispose()
    require_champion(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.score", description=__doc__)
    parser.add_argument("--rescore-all", action="store_true", help="score every lead again with the champion")
    args = parser.parse_args(argv)
    return run_command(lambda: print_retrain_decision(score_flow(args.rescore_all)), precheck=check_before_starting)


def print_retrain_decision(run: ScoringRun) -> None:
    """The run and tonight's retraining decision with its reason on the command's stdout too (the flow's prints
    go to Prefect's log)."""
    print(run.line())
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        for line in latest_decision_lines(engine):
            print(line)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
