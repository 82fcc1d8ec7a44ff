"""The registry under faults: an MLflow outage is not "no champion", registration survives being killed at any
step (one version per training, model_versions agrees with MLflow), a failed manual promotion claims nothing.

The outage tests run a real `mlflow server` on a local port and stop it; the crash tests raise or SIGKILL the
process right after each registration step and then rerun."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy import Engine

from core import registry, store
from core.config import Settings, load_settings
from core.errors import RegistryUnavailableError
from core.model import Candidate, Decision, train_candidate
from core.training import load_labelled_leads, run_training
from tests.model.registry_support import MlflowServer, store_dev_leads
from tests.paths import PROJECT_ROOT

PROMOTE = Decision(True, "test: clears the mission bars; no champion yet")
SHORT_MLFLOW_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


class Killed(RuntimeError):
    """The fault a test injects right after a step."""


@pytest.fixture(scope="module")
def leads_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database holding the real labelled dev leads (copied into each test's home)."""
    path = tmp_path_factory.mktemp("leads-db") / "leadscore.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store_dev_leads(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def candidate(leads_database: Path) -> Candidate:
    """One training on the real labelled leads, shared by the tests that register it."""
    engine = store.make_engine(f"sqlite:///{leads_database}")
    leads = load_labelled_leads(engine)
    engine.dispose()
    return train_candidate(leads)


@pytest.fixture
def stored(settings: Settings, leads_database: Path) -> Iterator[Engine]:
    """This test's database with the real leads, beside its own MLflow store."""
    shutil.copy(leads_database, settings.home / "leadscore.db")
    engine = store.make_engine(settings.resolved_database_url())
    yield engine
    engine.dispose()


@dataclass
class Stores:
    """Where a test keeps its model_versions table, and the settings that lead there."""

    settings: Settings
    engine: Engine


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, settings: Settings, leads_database: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    """The real leads on the embedded default or on the real Postgres, beside this test's MLflow store."""
    if request.param == "sqlite":
        shutil.copy(leads_database, settings.home / "leadscore.db")
        url = settings.resolved_database_url()
    else:
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    engine = store.make_engine(url)
    if request.param == "postgres":
        store_dev_leads(engine)
    yield Stores(load_settings(), engine)
    engine.dispose()


def _versions(engine: Engine) -> list[tuple[str, bool]]:
    rows = store.read_frame(engine, "SELECT version, is_champion FROM model_versions ORDER BY CAST(version AS INTEGER)")
    return [(str(v), bool(c)) for v, c in zip(rows["version"], rows["is_champion"], strict=True)]


def _registered(client: MlflowClient, name: str) -> list[str]:
    return sorted((str(v.version) for v in client.search_model_versions(f"name = '{name}'")), key=int)


def _alias(client: MlflowClient, name: str) -> str | None:
    version = registry.champion_version(client, name)
    return None if version is None else str(version.version)


# ------------------------------------------------------------------ 1. an outage is not "no champion"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, migrated_mlflow_store: Path, leads_database: Path,
           candidate: Candidate) -> Iterator[MlflowServer]:
    """A real MLflow server whose registry holds a champion (version 1), and a home with the real leads."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    shutil.copy(migrated_mlflow_store, folder / "mlflow.db")
    mlflow_server = MlflowServer(folder / "mlflow.db", folder / "artifacts", folder / "server.log")
    home = folder / "home"
    home.mkdir()
    shutil.copy(leads_database, home / "leadscore.db")
    mlflow_server.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in SHORT_MLFLOW_RETRIES.items():
                patch.setenv(name, value)
            registry.register_candidate(_server_settings(home, mlflow_server), candidate, PROMOTE, "server-champion")
        mlflow_server.home = home
        yield mlflow_server
    finally:
        mlflow_server.stop()


def _server_settings(home: Path, mlflow_server: MlflowServer, **extra) -> Settings:
    return Settings(home=home, MLFLOW_TRACKING_URI=mlflow_server.uri, **extra)


@pytest.fixture
def running(server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """The module's server (running or stopped, as the previous test left it: restarts are slow) and its home."""
    for name, value in SHORT_MLFLOW_RETRIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEADSCORE_HOME", str(server.home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    return server


def _ensure_running(server: MlflowServer) -> None:
    if server.process is None:
        server.start()


def _backend(server: MlflowServer) -> MlflowClient:
    """The server's store read directly (the server may be stopped)."""
    return MlflowClient(tracking_uri=f"sqlite:///{server.backend}", registry_uri=f"sqlite:///{server.backend}")


def _outage_line(server: MlflowServer) -> str:
    return f"MLflow at {server.uri} did not answer: connection refused"


@pytest.mark.slow
def test_a_missing_alias_is_no_champion_but_a_stopped_server_is_an_outage(running, candidate):
    _ensure_running(running)
    settings = load_settings()
    client = registry.connect(settings)
    assert registry.champion_version(client, "never-registered", settings) is None  # RESOURCE_DOES_NOT_EXIST
    no_alias = Settings(home=running.home, MLFLOW_TRACKING_URI=running.uri, model_name="registered-without-alias")
    registry.register_candidate(no_alias, candidate, Decision(False, "test: misses the bars"))
    assert registry.champion_version(client, no_alias.model_name, settings) is None  # INVALID_PARAMETER_VALUE
    assert str(registry.champion_version(client, settings.model_name, settings).version) == "1"

    running.stop()
    with pytest.raises(RegistryUnavailableError, match=f"^{_outage_line(running)}$"):
        registry.champion_version(client, settings.model_name, settings)
    with pytest.raises(RegistryUnavailableError, match=_outage_line(running)):  # was None: "no champion yet"
        registry.load_champion_baseline(settings)
    with pytest.raises(RegistryUnavailableError, match=r"\(2 attempts over \d+\.\d s\)$"):
        registry.require_champion(settings.model_copy(update={"registry_attempts": 2, "registry_backoff_s": 0.1}))
    with pytest.raises(RegistryUnavailableError, match=_outage_line(running)):  # was "has no version 1"
        registry.promote(settings, "1", "test: during an outage")


def _command(module: str, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, **env})
    return result, time.monotonic() - started


@pytest.mark.slow
def test_train_and_promote_commands_register_nothing_and_say_so_in_one_line_when_mlflow_is_down(running):
    running.stop()
    before = _registered(_backend(running), "lead-scoring-l2ac")
    for command in (("flows.train",), ("flows.promote", "1", "--reason", "test")):
        result, _ = _command(*command)
        assert (result.returncode, result.stdout) == (3, "")
        assert result.stderr.splitlines() == [f"error: {_outage_line(running)}"]
    backend = _backend(running)
    assert _registered(backend, "lead-scoring-l2ac") == before and _alias(backend, "lead-scoring-l2ac") == "1"
    assert backend.get_model_version("lead-scoring-l2ac", "1").tags["decision"] == "promoted"


@pytest.mark.slow
def test_score_command_retries_within_30_s_then_fails_in_one_line(running, monkeypatch):
    for name in SHORT_MLFLOW_RETRIES:  # the product's own bounds: MLflow's retries as connect() sets them
        monkeypatch.delenv(name)
    running.stop()
    result, seconds = _command("flows.score")
    assert (result.returncode, result.stdout) == (3, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {_outage_line(running)} (4 attempts over "), lines
    assert 7 <= seconds < 30  # the pauses alone are 1 + 2 + 4 s


@pytest.mark.slow
def test_training_whose_mlflow_dies_after_the_champion_check_registers_nothing(running, monkeypatch):
    _ensure_running(running)
    settings = load_settings()
    before = _registered(registry.connect(settings), settings.model_name)
    engine = store.make_engine(settings.resolved_database_url())
    check = registry.load_champion_baseline

    def check_then_stop(current: Settings):
        baseline = check(current)
        running.stop()
        return baseline

    monkeypatch.setattr(registry, "load_champion_baseline", check_then_stop)
    with pytest.raises(RegistryUnavailableError, match=_outage_line(running)):
        run_training(engine, settings)
    engine.dispose()
    backend = _backend(running)
    assert _registered(backend, settings.model_name) == before and _alias(backend, settings.model_name) == "1"
    assert [r.info.status for r in backend.search_runs(["1"]) if r.info.status != "FINISHED"] == []


@pytest.mark.slow
def test_scoring_finds_the_champion_when_mlflow_comes_back_while_it_retries(running):
    settings = load_settings().model_copy(update={"registry_attempts": 6, "registry_backoff_s": 1.0})
    running.stop()
    restart = threading.Thread(target=running.start)
    started = time.monotonic()
    restart.start()
    try:
        version = registry.require_champion(settings)
    finally:
        restart.join()
    assert str(version.version) == "1" and time.monotonic() - started < 60


class _Unwell(BaseHTTPRequestHandler):
    """An HTTP endpoint in front of which MLflow would sit: answers every request with `status` after `delay` s."""

    status, delay = 503, 0.0

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        time.sleep(self.delay)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"<html>unwell</html>")

    def log_message(self, *_args) -> None:
        """Quiet."""


@pytest.mark.parametrize(("status", "delay", "why"), [(503, 0.0, "server error 503"), (500, 0.0, "server error 500"),
                                                      (502, 0.0, "server error 502"), (200, 3.0, "timed out")])
def test_server_errors_and_timeouts_are_outages_not_no_champion(status, delay, why, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    handler = type("Handler", (_Unwell,), {"status": status, "delay": delay})
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{endpoint.server_port}"
    settings = Settings(home=tmp_path, MLFLOW_TRACKING_URI=uri)
    try:
        with pytest.raises(RegistryUnavailableError, match=f"^MLflow at {uri} did not answer: {why}$"):
            registry.champion_version(registry.connect(settings), settings.model_name, settings)
    finally:
        endpoint.shutdown()
        endpoint.server_close()


# ------------------------------------------------------------------ 2. killed at any step, rerun: one version


def _die_after(patch: pytest.MonkeyPatch, owner, name: str) -> None:
    original = getattr(owner, name)

    def step_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise Killed(f"killed after {name}")

    patch.setattr(owner, name, step_then_die)


STEPS = [(registry, "_log_run"), (registry, "_logged_run"), (registry, "_registered_version"),
         (registry, "_describe_version"), (MlflowClient, "set_registered_model_alias"), (registry, "record_version")]


@pytest.mark.parametrize(("owner", "step"), STEPS, ids=[name for _, name in STEPS])
def test_a_training_killed_after_any_step_and_retried_leaves_one_agreeing_version(owner, step, settings, stored,
                                                                                   candidate, monkeypatch):
    def register_and_record() -> None:
        registered = registry.register_candidate(settings, candidate, PROMOTE, "training-1")
        registry.record_version(stored, settings.model_name, registered, candidate, PROMOTE)

    with monkeypatch.context() as patch:
        _die_after(patch, owner, step)
        with pytest.raises(Killed):
            register_and_record()
    register_and_record()  # the task retry: same training id
    client = registry.connect(settings)
    assert _registered(client, settings.model_name) == ["1"] and _alias(client, settings.model_name) == "1"
    assert _versions(stored) == [("1", True)]
    completed = [r for r in client.search_runs(["1"]) if registry.MODEL_URI_TAG in r.data.tags]
    assert len(completed) == 1 and all(r.info.status != "RUNNING" for r in client.search_runs(["1"]))


KILLED_AFTER_REGISTERING = """
import os, signal, sys
from core import registry, store
from core.config import load_settings
from core.model import Decision, train_candidate
from core.training import load_labelled_leads

settings = load_settings()
engine = store.make_engine(settings.resolved_database_url())
candidate = train_candidate(load_labelled_leads(engine))
register = registry._registered_version

def register_then_die(*args):
    register(*args)
    os.kill(os.getpid(), signal.SIGKILL)

registry._registered_version = register_then_die
registry.register_candidate(settings, candidate, Decision(True, "test: no champion yet"), sys.argv[1])
"""


@pytest.mark.slow
def test_a_process_killed_after_registering_is_reconciled_by_the_next_training(where, candidate):
    settings, stored = where.settings, where.engine
    result = subprocess.run([sys.executable, "-c", KILLED_AFTER_REGISTERING, "training-killed"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.returncode == -9, result.stderr
    client = registry.connect(settings)
    assert _registered(client, settings.model_name) == ["1"] and _versions(stored) == []
    assert "decision" not in client.get_model_version(settings.model_name, "1").tags  # claims nothing yet
    assert registry.reconcile_versions(stored, settings) == ["1"]
    assert _versions(stored) == [("1", False)]  # registered, never made champion: the alias move never ran
    row = store.read_frame(stored, "SELECT * FROM model_versions").iloc[0]
    assert row["decision_reason"] == "test: no champion yet" and row["threshold"] == pytest.approx(
        candidate.model.threshold)
    registered = registry.register_candidate(settings, candidate, PROMOTE, "training-killed")  # its retry
    assert registered.version == "1" and _registered(client, settings.model_name) == ["1"]
    outcome = run_training(stored, settings)  # a new training: a new version, both recorded, flags = alias
    assert outcome.version == "2" and _registered(client, settings.model_name) == ["1", "2"]
    assert _versions(stored) == [("1", False), ("2", True)] and _alias(client, settings.model_name) == "2"


def test_reconcile_sets_the_champion_flag_from_the_alias(where, candidate):
    settings, stored = where.settings, where.engine
    for training in ("a", "b"):
        registered = registry.register_candidate(settings, candidate, PROMOTE, training)
        registry.record_version(stored, settings.model_name, registered, candidate, PROMOTE)
    client = registry.connect(settings)
    client.set_registered_model_alias(settings.model_name, registry.CHAMPION_ALIAS, "1")  # the row still says 2
    assert _versions(stored) == [("1", False), ("2", True)]
    assert registry.reconcile_versions(stored, settings) == []
    assert _versions(stored) == [("1", True), ("2", False)]
    client.delete_registered_model_alias(settings.model_name, registry.CHAMPION_ALIAS)
    registry.reconcile_versions(stored, settings)
    assert _versions(stored) == [("1", False), ("2", False)]


def test_a_manual_promotion_whose_alias_move_fails_claims_nothing(where, candidate, monkeypatch):
    settings, stored = where.settings, where.engine
    for training in ("a", "b"):
        registered = registry.register_candidate(settings, candidate, PROMOTE, training)
        registry.record_version(stored, settings.model_name, registered, candidate, PROMOTE)
    before = store.read_frame(stored, "SELECT * FROM model_versions ORDER BY version")

    def refused(*_args, **_kwargs):
        raise MlflowException("API request to http://127.0.0.1:1/api/2.0/mlflow/registered-models/alias failed "
                              "with exception HTTPConnectionPool: [Errno 111] Connection refused")

    with monkeypatch.context() as patch, pytest.raises(RegistryUnavailableError, match="did not answer: connection refused"):
        patch.setattr(MlflowClient, "set_registered_model_alias", refused)
        registry.promote(settings, "1", "roll back")
    client = registry.connect(settings)
    tags = client.get_model_version(settings.model_name, "1").tags
    assert tags["decision"] == "promoted" and not tags["decision_reason"].startswith("manual")
    assert _alias(client, settings.model_name) == "2"
    pd.testing.assert_frame_equal(store.read_frame(stored, "SELECT * FROM model_versions ORDER BY version"), before)
    registry.promote(settings, "1", "roll back")  # run again once MLflow answers: done
    assert _alias(client, settings.model_name) == "1" and _versions(stored) == [("1", True), ("2", False)]
    assert client.get_model_version(settings.model_name, "1").tags["decision"] == "promoted_manually"


def test_reconcile_records_a_version_logged_before_its_row_travelled_with_the_run(where):
    settings, stored = where.settings, where.engine
    client = registry.connect(settings)
    experiment = registry.ensure_experiment(client, settings)
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "threshold", "0.42")
    for grade, cut in (("A", "0.8"), ("B", "0.6"), ("C", "0.42")):
        client.log_param(run.info.run_id, f"grade_{grade}_cutoff", cut)
    client.log_metric(run.info.run_id, "auc", 0.77)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(settings.model_name)
    client.create_model_version(settings.model_name, f"runs:/{run.info.run_id}/model", run.info.run_id,
                                tags={"decision": "promoted", "decision_reason": "an older release's version"})
    client.set_registered_model_alias(settings.model_name, registry.CHAMPION_ALIAS, "1")
    assert registry.reconcile_versions(stored, settings) == ["1"]
    row = store.read_frame(stored, "SELECT * FROM model_versions").iloc[0]
    assert (row["threshold"], bool(row["is_champion"]), bool(row["promoted"])) == (0.42, True, True)
    assert row["decision_reason"] == "an older release's version" and '"auc": 0.77' in row["metrics_json"]
    assert row["grade_cutoffs_json"] == '{"A": 0.8, "B": 0.6, "C": 0.42}'
