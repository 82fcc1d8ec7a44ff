"""Nightly scoring flow: python -m flows.score [--rescore-all] (grades, reasons, then a drift report).

LEADSCORE_DASK_ADDRESS=tcp://host:8786 scores partitions of the leads on that Dask cluster,
LEADSCORE_DASK_WORKERS=N on a local cluster of N workers; neither = one process (the default).
"""

from __future__ import annotations

import argparse
import sys
import time

from prefect import Flow, flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import wait

from core.clock import utc_now
from core.config import Settings, load_settings
from core.errors import BadInputError
from core.monitoring import report_run_drift, runs_missing_drift
from core.partitions import (
    PartitionFile,
    PartitionPlan,
    plan_run,
    reading_engine,
    record_failed_partitions,
    remove_spill,
    score_partition,
    write_partitions,
)
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


PARTITIONS_PER_WORKER_THREAD = 2  # a few more partitions than threads: a slow or restarted worker delays less


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def plan_partitioned_run(settings: Settings, model, model_version: str, rescore_all: bool,
                         partitions: int) -> PartitionPlan:
    """The run's reason table (same sample as one process) and its spill folder."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        return plan_run(engine, model, model_version, partitions, settings.resolved_spill_dir(),
                        rescore_all=rescore_all, chunk_rows=settings.score_chunk_rows)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def score_partition_file(settings: Settings, model, plan: PartitionPlan, partition: int) -> PartitionFile:
    """On a Dask worker: read one partition, score it, spill it to its file (returns the path, not rows)."""
    engine = reading_engine(settings.resolved_database_url())
    try:
        return score_partition(engine, model, plan, partition)
    finally:
        engine.dispose()


@task(cache_policy=NO_CACHE)
def write_partitioned_run(settings: Settings, model, plan: PartitionPlan, files: list[PartitionFile]) -> ScoringRun:
    """The only writer: every partition's file as one atomic run with global ranks."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        return write_partitions(engine, model, plan, files, settings.model_name)
    finally:
        engine.dispose()


def worker_threads() -> int:
    """Threads of the Dask cluster this flow runs on (1 without Dask)."""
    client = getattr(get_run_context().task_runner, "client", None)
    return max(1, sum(client.nthreads().values())) if client is not None else 1


def score_in_partitions(settings: Settings, model, model_version: str, rescore_all: bool,
                        partition_task=score_partition_file, partitions: int | None = None) -> ScoringRun:
    """Partitions scored in parallel on the flow's task runner, then written as one run (or nothing)."""
    partitions = partitions or PARTITIONS_PER_WORKER_THREAD * worker_threads()
    plan = plan_partitioned_run(settings, model, model_version, rescore_all, partitions)
    try:
        planned = time.perf_counter()
        futures = partition_task.map(unmapped(settings), unmapped(model), unmapped(plan), list(range(partitions)))
        wait(futures)  # every partition ends (scored or failed) before its folder may be removed
        try:
            files = [future.result() for future in futures]
        except Exception as error:
            _record_failure(settings, plan, error)
            raise
        scored = time.perf_counter()
        run = write_partitioned_run(settings, model, plan, files)
        print(f"{partitions} partitions: planned in {planned - plan.started:.1f} s, scored in {scored - planned:.1f} s, "
              f"written in {time.perf_counter() - scored:.1f} s")
        return run
    finally:
        remove_spill(plan)


def _record_failure(settings: Settings, plan: PartitionPlan, error: BaseException) -> None:
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        record_failed_partitions(engine, settings.model_name, plan, error)
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


@flow(name="score", log_prints=True)
def score_flow(rescore_all: bool = False) -> ScoringRun:
    """Score every lead the champion has not scored yet, report drift, then decide on retraining and say why."""
    settings = load_settings()
    champion = load_champion_model(settings)
    if settings.scores_on_dask():
        run = score_in_partitions(settings, champion.model, champion.version, rescore_all)
    else:
        run = score_unscored_leads(settings, champion, rescore_all)
    print(run.line())
    for pending in runs_without_drift_report(settings, champion.version):
        share = report_drift(settings, champion, pending)
        print(f"run {pending.run_id}: drift report stored, share of drifted columns {share:.2f}")
    retrain_on_evidence(settings, champion.version)
    return run


def dask_task_runner(settings: Settings):
    """prefect-dask's runner on the cluster at LEADSCORE_DASK_ADDRESS, else on a new local cluster."""
    from prefect_dask import DaskTaskRunner  # imported only when scoring on Dask

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": ":0"})


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
    sys.exit(main())
