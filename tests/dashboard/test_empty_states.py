"""Before anything has run, every page tells a newcomer what to do, never shows a traceback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from core import store
from tests.dashboard.conftest import PAGE_FILES
from tests.dashboard.reading import assert_clean, metrics

PAGES = list(PAGE_FILES)


def infos(at) -> str:
    return " ".join(i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_no_database_file_yet(page: str, isolated_home: Path, open_page) -> None:
    at = open_page(page)  # the default URL: LEADSCORE_HOME/leadscore.db, which does not exist

    assert_clean(at)
    assert "No database yet" in infos(at) and "make demo" in infos(at)
    assert str(isolated_home.resolve()) in infos(at)
    assert not (isolated_home / "leadscore.db").exists()  # looking did not create it


@pytest.mark.parametrize("page", PAGES)
def test_empty_schema(page: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", engine.url.render_as_string(hide_password=False))

    at = open_page(page)

    assert_clean(at)
    assert "make demo" in infos(at)
    assert not at.get("plotly_chart") and not at.dataframe


def test_a_sqlite_file_without_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    (tmp_path / "blank.db").write_bytes(b"")
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'blank.db'}")

    at = open_page("leads")

    assert_clean(at)
    assert "No scores yet" in infos(at)


def test_ingested_but_not_scored(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    batch = pd.DataFrame([{"batch_id": 1, "file_name": "leads.csv", "sha256": "ab" * 32, "rows_in": 12, "loaded": 10,
                           "duplicate": 1, "rejected": 1, "labels_recorded": 0, "started_at": datetime(2024, 1, 1),
                           "finished_at": datetime(2024, 1, 1)}])
    with sqlite_engine.begin() as conn:
        store.bulk_insert(conn, "ingest_batches", batch)
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", str(sqlite_engine.url))

    leads = open_page("leads")
    pipeline = open_page("pipeline")

    assert_clean(leads)
    assert "No scores yet" in infos(leads)
    assert_clean(pipeline)
    assert metrics(pipeline)["Rows in"] == "12"
    assert metrics(pipeline)["Last scoring run"] == "none yet"
    assert "No scoring run yet" in infos(pipeline)


def test_unreachable_database_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing")

    at = open_page("leads")

    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Could not read the database at") and "OperationalError" in message
    assert "secret" not in message and "\n" not in message
