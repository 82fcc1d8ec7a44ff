"""The database schema evolves through the Alembic migrations in `migrations/`, applied on first use.

`make_engine` calls `upgrade_database`: a database at the newest revision costs one SELECT; otherwise the
upgrade runs under a lock (Postgres: a transaction-level advisory lock; SQLite: the write lock taken by
`BEGIN IMMEDIATE`), in one transaction, so two processes starting at once never both migrate and a failed
migration leaves the database as it was. A database created before Alembic (the release before lead
schemas: tables present, no `alembic_version`) is stamped at revision 0001, whose tables are exactly that
release's, and upgraded from there.

Schema-driven tables. `leads` and `lead_scores` take columns from the lead schema (core/lead_schema.py), so
a migration that creates or changes them needs the schema the database holds, not the one the process was
started with: the migrations read it from `lead_schema()`, which `upgrade_database` resolves before running
them (`stored_schema`): the schema recorded in table `schema_info` (its YAML `source_text`, parsed again);
for a database written before lead schemas, the built-in CodePro schema (the only one that release knew);
for a new database, the schema `make_engine` was given. Revision 0002 records that schema in `schema_info`,
so from then on the database itself says which schema its tables follow, whatever LEADSCORE_SCHEMA the
process has (make_engine then refuses a process whose schema differs). A future migration that, say, adds
a column per feature to `lead_scores` therefore reads:

    schema = lead_schema()                       # the database's schema, from schema_info
    for feature in schema.score_copy_features():
        op.add_column("lead_scores", sa.Column(f"{feature.key}_band", sa.Text))

and must derive column names and types inside the revision file (a frozen copy of the rule as of that
revision, never `core.store.schema_tables`, which always describes the newest revision). It must also keep
parsing every schema text ever recorded: `parse_schema` stays backward compatible, or the migration reads the
few keys it needs from the YAML itself (`yaml.safe_load(schema.source_text)`).

New revision: change the tables in core/store.py, then write the revision by hand (numbered ids; the test
that compares a migrated database with store.py's tables fails until the two agree):
    python -c "from alembic import command; from core.migrate import alembic_config; \
command.revision(alembic_config(), 'what changes', rev_id='0003')"
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from core.errors import BadInputError
from core.lead_schema import LeadSchema, load_schema, parse_schema

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BEFORE_SCHEMAS_REVISION = "0001"  # the tables of the release before lead schemas (and before Alembic)
POSTGRES_LOCK_KEY = 7_211_082_410_135_461_889  # pg_advisory_xact_lock key: "leadscore migrations"
LEAD_SCHEMA_KEY = "lead_schema"  # Config.attributes key: the schema the migrations build tables for
_ONE_AT_A_TIME = threading.Lock()  # Alembic's `op` and `context` are module globals: one migration per process


class DatabaseTooNewError(BadInputError):
    """The database was migrated by a newer release than this code."""


def alembic_config() -> Config:
    """Alembic's configuration, built in code: works from any working directory, no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


@cache
def head_revision() -> str:
    """The newest revision shipped in migrations/versions."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


@cache
def known_revisions() -> frozenset[str]:
    """Every revision shipped in migrations/versions."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in the database (None: not under Alembic yet)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_database(engine: Engine, schema: LeadSchema) -> None:
    """Bring the database to the newest revision; `schema` is used only to create a new database's tables."""
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == head_revision():
        return
    if current is not None and current not in known_revisions():
        raise DatabaseTooNewError(f"the database is at revision {current}, written by a newer release than this "
                                  f"one (newest here: {head_revision()}): run the newer release")
    with _ONE_AT_A_TIME, _migration_lock(engine) as conn:
        _stamp_if_created_before_alembic(conn)
        config = alembic_config()
        config.attributes["connection"] = conn
        config.attributes[LEAD_SCHEMA_KEY] = stored_schema(conn, schema)
        command.upgrade(config, "head")


def lead_schema() -> LeadSchema:
    """For a migration: the lead schema of the database being migrated (see the module docstring)."""
    from alembic import context

    schema = context.config.attributes.get(LEAD_SCHEMA_KEY)
    if schema is None:
        raise RuntimeError("migrations run through core.migrate.upgrade_database (make_engine), which "
                           "tells them the database's lead schema")
    return schema


def stored_schema(conn: Connection, opening: LeadSchema) -> LeadSchema:
    """The lead schema the database's rows follow; `opening` (the caller's) only for a new database."""
    tables = set(inspect(conn).get_table_names())
    if "schema_info" in tables:
        row = conn.execute(text("SELECT source_text FROM schema_info ORDER BY id LIMIT 1")).first()
        if row is not None:
            return parse_schema(row.source_text, origin="schema_info")
    if "leads" in tables and "schema_info" not in tables:
        return load_schema()  # written by the release before lead schemas: CodePro's leads
    return opening


def _stamp_if_created_before_alembic(conn: Connection) -> None:
    """Tables without alembic_version: record the revision whose tables they are."""
    if current_revision(conn) is not None:
        return
    tables = set(inspect(conn).get_table_names())
    if "ingest_batches" not in tables:
        return  # a new database
    config = alembic_config()
    config.attributes["connection"] = conn
    command.stamp(config, BEFORE_SCHEMAS_REVISION)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's migration lock; committed when the block succeeds."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
            yield conn
    elif engine.dialect.name == "sqlite":
        with engine.connect() as conn, _sqlite_write_lock(conn):
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


@contextmanager
def _sqlite_write_lock(conn: Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE takes SQLite's write lock up front (waiting out the busy timeout) and makes the DDL
    transactional: pysqlite otherwise runs DDL outside any transaction."""
    driver = conn.connection.driver_connection
    previous = driver.isolation_level
    driver.isolation_level = None  # the driver issues no BEGIN of its own
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    finally:
        driver.isolation_level = previous
