"""The dashboard's sums over the current scores, computed once per scoring run: `score_aggregate_runs` (the run,
the business time zone its days are of, the newest ingest batch then stored) and `score_aggregates` (rows per
business day, grade, score band, channel value; the values and spans of the list's filter columns). The pages read
them instead of every current score (core/score_aggregates.py); a database migrated here has none until its next
scoring run, and the pages read the scores themselves meanwhile. And a partial index on current_scores: the first
scores by when (`scored_at WHERE previous_score IS NULL`), which the "new since yesterday" count reads instead of
every current score; and on SQLite a narrow index of the lead list's filter columns, grade, score, created time
and lead id, where a filtered page is found before its wide rows are read. Frozen: never edit this file.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.migrate import lead_schema

NEW_LEAD = sa.text("previous_score IS NULL")  # the Leads page's "new since yesterday": first scores, by when

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Two new tables; nothing existing changes."""
    op.create_table(
        "score_aggregate_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("last_batch_id", sa.Integer, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
    )
    op.create_table(
        "score_aggregates",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dimension", sa.Text),
        sa.Column("value_text", sa.Text),
        sa.Column("value_number", sa.Float),
        sa.Column("day", sa.Date),
        sa.Column("grade", sa.String(1)),
        sa.Column("band", sa.SmallInteger),
        sa.Column("leads", sa.BigInteger, nullable=False),
        sa.Column("score_sum", sa.Float),
        sa.Column("with_outcome", sa.BigInteger, nullable=False),
        sa.Column("completed", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_score_aggregates_kind_day", "score_aggregates", ["kind", "dimension", "day"])
    op.create_index("ix_current_scores_new", "current_scores", ["scored_at"], sqlite_where=NEW_LEAD,
                    postgresql_where=NEW_LEAD)
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_current_scores_list", "current_scores", _list_columns())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_current_scores_list", table_name="current_scores")
    op.drop_index("ix_current_scores_new", table_name="current_scores")
    op.drop_index("ix_score_aggregates_kind_day", table_name="score_aggregates")
    op.drop_table("score_aggregates")
    op.drop_table("score_aggregate_runs")


def _list_columns() -> list[str]:
    """SQLite: the lead list's filter columns (the schema's channels and list columns), grade, score, created time."""
    schema = lead_schema()
    names = dict.fromkeys([*schema.channels, *schema.list_columns])
    return [*dict.fromkeys(schema.feature(name).key for name in names), "grade", "score", "created_date", "lead_id"]
