"""Scoring in partitions on Dask (LEADSCORE_DASK_ADDRESS / LEADSCORE_DASK_WORKERS): plan, partitions, one write.

The flow process plans the run (reason table, spill folder), the partitions are scored in parallel on the
flow's task runner (each Dask worker reads only its partition and spills it to a file), then the flow process,
the only writer, writes every partition's file as one atomic run, or records the failure and writes nothing.
"""

from __future__ import annotations

import time

from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import wait

from core.config import Settings
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
from core.scoring import ScoringRun
from core.store import make_engine

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
        try:
            wait_for_partitions(futures, settings.dask_no_worker_patience_s)
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


class NoDaskWorkers(RuntimeError):
    """The cluster lost every worker and none came back: the run's partitions would wait for ever."""


def wait_for_partitions(futures: list, patience_s: float, poll_s: float = 2.0) -> None:
    """Every partition ends (scored or failed) before its folder may be removed; a cluster without a single
    worker for patience_s seconds (workers that died and could not be restarted) fails the run instead of
    leaving it waiting for ever."""
    client = getattr(get_run_context().task_runner, "client", None)
    if client is None:
        wait(futures)
        return
    from distributed import wait as wait_on_dask  # imported only when scoring on Dask

    running = [future.wrapped_future for future in futures]
    workerless_since = None
    while True:
        try:
            with client.as_current():  # distributed's wait asks for the current client
                wait_on_dask(running, timeout=poll_s)
            return
        except TimeoutError:
            pass
        if client.nthreads():
            workerless_since = None
            continue
        workerless_since = workerless_since or time.monotonic()
        if time.monotonic() - workerless_since >= patience_s:
            unscored = sum(not partition.done() for partition in running)
            client.cancel(running)
            raise NoDaskWorkers(f"the Dask cluster at {client.scheduler.address} has had no worker for "
                                f"{patience_s:.0f} s with {unscored} of {len(running)} partitions unscored; start "
                                "workers (or mend what kills them) and run again")


def _record_failure(settings: Settings, plan: PartitionPlan, error: BaseException) -> None:
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        record_failed_partitions(engine, settings.model_name, plan, error)
    finally:
        engine.dispose()


def dask_task_runner(settings: Settings):
    """prefect-dask's runner on the cluster at LEADSCORE_DASK_ADDRESS, else on a new local cluster."""
    from prefect_dask import DaskTaskRunner  # imported only when scoring on Dask

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": ":0"})
