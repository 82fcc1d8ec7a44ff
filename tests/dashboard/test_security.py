"""Filter values never reach SQL text, the app cannot write, and it works under the read-only Postgres role."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from dashboard import db, queries
from dashboard.schema_view import view_of
from tests.dashboard.reading import assert_clean, metrics
from tests.dashboard.seed import Seeded

ROLE_SQL = Path(__file__).resolve().parents[2] / "dashboard" / "sql" / "readonly_role.sql"
HOSTILE = ("'", '"', "'; drop table leads; --", "Level2' OR '1'='1", "Level2\" OR 1=1 --", "%", "_%'",
           "\\'; DELETE FROM lead_scores; --", "ünïcödé 💥 ‮rtl", "NUL\x00byte", "A' UNION SELECT lead_id FROM leads --")
LIST_FILTERS = ["grades", "first_utm_source_c", "first_utm_medium_c", "first_platform_c"]


def hostile_filters(field: str, values: tuple) -> queries.LeadFilters:
    """The grade filter, or a pick filter of one of the schema's text channels."""
    if field == "grades":
        return queries.LeadFilters(grades=values)
    return queries.LeadFilters(picks=queries.pick(**{field: values}))


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in queries.TABLES}


@pytest.mark.parametrize("field", LIST_FILTERS)
def test_hostile_filter_values_match_nothing_and_change_nothing(seeded: Seeded, seeded_engine: Engine,
                                                                field: str) -> None:
    before = row_counts(seeded_engine)
    view = view_of(seeded.schema)
    for value in HOSTILE:
        filters = hostile_filters(field, (value,))
        where, params = queries._where_current(filters)
        assert where == queries._where_current(hostile_filters(field, ("x",)))[0]  # the value never shapes the SQL
        assert "drop" not in where.lower() and "'" not in where

        assert queries.grade_counts(seeded_engine, filters) == {}
        assert queries.lead_page(seeded_engine, view, filters).empty
        assert queries.export_leads(seeded_engine, view, filters).empty
        mixed = hostile_filters(field, (value, "A" if field == "grades" else "Level2"))
        honest = seeded.current["grade" if field == "grades" else field] == ("A" if field == "grades" else "Level2")
        assert sum(queries.grade_counts(seeded_engine, mixed).values()) == honest.sum() > 0  # the honest value matches

    assert row_counts(seeded_engine) == before
    assert set(queries.TABLES) <= set(inspect(seeded_engine).get_table_names())


def test_hostile_lead_ids_find_nothing(seeded: Seeded, seeded_engine: Engine) -> None:
    before = row_counts(seeded_engine)
    for value in HOSTILE:
        assert queries.lead_current(seeded_engine, view_of(seeded.schema), value).empty
        assert queries.lead_history(seeded_engine, value).empty
    assert row_counts(seeded_engine) == before


def test_sort_breakdown_and_columns_only_take_whitelisted_keys(seeded: Seeded, seeded_engine: Engine) -> None:
    view = view_of(seeded.schema)
    with pytest.raises(KeyError):
        queries.lead_page(seeded_engine, view, queries.LeadFilters(), sort="score; DROP TABLE leads")
    day = seeded.now.date()
    with pytest.raises(ValueError, match="not a column identifier"):
        queries.channel_summary(seeded_engine, seeded.outcome, "s.lead_id FROM leads; --", day, day)
    with pytest.raises(ValueError, match="not a column identifier"):
        queries.channel_summary(seeded_engine, 'x" = 1; --', "city_tier", day, day)
    hostile = queries.LeadFilters(picks=(('grade" IS NOT NULL OR "x', ("A",)),))
    with pytest.raises(ValueError, match="not a column identifier"):
        queries.grade_counts(seeded_engine, hostile)


def test_hostile_lead_id_typed_into_the_page(seeded: Seeded, seeded_engine: Engine, open_page) -> None:
    before = row_counts(seeded_engine)
    for value in ("'; drop table leads; --", "' OR '1'='1", "ünïcödé 💥"):
        at = open_page("leads")
        at.text_input(key="detail_id").set_value(value)
        at.run()
        assert_clean(at)
        assert any("No current score for lead id" in w.value for w in at.warning)
        assert metrics(at)["Leads matching"] == f"{len(seeded.current):,}"
    assert row_counts(seeded_engine) == before


def test_the_apps_engine_refuses_to_write(seeded: Seeded) -> None:
    engine = db.engine_for(db.database_url())
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("DELETE FROM lead_scores"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM lead_scores")).scalar_one() == len(seeded.scores)


@pytest.fixture
def reader_url(seeded_postgres: Seeded, postgres_url: str) -> Iterator[str]:
    """The seeded Postgres database with the read-only role applied; the role's URL."""
    owner = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        for _ in range(2):  # idempotent: a second run changes nothing and does not fail
            conn.connection.driver_connection.execute(ROLE_SQL.read_text())
    owner.dispose()
    yield make_url(postgres_url).set(username="leadscore_reader", password=None).render_as_string(hide_password=False)


PAGE_FIGURES = {
    "leads": ("Leads matching", lambda s: f"{len(s.current):,}"),
    "channels": ("Leads with a known outcome", lambda s: f"{s.leads[s.outcome].notna().sum():,}"),
    "model": ("AUC", lambda s: "0.801"),
    "drift": ("Columns drifted", lambda s: "50.0%"),
    "pipeline": ("Rejected", lambda s: f"{s.batches['rejected'].sum():,}"),
}


@pytest.mark.postgres
@pytest.mark.parametrize("page", list(PAGE_FIGURES))
def test_every_page_works_under_the_read_only_role(seeded_postgres: Seeded, reader_url: str, open_page,
                                                   monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    monkeypatch.setenv("LEADSCORE_DASHBOARD_DATABASE_URL", reader_url)

    at = open_page(page)

    assert_clean(at)
    label, expected = PAGE_FIGURES[page]
    assert metrics(at)[label] == expected(seeded_postgres)
    assert "leadscore_reader" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.postgres
def test_the_read_only_role_cannot_write_or_drop(seeded_postgres: Seeded, reader_url: str,
                                                 postgres_url: str) -> None:
    reader = create_engine(reader_url)  # a plain engine: no read-only option from the app
    insert = text("INSERT INTO ingest_batches (file_name, sha256, rows_in, loaded, duplicate, rejected, "
                  "labels_recorded, started_at) VALUES ('x', 'y', 1, 1, 0, 0, 0, now())")
    statements = [
        ("read-only transaction", [insert]),
        ("permission denied", [text("SET TRANSACTION READ WRITE"), insert]),
        ("permission denied", [text("SET TRANSACTION READ WRITE"), text("DELETE FROM lead_scores")]),
        ("must be owner", [text("SET TRANSACTION READ WRITE"), text("DROP TABLE leads")]),
        ("permission denied", [text("SET TRANSACTION READ WRITE"), text("CREATE TABLE stolen (x int)")]),
    ]
    for message, steps in statements:
        with pytest.raises(DBAPIError, match=message), reader.begin() as conn:
            for step in steps:
                conn.execute(step)
    with reader.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM lead_scores")).scalar_one() == len(seeded_postgres.scores)
    reader.dispose()


@pytest.mark.postgres
def test_tables_created_later_are_readable_by_the_role(seeded_postgres: Seeded, reader_url: str,
                                                       postgres_url: str) -> None:
    owner = create_engine(postgres_url)
    with owner.begin() as conn:
        conn.execute(text("CREATE TABLE added_later (x int)"))
        conn.execute(text("INSERT INTO added_later VALUES (42)"))
    owner.dispose()
    reader = create_engine(reader_url)
    with reader.connect() as conn:
        assert conn.execute(text("SELECT x FROM added_later")).scalar_one() == 42
    reader.dispose()


@pytest.mark.postgres
def test_the_setup_script_applies_the_role(seeded_postgres: Seeded, postgres_url: str) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed: scripts/create_readonly_role.sh needs it")
    script = Path(__file__).resolve().parents[2] / "scripts" / "create_readonly_role.sh"
    done = subprocess.run([str(script), postgres_url], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    readable = re.search(r"leadscore_reader can read (\d+) tables", done.stdout)
    owner = create_engine(postgres_url)
    relations = len(inspect(owner).get_table_names()) + len(inspect(owner).get_view_names())
    owner.dispose()
    assert readable and int(readable.group(1)) == relations
    reader = create_engine(make_url(postgres_url).set(username="leadscore_reader", password=None))
    with reader.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM leads")).scalar_one() == len(seeded_postgres.leads)
    reader.dispose()
