"""Every command refuses a LEADSCORE_TIMEZONE that is not an IANA zone name with one line (exit 2), before
anything runs: no Prefect server, no database, not even the home folder."""

import os
import subprocess
import sys

import pytest

from tests.paths import PROJECT_ROOT, SHARED_DATA

COMMANDS = {
    "ingest": ["flows.ingest", str(SHARED_DATA / "leadscoring_test.csv")],
    "train": ["flows.train"],
    "score": ["flows.score"],
    "evaluate": ["flows.evaluate"],
    "promote": ["flows.promote", "1", "--reason", "by hand"],
    "demo": ["flows.demo"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_zone_name_is_refused_in_one_line_before_anything_runs(command, isolated_home, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berln")
    result = subprocess.run([sys.executable, "-m", *COMMANDS[command]], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: LEADSCORE_TIMEZONE='Europe/Berln' is not an IANA time zone name "
        "(for example Europe/Berlin, America/New_York or UTC)"]
    assert "prefect" not in result.stdout.lower()
    assert not isolated_home.exists()  # no database, no MLflow store, nothing written
