"""flows.cli.exit_promptly: a command ends without the interpreter's module teardown, yet everything a normal exit
does that matters still happens (threading's exit hooks such as Prefect's log workers, non-daemon threads such
as SQLite's background checkpoint, atexit handlers, buffered output) and the exit code is the command's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.paths import PROJECT_ROOT

PROGRAM = textwrap.dedent("""
    import atexit, sys, threading, time
    from pathlib import Path
    from flows.cli import exit_promptly

    out = Path(sys.argv[1])
    def late_thread():
        time.sleep(0.3)
        (out / "thread").write_text("joined")
    threading.Thread(target=late_thread).start()
    threading._register_atexit(lambda: (out / "threading_hook").write_text("ran"))
    atexit.register(lambda: (out / "atexit").write_text("ran"))
    sys.stdout.write("buffered, no newline")
    exit_promptly(int(sys.argv[2]))
""")


def _run(folder: Path, code: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, str(folder), str(code)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)


def test_exit_promptly_does_what_a_normal_exit_does_that_matters(tmp_path: Path):
    done = _run(tmp_path, 0)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "threading_hook").read_text() == "ran"
    assert (tmp_path / "atexit").read_text() == "ran"


def test_exit_promptly_keeps_the_command_exit_code(tmp_path: Path):
    assert _run(tmp_path, 3).returncode == 3
