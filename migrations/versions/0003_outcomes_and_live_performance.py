"""Outcomes kept with their arrival time, live performance per model version, retraining decisions.

Frozen: never edit this file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)


def upgrade() -> None:
    """Three new tables; nothing existing changes."""
    op.create_table(
        "lead_outcomes", _big_id(),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_lead_outcomes_lead_id", "lead_outcomes", ["lead_id"])
    op.create_table(
        "live_performance", _big_id(),
        sa.Column("computed_at", sa.DateTime, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Text),
        sa.Column("period_end", sa.Text),
        sa.Column("n_labelled", sa.Integer, nullable=False),
        sa.Column("n_positive", sa.Integer, nullable=False),
        sa.Column("needed", sa.Integer, nullable=False),
        sa.Column("auc", sa.Float),
        sa.Column("pr_auc", sa.Float),
        sa.Column("precision", sa.Float),
        sa.Column("recall", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("completion_by_grade", sa.Text),
        sa.Column("calibration", sa.Text),
        sa.Column("excluded_never_scored", sa.Integer),
        sa.Column("excluded_scored_after_outcome", sa.Integer),
        sa.Column("snapshot_json", sa.Text),
    )
    op.create_index("ix_live_performance_computed", "live_performance", ["computed_at"])
    op.create_table(
        "retrain_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("champion_version", sa.Text),
        sa.Column("retrain", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("retrain_decisions")
    op.drop_index("ix_live_performance_computed", table_name="live_performance")
    op.drop_table("live_performance")
    op.drop_index("ix_lead_outcomes_lead_id", table_name="lead_outcomes")
    op.drop_table("lead_outcomes")
