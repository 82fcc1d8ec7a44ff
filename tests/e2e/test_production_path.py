"""The production path, for real: `prefect server start`, the process work pool, `prefect deploy --all` from
prefect.yaml, `prefect worker start`, then `score-nightly` triggered by hand runs to completion and writes
scores; two runs triggered together run one at a time (the deployment's concurrency limit of 1).

The data home is prepared with the command line (ingest the labelled sample, train a champion, ingest the
test file) against the same server. Every process started here is ended at teardown, also on failure."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import PROJECT_ROOT, SHARED_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYMENT = "score/score-nightly"  # flow name / deployment name in prefect.yaml
POOL = "leadscore"
SERVER_START_S = 120
COMMAND_S = 600
RUN_S = 420
WAITING = "SCHEDULED"  # state types: Scheduled, Late and AwaitingConcurrencySlot are all SCHEDULED
HOLDING_SLOT = {"PENDING", "RUNNING"}  # a run holds the deployment's slot from Pending (Submitting) on
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Stack:
    api_url: str
    env: dict[str, str]
    home: Path
    logs: Path
    command_output: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below pid (flow runs start in sessions of their own, so a process group misses them)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _stop(process: subprocess.Popen) -> None:
    """End a process we started and everything it started: TERM, then KILL after 20 s."""
    pids = [process.pid, *_descendants(process.pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            continue
        if not any(Path(f"/proc/{pid}").exists() for pid in pids[1:]):
            return


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post(url: str, body: dict) -> object:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _wait_healthy(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited: {log.read_text()[-3000:]}"
        try:
            if _get(f"{api_url}/health") is True:
                return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"prefect server did not answer within {SERVER_START_S}s: {log.read_text()[-3000:]}")


def run(stack: Stack, *args: str, cwd: Path = PROJECT_ROOT) -> str:
    """One command of the product or of Prefect's CLI, which must succeed."""
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=stack.env, capture_output=True, text=True,
                          timeout=COMMAND_S, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A Prefect server (SQLite backend, no scheduler so no cron run interferes) and the environment of
    every command: the server's API, a fresh LEADSCORE_HOME, nothing inherited that points elsewhere."""
    root = tmp_path_factory.mktemp("production")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {key: value for key, value in os.environ.items()
           if key not in ("LEADSCORE_DATABASE_URL", "MLFLOW_TRACKING_URI", "LEADSCORE_SCHEMA")
           and not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(root / "prefect"), PREFECT_API_URL=api_url, LEADSCORE_HOME=str(root / "home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="INFO")
    server_env = {**env, "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
                  "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3"}
    server_env.pop("PREFECT_API_URL")
    log = root / "prefect-server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=server_env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_healthy(api_url, server, log)
        yield Stack(api_url, env, root / "home", root)
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> Iterator[Stack]:
    """A trained champion and unscored leads in the home; the pool, the deployments and a worker running."""
    stack.command_output = "".join([
        run(stack, "-m", "flows.ingest", str(SHARED_DATA / "leads_labelled_dev.csv")),
        run(stack, "-m", "flows.train"),
        run(stack, "-m", "flows.ingest", str(SHARED_DATA / "leadscoring_test.csv")),
    ])
    run(stack, "-m", "prefect", "work-pool", "create", POOL, "--type", "process")
    deploy_output = run(stack, "-m", "prefect", "--no-prompt", "deploy", "--all")
    assert "score-nightly" in deploy_output, deploy_output
    log = stack.logs / "worker.log"
    worker_env = {**stack.env, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                                   "--type", "process"], cwd=stack.logs, env=worker_env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield stack
    finally:
        _stop(worker)


def trigger(stack: Stack) -> str:
    """`prefect deployment run score/score-nightly`: the id of the flow run it created."""
    output = run(stack, "-m", "prefect", "deployment", "run", DEPLOYMENT)
    found = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
    assert found, output
    return found.group(1)


def states(stack: Stack, run_ids: list[str]) -> dict[str, str]:
    """The current state type of each flow run (SCHEDULED, PENDING, RUNNING, COMPLETED...), in one request."""
    runs = _post(f"{stack.api_url}/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}})
    return {run["id"]: run["state"]["type"] for run in runs}


def history(stack: Stack, run_id: str) -> list[str]:
    """Every state a flow run went through, oldest first."""
    found = _get(f"{stack.api_url}/flow_run_states/?flow_run_id={run_id}")
    return [state["name"] for state in sorted(found, key=lambda state: state["timestamp"])]


def wait_all_final(stack: Stack, run_ids: list[str], snapshots: list[dict[str, str]]) -> dict[str, str]:
    """Poll until every run is final (bounded), keeping every snapshot of their states."""
    deadline = time.monotonic() + RUN_S
    while time.monotonic() < deadline:
        now = states(stack, run_ids)
        snapshots.append(now)
        if all(state in FINAL for state in now.values()):
            return now
        time.sleep(0.5)
    worker_log = (stack.logs / "worker.log").read_text()[-4000:]
    pytest.fail(f"flow runs not finished within {RUN_S}s: {snapshots[-1]}\nworker log:\n{worker_log}")


def scores_table(stack: Stack) -> tuple[int, int, int]:
    """Leads stored, leads with a score, finished scoring runs (columns of the storage contract only)."""
    with sqlite3.connect(stack.home / "leadscore.db") as conn:
        leads = conn.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        scored = conn.execute("SELECT COUNT(DISTINCT lead_id) FROM lead_scores").fetchone()[0]
        runs = conn.execute("SELECT COUNT(*) FROM scoring_runs WHERE finished_at IS NOT NULL").fetchone()[0]
    return leads, scored, runs


def test_the_commands_ran_on_the_running_server_and_started_none(deployed: Stack) -> None:
    """PREFECT_API_URL answers: the command-line flows report to it and no temporary server starts."""
    assert "temporary server" not in deployed.command_output, deployed.command_output[-3000:]
    flow_names = {flow["name"] for flow in _post(f"{deployed.api_url}/flows/filter", {})}
    assert {"ingest", "train"} <= flow_names


def test_score_nightly_runs_on_a_worker_and_writes_scores(deployed: Stack) -> None:
    run_id = trigger(deployed)
    final = wait_all_final(deployed, [run_id], [])
    assert final[run_id] == "COMPLETED", (deployed.logs / "worker.log").read_text()[-4000:]
    leads, scored, runs = scores_table(deployed)
    assert leads > 15_000 and scored == leads  # every lead got a score from the champion
    assert runs == 1


def test_the_concurrency_limit_keeps_a_second_run_waiting(deployed: Stack) -> None:
    first, second = trigger(deployed), trigger(deployed)
    snapshots: list[dict[str, str]] = []
    final = wait_all_final(deployed, [first, second], snapshots)
    assert final == {first: "COMPLETED", second: "COMPLETED"}
    assert all(sum(state in HOLDING_SLOT for state in snap.values()) <= 1 for snap in snapshots), snapshots
    assert any(sorted(snap.values()) == ["RUNNING", WAITING] for snap in snapshots), snapshots
    waited = [run_id for run_id in (first, second) if "AwaitingConcurrencySlot" in history(deployed, run_id)]
    assert waited, {run_id: history(deployed, run_id) for run_id in (first, second)}
    leads, scored, runs = scores_table(deployed)
    assert scored == leads and runs == 3
