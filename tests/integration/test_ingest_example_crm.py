"""The second schema (schemas/example_crm.yaml) through ingest, on SQLite and Postgres.

A hand-made CRM export: column names with spaces and capitals, a `Select` placeholder, Yes/No flags
written in any case, an outlier, a text id, the outcome "Outcome" with Enrolled / Lost / No Answer, no
timestamp. Good rows land under the schema's db names with the label as 1/0; bad rows are quarantined
with reasons named after this schema's own columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from core import store
from core.ingest import ingest_file
from core.lead_schema import BUILTIN_SCHEMA, load_schema

CRM_SCHEMA = load_schema(BUILTIN_SCHEMA.parent / "example_crm.yaml")
HEADER = ("Prospect ID,Lead Number,Lead Origin,Lead Source,Do Not Email,TotalVisits,Total Time Spent on Website,"
          "Page Views Per Visit,Last Activity,Specialization,What is your current occupation,Country,Tags,City,Outcome")
ROWS = [
    "7927b2df-8bba,660737,API,Olark Chat,No,0,0,0,Page Visited on Website,Select,Unemployed,India,Ringing,Select,Lost",
    "2a272436-5132,660728,API,Organic Search,no,5,674,2.5,Email Opened,Select,Unemployed,India,Ringing,Select,No Answer",
    "8cc8c611-a219,660727,Landing Page Submission,Direct Traffic,No,2,1532,2,Email Opened,Business Administration,"
    "Student,India,Will revert,Mumbai,Enrolled",
    "0cc2df48-7cf4,660719,Landing Page Submission,Direct Traffic,YES,1,305,1,Unreachable,Media and Advertising,"
    "Unemployed,Qatar,Ringing,Mumbai,Lost",
    "3256f628-e534,660681,Landing Page Submission,Google,No,251,1428,1,Converted to Lead,Select,Unemployed,India,"
    "Will revert,Mumbai,Enrolled",  # 251 visits: an outlier, but a number within the rules
    "P-6,660680,API,Google,No,abc,10,1,Email Opened,Select,Unemployed,India,,Select,Lost",
    "P-7,660679,API,Google,maybe,1,10,1,Email Opened,Select,Unemployed,India,,Select,Lost",
    "P-8,660678,Select,Google,No,3,10,1,Email Opened,Select,Unemployed,India,,Select,Lost",
    "P-9,660677,API,Google,No,-3,10,1,Email Opened,Select,Unemployed,India,,Select,",
    "P-10,,API,Google,No,1,10,1,Email Opened,Select,Unemployed,India,,Select,Lost",
    "P-11,660675,API,Google,Yes,1,10,1,Email Opened,Finance Management,Working Professional,India,,Delhi,",
    "7927b2df-8bba,660737,API,Olark Chat,No,0,0,0,Page Visited on Website,Select,Unemployed,India,Ringing,Select,Lost",
    ",660674,API,Google,No,1,10,1,Email Opened,Select,Unemployed,India,,Select,Lost",
]
REASONS = [
    (6, "TotalVisits must be a number, got 'abc'"),
    (7, "Do Not Email must be No or Yes, got 'maybe'"),
    (8, "Lead Origin is empty"),
    (9, "TotalVisits must be >= 0, got -3"),
    (10, "Lead Number is empty"),
    (13, "Prospect ID is empty"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def crm_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store opened with the example CRM schema."""
    url = f"sqlite:///{tmp_path / 'crm.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = store.make_engine(url, CRM_SCHEMA)
    yield engine
    engine.dispose()


def _export(tmp_path: Path, rows: list[str], name: str = "crm_export.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_crm_export_good_rows_stored_under_db_names_with_label(crm_engine, tmp_path):
    summary = ingest_file(crm_engine, _export(tmp_path, ROWS))
    assert (summary.rows_in, summary.loaded, summary.duplicate, summary.rejected) == (13, 6, 1, 6)
    batch = store.read_frame(crm_engine, "SELECT rows_in, loaded, duplicate, rejected FROM ingest_batches")
    assert batch.iloc[0].tolist() == [13, 6, 1, 6]
    leads = store.read_frame(crm_engine, "SELECT * FROM leads ORDER BY row_number").set_index("lead_id")
    assert leads.index.tolist() == ["7927b2df-8bba", "2a272436-5132", "8cc8c611-a219", "0cc2df48-7cf4",
                                    "3256f628-e534", "P-11"]
    assert leads["outcome"].tolist()[:5] == [0, 0, 1, 0, 1] and pd.isna(leads.loc["P-11", "outcome"])
    assert leads["do_not_email"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]  # "no" and "YES" read too
    assert leads.loc["3256f628-e534", "totalvisits"] == 251.0
    assert leads.loc["2a272436-5132", "page_views_per_visit"] == 2.5
    assert leads.loc["8cc8c611-a219", "what_is_your_current_occupation"] == "Student"
    assert leads.loc["7927b2df-8bba", ["specialization", "city"]].isna().all()  # "Select" means empty
    assert leads.loc["0cc2df48-7cf4", ["lead_number", "country", "tags"]].tolist() == [660719.0, "Qatar", "Ringing"]


def test_crm_export_bad_rows_quarantined_with_its_own_column_names(crm_engine, tmp_path):
    ingest_file(crm_engine, _export(tmp_path, ROWS))
    rejected = store.read_frame(crm_engine, "SELECT row_number, raw_row, reason FROM rejected_leads ORDER BY row_number")
    assert list(zip(rejected["row_number"].astype(int), rejected["reason"], strict=True)) == REASONS
    assert '"TotalVisits": "abc"' in rejected["raw_row"].iloc[0]
    codepro_words = ("created_date", "app_complete_flag", "lead_id", "city_mapped", "first_")
    assert not any(word in reason for reason in rejected["reason"] for word in codepro_words)


def test_crm_outcomes_arrive_later_and_same_id_other_content_is_rejected(crm_engine, tmp_path):
    unlabelled = [row.rsplit(",", 1)[0] + "," for row in ROWS[:3]]
    ingest_file(crm_engine, _export(tmp_path, unlabelled, "new.csv"))
    outcomes = ingest_file(crm_engine, _export(tmp_path, ROWS[:3], "outcomes.csv"))
    assert (outcomes.loaded, outcomes.duplicate, outcomes.labels_recorded) == (0, 3, 3)
    other_content = ROWS[0].replace("7927b2df-8bba", "0cc2df48-7cf4")  # ROWS[3]'s id on another lead's row
    clash = ingest_file(crm_engine, _export(tmp_path, [ROWS[3], other_content, ROWS[4]], "clash.csv"))
    assert (clash.loaded, clash.rejected) == (2, 1)
    reason = store.read_frame(crm_engine, "SELECT reason FROM rejected_leads")["reason"].tolist()
    assert reason == ["Prospect ID 0cc2df48-7cf4 appears earlier in this file with different content (row 1)"]
