"""Outcome feeds on SQLite and Postgres: detected by their columns, every row accounted for, unknown ids and bad
values rejected with reasons, idempotent by content, and a changed label keeps its history."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core import store
from core.ingest import ingest_file
from core.lead_schema import load_schema
from core.outcomes import is_outcome_feed
from tests.paths import SHARED_DATA

LABEL = "app_complete_flag"
DAY = datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def dev_rows() -> pd.DataFrame:
    """200 real leads named dev-<index>, every cell as in the file."""
    dev = pd.read_csv(SHARED_DATA / "leads_labelled_dev.csv", index_col=0, dtype=str, keep_default_na=False, nrows=200)
    dev.insert(0, "lead_id", [f"dev-{i}" for i in range(len(dev))])
    return dev


def _write(path: Path, frame: pd.DataFrame, index: bool = False) -> Path:
    frame.to_csv(path, index=index)
    return path


def _batch(engine, batch_id: int) -> dict:
    return store.read_frame(engine, "SELECT * FROM ingest_batches WHERE batch_id = :b", {"b": batch_id}).iloc[0]


def _history(engine, lead_id: str) -> pd.DataFrame:
    return store.read_frame(engine, "SELECT label, batch_id, recorded_at FROM lead_outcomes WHERE lead_id = :i "
                                    "ORDER BY id", {"i": lead_id}, parse_dates=["recorded_at"])


def test_a_feed_is_told_apart_by_its_columns(tmp_path, dev_rows):
    schema = load_schema()
    assert is_outcome_feed(_write(tmp_path / "a.csv", dev_rows[["lead_id", LABEL]]), schema)
    assert is_outcome_feed(_write(tmp_path / "b.csv", dev_rows[[LABEL, "lead_id"]], index=True), schema)
    assert not is_outcome_feed(_write(tmp_path / "c.csv", dev_rows), schema)
    assert not is_outcome_feed(_write(tmp_path / "d.csv", dev_rows[["lead_id", LABEL, "city_mapped"]]), schema)
    assert not is_outcome_feed(tmp_path / "missing.csv", schema)


def test_feed_accounting_and_rejected_reasons(engine, tmp_path, dev_rows):
    ingest_file(engine, _write(tmp_path / "leads.csv", dev_rows.drop(columns=[LABEL])), DAY)
    feed = pd.concat([
        dev_rows[["lead_id", LABEL]].head(150),  # 150 first outcomes
        pd.DataFrame({"lead_id": ["nobody-1", "dev-150", "dev-151", "", "dev-0", "dev-1"],
                      LABEL: ["1", "yes", "", "0", dev_rows[LABEL].iloc[0], str(1 - int(dev_rows[LABEL].iloc[1]))]}),
    ])
    summary = ingest_file(engine, _write(tmp_path / "outcomes.csv", feed), DAY + timedelta(days=1))
    assert (summary.rows_in, summary.labels_recorded, summary.unchanged, summary.unknown, summary.bad) == \
        (156, 150, 1, 1, 4)
    assert summary.line() == ("outcomes.csv: outcome feed: in 156 / labels recorded 150 / unchanged 1 / "
                              "unknown lead 1 / rejected 4")
    batch = _batch(engine, summary.batch_id)
    assert (batch["rows_in"], batch["loaded"], batch["duplicate"], batch["rejected"], batch["labels_recorded"]) == \
        (156, 150, 1, 5, 150)
    assert batch["rows_in"] == batch["loaded"] + batch["duplicate"] + batch["rejected"]
    rejected = store.read_frame(engine, "SELECT row_number, reason FROM rejected_leads WHERE batch_id = :b "
                                        "ORDER BY row_number", {"b": summary.batch_id})
    assert rejected.values.tolist() == [
        [151, "unknown lead: no stored lead has lead_id 'nobody-1'"],
        [152, "app_complete_flag must be a number, got 'yes'"],
        [153, "app_complete_flag is empty"],
        [154, "lead_id is empty"],
        [156, "app_complete_flag contradicts an earlier row of this file for lead_id 'dev-1'"],
    ]
    labels = store.read_frame(engine, f"SELECT lead_id, {LABEL} FROM leads WHERE {LABEL} IS NOT NULL")
    assert len(labels) == 150
    expected = dev_rows.set_index("lead_id")[LABEL].astype(int)
    assert (labels.set_index("lead_id")[LABEL].astype(int) == expected[labels["lead_id"]]).all()

    again = ingest_file(engine, tmp_path / "outcomes.csv", DAY + timedelta(days=2))
    assert again.already_ingested and again.batch_id == summary.batch_id
    assert len(store.read_frame(engine, "SELECT id FROM lead_outcomes")) == 150


def test_a_changed_label_keeps_its_history(engine, tmp_path, dev_rows):
    first = ingest_file(engine, _write(tmp_path / "leads.csv", dev_rows.head(50)), DAY)  # labelled on arrival
    lead, label = "dev-3", int(dev_rows[LABEL].iloc[3])
    assert _history(engine, lead).empty  # the label came with the lead: leads.label_recorded_at says when

    changed = ingest_file(engine, _write(tmp_path / "fix.csv", pd.DataFrame({"lead_id": [lead, "dev-4"],
                                                                           LABEL: [1 - label, dev_rows[LABEL].iloc[4]]})),
                          DAY + timedelta(days=7))
    assert (changed.labels_recorded, changed.unchanged) == (1, 1)
    history = _history(engine, lead)
    assert history["label"].tolist() == [label, 1 - label]
    assert history["batch_id"].tolist() == [first.batch_id, changed.batch_id]
    assert history["recorded_at"].tolist() == [pd.Timestamp(DAY), pd.Timestamp(DAY + timedelta(days=7))]
    assert _history(engine, "dev-4").empty  # unchanged: nothing to keep

    relabelled = dev_rows.head(50).copy()  # the lead file again with the first label: recorded, history grows
    relabelled.loc[relabelled["lead_id"] == lead, "city_mapped"] += " "  # other bytes, same leads
    again = ingest_file(engine, _write(tmp_path / "leads-again.csv", relabelled), DAY + timedelta(days=9))
    assert again.labels_recorded == 1 and again.loaded == 0 and again.duplicate == 50
    assert _history(engine, lead)["label"].tolist() == [label, 1 - label, label]
    stored = store.read_frame(engine, f"SELECT {LABEL}, label_batch_id FROM leads WHERE lead_id = :i", {"i": lead})
    assert stored.values.tolist() == [[label, again.batch_id]]


def test_the_ingest_command_accepts_a_feed_before_prefect_starts(tmp_path, dev_rows):
    from flows.ingest import _check_inputs

    _check_inputs([str(_write(tmp_path / "outcomes.csv", dev_rows[["lead_id", LABEL]]))])  # no missing-column refusal


def test_a_feed_follows_the_lead_schema(postgres_url, tmp_path):
    """Another company's export: the feed is named by its id column and label column, reasons say so."""
    from tests.model.crm import crm_leads, crm_schema

    schema = crm_schema()
    engine = store.make_engine(postgres_url, schema)
    leads = crm_leads(60)
    ingest_file(engine, _write(tmp_path / "crm.csv", leads.drop(columns=["Outcome"])), DAY)
    feed = pd.DataFrame({"Prospect ID": [*leads["Prospect ID"].head(50), "X-404"],
                         "Outcome": [*leads["Outcome"].head(50), "Enrolled"]})
    summary = ingest_file(engine, _write(tmp_path / "outcomes.csv", feed), DAY + timedelta(days=1))
    assert (summary.labels_recorded, summary.unknown, summary.rejected) == (50, 1, 1)
    reasons = store.read_frame(engine, "SELECT reason FROM rejected_leads")["reason"].tolist()
    assert reasons == ["unknown lead: no stored lead has Prospect ID 'X-404'"]
    stored = store.read_frame(engine, f"SELECT {schema.label.db_name} AS label FROM leads WHERE "
                                      f"{schema.label.db_name} IS NOT NULL")["label"]
    assert stored.sum() == (leads["Outcome"].head(50) == "Enrolled").sum()
    engine.dispose()
