"""Every stored moment is UTC: on Postgres the timestamp columns become `timestamptz`, each old naive value read
as a UTC instant (`col AT TIME ZONE 'UTC'`), so no value changes as an instant.

The columns: every timestamp of the shared tables, the lead schema's datetime columns (its `created` column, by
revision 0002's rule: kind "datetime") and `label_recorded_at` in `leads`, `created_date` and `scored_at` in
`lead_scores` and `current_scores`. `lead_scores` is partitioned on Postgres (a partition per scoring run, and a
default one): the ALTER on the parent changes every partition with it. The transaction's TimeZone is set to UTC,
so the plain cast timestamp -> timestamptz *is* `AT TIME ZONE 'UTC'`, and Postgres (12+) then changes the type
without rewriting the tables (checked on Postgres 15: same files; only the indexes on these columns are rebuilt),
so a history of many millions of scores is not copied. SQLite has no time type: its text already holds the naive UTC values the product now writes, so
nothing changes there. Frozen: never edit this file.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

from core.lead_schema import LeadSchema
from core.migrate import lead_schema

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED_COLUMNS = {
    "ingest_batches": ("started_at", "finished_at"),
    "scoring_runs": ("started_at", "finished_at"),
    "model_versions": ("created_at",),
    "drift_reports": ("created_at",),
    "lead_outcomes": ("recorded_at",),
    "live_performance": ("computed_at",),
    "retrain_decisions": ("decided_at",),
    "schema_info": ("recorded_at",),
    "run_lock": ("acquired_at",),
    "lead_scores": ("created_date", "scored_at"),
    "current_scores": ("created_date", "scored_at"),
}


def upgrade() -> None:
    """Postgres: timestamp -> timestamptz, old values read as UTC; SQLite: nothing to do."""
    _retype_timestamps("timestamptz")


def downgrade() -> None:
    """Postgres: timestamptz -> timestamp holding the UTC wall time."""
    _retype_timestamps("timestamp")


def _retype_timestamps(sql_type: str) -> None:
    """Every timestamp column to sql_type, converted in a UTC session (Postgres only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("SET LOCAL TimeZone = 'UTC'")
    for table, columns in _timestamp_columns(lead_schema()).items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE {sql_type} USING "{c}"::{sql_type}' for c in columns)
        op.execute(f'ALTER TABLE "{table}" {changes}')


def _timestamp_columns(schema: LeadSchema) -> dict[str, tuple[str, ...]]:
    """Table -> its timestamp columns as of revision 0004 (leads' from the database's lead schema)."""
    created = tuple(c.db_name for c in schema.raw_columns if c.kind == "datetime")
    return {**SHARED_COLUMNS, "leads": (*created, "label_recorded_at")}
