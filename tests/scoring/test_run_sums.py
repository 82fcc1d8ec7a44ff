"""The dashboard's aggregates a scoring run stores from the sums of the leads it scored (only the other current
scores read back) are those of a recompute over every current score: on the embedded default and on Postgres, after a
first run, after a run that scores some leads again (the others carried over) and when outcomes are known."""

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, text

from core import store
from core.ingest import ingest_file
from core.score_aggregates import refresh_score_aggregates
from core.scoring import ScoringRun, score_leads
from tests.paths import SHARED_DATA

AGGREGATE_KEYS = ["kind", "dimension", "day", "grade", "band", "value_text", "value_number"]


def _stored_aggregates(engine: Engine) -> pd.DataFrame:
    frame = store.read_frame(engine, "SELECT * FROM score_aggregates").drop(columns=["run_id"])
    frame["day"] = frame["day"].astype(str)
    order = frame[AGGREGATE_KEYS].astype(str)
    return frame.loc[order.sort_values(AGGREGATE_KEYS).index].reset_index(drop=True)


def _assert_run_sums_equal_a_recompute(engine: Engine, run: ScoringRun) -> pd.DataFrame:
    assert run.sums is not None and run.sums.run_id == run.run_id
    from_run = refresh_score_aggregates(engine, store.engine_schema(engine), run.sums)
    with_sums = _stored_aggregates(engine)
    recomputed = refresh_score_aggregates(engine, store.engine_schema(engine))
    assert from_run is not None and recomputed is not None and from_run.rows == recomputed.rows
    pd.testing.assert_frame_equal(with_sums, _stored_aggregates(engine), check_exact=False, rtol=1e-9)
    return with_sums


def _half_of_the_file(tmp_path: Path) -> Path:
    raw = pd.read_csv(SHARED_DATA / "leadscoring_inference.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "half.csv"
    raw.iloc[: len(raw) // 2].to_csv(path, index=False)
    return path


def test_run_sums_equal_the_aggregates_of_every_current_score(engine: Engine, dev_model, course_model,
                                                             tmp_path: Path) -> None:
    ingest_file(engine, SHARED_DATA / "leads_labelled_dev.csv")  # labelled: outcomes are counted
    first = score_leads(engine, dev_model, "m", "1", chunk_rows=9_000)
    first_sums = _assert_run_sums_equal_a_recompute(engine, first)
    assert first_sums.loc[first_sums["kind"] == "grade_band", "with_outcome"].sum() == first.leads_scored

    ingest_file(engine, _half_of_the_file(tmp_path))  # new leads, unlabelled: the dev leads are carried over
    second = score_leads(engine, dev_model, "m", "1", chunk_rows=5_000)
    assert 0 < second.leads_scored < first.leads_scored
    _assert_run_sums_equal_a_recompute(engine, second)

    with engine.begin() as conn:  # a third run rescores every lead with another model: nothing is carried over
        assert conn.execute(text("SELECT COUNT(*) FROM current_scores WHERE run_id <> :r"),
                            {"r": second.run_id}).scalar() == first.leads_scored
    third = score_leads(engine, course_model, "m", "2", chunk_rows=2_000)  # many chunks: their sums summed as they go
    assert third.leads_scored == first.leads_scored + second.leads_scored
    _assert_run_sums_equal_a_recompute(engine, third)


def test_the_sums_of_an_earlier_run_are_not_used_once_a_later_run_succeeded(engine: Engine, dev_model,
                                                                              course_model) -> None:
    ingest_file(engine, SHARED_DATA / "leads_labelled_dev.csv")
    first = score_leads(engine, dev_model, "m", "1", chunk_rows=9_000)
    later = score_leads(engine, course_model, "m", "2", chunk_rows=9_000)
    written = refresh_score_aggregates(engine, store.engine_schema(engine), first.sums)  # stale: recomputed
    stored = _stored_aggregates(engine)
    refresh_score_aggregates(engine, store.engine_schema(engine))
    assert written is not None and written.run_id == later.run_id
    pd.testing.assert_frame_equal(stored, _stored_aggregates(engine), check_exact=False, rtol=1e-9)
