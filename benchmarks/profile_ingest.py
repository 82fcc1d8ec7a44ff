"""Where an ingest's time goes, stage by stage: wall time, this process's CPU time and, on Postgres, the CPU time of
the server processes serving the ingest's connections (the machine is shared, so CPU time pins a cause better).

python -m benchmarks.profile_ingest CSV [--store postgres|sqlite]. Each stage is a function of core.ingest,
core.schema or core.store timed on every call; stages nest (a stage's time includes the stages inside it).
Runs on a fresh database; not a test, and not part of `make bench` (bench_ingest gives the figure to judge).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# (module, attribute) of each stage, outermost first; an attribute missing in this version is skipped
STAGES = [
    ("core.ingest", "check_raw_csv"), ("core.ingest", "file_sha256"), ("core.ingest", "_batch_with_sha"),
    ("core.ingest", "_validated"),
    ("core.schema", "read_raw_csv"), ("core.schema", "_read_table"), ("core.schema", "_has_nul_byte"),
    ("core.schema", "_set_aside_unreadable_rows"), ("core.schema", "_text_frame"),
    ("core.schema", "validate_leads"), ("core.schema", "_typed_columns"), ("core.schema", "_parse_datetime"),
    ("core.schema", "wall_times_to_utc"), ("core.schema", "_parse_number"), ("core.schema", "_flag_number"),
    ("core.schema", "_flag_values"), ("core.schema", "_parse_label"), ("core.schema", "_file_lead_ids"),
    ("core.schema", "_content_hash"), ("core.schema", "_hex_ids"), ("core.schema", "_conflicting_repeats"),
    ("core.schema", "_rejected_rows"),
    ("core.ingest", "_write_batch"), ("core.ingest", "_lead_rows"), ("core.ingest", "_has_rows"),
    ("core.store", "bulk_insert"), ("core.store", "_copy_into_postgres"), ("core.store", "naive_utc"),
    ("core.store", "_executemany_into_sqlite"), ("core.store", "_sqlite_values"), ("core.store", "_executemany"),
    ("core.store", "bulk_load"), ("core.store", "_load_through_scratch_file"), ("core.store", "_sqlite_ready"),
    ("core.store", "_foreign_keys"), ("core.store", "detach_scratch"),
]


class Clocks:
    """Wall, own CPU and server CPU, summed per stage."""

    def __init__(self) -> None:
        self.server_pids: set[int] = set()
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
        self.order: list[str] = []

    def now(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), self.server_cpu()

    def server_cpu(self) -> float:
        ticks = 0
        for pid in self.server_pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def wrap(self, name: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if name not in self.totals:
                self.order.append(name)
            start = self.now()
            try:
                return function(*args, **kwargs)
            finally:
                end, total = self.now(), self.totals[name]
                total[0] += 1
                for i in range(3):
                    total[i + 1] += end[i] - start[i]
        return timed

    def report(self) -> str:
        lines = [f"{'stage':<32} {'calls':>5} {'wall s':>7} {'cpu s':>7} {'server cpu s':>12}"]
        for name in self.order:
            calls, wall, cpu, server = self.totals[name]
            lines.append(f"{name:<32} {calls:>5} {wall:>7.2f} {cpu:>7.2f} {server:>12.2f}")
        return "\n".join(lines)


def instrument(clocks: Clocks) -> None:
    for module_name, attribute in STAGES:
        module = importlib.import_module(module_name)
        if hasattr(module, attribute):
            setattr(module, attribute, clocks.wrap(attribute, getattr(module, attribute)))


def record_server_pids(engine, clocks: Clocks) -> None:
    from sqlalchemy import event, text

    with engine.connect() as conn:  # the pool's first connection existed before the listener
        clocks.server_pids.add(int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))

    @event.listens_for(engine, "connect")
    def _remember(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            clocks.server_pids.add(int(cursor.fetchone()[0]))


def profile(url: str, path: Path) -> None:
    from core.ingest import ingest_file
    from core.store import is_postgres, make_engine

    clocks = Clocks()
    engine = make_engine(url)
    if is_postgres(engine):
        record_server_pids(engine, clocks)
    instrument(clocks)
    run = clocks.wrap("ingest_file (all)", ingest_file)
    start = clocks.now()
    summary = run(engine, path)
    end = clocks.now()
    print(summary.line())
    print(clocks.report())
    print(f"total: wall {end[0] - start[0]:.2f} s, cpu {end[1] - start[1]:.2f} s, server cpu {end[2] - start[2]:.2f} s"
          f" | load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_ingest", description=__doc__)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="sqlite")
    args = parser.parse_args()
    if args.store == "postgres":
        from benchmarks.harness import fresh_postgres_database

        with fresh_postgres_database() as url:
            profile(url, args.csv)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            profile(f"sqlite:///{Path(tmp) / 'profile.db'}", args.csv)


if __name__ == "__main__":
    main()
