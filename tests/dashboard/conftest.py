"""Seeded databases (SQLite and the real Postgres) and a way to open one page of the app under AppTest."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.lead_schema import LeadSchema, load_schema
from core.store import make_engine
from tests.dashboard.seed import Seeded, seed_database

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
EXAMPLE_SCHEMA = ROOT / "schemas" / "example_crm.yaml"
PAGE_FILES = {"leads": "views/leads.py", "channels": "views/channels.py", "model": "views/model.py",
              "drift": "views/drift.py", "pipeline": "views/pipeline.py"}


def _seed(url: str, monkeypatch: pytest.MonkeyPatch, schema: LeadSchema | None = None) -> Seeded:
    """Seed a database of `schema` (default: the built-in one); the app reads it with no LEADSCORE_SCHEMA set,
    so it learns the schema from the database's schema_info."""
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    engine = make_engine(url, schema=schema)
    seeded = seed_database(engine, schema=schema)
    engine.dispose()
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    monkeypatch.delenv("LEADSCORE_DASHBOARD_DATABASE_URL", raising=False)
    return seeded


@pytest.fixture
def seeded_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """A seeded SQLite database the app reads through LEADSCORE_DATABASE_URL."""
    return _seed(f"sqlite:///{tmp_path / 'dashboard.db'}", monkeypatch)


@pytest.fixture
def seeded_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """The same rows in a fresh database on the real Postgres."""
    return _seed(postgres_url, monkeypatch)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    """Every page test runs on the embedded default and on the real Postgres."""
    return request.getfixturevalue(f"seeded_{request.param}")


@pytest.fixture
def seeded_engine(seeded: Seeded) -> Iterator[Engine]:
    """A writer's engine on the seeded database (to check nothing changed)."""
    engine = make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded.schema)
    yield engine
    engine.dispose()


@pytest.fixture
def example_schema() -> LeadSchema:
    """The second example schema (schemas/example_crm.yaml): no creation time, its own column names."""
    return load_schema(EXAMPLE_SCHEMA)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded_example(request: pytest.FixtureRequest, example_schema: LeadSchema, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """A database written under the example schema, seeded through its schema tables, on SQLite and Postgres."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'example.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return _seed(url, monkeypatch, example_schema)


@pytest.fixture
def open_page() -> Callable[[str], AppTest]:
    """Run the app on one page and return the finished AppTest."""
    def run(name: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.switch_page(PAGE_FILES[name])
        return at.run()
    return run
