"""Shared fixtures: isolated homes, a SQLite store and a real Postgres store per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from core.config import Settings, load_settings
from core.store import make_engine, wait_for_checkpoints
from tests.paths import SHARED_DATA

STATE_KEY = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Prefect and MLflow keep their state in a throwaway folder and phone nobody."""
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(f"the real course data is not at {SHARED_DATA}: set LEADSCORE_SHARED_DATA "
                                "to the folder holding leads_labelled_dev.csv and the other shared files")
    state = Path(tempfile.mkdtemp(prefix="leadscore-tests-"))
    config.stash[STATE_KEY] = state
    os.environ["PREFECT_HOME"] = str(state / "prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the throwaway Prefect / MLflow state folder."""
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)


POSTGRES_ADMIN_URL = os.environ.get(
    "LEADSCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _ci_run() -> bool:
    """LEADSCORE_CI=1 (set by .ci/run): CI can never pass by skipping a test."""
    return os.environ.get("LEADSCORE_CI", "") not in ("", "0", "false")


def _as_ci_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    """A skip becomes a failure that keeps the skip's reason."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (LEADSCORE_CI=1), which fails the run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI every skipped test (in setup, call or by marker) fails with its reason; xfail stays xfail."""
    outcome = yield
    report = outcome.get_result()
    if _ci_run() and report.skipped and not hasattr(report, "wasxfail"):
        _as_ci_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Under CI a module skipped at collection (importorskip, allow_module_level) fails too."""
    outcome = yield
    report = outcome.get_result()
    if _ci_run() and report.skipped:
        _as_ci_failure(report)


def _postgres_required() -> bool:
    return os.environ.get("LEADSCORE_REQUIRE_POSTGRES", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def compiled_trees_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of compiled trees for the session, as one machine shares it (tests/unit/test_forest.py
    tests the cache itself in folders of its own)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled_trees_cache: Path) -> Path:
    """Each test gets its own LEADSCORE_HOME and no inherited database or MLflow overrides."""
    home = tmp_path / "home"
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.setenv("LEADSCORE_CACHE_DIR", str(compiled_trees_cache))
    monkeypatch.delenv("LEADSCORE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'leadscore.db'}")
    yield engine
    wait_for_checkpoints()
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """A connection to the real Postgres; skipped (or failed in CI) when it is not reachable."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any connection failure means the same thing here
        message = f"Postgres not reachable at {POSTGRES_ADMIN_URL}: {type(error).__name__}"
        if _postgres_required():
            pytest.fail(message + " (LEADSCORE_REQUIRE_POSTGRES is set)")
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A fresh, empty database on the real Postgres server, dropped afterwards."""
    name = f"leadscore_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with postgres_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on the embedded default and on the real Postgres."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (flow tests request it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def migrated_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with every migration applied (creating one costs ~7 s)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def settings(isolated_home: Path, migrated_mlflow_store: Path) -> Settings:
    """Settings of this test's home, with a fresh copy of the migrated MLflow store."""
    isolated_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_mlflow_store, isolated_home / "mlflow.db")
    return load_settings()
