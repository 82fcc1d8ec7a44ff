"""Postgres crashes while a command runs: a private cluster of this module's own (the machine's shared server is
never touched) is stopped in immediate mode, cutting every connection with no checkpoint, then started again at
once (crash recovery) or only after the command has ended.

`python -m flows.score` over about 265,000 leads, crashed while the run reads the leads it scores and while it
writes the run; `python -m flows.ingest` of a 300,000-row file, crashed while it writes the leads. The moment is
observed, not slept for: a COPY of the command's (pg_stat_progress_copy) has processed rows. Either the
command's retry completes the work, or it ends with exit 3 and a last line `error: the database failed: ...`;
either way nothing partial is visible (no scores of a run that did not succeed, no batch without all its rows),
and running the command again completes the work: every lead scored exactly once, every row loaded once."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from core.ingest import ingest_file
from core.store import make_engine
from flows.train import train_flow
from tests.integration.fault_support import (
    LeadFile,
    command_output,
    copy_rows_in_progress,
    end_process_group,
    lead_file_with_rejects,
    run_command,
    start_command,
    wait_for_state,
)
from tests.integration.private_postgres import PrivateCluster, private_cluster
from tests.paths import SHARED_DATA

NIGHTLY_ROWS = 250_000  # with the 15,000 labelled dev leads: a run of several seconds to interrupt
BIG_ROWS = 300_000
REJECT_EVERY = 500
TEMPLATE = "leadscore_trained"
AT_ONCE, AFTER_THE_COMMAND = "restarted at once", "down until the command ends"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def trained(cluster: PrivateCluster, prefect_harness, migrated_mlflow_store: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template database holding a champion's version row and the leads to score (the labelled dev leads and
    a large nightly file), and the MLflow home where that champion is registered. Built once for the module."""
    home = tmp_path_factory.mktemp("trained-home")
    shutil.copy(migrated_mlflow_store, home / "mlflow.db")
    url = cluster.create_database(TEMPLATE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEADSCORE_HOME", str(home))
        env.setenv("LEADSCORE_DATABASE_URL", url)
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        engine = make_engine(url)
        try:
            ingest_file(engine, SHARED_DATA / "leads_labelled_dev.csv")
            assert train_flow().decision.promote
            nightly = lead_file_with_rejects(home / "nightly.csv", NIGHTLY_ROWS, REJECT_EVERY, seed=11,
                                             unlabelled=True)
            ingest_file(engine, nightly.path)
        finally:
            engine.dispose()
    return home


@pytest.fixture
def database_url(cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database of this test on the private cluster."""
    url = cluster.create_database(f"leadscore_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    make_engine(url).dispose()
    return url


@pytest.fixture
def scoring_url(cluster: PrivateCluster, trained: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the trained template database, and of its MLflow store in this test's home."""
    name = f"leadscore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    admin.dispose()
    isolated_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained / "mlflow.db", isolated_home / "mlflow.db")  # the champion's artifacts stay in `trained`
    url = cluster.url(name)
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    return url


def _command_env(**extra: str) -> dict[str, str]:
    """The operator's environment (LEADSCORE_HOME, LEADSCORE_DATABASE_URL), against the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", **extra}


def _crash_when(cluster: PrivateCluster, process, url: str, copy: str, table: str | None, what: str) -> datetime:
    """Stop the server in immediate mode once the command is provably at `what` (a COPY of it has processed
    rows); when it went down."""
    probe = create_engine(url, poolclass=NullPool)
    try:
        wait_for_state(process, lambda: copy_rows_in_progress(probe, copy, table) > 0, what)
    finally:
        probe.dispose()
    crashed = datetime.now(UTC)  # stored moments are UTC (timestamptz): compared as aware instants
    cluster.stop_immediately()
    return crashed


def _run_through_a_crash(cluster: PrivateCluster, url: str, back: str, copy: str, table: str | None, what: str,
                         module: str, *args: str, logs: Path) -> tuple[datetime, int, str]:
    """Start the command, crash the server at `what`, bring it back (at once, or once the command has ended);
    the crash time, the command's exit status and its stderr."""
    process = start_command(module, *args, env=_command_env(PREFECT_LOGGING_LEVEL="INFO"), logs=logs)
    try:
        crashed = _crash_when(cluster, process, url, copy, table, what)
        if back == AT_ONCE:
            cluster.start()
        code = process.wait(timeout=600)
    finally:
        end_process_group(process)
        if not cluster.running():
            cluster.start()
    out, err = command_output(module, logs)
    print(f"{module}, Postgres crashed while {what}, {back}: exit {code}\nstdout:\n{out}\nstderr:\n{err[-6000:]}")
    return crashed, code, err


def _assert_done_or_failed_in_one_line(code: int, err: str, back: str) -> None:
    """Done (the task's retry, only possible when the server came back), or exit 3 with one last line saying so."""
    if code == 0 and back == AT_ONCE:
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 3 and lines and lines[-1].startswith("error: the database failed: "), err[-5000:]
    assert lines[-1].endswith("; run the command again once it answers")


def _query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _one(url: str, sql: str):
    return _query(url, sql)[0][0]


def _assert_no_partial_run(url: str) -> None:
    """Every score in the history belongs to a run that succeeded and wrote all it says; every current score is
    its run's history row; no run's table is left outside the history."""
    assert _one(url, "SELECT count(*) FROM scoring_runs WHERE status NOT IN ('succeeded', 'failed')") == 0
    assert _one(url, "SELECT count(*) FROM lead_scores s LEFT JOIN scoring_runs r ON r.run_id = s.run_id "
                     "WHERE r.status IS DISTINCT FROM 'succeeded'") == 0
    assert _one(url, "SELECT count(*) FROM scoring_runs r WHERE r.leads_scored <> "
                     "(SELECT count(*) FROM lead_scores s WHERE s.run_id = r.run_id)") == 0
    assert _one(url, "SELECT count(*) FROM current_scores c LEFT JOIN lead_scores s "
                     "ON s.run_id = c.run_id AND s.lead_id = c.lead_id AND s.score = c.score "
                     "WHERE s.lead_id IS NULL") == 0
    assert _one(url, "SELECT count(*) FROM pg_class WHERE relname LIKE 'lead\\_scores\\_run\\_%' "
                     "AND relkind = 'r' AND NOT relispartition") == 0


@pytest.mark.slow
@pytest.mark.parametrize("back", [AT_ONCE, AFTER_THE_COMMAND])
@pytest.mark.parametrize(("copy", "what"), [("COPY TO", "reading the leads it scores"),
                                             ("COPY FROM", "writing the run")])
def test_scoring_through_a_postgres_crash_keeps_no_partial_run_and_the_rerun_scores_every_lead_once(
        cluster, scoring_url, copy, what, back, tmp_path):
    leads = int(_one(scoring_url, "SELECT count(*) FROM leads"))
    crashed, code, err = _run_through_a_crash(cluster, scoring_url, back, copy, None, what, "flows.score",
                                              logs=tmp_path / "crashed")
    _assert_done_or_failed_in_one_line(code, err, back)
    _assert_no_partial_run(scoring_url)
    runs = _query(scoring_url, "SELECT run_id, status, started_at, leads_scored, error FROM scoring_runs "
                               "ORDER BY run_id")
    print(f"runs after the crash: {runs}")
    assert [run for run in runs if run[1] == "succeeded" and run[2] < crashed] == []  # the cut run never committed
    scored = sum(run[3] for run in runs)
    assert scored == (leads if code == 0 else 0)

    rerun = run_command("flows.score", env=_command_env())
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    _assert_no_partial_run(scoring_url)
    assert _query(scoring_url, "SELECT count(*), count(DISTINCT lead_id) FROM current_scores") == [(leads, leads)]
    assert _one(scoring_url, "SELECT count(*) FROM leads l LEFT JOIN current_scores c ON c.lead_id = l.lead_id "
                             "WHERE c.lead_id IS NULL") == 0
    assert _query(scoring_url, "SELECT count(*), count(DISTINCT lead_id) FROM lead_scores") == [(leads, leads)]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> LeadFile:
    return lead_file_with_rejects(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS, REJECT_EVERY)


@pytest.mark.slow
@pytest.mark.parametrize("back", [AT_ONCE, AFTER_THE_COMMAND])
def test_ingest_through_a_postgres_crash_keeps_no_partial_batch_and_the_rerun_loads_every_row_once(
        prefect_harness, cluster, database_url, big_file, back, tmp_path):
    _, code, err = _run_through_a_crash(cluster, database_url, back, "COPY FROM", "leads", "writing the file's leads",
                                        "flows.ingest", str(big_file.path), logs=tmp_path / "crashed")
    _assert_done_or_failed_in_one_line(code, err, back)
    whole = (big_file.rows, big_file.loaded, big_file.duplicate, big_file.rejected)
    batches = _query(database_url, "SELECT rows_in, loaded, duplicate, rejected FROM ingest_batches")
    assert batches == ([whole] if code == 0 else [])
    assert _one(database_url, "SELECT count(*) FROM leads") == (big_file.loaded if code == 0 else 0)

    rerun = run_command("flows.ingest", str(big_file.path), env=_command_env())
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert _query(database_url, "SELECT rows_in, loaded, duplicate, rejected FROM ingest_batches") == [whole]
    assert _query(database_url, "SELECT count(*), count(DISTINCT lead_id) FROM leads") == [
        (big_file.loaded, big_file.loaded)]
    assert _one(database_url, "SELECT count(*) FROM rejected_leads") == big_file.rejected


@pytest.mark.parametrize("command", [("flows.ingest", str(SHARED_DATA / "leadscoring_test.csv")), ("flows.score",)])
def test_a_command_whose_database_is_down_says_so_in_one_line(cluster, database_url, command):
    cluster.stop_immediately()
    try:
        result = run_command(*command, env=_command_env())
    finally:
        cluster.start()
    assert (result.returncode, result.stdout) == (3, ""), result.stderr[-5000:]
    assert result.stderr.splitlines() == [
        f'error: the database failed: connection failed: connection to server at "127.0.0.1", port {cluster.port} '
        "failed: Connection refused; run the command again once it answers"]
