"""Nightly scoring flow: python -m flows.score [--rescore-all] (grades, reasons, then a drift report, then
retraining on evidence).

The flow composes: score the leads the champion has not scored (here in one process, or in partitions on Dask:
flows.score_partitions), a drift report per run, then the retraining decision (flows.retrain).
LEADSCORE_DASK_ADDRESS=tcp://host:8786 scores partitions of the leads on that Dask cluster,
LEADSCORE_DASK_WORKERS=N on a local cluster of N workers; neither = one process (the default).
"""

from __future__ import annotations

import argparse
from functools import partial

from prefect import Flow, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from core.config import Settings, load_settings
from core.drift import import_evidently_in_background
from core.monitoring import drift_of_sample, report_run_drift, runs_missing_drift
from core.registry import Champion, load_champion, require_champion
from core.retraining import latest_decision_lines
from core.scoring import ScoringRun, score_leads
from core.store import make_engine
from flows.aggregates import store_dashboard_aggregates
from flows.cli import exit_promptly, retry_unless_bad_input, run_command
from flows.retrain import retrain_on_evidence
from flows.score_partitions import dask_task_runner, score_in_partitions


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
                           rescore_all=rescore_all, chunk_rows=settings.score_chunk_rows,
                           drift_report=partial(drift_of_sample, champion.model, champion.reference))
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


@flow(name="score", log_prints=True)
def score_flow(rescore_all: bool = False) -> ScoringRun:
    """Score every lead the champion has not scored yet, store the dashboard's aggregates of the new scores,
    report drift, then decide on retraining and say why."""
    settings = load_settings()
    import_evidently_in_background()  # ready for the drift report once the leads are scored
    champion = load_champion_model(settings)
    if settings.scores_on_dask():
        run = score_in_partitions(settings, champion.model, champion.version, rescore_all)
    else:
        run = score_unscored_leads(settings, champion, rescore_all)
    print(run.line())
    with ThreadPoolTaskRunner(max_workers=1) as beside:  # in this process, whichever runner scored the leads
        aggregates = beside.submit(store_dashboard_aggregates,  # while drift is reported
                                   {"settings": settings, "run_sums": run.sums})
        report_missing_drift(settings, champion, run)
        print(aggregates.result())
    retrain_on_evidence(settings, champion.version)
    return run


def report_missing_drift(settings: Settings, champion: Champion, run: ScoringRun) -> None:
    """A drift report for this run (on the sample it drew while scoring), and for any earlier run whose report
    failed."""
    for pending in runs_without_drift_report(settings, champion.version):
        share = report_drift(settings, champion, run if pending.run_id == run.run_id else pending)
        print(f"run {pending.run_id}: drift report stored, share of drifted columns {share:.2f}")


def scoring_flow(settings: Settings) -> Flow:
    """The score flow on the task runner the settings ask for."""
    return score_flow.with_options(task_runner=dask_task_runner(settings)) if settings.scores_on_dask() else score_flow


def check_before_starting() -> None:
    """Refuse in a second, before Prefect starts: a bad schema file, a database of another schema, no champion."""
    settings = load_settings()
    make_engine(settings.resolved_database_url(), settings.lead_schema()).dispose()
    require_champion(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.score", description=__doc__)
    parser.add_argument("--rescore-all", action="store_true", help="score every lead again with the champion")
    args = parser.parse_args(argv)
    return run_command(lambda: print_retrain_decision(scoring_flow(load_settings())(args.rescore_all)),
                       precheck=check_before_starting)


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
    exit_promptly(main())
