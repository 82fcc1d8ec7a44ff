"""The bare-machine branches of scripts/test-postgres.sh and scripts/install-system-deps.sh, run for real
against fake system commands (a fake PATH): apt-get, the Postgres cluster tools and psql only log and
keep state in files, so the install logic is exercised without touching this machine's Postgres."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
UTILITIES = ("bash", "ls", "sort", "tail", "awk", "grep", "cat", "id", "sleep", "dirname", "mv", "chown",
             "chmod", "touch", "mkdir", "rm", "cp")

# Fake commands: each logs its call; the cluster's state lives in $STATE (cluster, status, db files).
FAKES = {
    "apt-get": """echo "apt-get $*" >> "$LOG"
case " $* " in *" postgresql "*) for t in $PG_TOOLS; do cp "$TEMPLATES/$t" "$FAKE_BIN/$t"; done;
  mkdir -p "$PG_LIB/15";; esac""",
    "ldconfig": 'echo "ldconfig $*" >> "$LOG"',
}
PG_FAKES = {
    "pg_lsclusters": '[ -f "$STATE/cluster" ] && echo "15 main 5432 $(cat "$STATE/status") postgres /x /y"; true',
    "pg_createcluster": 'echo "pg_createcluster $*" >> "$LOG"; echo down > "$STATE/status"; touch "$STATE/cluster"; '
                        'mkdir -p "$PG_ETC/15/main"; echo "local all all peer" > "$PG_ETC/15/main/pg_hba.conf"',
    "pg_ctlcluster": 'echo "pg_ctlcluster $*" >> "$LOG"; case "$*" in *start*) [ -f "$STATE/never_starts" ] '
                     '|| echo online > "$STATE/status";; esac',
    "pg_isready": '[ "$(cat "$STATE/status" 2>/dev/null)" = online ]',
    "psql": """echo "psql $*" >> "$LOG"
[ "$(cat "$STATE/status" 2>/dev/null)" = online ] || exit 2
case "$*" in
  *"-h 127.0.0.1"*) [ -f "$STATE/db" ] && grep -q "trust" "$PG_ETC/15/main/pg_hba.conf" && echo t || exit 2;;
  *"FROM pg_database"*) [ -f "$STATE/db" ] && echo 1; true;;
esac""",
    "createdb": 'echo "createdb $*" >> "$LOG"; touch "$STATE/db"',
    "runuser": 'shift 3; exec "$@"',
}


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """A bare Debian machine: only basic utilities and apt-get on PATH, no Postgres, no libgomp."""
    fake_bin, templates, state = tmp_path / "bin", tmp_path / "templates", tmp_path / "state"
    for folder in (fake_bin, templates, state):
        folder.mkdir()
    for name in UTILITIES:
        (fake_bin / name).symlink_to(shutil.which(name))
    for folder, fakes in ((fake_bin, FAKES), (templates, PG_FAKES)):
        for name, body in fakes.items():
            (folder / name).write_text(f"#!/bin/bash\n{body}\n")
            (folder / name).chmod(0o755)
    return {"PATH": str(fake_bin), "FAKE_BIN": str(fake_bin), "TEMPLATES": str(templates), "STATE": str(state),
            "LOG": str(tmp_path / "calls.log"), "PG_TOOLS": " ".join(PG_FAKES), "PG_ETC": str(tmp_path / "etc"),
            "PG_LIB": str(tmp_path / "lib"), "PG_WAIT_SECONDS": "2", "PYTHON": sys.executable,
            "CHROMIUM_SHELL": str(tmp_path / "no-browser")}


def run(script: str, machine: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"HOME": os.environ.get("HOME", "/root"), **machine}
    return subprocess.run(["/bin/bash", str(SCRIPTS / script)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def calls(machine: dict[str, str]) -> list[str]:
    log = Path(machine["LOG"])
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root (as .ci/run does)")
def test_a_bare_machine_gets_postgres_installed_configured_and_started(machine: dict[str, str]) -> None:
    done = run("test-postgres.sh", machine)
    assert done.returncode == 0, done.stderr
    made = calls(machine)
    assert made[:2] == ["apt-get update -qq", "apt-get install -y -qq postgresql"]
    assert "pg_createcluster -p 5432 15 main" in made
    assert "pg_ctlcluster --skip-systemctl-redirect 15 main start" in made
    assert "createdb -p 5432 test" in made
    assert any("ALTER ROLE postgres CREATEDB" in call for call in made)
    hba = (Path(machine["PG_ETC"]) / "15/main/pg_hba.conf").read_text().splitlines()
    assert hba[0].startswith("host all postgres 127.0.0.1/32 trust")  # first match wins in pg_hba.conf
    assert "Postgres ready at 127.0.0.1:5432/test" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root (as .ci/run does)")
def test_a_second_run_only_checks(machine: dict[str, str]) -> None:
    assert run("test-postgres.sh", machine).returncode == 0
    before = len(calls(machine))
    again = run("test-postgres.sh", machine)
    assert again.returncode == 0 and again.stdout == ""
    assert [call for call in calls(machine)[before:] if not call.startswith("psql")] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root (as .ci/run does)")
def test_postgres_that_never_answers_fails_with_one_line_after_a_bounded_wait(machine: dict[str, str]) -> None:
    (Path(machine["STATE"]) / "never_starts").touch()
    done = run("test-postgres.sh", machine)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: Postgres did not answer at 127.0.0.1:5432 within 2s (see /var/log/postgresql/)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root (as .ci/run does)")
def test_missing_system_libraries_and_browser_are_installed_with_one_apt_update(machine: dict[str, str]) -> None:
    done = run("install-system-deps.sh", machine)
    assert done.returncode == 0, done.stderr
    assert [call for call in calls(machine) if call.startswith("apt-get")] == [
        "apt-get update -qq",
        "apt-get install -y -qq libgomp1",
        "apt-get install -y -qq chromium-headless-shell",
    ]


def test_this_machine_is_ready_and_the_check_changes_nothing(postgres_admin) -> None:
    """On a machine that has it all, both scripts are silent no-ops (what .ci/run does on every run)."""
    for script in ("install-system-deps.sh", "test-postgres.sh"):
        done = subprocess.run([str(SCRIPTS / script)], capture_output=True, text=True, timeout=60, check=False)
        assert (done.returncode, done.stdout) == (0, ""), f"{script}: {done.stderr}"


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root (as .ci/run does)")
def test_a_running_server_without_the_trust_rule_is_reloaded_not_restarted(machine: dict[str, str]) -> None:
    state, etc = Path(machine["STATE"]), Path(machine["PG_ETC"]) / "15/main"
    for name in PG_FAKES:
        shutil.copy(Path(machine["TEMPLATES"]) / name, Path(machine["FAKE_BIN"]) / name)
    (Path(machine["PG_LIB"]) / "15").mkdir(parents=True)
    etc.mkdir(parents=True)
    (etc / "pg_hba.conf").write_text("local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
    (state / "cluster").touch()
    (state / "db").touch()
    (state / "status").write_text("online\n")
    done = run("test-postgres.sh", machine)
    assert done.returncode == 0, done.stderr
    assert [call for call in calls(machine) if not call.startswith("psql")] == [
        "pg_ctlcluster --skip-systemctl-redirect 15 main reload"]
    assert (etc / "pg_hba.conf").read_text().splitlines()[0].startswith("host all postgres 127.0.0.1/32 trust")
