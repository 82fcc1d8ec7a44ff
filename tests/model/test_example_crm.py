"""The second example schema end to end through the model layers: train, score, reasons, drift (SQLite and
Postgres), holdouts without a created column, and the leakage guard."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from core import store
from core.errors import BadInputError
from core.lead_schema import parse_schema
from core.model import ModelConfig, train_candidate
from core.monitoring import report_run_drift
from core.scoring import score_leads
from core.training import load_labelled_leads
from tests.model.crm import crm_leads, crm_schema, names_codepro, store_crm_leads

BATCH_TIME = datetime(2026, 3, 1, 2, 30)
FAST = ModelConfig(num_boost_round=80)


@pytest.fixture
def crm_engine(request, tmp_path):
    """A database of the example CRM schema on the embedded default or on the real Postgres."""
    schema = crm_schema()
    if request.param == "sqlite":
        engine = store.make_engine(f"sqlite:///{tmp_path / 'crm.db'}", schema)
    else:
        engine = store.make_engine(request.getfixturevalue("postgres_url"), schema)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("crm_engine", ["sqlite", "postgres"], indirect=True)
def test_example_crm_trains_scores_and_reports_drift_without_codepro_names(crm_engine):
    schema = crm_schema()
    store_crm_leads(crm_engine, crm_leads(6_000, seed=1), schema, BATCH_TIME)
    leads = load_labelled_leads(crm_engine, schema)
    candidate = train_candidate(leads, FAST, schema)
    assert candidate.metrics["auc"] > 0.8
    assert candidate.report["holdout_method"] == "newest 20% by Lead Number"
    assert candidate.holdout["lead_number"].min() > leads.drop(candidate.holdout.index)["lead_number"].max()
    assert candidate.report["bars"] == schema.bars and candidate.report["leakage"] == []

    run = score_leads(crm_engine, candidate.model, "m", "1", chunk_rows=2_500)
    scores = store.read_frame(crm_engine, "SELECT * FROM current_scores")
    assert run.leads_scored == len(scores) == 6_000
    assert {"lead_source", "lead_origin", "market", "do_not_email"} <= set(scores.columns)
    assert set(scores["market"].dropna()) <= {"domestic", "international"}
    assert set(scores["do_not_email"]) == {0.0, 1.0}
    assert pd.to_datetime(scores["created_date"]).eq(pd.Timestamp(BATCH_TIME)).all()  # no created column: ingest time
    reasons = " ".join(scores["reasons_positive"]) + " ".join(scores["reasons_negative"])
    assert names_codepro(reasons) == []
    assert "came in by Lead Add Form" in reasons and "asked not to be emailed" in reasons

    summary = report_run_drift(crm_engine, candidate.model, candidate.reference, run)
    columns = [c["column"] for c in summary.columns]
    assert set(columns) == {*candidate.model.feature_names, "score", "predicted"}
    assert names_codepro(" ".join(columns)) == []


def test_without_created_or_order_the_holdout_is_a_seeded_stratified_random_fifth(sqlite_engine):
    text = crm_schema().source_text.replace("order: Lead Number", "").replace("Prospect ID, Lead Number,", "Prospect ID,")
    schema = parse_schema(text, origin="no-order.yaml")
    assert schema.created_column is None and schema.order_column is None
    leads = pd.DataFrame(crm_leads(4_000, seed=2)).pipe(_as_stored, schema)
    first = train_candidate(leads, FAST, schema)
    again = train_candidate(leads, FAST, schema)
    assert first.report["holdout_method"] == "stratified random 20% (seed 7)"
    assert list(first.holdout["lead_id"]) == list(again.holdout["lead_id"])
    label = schema.label.db_name
    assert len(first.holdout) == 800
    assert first.holdout[label].mean() == pytest.approx(leads[label].mean(), abs=0.002)
    assert first.window["holdout_start"] == "random"


def _as_stored(frame: pd.DataFrame, schema) -> pd.DataFrame:
    from tests.model.crm import stored_rows

    return stored_rows(frame, schema, batch_id=1)


def test_served_model_reads_leads_in_the_file_layout(sqlite_engine):
    schema = crm_schema()
    raw = crm_leads(3_000, seed=3)
    candidate = train_candidate(_as_stored(raw, schema), FAST, schema)
    from_file = candidate.model.predict_proba(raw.drop(columns=["Outcome"]).astype(str).replace("nan", ""))
    from_store = candidate.model.predict_proba(_as_stored(raw, schema))
    np.testing.assert_allclose(from_file, from_store)


def test_a_column_that_is_the_label_written_differently_is_named_as_leakage(capsys):
    text = crm_schema().source_text.replace("features:\n", "features:\n  Stage:\n    type: category\n", 1)
    schema = parse_schema(text, origin="leaky.yaml")
    raw = crm_leads(3_000, seed=4)
    raw["Stage"] = np.where(raw["Outcome"] == "Enrolled", "Closed - won", "Lost")
    candidate = train_candidate(_as_stored(raw, schema), FAST, schema)
    lines = candidate.report["leakage"]
    assert len(lines) == 1 and "leakage" in lines[0] and "'Stage'" in lines[0]


def test_clean_codepro_data_gets_no_leakage_warning(dev_candidate):
    assert dev_candidate.report["leakage"] == []


def test_a_model_of_another_schema_is_refused_by_the_database(sqlite_engine, dev_candidate):
    schema = crm_schema()
    other = store.make_engine(f"sqlite:///{sqlite_engine.url.database}.crm", schema)
    try:
        with pytest.raises(BadInputError, match="trained on leads of schema 'CodePro'"):
            score_leads(other, dev_candidate.model, "m", "1")
    finally:
        other.dispose()


def test_reasons_and_scores_of_crm_leads_are_json_lists(sqlite_engine):
    schema = crm_schema()
    crm = store.make_engine(f"sqlite:///{sqlite_engine.url.database}.crm", schema)
    try:
        store_crm_leads(crm, crm_leads(2_500, seed=5), schema, BATCH_TIME)
        candidate = train_candidate(load_labelled_leads(crm, schema), FAST, schema)
        score_leads(crm, candidate.model, "m", "1")
        scores = store.read_frame(crm, "SELECT reasons_positive, reasons_negative FROM current_scores")
    finally:
        crm.dispose()
    lists = scores["reasons_positive"].map(json.loads) + scores["reasons_negative"].map(json.loads)
    assert lists.map(len).between(1, 6).all()


def test_champion_comparison_follows_the_order_column_and_takes_a_random_holdout_whole():
    from core import registry
    from core.model import holdout_start_from_param
    from core.training import compare_with_champion

    schema = crm_schema()
    candidate = train_candidate(_as_stored(crm_leads(5_000, seed=7), schema), FAST, schema)
    start = holdout_start_from_param(candidate.window["holdout_start"])
    assert isinstance(start, float) and start == candidate.holdout["lead_number"].min()
    same = compare_with_champion(candidate, registry.ChampionBaseline("1", candidate.evaluation_model, start))
    assert same.promote and same.champion_auc == pytest.approx(same.challenger_auc)
    late = candidate.holdout["lead_number"].quantile(0.5)
    half = compare_with_champion(candidate, registry.ChampionBaseline("1", candidate.evaluation_model, late))
    assert half.challenger_auc != pytest.approx(same.challenger_auc)
    whole = compare_with_champion(candidate, registry.ChampionBaseline("1", candidate.evaluation_model, None))
    assert whole.challenger_auc == pytest.approx(same.challenger_auc)


def test_category_levels_are_capped_at_max_levels():
    from core.features import learn_significant_levels

    values = pd.Series([f"L{i}" for i in range(100)] * 3)
    assert len(learn_significant_levels(values, 0.9)) == 90
    assert learn_significant_levels(values, 0.9, max_levels=30) == tuple(sorted(values.unique(), key=list(values).index)[:30])
