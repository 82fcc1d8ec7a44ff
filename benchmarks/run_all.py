"""make bench: every scale benchmark in turn, each in its own process."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("bench_synthetic", "bench_ingest", "bench_train", "bench_score", "bench_drift", "bench_dashboard",
              "bench_course")  # last: ours vs the course approach on the same 1M-row file (~4 min, ~12 GB for theirs)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"]).returncode != 0:
            failed.append(name)
    print("\nfailed to run: " + ", ".join(failed) if failed else "\nall benchmarks ran")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
