"""The tables of the release before lead schemas (commit 3306d7e), exactly as its create_all made them.

A database that release created is stamped at this revision instead of running it. `leads` and
`lead_scores` are built from the database's lead schema by that release's rule, so for the built-in CodePro
schema they are the very tables it created: a raw column is NOT NULL when the schema requires it, each
attribute copied into `lead_scores` is NOT NULL, a text for a category and a SMALLINT for a number
(CodePro's city tier and referral flag). Frozen: never edit this file; change tables in a new revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.lead_schema import LeadSchema
from core.migrate import lead_schema

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RAW_TYPES = {"datetime": sa.DateTime, "number": sa.Float, "flag": sa.Float}  # else Text
CURRENT = sa.text("is_current")


def upgrade() -> None:
    """Create the release's tables; on Postgres also lead_scores' default partition."""
    schema = lead_schema()
    _create_ingest_batches()
    _create_leads(schema)
    _create_rejected_leads()
    _create_scoring_runs()
    _create_lead_scores(schema)
    _create_model_versions()
    _create_drift_reports()
    _create_run_lock()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE IF NOT EXISTS lead_scores_default PARTITION OF lead_scores DEFAULT")


def downgrade() -> None:
    """Drop every table of the release."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS lead_scores_default")
    for name in ("run_lock", "drift_reports", "model_versions", "lead_scores", "scoring_runs", "rejected_leads",
                 "leads", "ingest_batches"):
        op.drop_table(name)


def _create_ingest_batches() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("rows_in", sa.Integer, nullable=False),
        sa.Column("loaded", sa.Integer, nullable=False),
        sa.Column("duplicate", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("labels_recorded", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
    )


def _create_leads(schema: LeadSchema) -> None:
    created = [schema.raw(schema.created_column).db_name] if schema.created_column else []
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("ingest_batches.batch_id"), nullable=False),
        sa.Column("row_number", sa.Integer),
        *[sa.Column(c.db_name, RAW_TYPES.get(c.kind, sa.Text), nullable=not c.required) for c in schema.raw_columns],
        sa.Column(schema.label.db_name, sa.SmallInteger),
        sa.Column("label_batch_id", sa.Integer),
        sa.Column("label_recorded_at", sa.DateTime),
    )
    for column in created:
        op.create_index("ix_leads_created_date", "leads", [column])
    op.create_index("ix_leads_batch_id", "leads", ["batch_id"])


def _create_rejected_leads() -> None:
    op.create_table(
        "rejected_leads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("ingest_batches.batch_id"), nullable=False),
        sa.Column("row_number", sa.Integer),
        sa.Column("raw_row", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_rejected_leads_batch_id", "rejected_leads", ["batch_id"])


def _create_scoring_runs() -> None:
    op.create_table(
        "scoring_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("leads_scored", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("error", sa.Text),
    )


def _create_lead_scores(schema: LeadSchema) -> None:
    copied = [sa.Column(f.key, sa.SmallInteger if f.numeric else sa.Text, nullable=False)
              for f in schema.score_copy_features()]
    op.create_table(
        "lead_scores",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("predicted", sa.SmallInteger, nullable=False),
        sa.Column("previous_score", sa.Float),
        sa.Column("trend", sa.String(10)),
        sa.Column("reasons_positive", sa.Text),
        sa.Column("reasons_negative", sa.Text),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("created_date", sa.DateTime, nullable=False),
        *copied,
        sa.Column("scored_at", sa.DateTime, nullable=False),
        postgresql_partition_by="LIST (run_id)",
    )
    for name, columns in (("ix_lead_scores_current_score", ["score"]),
                          ("ix_lead_scores_current_created", ["created_date"]),
                          ("ix_lead_scores_current_grade_score", ["grade", "score"])):
        op.create_index(name, "lead_scores", columns, postgresql_where=CURRENT, sqlite_where=CURRENT)


def _create_model_versions() -> None:
    op.create_table(
        "model_versions",
        sa.Column("model_name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("mlflow_run_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("is_champion", sa.Boolean, nullable=False),
        sa.Column("promoted", sa.Boolean, nullable=False),
        sa.Column("decision_reason", sa.Text, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("grade_cutoffs_json", sa.Text, nullable=False),
        sa.Column("curves_json", sa.Text),
        sa.Column("feature_importance_json", sa.Text),
    )


def _create_drift_reports() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("scoring_runs.run_id"), primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("rows_current", sa.Integer, nullable=False),
        sa.Column("rows_reference", sa.Integer, nullable=False),
        sa.Column("share_drifted_columns", sa.Float, nullable=False),
        sa.Column("dataset_drift", sa.Boolean, nullable=False),
        sa.Column("predicted_positive_share", sa.Float),
        sa.Column("reference_positive_share", sa.Float),
        sa.Column("column_scores", sa.Text, nullable=False),
        sa.Column("snapshot_json", sa.Text, nullable=False),
    )


def _create_run_lock() -> None:
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.Text),
        sa.Column("acquired_at", sa.DateTime),
    )
