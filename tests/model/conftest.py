"""Fixtures for the model tests: the real labelled sample ingested once, a pre-migrated MLflow store to copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from core.config import Settings
from core.ingest import ingest_file
from core.model import Candidate, train_candidate
from core.store import make_engine
from core.training import load_labelled_leads
from tests.paths import SHARED_DATA

DEV_FILE = SHARED_DATA / "leads_labelled_dev.csv"



@pytest.fixture(scope="session")
def dev_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real labelled dev sample ingested once with core.ingest into a SQLite file."""
    path = tmp_path_factory.mktemp("dev-db") / "leadscore.db"
    engine = make_engine(f"sqlite:///{path}")
    ingest_file(engine, DEV_FILE)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def dev_leads(dev_database: Path) -> pd.DataFrame:
    """Labelled leads exactly as training reads them from the store."""
    engine = make_engine(f"sqlite:///{dev_database}")
    leads = load_labelled_leads(engine)
    engine.dispose()
    return leads


@pytest.fixture(scope="session")
def dev_candidate(dev_leads: pd.DataFrame) -> Candidate:
    """One default training on the real sample, shared by the read-only model tests."""
    return train_candidate(dev_leads)


@pytest.fixture
def dev_engine(settings: Settings, dev_database: Path) -> Iterator[Engine]:
    """This test's default database, holding the real labelled sample."""
    shutil.copy(dev_database, settings.home / "leadscore.db")
    engine = make_engine(settings.resolved_database_url())
    yield engine
    engine.dispose()


@pytest.fixture
def empty_engine(settings: Settings) -> Iterator[Engine]:
    """This test's default database, with no leads."""
    engine = make_engine(settings.resolved_database_url())
    yield engine
    engine.dispose()
