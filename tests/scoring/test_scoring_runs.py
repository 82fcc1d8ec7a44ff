"""Scoring runs on the real nightly file: every lead once, grades, reasons, atomicity, the run lock."""

import json
import threading

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect

from core import store
from core.ingest import ingest_file
from core.score_store import HISTORY_COLUMNS
from core.scoring import read_drift_sample, read_unscored, score_leads
from tests.paths import SHARED_DATA
from tests.samples import real_sample, write_sample

INFERENCE_LEADS = 24_983  # 24,991 rows, 8 exact duplicates


def _scores(engine: Engine):
    """The history: every score of every run."""
    return store.read_frame(engine, "SELECT * FROM lead_scores")


def _current(engine: Engine):
    """Each lead's latest score."""
    return store.read_frame(engine, "SELECT * FROM current_scores")


def _latest_in_history(engine: Engine):
    """Each lead's row of its latest run in the history (the columns it keeps): what current_scores must hold."""
    history = _scores(engine)[list(HISTORY_COLUMNS)]
    return history.sort_values("run_id").groupby("lead_id").tail(1)


def _assert_current_agrees_with_history(engine: Engine) -> None:
    latest = _latest_in_history(engine).sort_values("lead_id").reset_index(drop=True)
    current = _current(engine).sort_values("lead_id").reset_index(drop=True)
    assert list(current["lead_id"]) == list(latest["lead_id"])
    pd.testing.assert_frame_equal(current[latest.columns], latest, check_dtype=False)


def _runs(engine: Engine):
    return store.read_frame(engine, "SELECT * FROM scoring_runs ORDER BY run_id")


@pytest.fixture
def nightly(engine: Engine) -> Engine:
    ingest_file(engine, SHARED_DATA / "leadscoring_inference.csv")
    return engine


def test_every_lead_scored_once_with_grade_rank_and_reasons(nightly, dev_model):
    run = score_leads(nightly, dev_model, "m", "1", chunk_rows=7_000)
    scores = _scores(nightly)
    assert run.leads_scored == len(scores) == scores["lead_id"].nunique() == INFERENCE_LEADS
    assert scores["score"].between(0, 1).all()
    assert set(scores["grade"]) == {"A", "B", "C", "D"}
    assert sorted(scores["rank"]) == list(range(1, INFERENCE_LEADS + 1))
    by_rank = scores.sort_values("rank")["score"].to_numpy()
    assert (by_rank[:-1] >= by_rank[1:]).all()
    assert ((scores["score"] >= dev_model.threshold) == (scores["predicted"] == 1)).all()
    current = _current(nightly)
    positive = current["reasons_positive"].map(json.loads)
    negative = current["reasons_negative"].map(json.loads)
    assert (positive.map(len) + negative.map(len) > 0).all()
    assert positive.map(len).max() <= 3 and negative.map(len).max() <= 3
    assert scores["trend"].isna().all()
    _assert_current_agrees_with_history(nightly)
    runs = _runs(nightly)
    assert runs["status"].tolist() == ["succeeded"] and runs["leads_scored"].tolist() == [INFERENCE_LEADS]


def test_second_run_scores_nothing_new(nightly, dev_model):
    score_leads(nightly, dev_model, "m", "1")
    again = score_leads(nightly, dev_model, "m", "1")
    assert again.leads_scored == 0
    assert len(_scores(nightly)) == INFERENCE_LEADS
    assert again.run_id > 1


def test_referred_lead_reason_reads_like_a_sales_rep(nightly, dev_model):
    score_leads(nightly, dev_model, "m", "1")
    frame = store.read_frame(nightly, "SELECT referred_lead, reasons_positive FROM current_scores WHERE referred_lead = 1")
    assert len(frame) > 0
    assert frame["reasons_positive"].str.contains("referred by a student").mean() > 0.5


def test_crash_mid_run_leaves_nothing_and_rerun_completes(nightly, dev_model):
    def crash(chunk_index: int) -> None:
        if chunk_index == 2:
            raise RuntimeError("worker killed (injected)")

    with pytest.raises(RuntimeError, match="injected"):
        score_leads(nightly, dev_model, "m", "1", chunk_rows=5_000, after_chunk=crash)
    assert len(_scores(nightly)) == 0 and len(_current(nightly)) == 0
    failed = _runs(nightly)
    assert failed["status"].tolist() == ["failed"] and "injected" in failed["error"].iloc[0]
    run = score_leads(nightly, dev_model, "m", "1", chunk_rows=5_000)
    assert run.leads_scored == INFERENCE_LEADS == _scores(nightly)["lead_id"].nunique()
    assert run.run_id > failed["run_id"].iloc[0]
    _assert_current_agrees_with_history(nightly)


def test_two_concurrent_runs_never_double_score(nightly, dev_model):
    results, errors = [], []

    def run() -> None:
        try:
            results.append(score_leads(nightly, dev_model, "m", "1", chunk_rows=6_000))
        except Exception as error:  # noqa: BLE001 - the test reports whatever a run raised
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert sorted(r.leads_scored for r in results) == [0, INFERENCE_LEADS]
    scores = _scores(nightly)
    assert len(scores) == scores["lead_id"].nunique() == INFERENCE_LEADS


def test_new_champion_rescores_with_trend_and_one_current_score(nightly, dev_model, course_model):
    score_leads(nightly, dev_model, "m", "1")
    second = score_leads(nightly, course_model, "m", "2")
    assert second.leads_scored == INFERENCE_LEADS
    current = _current(nightly)
    assert len(current) == INFERENCE_LEADS and (current["model_version"] == "2").all()
    assert set(current["trend"]) <= {"improving", "steady", "declining"}
    delta = current["score"] - current["previous_score"]
    assert ((delta > 0.05) == (current["trend"] == "improving")).all()
    assert ((delta < -0.05) == (current["trend"] == "declining")).all()


def test_drift_sample_is_deterministic_and_bounded(nightly, dev_model):
    run = score_leads(nightly, dev_model, "m", "1")
    first = read_drift_sample(nightly, run.run_id, run.leads_scored, max_rows=5_000)
    second = read_drift_sample(nightly, run.run_id, run.leads_scored, max_rows=5_000)
    assert 4_000 <= len(first) <= 5_000
    assert first["lead_id"].tolist() == second["lead_id"].tolist()
    assert first["score"].between(0, 1).all()


def test_rolled_back_champion_becomes_current_again(nightly, dev_model, course_model):
    score_leads(nightly, dev_model, "m", "1")
    score_leads(nightly, course_model, "m", "2")
    back = score_leads(nightly, dev_model, "m", "1")  # an operator promoted version 1 again
    assert back.leads_scored == INFERENCE_LEADS
    current = _current(nightly)
    assert len(current) == INFERENCE_LEADS and (current["model_version"] == "1").all()
    assert len(_scores(nightly)) == 3 * INFERENCE_LEADS


def test_current_scores_and_history_agree_after_several_runs(nightly, dev_model, course_model):
    """New leads, a rescore of all, a champion change, a run with nothing to do: the history only grows, and
    current_scores always holds each lead's row of its latest run, previous_score being the score it replaced."""
    shape = _current_shape(nightly)
    first = score_leads(nightly, dev_model, "m", "1")
    _assert_current_agrees_with_history(nightly)
    new_leads = ingest_file(nightly, SHARED_DATA / "leadscoring_test.csv").loaded
    only_new = score_leads(nightly, dev_model, "m", "1")
    assert 0 < only_new.leads_scored == new_leads
    _assert_current_agrees_with_history(nightly)
    everyone = INFERENCE_LEADS + new_leads
    assert _current(nightly)["run_id"].value_counts().to_dict() == {first.run_id: INFERENCE_LEADS,
                                                                     only_new.run_id: new_leads}
    before = _current(nightly).set_index("lead_id")["score"].sort_index()
    again = score_leads(nightly, dev_model, "m", "1", rescore_all=True)
    assert again.leads_scored == everyone
    _assert_current_agrees_with_history(nightly)
    after = _current(nightly).set_index("lead_id").sort_index()
    assert (after["run_id"] == again.run_id).all()
    assert after["previous_score"].tolist() == before.tolist()
    assert (after["trend"] == "steady").all()  # the same model scores the same leads the same way
    changed = score_leads(nightly, course_model, "m", "2")
    assert changed.leads_scored == everyone
    _assert_current_agrees_with_history(nightly)
    assert score_leads(nightly, course_model, "m", "2").leads_scored == 0
    history = _scores(nightly)
    assert len(history) == INFERENCE_LEADS + new_leads + 2 * everyone
    current = _current(nightly)
    assert len(current) == everyone and (current["model_version"] == "2").all()
    _assert_current_agrees_with_history(nightly)
    assert _current_shape(nightly) == shape  # a rebuilt current_scores keeps its key and indexes, by name


def _current_shape(engine: Engine) -> tuple:
    inspector = inspect(engine)
    indexes = sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes("current_scores"))
    key = inspector.get_pk_constraint("current_scores")
    return indexes, key["constrained_columns"], key.get("name") if engine.dialect.name == "postgresql" else None


def test_crash_while_writing_leaves_history_and_current_unchanged(nightly, dev_model, monkeypatch):
    """A failure after the run's history rows are written, before its current scores are: both tables stay as
    they were (one transaction), and the rerun completes."""
    from core import score_store

    first = score_leads(nightly, dev_model, "m", "1")
    history, current = _scores(nightly), _current(nightly)

    def crash(conn) -> int:
        raise RuntimeError("killed while writing (injected)")

    monkeypatch.setattr(score_store, "_stored_current_rows", crash)
    with pytest.raises(RuntimeError, match="injected"):
        score_leads(nightly, dev_model, "m", "1", rescore_all=True)
    monkeypatch.undo()
    def ordered(frame):
        return frame.sort_values(["lead_id", "run_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(_scores(nightly)), ordered(history))
    pd.testing.assert_frame_equal(ordered(_current(nightly)), ordered(current))
    again = score_leads(nightly, dev_model, "m", "1", rescore_all=True)
    assert again.leads_scored == INFERENCE_LEADS and again.run_id > first.run_id + 1
    assert len(_scores(nightly)) == 2 * INFERENCE_LEADS
    _assert_current_agrees_with_history(nightly)


@pytest.fixture
def nightly_postgres(postgres_engine: Engine) -> Engine:
    ingest_file(postgres_engine, SHARED_DATA / "leadscoring_inference.csv")
    return postgres_engine


def test_a_failure_after_the_history_is_written_aside_leaves_no_table_behind(nightly_postgres, dev_model,
                                                                              monkeypatch):
    """Postgres writes the run's history partition on a second connection while the run writes current_scores:
    a run failing after that partition is written drops it, and history and current scores stay as they were."""
    from core import score_store

    nightly = nightly_postgres
    score_leads(nightly, dev_model, "m", "1")
    history, current = _scores(nightly), _current(nightly)
    written = score_store.HistoryAside.attach

    def crash_once_written(self, conn) -> None:
        self._thread.join()  # the partition is written (and committed on its own connection)
        raise RuntimeError("killed while writing current scores (injected)")

    monkeypatch.setattr(score_store.HistoryAside, "attach", crash_once_written)
    with pytest.raises(RuntimeError, match="injected"):
        score_leads(nightly, dev_model, "m", "1", rescore_all=True)
    monkeypatch.setattr(score_store.HistoryAside, "attach", written)
    assert _unattached_history_tables(nightly) == []
    assert len(_scores(nightly)) == len(history) and len(_current(nightly)) == len(current)
    score_leads(nightly, dev_model, "m", "1", rescore_all=True)
    _assert_current_agrees_with_history(nightly)


def test_a_history_table_left_by_a_killed_run_is_dropped_by_the_next_run(nightly_postgres, dev_model):
    """A run killed after its history partition was committed aside, before its own commit, leaves that table
    unattached (in no query's reach); the next run drops it."""
    nightly = nightly_postgres
    with nightly.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE lead_scores_run_999999 (LIKE lead_scores INCLUDING DEFAULTS)")
    assert _unattached_history_tables(nightly) == ["lead_scores_run_999999"]
    score_leads(nightly, dev_model, "m", "1")
    assert _unattached_history_tables(nightly) == []
    assert len(_scores(nightly)) == INFERENCE_LEADS


def _unattached_history_tables(engine: Engine) -> list[str]:
    frame = store.read_frame(engine, "SELECT relname FROM pg_class WHERE relname LIKE 'lead\\_scores\\_run\\_%' "
                                     "AND relkind = 'r' AND NOT relispartition ORDER BY relname")
    return list(frame["relname"])


def test_sqlite_reads_the_leads_to_score_in_key_order_whatever_their_table_order(sqlite_engine, tmp_path,
                                                                                 monkeypatch):
    """An ingest's wide rows (an interaction column set) are stored after its narrow ones; scoring still reads
    every lead in lead-id order, so the run is staged in key order and ranked without sorting ids."""
    monkeypatch.setattr(store, "LARGE_BATCH_ROWS", 1)  # narrow and wide parts, as a large file is loaded
    frame = real_sample(100)
    frame.loc[frame.index[::7], "chat_clicked"] = "1"  # every 7th lead is a wide row
    ingest_file(sqlite_engine, write_sample(tmp_path / "leads.csv", frame))
    stored = store.read_frame(sqlite_engine, "SELECT lead_id FROM leads ORDER BY rowid")["lead_id"].tolist()
    assert stored != sorted(stored)  # the table's order is not the key's
    with sqlite_engine.connect() as conn:
        read = [lead for chunk in read_unscored(conn, store.engine_schema(sqlite_engine), "1", False, 30)
                for lead in chunk["lead_id"]]
    assert read == sorted(stored)
