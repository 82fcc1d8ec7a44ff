"""Nightly scoring: unscored leads -> features -> probability, grade, rank, reasons -> one atomic run.

A run is one database transaction: leads stream in chunks (memory stays flat), scored chunks are
spilled to disk, then the run is written in bulk with its ranks, all or nothing: appended to the history
(`lead_scores`) and made its leads' current scores (`current_scores`, where previous scores come from). The first statement
of the transaction takes the `run_lock` row, so two runs never score at once (Postgres row lock,
SQLite write lock); the second one waits, then finds nothing left to score.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, insert, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core import store
from core.clock import utc_now
from core.errors import BadInputError
from core.features import feature_values, input_select_items, quoted
from core.forest import ForestPredictor, default_cache_dir
from core.lead_schema import LeadSchema
from core.reasons import ReasonTable, exact_contributions, learn_reason_table, reason_sentences
from core.score_aggregates import RunSums, ScoreSums, newest_batch
from core.score_store import KNOWN_OUTCOME, ScoreSpill, read_lead_chunks, score_arrow_schema, write_run

log = logging.getLogger(__name__)
LEAD_ID = store.LEAD_ID
INGESTED_AT = "_ingested_at"  # the ingest batch's start: a lead's time when the schema has no created column
LOCK_NAME = "score"
TREND_DELTA = 0.05
REASON_SAMPLE_ROWS = 3_000
PREDICT_THREADS = max(1, os.cpu_count() or 1)


def score_trend(scores: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Improving / steady / declining against the lead's previous score (None when first scored)."""
    delta = scores - previous
    trend = np.where(delta > TREND_DELTA, "improving", np.where(delta < -TREND_DELTA, "declining", "steady"))
    return np.where(np.isnan(previous), None, trend).astype(object)


@dataclass(frozen=True)
class ScoringRun:
    """What a finished run did."""

    run_id: int
    model_version: str
    leads_scored: int
    duration_s: float
    sums: RunSums | None = field(default=None, repr=False, compare=False)  # the dashboard's sums of its leads
    drift_sample: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # drawn while it scored
    drift_summary: object | None = field(default=None, repr=False, compare=False)  # built while it was written

    def line(self) -> str:
        return f"run {self.run_id}: scored {self.leads_scored} leads with model version {self.model_version} in {self.duration_s:.1f} s"


class ChunkScorer:
    """Scores chunks of leads with one model; learns the reason table on the first large chunk."""

    def __init__(self, model, model_version: str, now: datetime, reason_table: ReasonTable | None = None,
                 learn_reasons: bool = True, forest_cache: Path | None = None) -> None:
        self.model, self.model_version, self.now = model, model_version, now
        self.forest_cache = forest_cache
        self._forest: ForestPredictor | None = None
        self.schema: LeadSchema = model.schema
        self.layout = score_arrow_schema(self.schema)
        self.by_key = {f.key: f for f in self.schema.features}
        self.reason_table = reason_table  # given: learned once for a run split into partitions
        self.learn_reasons = learn_reasons and reason_table is None

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Output rows of a chunk (run id and rank are filled when the run is written)."""
        matrix = self.model.features(chunk)
        scores = np.asarray(self.forest().predict(matrix.to_numpy("float64"), threads=PREDICT_THREADS), dtype="float64")
        contributions = self._contributions(matrix, chunk[LEAD_ID].to_numpy())
        positive, negative = reason_sentences(contributions, self.model.readable(matrix), self.by_key)
        return self._output_rows(chunk, matrix, scores, positive, negative)

    def forest(self) -> ForestPredictor:
        """The compiled trees, loaded (or compiled) on the first chunk scored."""
        if self._forest is None:
            self._forest = ForestPredictor(self.model.booster, self.forest_cache or default_cache_dir())
        return self._forest

    def learn_reason_table(self, chunk: pd.DataFrame) -> ReasonTable | None:
        """The run's reason table, from a sample of its first chunk (None for a run too small to sample)."""
        return self._learned_from(self.model.features(chunk), chunk[LEAD_ID].to_numpy())

    def _learned_from(self, matrix: pd.DataFrame, lead_ids: np.ndarray) -> ReasonTable | None:
        """The sample is drawn from the chunk in lead-id order: the same leads give the same table, however
        the database happened to order them."""
        if len(matrix) <= REASON_SAMPLE_ROWS:
            return None
        in_id_order = matrix.iloc[pc.sort_indices(pa.array(lead_ids, pa.string())).to_numpy()].reset_index(drop=True)
        sample = in_id_order.sample(n=REASON_SAMPLE_ROWS, random_state=0)
        return learn_reason_table(self.model.booster, sample, list(self.model.categorical_features))

    def _contributions(self, matrix: pd.DataFrame, lead_ids: np.ndarray) -> np.ndarray:
        if self.learn_reasons and self.reason_table is None:
            self.reason_table = self._learned_from(matrix, lead_ids)
        if self.reason_table is None:  # a run of at most REASON_SAMPLE_ROWS leads: exact reasons
            return exact_contributions(self.model.booster, matrix)
        return self.reason_table.contributions(matrix)  # every chunk of a run reads the same table

    def _output_rows(self, chunk: pd.DataFrame, matrix: pd.DataFrame, scores: np.ndarray, positive: list[str],
                     negative: list[str]) -> pd.DataFrame:
        previous = chunk["previous_score"].to_numpy("float64")
        rows = pd.DataFrame({
            "run_id": 0, LEAD_ID: chunk[LEAD_ID].to_numpy(), "model_version": self.model_version,
            "score": scores, "grade": self.model.grades(scores), "rank": 0,
            "predicted": np.asarray(self.model.predicted(scores), dtype="int16"),
            "previous_score": previous, "trend": score_trend(scores, previous),
            "reasons_positive": positive, "reasons_negative": negative,
            "created_date": chunk[created_column(self.schema)].to_numpy(),
        })
        for feature in self.schema.score_copy_features():  # the lead list's and channel pages' columns
            reuse = feature.numeric and feature.key in matrix.columns  # the same numbers the model read
            rows[feature.key] = matrix[feature.key].to_numpy() if reuse else feature_values(chunk, self.schema, feature)
        rows["scored_at"] = self.now
        return rows[self.layout.names]


def created_column(schema: LeadSchema) -> str:
    """The scoring query's column holding each lead's time: its created column, else its ingest time."""
    return schema.raw(schema.created_column).db_name if schema.created_column else INGESTED_AT


def _lead_sources(schema: LeadSchema) -> tuple[str, str]:
    """Extra SELECT items and FROM clause: the ingest batch's start stands in for a missing created column."""
    if schema.created_column:
        return "", "leads l"
    return (f", b.started_at AS {INGESTED_AT}", "leads l JOIN ingest_batches b ON b.batch_id = l.batch_id")


def unscored_leads_sql(schema: LeadSchema, rescore_all: bool) -> str:
    """Leads whose current score is not from this model version (or every lead), with their current score and
    their outcome when known (the dashboard's sums)."""
    extra, source = _lead_sources(schema)
    sql = (f"SELECT l.{LEAD_ID}, {', '.join(input_select_items(schema))}{extra}, p.score AS previous_score, "
           f"l.{quoted(schema.label.db_name)} AS {KNOWN_OUTCOME} "
           f"FROM {source} LEFT JOIN current_scores p ON p.lead_id = l.lead_id")
    if not rescore_all:  # never scored, or the current score is another model's (a new or rolled-back champion)
        sql += " WHERE p.lead_id IS NULL OR p.model_version <> :version"
    return sql


def read_unscored(conn: Connection, schema: LeadSchema, version: str, rescore_all: bool,
                  chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream the leads to score in chunks of chunk_rows. SQLite reads them in lead-id order (its key index, ~0.2 s
    more for 1M leads than its table order, in which an ingest's few wide rows come after its narrow ones): the
    run's rows are then staged in key order and ranked without sorting ids (1M leads: the write ~2.5 s shorter)."""
    params = {} if rescore_all else {"version": version}  # Postgres binds the values into COPY's text
    sql = unscored_leads_sql(schema, rescore_all) + ("" if store.is_postgres(conn) else f" ORDER BY l.{LEAD_ID}")
    yield from read_lead_chunks(conn, sql, params, chunk_rows, schema, [created_column(schema)], read_ahead=True)


def score_leads(engine: Engine, model, model_name: str, model_version: str, *, rescore_all: bool = False,
                chunk_rows: int = 200_000, now: datetime | None = None,
                after_chunk: Callable[[int], None] | None = None,
                drift_report: Callable[[pd.DataFrame], object] | None = None) -> ScoringRun:
    """One atomic scoring run; a failure is recorded as a failed run and nothing else is kept. `drift_report`
    (the run's drift sample -> its report) runs on a thread while the run is written: the database does the writing
    without Python's lock, so with a core to spare (Postgres' server writes; more than 2 cores) the report is off
    the critical path (on 2 cores with SQLite it was a wash: the write already keeps both busy)."""
    now = now or utc_now()
    started = time.perf_counter()
    check_model_fits_database(engine, model)
    _ensure_lock_row(engine)
    try:
        with store.write_transaction(engine) as conn:
            _take_run_lock(conn, now)
            run_id = _open_run(conn, model_name, model_version, now)
            sums = RunSums(run_id, newest_batch(conn), ScoreSums(model.schema))  # outcomes as the run reads them
            beside = BesideWrite(SystematicSample(DRIFT_SAMPLE_ROWS), drift_report)
            scored = _score_and_write(conn, ChunkScorer(model, model_version, now), run_id,
                                        model_version, rescore_all, chunk_rows, after_chunk, sums.sums, beside)
            duration = time.perf_counter() - started
            _close_run(conn, run_id, scored, duration)
    except Exception as error:
        record_failed_run(engine, model_name, model_version, now, time.perf_counter() - started, error)
        raise
    return ScoringRun(run_id, model_version, scored, duration, sums, beside.sample.frame(), beside.report)


def check_model_fits_database(engine: Engine, model) -> None:
    """A model reads the columns of the schema it was trained on: the database must hold that schema's leads."""
    stored = store.engine_schema(engine)
    if model.schema.fingerprint != stored.fingerprint:
        raise BadInputError(f"the model was trained on leads of schema {model.schema.name!r}; this database holds "
                            f"schema {stored.name!r}")


def _score_and_write(conn: Connection, scorer: ChunkScorer, run_id: int, version: str, rescore_all: bool,
                       chunk_rows: int, after_chunk: Callable[[int], None] | None, sums: ScoreSums,
                       beside: BesideWrite) -> int:
    with tempfile.TemporaryDirectory(prefix="leadscore-run-") as folder:
        spill = ScoreSpill(Path(folder), scorer.layout)
        for index, chunk in enumerate(read_unscored(conn, scorer.schema, version, rescore_all, chunk_rows)):
            rows = scorer.score(chunk)
            sums.add(rows, chunk[KNOWN_OUTCOME].to_numpy(dtype="float64"))
            beside.sample.add(drift_rows(chunk, rows))
            spill.append(rows)
            if after_chunk is not None:
                after_chunk(index)
        with beside.running():
            write_spill(conn, run_id, spill)
        return spill.rows


def write_spill(conn: Connection, run_id: int, spill) -> None:
    """A run's spilled rows (a ScoreSpill, or any object with its rows / rescored / in_key_order / layout / ranks /
    ranked_batches): appended to the history and replacing each lead's current score, in the caller's transaction."""
    if spill.rows:
        write_run(conn, run_id, spill)


def write_spilled_run(engine: Engine, spill, model_name: str, model_version: str, now: datetime, started: float,
                      check: Callable[[Connection], None] | None = None) -> ScoringRun:
    """A run scored elsewhere (e.g. partitions on Dask workers) becomes visible in one transaction, or not at all;
    `check` runs under the run lock and may refuse."""
    _ensure_lock_row(engine)
    try:
        with store.write_transaction(engine) as conn:
            _take_run_lock(conn, now)
            if check is not None:
                check(conn)
            run_id = _open_run(conn, model_name, model_version, now)
            write_spill(conn, run_id, spill)
            duration = time.perf_counter() - started
            _close_run(conn, run_id, spill.rows, duration)
    except Exception as error:
        record_failed_run(engine, model_name, model_version, now, time.perf_counter() - started, error)
        raise
    return ScoringRun(run_id, model_version, spill.rows, duration)


def _ensure_lock_row(engine: Engine) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(insert(store.run_lock).values(name=LOCK_NAME))
    except IntegrityError:
        pass


def _take_run_lock(conn: Connection, now: datetime) -> None:
    """The transaction's first write: held until commit, so a second run waits here."""
    conn.execute(update(store.run_lock).where(store.run_lock.c.name == LOCK_NAME).values(
        holder="scoring", acquired_at=now))


def _open_run(conn: Connection, model_name: str, model_version: str, now: datetime) -> int:
    result = conn.execute(insert(store.scoring_runs).values(
        model_name=model_name, model_version=model_version, started_at=now, status="running", leads_scored=0,
    ).returning(store.scoring_runs.c.run_id))
    return int(result.scalar_one())


def _close_run(conn: Connection, run_id: int, scored: int, duration: float) -> None:
    conn.execute(update(store.scoring_runs).where(store.scoring_runs.c.run_id == run_id).values(
        status="succeeded", leads_scored=scored, duration_s=duration, finished_at=utc_now()))


def record_failed_run(engine: Engine, model_name: str, model_version: str, now: datetime,
                       duration: float, error: BaseException) -> None:
    """A visible trace of the failure for pipeline health; it carries no scores."""
    message = "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]
    with engine.begin() as conn:
        conn.execute(insert(store.scoring_runs).values(
            model_name=model_name, model_version=model_version, started_at=now, finished_at=utc_now(),
            status="failed", leads_scored=0, duration_s=duration, error=message))


DRIFT_SAMPLE_ROWS = 50_000  # leads of a run its drift report compares with the training reference


class SystematicSample:
    """At most max_rows rows of a stream of frames, spread evenly over it, drawn as the frames pass (memory stays
    flat, whatever the stream's length): every k-th row is kept, k doubling whenever more than twice max_rows are
    held; at the end max_rows of the kept rows are taken at even steps. The same stream gives the same rows."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows, self.step, self.seen = max_rows, 1, 0
        self._kept: list[pd.DataFrame] = []

    def add(self, frame: pd.DataFrame) -> None:
        positions = np.arange(self.seen, self.seen + len(frame))
        self.seen += len(frame)
        kept = positions % self.step == 0
        self._kept.append(frame.iloc[np.flatnonzero(kept)].assign(_position=positions[kept]))
        while sum(len(part) for part in self._kept) > 2 * self.max_rows:
            self.step *= 2
            self._kept = [part[part["_position"].to_numpy() % self.step == 0] for part in self._kept]

    def frame(self) -> pd.DataFrame | None:
        """The sample (None: nothing was added)."""
        if not self._kept:
            return None
        kept = pd.concat(self._kept, ignore_index=True).drop(columns="_position")
        if len(kept) <= self.max_rows:
            return kept
        return kept.iloc[np.linspace(0, len(kept) - 1, self.max_rows).round().astype("int64")].reset_index(drop=True)


class BesideWrite:
    """The run's drift report, built on a thread from the sample while the run is written. A report that fails is
    left for the flow to build again (with its retries): it never fails the run."""

    def __init__(self, sample: SystematicSample, drift_report: Callable[[pd.DataFrame], object] | None) -> None:
        self.sample, self._drift_report = sample, drift_report
        self.report: object | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        frame = self.sample.frame()
        if self._drift_report is None or frame is None:
            yield
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-drift") as pool:
            building = pool.submit(self._drift_report, frame)
            yield
            if building.exception() is None:
                self.report = building.result()
            else:
                log.warning("drift report built beside the run's write failed (%s); it is built again after the run",
                            building.exception())


def drift_rows(chunk: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """A scored chunk as the drift report reads it (read_drift_sample's columns): the leads' inputs, score, predicted."""
    inputs = chunk.drop(columns=["previous_score", KNOWN_OUTCOME])
    return inputs.assign(score=rows["score"].to_numpy(), predicted=rows["predicted"].to_numpy())


def drift_sample_sql(schema: LeadSchema) -> str:
    """Every k-th lead of a run by rank: a deterministic sample spread over the whole score range."""
    extra, source = _lead_sources(schema)
    return (f"SELECT l.{LEAD_ID}, {', '.join(input_select_items(schema))}{extra}, s.score, s.predicted "
            f"FROM {source} JOIN lead_scores s ON s.lead_id = l.lead_id WHERE s.run_id = :run AND (s.rank % :step) = 0")


def read_drift_sample(engine: Engine, run_id: int, leads_scored: int, max_rows: int = DRIFT_SAMPLE_ROWS,
                      schema: LeadSchema | None = None) -> pd.DataFrame:
    """The run's leads (features' inputs, score, predicted), sampled to at most max_rows: every k-th by rank, for a
    run whose report is made after it (its own sample, drawn while it scored, went with it: SystematicSample)."""
    schema = schema or store.engine_schema(engine)
    step = max(1, -(-leads_scored // max_rows))
    frame = store.read_frame(engine, drift_sample_sql(schema), {"run": run_id, "step": step})
    column = created_column(schema)
    frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame
