"""Lead schemas: table schema_info, holding the schema the database serves (for a database of the release
before schemas: the built-in CodePro schema), and the schema's columns take this release's types.

Revision 0001 stored each attribute copied into `lead_scores` as NOT NULL, numbers as SMALLINT; from this
release such a column is a FLOAT for a number (lookups and flags included) and a TEXT otherwise, both nullable,
and a required raw column of `leads` other than the created time may be empty in the database (validation still rejects a row missing a
required value). The rows are kept; on SQLite the two tables are rebuilt (Alembic's batch mode), on Postgres
the columns are altered in place (partitions follow lead_scores). Frozen: never edit this file.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from core.lead_schema import LeadSchema
from core.migrate import lead_schema

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add schema_info with the database's schema; widen the schema-driven columns."""
    op.create_table(
        "schema_info",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    schema = lead_schema()
    _record(schema)
    _alter("leads", [(c.db_name, _raw_type(c.kind), _raw_type(c.kind), True) for c in _required_columns(schema)])
    _alter("lead_scores", [(f.key, _old_copied_type(f.numeric), _new_copied_type(f.numeric), True)
                           for f in schema.score_copy_features()])


def downgrade() -> None:
    """Drop schema_info; the copied score attributes and required raw columns become NOT NULL again."""
    schema = lead_schema()
    _alter("lead_scores", [(f.key, _new_copied_type(f.numeric), _old_copied_type(f.numeric), False)
                           for f in schema.score_copy_features()])
    _alter("leads", [(c.db_name, _raw_type(c.kind), _raw_type(c.kind), False) for c in _required_columns(schema)])
    op.drop_table("schema_info")


def _record(schema: LeadSchema) -> None:
    """The database's schema: the one its tables were built for (CodePro for the release before schemas)."""
    op.execute(sa.table("schema_info", sa.column("id"), sa.column("name"), sa.column("fingerprint"),
                        sa.column("source_text"), sa.column("recorded_at")).insert().values(
        id=1, name=schema.name, fingerprint=schema.fingerprint, source_text=schema.source_text,
        recorded_at=datetime.now()))


def _required_columns(schema: LeadSchema) -> list:
    """Raw columns 0001 made NOT NULL that are nullable from now on (all required ones but the created time)."""
    return [c for c in schema.raw_columns if c.required and c.kind != "datetime"]


def _raw_type(kind: str) -> sa.types.TypeEngine:
    return sa.Float() if kind in ("number", "flag") else sa.Text()


def _old_copied_type(numeric: bool) -> sa.types.TypeEngine:
    return sa.SmallInteger() if numeric else sa.Text()


def _new_copied_type(numeric: bool) -> sa.types.TypeEngine:
    return sa.Float() if numeric else sa.Text()


def _alter(table: str, columns: list[tuple[str, sa.types.TypeEngine, sa.types.TypeEngine, bool]]) -> None:
    """(name, type before, type after, nullable after) per column; one table rebuild on SQLite."""
    if not columns:
        return
    with op.batch_alter_table(table) as batch:
        for name, before, after, nullable in columns:
            type_change = {} if type(before) is type(after) else {"type_": after}
            batch.alter_column(name, existing_type=before, nullable=nullable, **type_change)
