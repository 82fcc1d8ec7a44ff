"""Each score is written once: table current_scores holds each lead's latest score (one row per lead, replaced
by the run that scores the lead again) beside `lead_scores`, which becomes an append-only history.

Until this revision a run flagged its leads' older scores with `UPDATE lead_scores SET is_current = FALSE`
(25 s per million leads on SQLite), and the dashboard read the history through partial indexes on
`is_current`. From here the current rows are copied into current_scores, which takes those indexes
(score; created_date; grade + score), and `lead_scores` loses `is_current` and the three partial indexes.
The copied feature columns follow the database's lead schema by revision 0002's rule (FLOAT for a number,
TEXT otherwise, nullable). On SQLite `lead_scores` is rebuilt without the column (Alembic's batch mode); on
Postgres the column is dropped from the partitioned table and its partitions. Frozen: never edit this file.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.lead_schema import LeadSchema
from core.migrate import lead_schema

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEXES = (("ix_lead_scores_current_score", ["score"]),
               ("ix_lead_scores_current_created", ["created_date"]),
               ("ix_lead_scores_current_grade_score", ["grade", "score"]))
NEW_INDEXES = (("ix_current_scores_score", ["score"]),
               ("ix_current_scores_created", ["created_date"]),
               ("ix_current_scores_grade_score", ["grade", "score"]))
CURRENT = sa.text("is_current")


def upgrade() -> None:
    """Create current_scores from the current rows; drop is_current and its indexes from lead_scores."""
    schema = lead_schema()
    op.create_table("current_scores", sa.Column("lead_id", sa.String(64), primary_key=True),
                    sa.Column("run_id", sa.Integer, nullable=False), *_score_columns(schema))
    names = ", ".join(f'"{name}"' for name in _column_names(schema))
    op.execute(f"INSERT INTO current_scores ({names}) SELECT {names} FROM lead_scores WHERE is_current")
    for name, columns in NEW_INDEXES:
        op.create_index(name, "current_scores", columns)
    for name, _ in OLD_INDEXES:
        op.drop_index(name, table_name="lead_scores")
    with op.batch_alter_table("lead_scores") as batch:
        batch.drop_column("is_current")


def downgrade() -> None:
    """lead_scores takes is_current again (true for the rows current_scores holds); current_scores goes."""
    with op.batch_alter_table("lead_scores") as batch:
        batch.add_column(sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE lead_scores SET is_current = TRUE WHERE EXISTS (SELECT 1 FROM current_scores c "
               "WHERE c.lead_id = lead_scores.lead_id AND c.run_id = lead_scores.run_id)")
    for name, columns in OLD_INDEXES:
        op.create_index(name, "lead_scores", columns, postgresql_where=CURRENT, sqlite_where=CURRENT)
    for name, _ in NEW_INDEXES:
        op.drop_index(name, table_name="current_scores")
    op.drop_table("current_scores")


def _score_columns(schema: LeadSchema) -> list[sa.Column]:
    """lead_scores' columns as of this revision, without the key and without is_current."""
    copied = [sa.Column(f.key, sa.Float if f.numeric else sa.Text) for f in schema.score_copy_features()]
    return [
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("predicted", sa.SmallInteger, nullable=False),
        sa.Column("previous_score", sa.Float),
        sa.Column("trend", sa.String(10)),
        sa.Column("reasons_positive", sa.Text),
        sa.Column("reasons_negative", sa.Text),
        sa.Column("created_date", sa.DateTime, nullable=False),
        *copied,
        sa.Column("scored_at", sa.DateTime, nullable=False),
    ]


def _column_names(schema: LeadSchema) -> list[str]:
    return ["lead_id", "run_id", *(column.name for column in _score_columns(schema))]
