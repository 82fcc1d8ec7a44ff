"""Scoring split into partitions of leads, scored anywhere (e.g. Dask workers), written as one run.

A run is planned once (the reason table learned from the same sample as the single-process path, so
reasons are identical), each partition (the leads whose md5(lead_id) falls in it: stable across runs)
is read and scored independently into an Arrow file in the spill format of core.score_store, and one
writer writes every partition's file as one atomic run with ranks over all partitions' scores. Workers
only read the database; only the writer writes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as pa_ipc
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import Connection

from core import store
from core.clock import postgres_session_options, utc_now
from core.errors import BadInputError
from core.reasons import ReasonTable
from core.score_store import ranked_file_batches, ranks_of_files, read_lead_chunks, score_arrow_schema
from core.scoring import (
    ChunkScorer,
    ScoringRun,
    check_model_fits_database,
    created_column,
    record_failed_run,
    unscored_leads_sql,
    write_spilled_run,
)

SQLITE_PARTITION_FUNCTION = "leadscore_partition"


def lead_partition(lead_id: str, partitions: int) -> int:
    """A lead's partition: the first 32 bits of md5(lead_id) modulo the count (as the SQL of both stores)."""
    return int(hashlib.md5(lead_id.encode("utf-8")).hexdigest()[:8], 16) % partitions


def partition_expression(conn: Connection, column: str) -> str:
    """SQL computing lead_partition(column, :partitions) on this connection's store."""
    if store.is_postgres(conn):
        return f"mod(('x' || lpad(substr(md5({column}), 1, 8), 16, '0'))::bit(64)::bigint, :partitions)"
    conn.connection.driver_connection.create_function(SQLITE_PARTITION_FUNCTION, 2, lead_partition,
                                                      deterministic=True)
    return f"{SQLITE_PARTITION_FUNCTION}({column}, :partitions)"


def reading_engine(url: str) -> Engine:
    """A partition worker's engine: it only reads (no migration check, no schema record: the writer did those)."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 60})
    return create_engine(url, pool_pre_ping=True, pool_size=1, connect_args=postgres_session_options())


@dataclass(frozen=True)
class PartitionPlan:
    """What every partition of one run shares: the model version, the reason table, where files go."""

    model_version: str
    partitions: int
    folder: Path
    now: datetime
    rescore_all: bool
    chunk_rows: int
    reason_table: ReasonTable | None
    last_run_id: int  # the newest finished run when planned: the writer refuses if another one finished since
    started: float  # time.perf_counter() of the planner (the run's duration is measured from it)

    def file_of(self, partition: int) -> Path:
        return self.folder / f"part-{partition:05d}.arrow"


@dataclass(frozen=True)
class PartitionFile:
    """One scored partition on disk: its Arrow file and its counts."""

    partition: int
    path: Path
    rows: int
    rescored: int


def plan_run(engine: Engine, model, model_version: str, partitions: int, spill_root: Path, *,
             rescore_all: bool = False, chunk_rows: int = 200_000, now: datetime | None = None) -> PartitionPlan:
    """Check the model fits the database and learn the run's reason table from the single-process sample."""
    if partitions < 1:
        raise BadInputError(f"a run needs at least one partition, not {partitions}")
    started = time.perf_counter()
    check_model_fits_database(engine, model)
    now = now or utc_now()
    scorer = ChunkScorer(model, model_version, now)
    with engine.connect() as conn:
        last_run = _last_finished_run(conn)
        first = _first_chunk(conn, model.schema, model_version, rescore_all, chunk_rows)
    table = scorer.learn_reason_table(first) if first is not None else None
    folder = Path(spill_root).resolve() / f"run-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return PartitionPlan(model_version, partitions, folder, now, rescore_all, chunk_rows, table, last_run, started)


def _first_chunk(conn: Connection, schema, version: str, rescore_all: bool, chunk_rows: int):
    """The first chunk_rows leads of the scoring query, read to the end (a Postgres COPY left unread would
    keep its connection busy)."""
    sql = f"SELECT * FROM ({unscored_leads_sql(schema, rescore_all)}) u LIMIT {int(chunk_rows)}"
    chunks = read_lead_chunks(conn, sql, {"version": version}, chunk_rows, schema, [created_column(schema)])
    return next(iter(list(chunks)), None)


def _last_finished_run(conn: Connection) -> int:
    runs = store.scoring_runs
    return int(conn.execute(select(func.coalesce(func.max(runs.c.run_id), 0))
                            .where(runs.c.status == "succeeded")).scalar_one())


def partition_sql(conn: Connection, schema, rescore_all: bool) -> str:
    """The leads to score that fall in partition :partition of :partitions."""
    inner = unscored_leads_sql(schema, rescore_all)
    return f"SELECT * FROM ({inner}) u WHERE {partition_expression(conn, 'u.lead_id')} = :partition"


def read_partition(conn: Connection, plan: PartitionPlan, schema, partition: int, chunk_rows: int) -> Iterator:
    """Stream one partition's leads in chunks."""
    params = {"version": plan.model_version, "partitions": plan.partitions, "partition": partition}
    yield from read_lead_chunks(conn, partition_sql(conn, schema, plan.rescore_all), params, chunk_rows,
                                schema, [created_column(schema)])


def score_partition(engine: Engine, model, plan: PartitionPlan, partition: int,
                    after_chunk: Callable[[int], None] | None = None, chunk_rows: int | None = None) -> PartitionFile:
    """Read and score one partition into its Arrow file (written aside, then renamed: never half a file)."""
    scorer = ChunkScorer(model, plan.model_version, plan.now, reason_table=plan.reason_table, learn_reasons=False)
    path = plan.file_of(partition)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    rows = rescored = 0
    with engine.connect() as conn, pa_ipc.new_file(str(partial), scorer.layout) as writer:
        for index, chunk in enumerate(read_partition(conn, plan, scorer.schema, partition, chunk_rows or plan.chunk_rows)):
            scored = scorer.score(chunk)
            writer.write_table(pa.Table.from_pandas(scored, schema=scorer.layout, preserve_index=False))
            rows, rescored = rows + len(scored), rescored + int(scored["previous_score"].notna().sum())
            if after_chunk is not None:
                after_chunk(index)
    os.replace(partial, path)
    return PartitionFile(partition, path, rows, rescored)


class PartitionedSpill:
    """Every partition's file read as one spill (the interface of core.score_store.ScoreSpill for writing)."""

    def __init__(self, files: list[PartitionFile], layout: pa.Schema) -> None:
        self.files = sorted(files, key=lambda f: f.partition)
        self.layout = layout
        self.rows = sum(f.rows for f in self.files)
        self.rescored = sum(f.rescored for f in self.files)
        self.in_key_order = False  # partitions split the leads by hash: their rows together are in no key order
        self._ranks: np.ndarray | None = None

    def ranks(self) -> np.ndarray:
        """Each row's rank over all partitions (1 = best; ties by lead id), computed once."""
        if self._ranks is None:
            self._ranks = ranks_of_files([f.path for f in self.files])
        return self._ranks

    def ranked_batches(self, run_id: int) -> Iterator[pa.RecordBatch]:
        """Every file's rows with the run id and the rank over all partitions."""
        yield from ranked_file_batches([f.path for f in self.files], self.layout, run_id, self.ranks())


def write_partitions(engine: Engine, model, plan: PartitionPlan, files: list[PartitionFile],
                     model_name: str) -> ScoringRun:
    """All partitions as one atomic run (all or none), refused if another run finished since the plan."""
    missing = sorted(set(range(plan.partitions)) - {f.partition for f in files})
    if missing:
        raise RuntimeError(f"partitions {missing} were not scored: nothing written")
    spill = PartitionedSpill(files, score_arrow_schema(model.schema))
    return write_spilled_run(engine, spill, model_name, plan.model_version, plan.now, plan.started,
                             check=lambda conn: _refuse_if_overtaken(conn, plan))


def _refuse_if_overtaken(conn: Connection, plan: PartitionPlan) -> None:
    newest = _last_finished_run(conn)
    if newest != plan.last_run_id:
        raise RuntimeError(f"scoring run {newest} finished while this run scored its partitions: nothing written, "
                           "run again to score what is left")


def record_failed_partitions(engine: Engine, model_name: str, plan: PartitionPlan, error: BaseException) -> None:
    """A partition that could not be scored fails the run: a visible trace, no scores."""
    record_failed_run(engine, model_name, plan.model_version, plan.now, time.perf_counter() - plan.started, error)


def remove_spill(plan: PartitionPlan) -> None:
    """The run's partition files are gone once it is written (or has failed)."""
    shutil.rmtree(plan.folder, ignore_errors=True)
