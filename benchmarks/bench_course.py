"""Side by side, in one run: ingest + score of the same 1,000,000-row CodePro file, ours on the embedded default
(SQLite) against the course pipeline's approach (../shared/bench/course_approach.py), and the speed-up factor,
with a Prefect server running and without one (budget: >= 8x faster with a server running).

python -m benchmarks.bench_course [ROWS]   (default 1000000; LEADSCORE_BENCH_SHARED = the shared folder)

The file is made by the course bench's make_big.py (the course's nightly file repeated with shifted times).
The course approach runs as its own process: its printed total (CSV -> stored predictions; its training is
not in it) is the figure compared. Ours is what a newcomer runs: `python -m flows.ingest BIG.csv` then
`python -m flows.score`, each a full command (Prefect start-up included), timed from launch to exit, on a
home prepared beforehand (course dev leads ingested, a champion trained and its leads scored: training is
not timed on either side). Each mode gets its own copy of that home. Peak memory is each process's own
(wait4's max RSS).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import verdict

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LEADSCORE_BENCH_SHARED", ROOT.parent / "shared"))  # ../shared beside the clone
DATA = SHARED / "data"
COURSE = SHARED / "bench"
TARGET_FACTOR = 8.0
PREFECT_PORT = int(os.environ.get("LEADSCORE_BENCH_PREFECT_PORT", "4291"))
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@dataclass(frozen=True)
class Measured:
    """One process: wall seconds from launch to exit, peak memory, what it printed."""

    seconds: float
    peak_mb: float
    output: str


def run_measured(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> Measured:
    """Run a command to its end; its own peak RSS comes from wait4."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{output[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, output)


def make_big_file(rows: int, folder: Path) -> Path:
    """The course bench's real-like file of `rows` rows."""
    path = folder / f"codepro_{rows}.csv"
    subprocess.run([sys.executable, str(COURSE / "make_big.py"), str(DATA / "leadscoring_inference.csv"), str(rows),
                    str(path)], check=True, stdout=subprocess.DEVNULL)
    return path


def course_approach(big: Path, folder: Path) -> tuple[float, Measured]:
    """The course pipeline on the file: its own total (CSV -> predictions stored) and the whole process."""
    measured = run_measured([sys.executable, str(COURSE / "course_approach.py"), str(DATA / "leads_labelled_dev.csv"),
                             str(big), str(folder / "course")], env={**os.environ}, cwd=COURSE)
    found = re.search(r"total_s=([0-9.]+)", measured.output)
    if not found:
        raise RuntimeError(f"course_approach printed no total:\n{measured.output[-2000:]}")
    return float(found.group(1)), measured


def product_env(home: Path, api_url: str | None) -> dict[str, str]:
    """Our commands' environment: the embedded default under `home`, Prefect's server or none."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEADSCORE_", "MLFLOW_", "PREFECT_API_URL"))}
    env.update(QUIET, LEADSCORE_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def prepare_home(home: Path, api_url: str) -> None:
    """A champion trained on the course's dev leads, those leads scored: what exists before the nightly file."""
    env = product_env(home, api_url)
    for command in (["flows.ingest", str(DATA / "leads_labelled_dev.csv")], ["flows.train"], ["flows.score"]):
        run_measured([sys.executable, "-m", *command], env)


def ours(big: Path, home: Path, api_url: str | None) -> tuple[Measured, Measured]:
    """The newcomer's two commands on the file."""
    env = product_env(home, api_url)
    ingest = run_measured([sys.executable, "-m", "flows.ingest", str(big)], env)
    score = run_measured([sys.executable, "-m", "flows.score"], env)
    return ingest, score


class PrefectServer:
    """`prefect server start` on a free port for the bench's duration (what `make serve` runs)."""

    def __init__(self, home: Path, port: int = PREFECT_PORT) -> None:
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = {**os.environ, **QUIET, "PREFECT_HOME": str(home / "prefect-server")}
        env.pop("PREFECT_API_URL", None)
        self.log = (home / "prefect-server.log").open("w")
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
                                         "127.0.0.1", "--port", str(port)], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def wait(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.api_url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the Prefect server did not answer at {self.api_url} within {seconds:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def report_ours(mode: str, ingest: Measured, score: Measured, course_total: float) -> float:
    total = ingest.seconds + score.seconds
    factor = course_total / total
    print(f"ours, {mode}: ingest {ingest.seconds:.1f} s (peak {ingest.peak_mb:,.0f} MB) + score {score.seconds:.1f} s "
          f"(peak {score.peak_mb:,.0f} MB) = {total:.1f} s -> {factor:.1f}x faster than the course approach"
          + ("  OK" if factor >= TARGET_FACTOR else f"  BELOW the {TARGET_FACTOR:.0f}x target"), flush=True)
    for line in (ingest.output + score.output).splitlines():
        if re.search(r"in \d+ / loaded|^.*run \d+: scored", line):
            print("    " + line.strip()[-160:])
    return factor


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="leadscore-course-") as tmp:
        folder = Path(tmp)
        big = make_big_file(rows, folder)
        print(f"{big.name}: {rows:,} rows, {big.stat().st_size / 1e6:.0f} MB", flush=True)
        server = PrefectServer(folder)
        try:
            server.wait()
            prepare_home(folder / "prepared", server.api_url)
            shutil.copytree(folder / "prepared", folder / "with-server")
            shutil.copytree(folder / "prepared", folder / "no-server")
            course_total, course = course_approach(big, folder)
            print(f"course approach: {course_total:.1f} s CSV -> stored predictions (whole process with its training "
                  f"{course.seconds:.1f} s, peak {course.peak_mb:,.0f} MB)", flush=True)
            with_server = ours(big, folder / "with-server", server.api_url)
        finally:
            server.stop()
        without = ours(big, folder / "no-server", None)
        report_ours("Prefect server running", *with_server, course_total)
        report_ours("no Prefect server (a temporary one per command)", *without, course_total)
        total = with_server[0].seconds + with_server[1].seconds
        print(verdict(f"ingest + score {rows:,} rows, server running", total, course_total / TARGET_FACTOR, rows,
                      max(with_server[0].peak_mb, with_server[1].peak_mb)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
