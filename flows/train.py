"""Training flow: python -m flows.train (labelled leads -> LightGBM -> MLflow run -> registered version -> champion?)."""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.config import Settings, load_settings
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
from core.training import TrainingOutcome, check_enough_labels, compare_with_champion, load_labelled_leads
from flows.cli import retry_unless_bad_input, run_command


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def load_labelled(settings: Settings) -> pd.DataFrame:
    """Every lead with a known outcome (the database may be briefly unreachable)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        return load_labelled_leads(engine)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def train(leads: pd.DataFrame, config: ModelConfig) -> Candidate:
    """Time-based holdout evaluation, threshold and grades, refit on all labelled leads."""
    return train_candidate(leads, config)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def champion_baseline(settings: Settings) -> ChampionBaseline | None:
    """The current champion's evaluation model, to compare on the same holdout."""
    return load_champion_baseline(settings)


@task(cache_policy=NO_CACHE)
def decide(candidate: Candidate, baseline: ChampionBaseline | None) -> Decision:
    """Mission bars, then not worse than the champion on the same unseen holdout leads."""
    return compare_with_champion(candidate, baseline)


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
    engine = make_engine(settings.resolved_database_url())
    try:
        record_version(engine, settings.model_name, registered, candidate, decision)
    finally:
        engine.dispose()


@flow(name="train", log_prints=True)
def train_flow(feature_set: str = "full") -> TrainingOutcome:
    """Train, evaluate on the most recent 20%, register, and promote only a model that clears the bars."""
    settings = load_settings()
    reconcile(settings)
    candidate = train(load_labelled(settings), ModelConfig(feature_set=feature_set))
    decision = decide(candidate, champion_baseline(settings))
    registered = register(settings, candidate, decision, flow_run.get_id())
    record(settings, registered, candidate, decision)
    outcome = TrainingOutcome(registered.version, registered.run_id, candidate.metrics, candidate.window, decision)
    for line in outcome.summary_lines():
        print(line)
    return outcome


def check_labels_before_starting() -> None:
    """Refuse in a second, before Prefect starts, when the stored labels cannot train a model or MLflow is down."""
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        check_enough_labels(engine)
    finally:
        engine.dispose()
    check_registry_answers(settings)  # an outage is not "no champion": refuse before training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.train", description=__doc__)
    parser.add_argument("--feature-set", choices=["full", "course"], default="full",
                        help="full = course features + hour and weekday (default); course = the course's only")
    args = parser.parse_args(argv)
    return run_command(lambda: train_flow(args.feature_set), precheck=check_labels_before_starting)


if __name__ == "__main__":
    sys.exit(main())
