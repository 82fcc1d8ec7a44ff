"""Training flow: python -m flows.train (labelled leads -> LightGBM -> MLflow run -> registered version -> champion?)."""

from __future__ import annotations

import argparse

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.config import Settings, load_settings
from core.forest import warm_forest_cache
from core.lead_schema import LeadSchema
from core.model import Candidate, Decision, ModelConfig, train_candidate
from core.registry import (
    ChampionBaseline,
    RegisteredVersion,
    check_registry_answers,
    load_champion_baseline,
    reconcile_versions,
    record_version,
    register_candidate,
)
from core.store import make_engine
from core.training import (
    NewestOutcomes,
    TrainingOutcome,
    check_enough_labels,
    compare_with_champion,
    load_labelled_leads,
    load_newest_outcomes,
)
from flows.cli import exit_promptly, retry_unless_bad_input, run_command


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def load_labelled(settings: Settings) -> pd.DataFrame:
    """Every lead with a known outcome (the database may be briefly unreachable)."""
    schema = settings.lead_schema()
    engine = make_engine(settings.resolved_database_url(), schema)
    try:
        return load_labelled_leads(engine, schema)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def train(leads: pd.DataFrame, config: ModelConfig, schema: LeadSchema) -> Candidate:
    """Holdout evaluation (newest 20% by time or order, else stratified random), threshold and grades, refit."""
    return train_candidate(leads, config, schema)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def champion_baseline(settings: Settings) -> ChampionBaseline | None:
    """The current champion's evaluation model, to compare on the same holdout."""
    return load_champion_baseline(settings)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def newest_outcomes(settings: Settings, baseline: ChampionBaseline | None) -> NewestOutcomes | None:
    """The leads labelled after the champion was trained, and the champion as it scores, to judge it on them."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        return load_newest_outcomes(engine, settings, baseline)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def decide(candidate: Candidate, baseline: ChampionBaseline | None, newest: NewestOutcomes | None) -> Decision:
    """Mission bars, then not worse than the champion on the newest labelled leads neither learned from."""
    return compare_with_champion(candidate, baseline, newest)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def register(settings: Settings, candidate: Candidate, decision: Decision, training_id: str) -> RegisteredVersion:
    """Log the MLflow run, register the version, move the champion alias when promoted (once per training id)."""
    return register_candidate(settings, candidate, decision, training_id)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def reconcile(settings: Settings) -> None:
    """Record versions an earlier training registered but never recorded; champion flags follow the alias."""
    engine = make_engine(settings.resolved_database_url())
    try:
        for version in reconcile_versions(engine, settings):
            print(f"version {version}: registered by an earlier training that stopped early, now recorded")
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def record(settings: Settings, registered: RegisteredVersion, candidate: Candidate, decision: Decision) -> None:
    """The version's model_versions row for the dashboard (idempotent)."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        record_version(engine, settings.model_name, registered, candidate, decision)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def compile_for_scoring(settings: Settings, candidate: Candidate) -> None:
    """The new champion's trees compiled now, so the first nightly run does not pay for it (core/forest.py)."""
    compiled = warm_forest_cache(candidate.model.booster, settings.resolved_cache_dir() / "forests")
    print("trees compiled for scoring" if compiled else "trees not compiled: scoring uses LightGBM")


@flow(name="train", log_prints=True)
def train_flow(feature_set: str = "full") -> TrainingOutcome:
    """Train, evaluate on the held-out 20%, register, and promote only a model that clears the schema's bars."""
    settings = load_settings()
    reconcile(settings)
    candidate = train(load_labelled(settings), ModelConfig(feature_set=feature_set), settings.lead_schema())
    baseline = champion_baseline(settings)
    decision = decide(candidate, baseline, newest_outcomes(settings, baseline))
    registered = register(settings, candidate, decision, flow_run.get_id())
    record(settings, registered, candidate, decision)
    if decision.promote:
        compile_for_scoring(settings, candidate)
    outcome = TrainingOutcome(registered.version, registered.run_id, candidate.metrics, candidate.window, decision,
                              candidate.report)
    for line in outcome.summary_lines():
        print(line)
    return outcome


def check_labels_before_starting() -> None:
    """Refuse in a second, before Prefect starts: a bad schema file, a database of another schema, too few
    labels, or MLflow down."""
    settings = load_settings()
    schema = settings.lead_schema()
    engine = make_engine(settings.resolved_database_url(), schema)
    try:
        check_enough_labels(engine, schema)
    finally:
        engine.dispose()
    check_registry_answers(settings)  # an outage is not "no champion": refuse before training


def print_leakage_warnings(outcome: TrainingOutcome) -> None:
    """The leakage warnings on the command's stdout too (the flow's prints go to Prefect's log on stderr)."""
    for line in outcome.report.get("leakage", []):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.train", description=__doc__)
    parser.add_argument("--feature-set", choices=["full", "course"], default="full",
                        help="full = every schema feature (default); course = without hour and weekday")
    args = parser.parse_args(argv)
    return run_command(lambda: print_leakage_warnings(train_flow(args.feature_set)),
                       precheck=check_labels_before_starting)


if __name__ == "__main__":
    exit_promptly(main())
