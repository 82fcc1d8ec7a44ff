"""Under .ci/run (LEADSCORE_CI=1) a skipped test fails the run with its reason; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

SKIPPING_TESTS = '''
import shutil
import pytest

@pytest.fixture
def service():
    pytest.skip("the service is not reachable")

def test_skips_in_a_fixture(service):
    pass

def test_skips_when_a_tool_is_missing():
    if shutil.which("no-such-tool-here") is None:
        pytest.skip("no-such-tool-here is not installed")

@pytest.mark.skipif(True, reason="marked to skip")
def test_skipped_by_marker():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
'''

SKIPPED_MODULE = 'import pytest\npytest.importorskip("no_such_module_here")\n\ndef test_never_collected():\n    pass\n'


def run_pytest(folder: Path, ci: bool, tests: str = SKIPPING_TESTS) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text(
        "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401\n")
    (folder / "test_skipping.py").write_text(tests)
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "LEADSCORE_CI": "1" if ci else ""}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_under_ci_every_skip_fails_with_its_reason(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in done.stdout  # a failed setup counts as an error
    for reason in ("the service is not reachable", "no-such-tool-here is not installed", "marked to skip"):
        assert f"skipped under CI (LEADSCORE_CI=1), which fails the run: {reason}" in done.stdout


def test_under_ci_a_module_skipped_at_collection_fails_the_run(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, ci=True, tests=SKIPPED_MODULE)
    assert done.returncode != 0, done.stdout
    assert "which fails the run: could not import 'no_such_module_here'" in done.stdout


@pytest.mark.parametrize("tests, summary, exit_code", [(SKIPPING_TESTS, "1 passed, 3 skipped, 1 xfailed", 0),
                                                       (SKIPPED_MODULE, "1 skipped", 5)])
def test_outside_ci_they_skip(tmp_path: Path, tests: str, summary: str, exit_code: int) -> None:
    done = run_pytest(tmp_path, ci=False, tests=tests)
    assert done.returncode == exit_code, done.stdout
    assert summary in done.stdout
