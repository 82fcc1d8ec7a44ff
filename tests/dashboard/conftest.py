"""Seeded databases (SQLite and the real Postgres) and a way to open one page of the app under AppTest."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from streamlit.testing.v1 import AppTest

from core.ingest import IngestSummary
from core.lead_schema import LeadSchema, load_schema
from core.scoring import ScoringRun
from core.store import make_engine
from core.training import TrainingOutcome
from tests.conftest import POSTGRES_ADMIN_URL
from tests.dashboard.seed import Seeded, seed_database
from tests.paths import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
EXAMPLE_SCHEMA = ROOT / "schemas" / "example_crm.yaml"
PAGE_FILES = {"leads": "views/leads.py", "channels": "views/channels.py", "model": "views/model.py",
              "drift": "views/drift.py", "pipeline": "views/pipeline.py"}
DEV_FILE = SHARED_DATA / "leads_labelled_dev.csv"
INFERENCE_FILE = SHARED_DATA / "leadscoring_inference.csv"


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


# ---- a database produced by the real pipeline -------------------------------------------------

@dataclass(frozen=True)
class PipelineDatabase:
    """A database written only by the product's flows (ingest -> train -> ingest -> score), and what they returned."""

    store: str
    url: str
    ingested: tuple[IngestSummary, ...]
    training: TrainingOutcome
    run: ScoringRun


def build_pipeline_database(store: str, url: str, home: Path, mlflow_template: Path) -> PipelineDatabase:
    """The real flows, under the session's Prefect test server, with a real MLflow store in `home`:
    ingest leads_labelled_dev.csv, train (register, champion), ingest leadscoring_inference.csv, score and
    store the drift report. Nothing in it is written by the test."""
    from flows.ingest import ingest_flow
    from flows.score import score_flow
    from flows.train import train_flow

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEADSCORE_HOME", str(home))
        env.setenv("LEADSCORE_DATABASE_URL", url)
        for name in ("LEADSCORE_SCHEMA", "MLFLOW_TRACKING_URI", "LEADSCORE_DASHBOARD_DATABASE_URL"):
            env.delenv(name, raising=False)
        labelled = ingest_flow([str(DEV_FILE)])
        training = train_flow()
        unlabelled = ingest_flow([str(INFERENCE_FILE)])
        run = score_flow()
    return PipelineDatabase(store, url, (*labelled, *unlabelled), training, run)


@pytest.fixture(scope="session")
def pipeline_sqlite(prefect_harness, migrated_mlflow_store: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> PipelineDatabase:
    """The real pipeline's database on SQLite, built once per session."""
    folder = tmp_path_factory.mktemp("pipeline-sqlite")
    return build_pipeline_database("sqlite", f"sqlite:///{folder / 'leadscore.db'}", folder / "home",
                                   migrated_mlflow_store)


@pytest.fixture(scope="session")
def pipeline_postgres(prefect_harness, postgres_admin: Engine, migrated_mlflow_store: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineDatabase]:
    """The real pipeline's database on the real Postgres, built once per session, dropped afterwards."""
    name = f"leadscore_pipeline_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield build_pipeline_database("postgres", url, tmp_path_factory.mktemp("pipeline-postgres") / "home",
                                      migrated_mlflow_store)
    finally:
        with postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pipeline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> PipelineDatabase:
    """The app reads the pipeline's database (SQLite, then Postgres), learning the schema from schema_info."""
    built = request.getfixturevalue(f"pipeline_{request.param}")
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    monkeypatch.delenv("LEADSCORE_DASHBOARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", built.url)
    return built
