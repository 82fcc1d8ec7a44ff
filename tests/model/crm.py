"""A small, learnable lead file in the second example schema (schemas/example_crm.yaml), stored straight into the
schema's `leads` table, so the model layers are tested on a schema unlike CodePro's without the ingest layer."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert

from core import store
from core.lead_schema import LeadSchema, load_schema
from tests.paths import PROJECT_ROOT

CRM_SCHEMA_FILE = PROJECT_ROOT / "schemas" / "example_crm.yaml"
# every column name CodePro's schema knows: none may show up in another schema's outputs
CODEPRO_NAMES = tuple(sorted({c.name for c in load_schema().raw_columns} | {f.key for f in load_schema().features}
                             | {load_schema().label.column}))

ORIGINS = ["Landing Page Submission", "API", "Lead Add Form", "Lead Import"]
SOURCES = ["Google", "Direct Traffic", "Olark Chat", "Organic Search", "Reference", "Welingak Website", "Select"]
ACTIVITIES = ["Email Opened", "SMS Sent", "Page Visited on Website", "Olark Chat Conversation", "Select"]
SPECIALIZATIONS = ["Finance Management", "Human Resource Management", "Marketing Management", "Select", ""]
OCCUPATIONS = ["Unemployed", "Working Professional", "Student", ""]
COUNTRIES = ["India", "India", "India", "United States", "United Arab Emirates", ""]


def crm_schema() -> LeadSchema:
    """The second example schema as shipped."""
    return load_schema(CRM_SCHEMA_FILE)


def crm_leads(rows: int, seed: int = 0) -> pd.DataFrame:
    """Leads as the CRM exports them (file column names, text cells, Yes/No flags, Select placeholders, outliers);
    the outcome follows origin, time on site, occupation, source and e-mail consent (AUC about 0.9)."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(ORIGINS, rows, p=[0.5, 0.3, 0.15, 0.05])
    source = rng.choice(SOURCES, rows, p=[0.3, 0.25, 0.15, 0.1, 0.1, 0.05, 0.05])
    occupation = rng.choice(OCCUPATIONS, rows, p=[0.55, 0.2, 0.1, 0.15])
    no_email = rng.random(rows) < 0.1
    seconds = np.round(rng.gamma(1.5, 300, rows))
    visits = rng.poisson(3, rows).astype(float)
    visits[rng.random(rows) < 0.005] = 250  # outliers, as real exports have
    logit = (-1.2 + 1.6 * (origin == "Lead Add Form") + 2.2 * (occupation == "Working Professional")
             + 1.4 * (source == "Reference") + 0.003 * seconds - 1.5 * no_email - 0.4 * (origin == "API"))
    enrolled = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "Prospect ID": [f"p-{seed}-{i:07d}" for i in range(rows)],
        "Lead Number": 600_000 + np.arange(rows),
        "Lead Origin": origin, "Lead Source": source,
        "Do Not Email": np.where(no_email, "Yes", "No"),
        "TotalVisits": visits, "Total Time Spent on Website": seconds,
        "Page Views Per Visit": np.round(rng.gamma(2, 1.2, rows), 2),
        "Last Activity": rng.choice(ACTIVITIES, rows), "Specialization": rng.choice(SPECIALIZATIONS, rows),
        "What is your current occupation": occupation, "Country": rng.choice(COUNTRIES, rows),
        "Tags": np.where(enrolled, "Will revert after reading the email", "Ringing"),
        "City": rng.choice(["Mumbai", "Select", "Thane & Outskirts"], rows),
        "Outcome": np.where(enrolled, "Enrolled", rng.choice(["Lost", "No Answer"], rows)),
    })


def stored_rows(frame: pd.DataFrame, schema: LeadSchema, batch_id: int) -> pd.DataFrame:
    """The rows as ingest stores them: db names, stripped text with empty markers as NULL, flags 1.0 / 0.0."""
    out = pd.DataFrame({store.LEAD_ID: frame[schema.id_column].astype(str), "batch_id": batch_id,
                        "row_number": np.arange(1, len(frame) + 1)})
    for column in schema.raw_columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        if column.kind == "flag":
            out[column.db_name] = np.select([values.isin(column.yes), values.isin(column.no)], [1.0, 0.0], np.nan)
        elif column.kind == "number":
            out[column.db_name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            text = values.astype(str).str.strip()
            out[column.db_name] = text.where(~text.isin(schema.na_values), None)
    if schema.label.column in frame.columns:
        outcome = frame[schema.label.column].astype(str).str.strip()
        known = ~outcome.isin(schema.na_values)
        out[schema.label.db_name] = pd.array(np.where(known, outcome.isin(schema.label.positive), None), dtype="Int16")
    return out


def store_crm_leads(engine: Engine, frame: pd.DataFrame, schema: LeadSchema, started_at: datetime) -> int:
    """One ingest batch holding these leads; returns its batch id."""
    with engine.begin() as conn:
        batch_id = int(conn.execute(insert(store.ingest_batches).values(
            file_name="crm.csv", sha256=f"{started_at.timestamp():064.0f}"[-64:], rows_in=len(frame),
            loaded=len(frame), duplicate=0, rejected=0, labels_recorded=0, started_at=started_at,
            finished_at=started_at).returning(store.ingest_batches.c.batch_id)).scalar_one())
        store.bulk_insert(conn, "leads", stored_rows(frame, schema, batch_id))
    return batch_id


def names_codepro(text: str) -> list[str]:
    """The CodePro column names a text mentions."""
    return [name for name in CODEPRO_NAMES if name in text]
