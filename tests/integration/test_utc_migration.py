"""Revision 0005 on a database at revision 0004 with rows in every table: on Postgres every timestamp column
becomes timestamptz (lead_scores' per-run and default partitions with it), each old naive value kept as that UTC
instant even where the server's default time zone is another one; on SQLite nothing changes. No row is lost."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    inspect,
    select,
    text,
)

from core import migrate, store
from core.clock import as_utc
from core.lead_schema import load_schema

# naive values as revision 0004 stored them, around daylight-saving changes: in New York 02:30 on 13 March 2022
# never happened and 01:30 on 6 November 2022 happened twice; in Berlin 02:30 on 30 October 2022 happened twice
MOMENTS = (datetime(2022, 3, 13, 2, 30), datetime(2022, 11, 6, 1, 30), datetime(2022, 10, 30, 2, 30),
           datetime(2026, 11, 30, 23, 59, 59, 123456))
SERVER_ZONE = "America/New_York"  # the database's default: the upgrade must not read old values in it


@pytest.fixture(params=["sqlite", "postgres"])
def url_at_0004(request: pytest.FixtureRequest, tmp_path) -> str:
    """A database migrated to revision 0004 (Postgres: its default time zone New York), with rows in every table
    (Postgres: run 1's scores in their own attached partition, run 2's and later in the default one)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        admin = request.getfixturevalue("postgres_admin")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET timezone TO \'{SERVER_ZONE}\''))
    engine = create_engine(url)
    with migrate._migration_lock(engine) as conn:
        config = migrate.alembic_config()
        config.attributes["connection"] = conn
        config.attributes[migrate.LEAD_SCHEMA_KEY] = load_schema()
        command.upgrade(config, "0004")
    _fill_every_table(engine)
    engine.dispose()
    return url


def _fill_every_table(engine: Engine) -> None:
    meta = MetaData()
    meta.reflect(engine, only=[name for name in _product_tables(engine) if name != "schema_info"])  # 0002 filled it
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE TABLE lead_scores_run_1 (LIKE lead_scores INCLUDING DEFAULTS)"))
            conn.execute(text("ALTER TABLE lead_scores ATTACH PARTITION lead_scores_run_1 FOR VALUES IN (1)"))
        for table in meta.sorted_tables:
            conn.execute(insert(table), [_row(table, i) for i in range(len(MOMENTS))])


def _row(table: Table, i: int) -> dict:
    """Row i: every timestamp MOMENTS[i], integers i + 1 (keys and the keys they refer to), other values filled."""
    row = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, DateTime):
            row[column.name] = MOMENTS[i]
        elif isinstance(kind, Boolean):
            row[column.name] = False
        elif isinstance(kind, Integer):
            row[column.name] = 1 if column.name == "app_complete_flag" else i + 1
        elif isinstance(kind, Float):
            row[column.name] = 0.5
        elif isinstance(kind, String) and kind.length is not None and kind.length < 3:
            row[column.name] = "ABCD"[i]
        else:
            row[column.name] = f"{column.name[:20]}-{i}"
    return row


def _product_tables(engine: Engine) -> list[str]:
    names = inspect(engine).get_table_names()
    return sorted(n for n in names if n != "alembic_version" and not n.startswith("lead_scores_"))


def _moments(url: str) -> dict[tuple[str, str], list]:
    """(table, timestamp column) -> its values in key order, read without this release's column types."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=_product_tables(engine))
    found = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            order = [table.c[name] for name in inspect(engine).get_pk_constraint(table.name)["constrained_columns"]]
            for column in table.columns:
                if isinstance(column.type, DateTime):
                    found[(table.name, column.name)] = conn.execute(select(column).order_by(*order)).scalars().all()
    engine.dispose()
    return found


def _sqlite_texts(url: str) -> dict[tuple[str, str], list[str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {key: conn.execute(text(f'SELECT CAST("{key[1]}" AS TEXT) FROM "{key[0]}" ORDER BY rowid')).scalars().all()
                 for key in _moments(url)}
    engine.dispose()
    return found


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {name: conn.execute(select(func.count()).select_from(text(f'"{name}"'))).scalar_one()
                  for name in _product_tables(engine)}
    engine.dispose()
    return counts


def _postgres_column_types(url: str) -> dict[tuple[str, str], str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'")).all()
    engine.dispose()
    return {(table, column): kind for table, column, kind in rows}


def test_revision_0005_keeps_every_moment_as_its_utc_instant(url_at_0004: str):
    before, counts = _moments(url_at_0004), _row_counts(url_at_0004)
    texts = _sqlite_texts(url_at_0004) if url_at_0004.startswith("sqlite") else None
    assert ("leads", "created_date") in before and ("lead_scores", "scored_at") in before
    assert before[("leads", "created_date")] == list(MOMENTS)

    store.make_engine(url_at_0004).dispose()

    engine = create_engine(url_at_0004)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()  # 0005 and every later revision
    engine.dispose()
    after = _moments(url_at_0004)
    counts_after = _row_counts(url_at_0004)  # later revisions add tables, empty until the next run
    assert {name: n for name, n in counts_after.items() if name in counts} == counts
    assert not any(n for name, n in counts_after.items() if name not in counts)
    after = {key: values for key, values in after.items() if key in before}
    assert after.keys() == before.keys()
    if texts is not None:  # SQLite: no type change, the text of every moment as it was
        assert {key: t for key, t in _sqlite_texts(url_at_0004).items() if key in texts} == texts
        assert after == before
        return
    for key, values in before.items():  # the same instants, read as UTC
        assert all(value.tzinfo is not None for value in after[key] if value is not None), key
        assert after[key] == [as_utc(value) if value is not None else None for value in values], key


@pytest.mark.parametrize("url_at_0004", ["postgres"], indirect=True)
def test_revision_0005_makes_every_postgres_timestamp_timestamptz_partitions_included(url_at_0004: str):
    assert set(_postgres_column_types(url_at_0004).values()) == {"timestamp without time zone"}

    store.make_engine(url_at_0004).dispose()

    types = _postgres_column_types(url_at_0004)
    assert set(types.values()) == {"timestamp with time zone"}
    for part in ("lead_scores", "lead_scores_run_1", "lead_scores_default", "current_scores"):
        assert {column for table, column in types if table == part} == {"created_date", "scored_at"}, part
    assert {column for table, column in types if table == "leads"} == {"created_date", "label_recorded_at"}
    engine = create_engine(url_at_0004)
    with engine.connect() as conn:  # the run's rows still sit in their partition, the others in the default one
        placed = dict(conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM lead_scores GROUP BY 1")).all())
    engine.dispose()
    assert placed == {"lead_scores_run_1": 1, "lead_scores_default": len(MOMENTS) - 1}
