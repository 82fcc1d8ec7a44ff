"""Training on 240,000 synthetic leads, MLflow logging included (budget 60 s): python -m benchmarks.bench_train [ROWS] [--sqlite].

The leads are ingested into a fresh Postgres database (or SQLite with --sqlite) and a fresh local MLflow
store is migrated before the clock starts; the measured part is what `python -m flows.train` does inside
its flow: read labelled leads -> train (holdout model + refit) -> compare with the champion -> log and
register in MLflow -> write model_versions. It runs twice: the second run is compared with a champion.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

from benchmarks.harness import fresh_postgres_database, peak_rss_mb, timed, verdict

BUDGET_S = 60.0


def prepare_store(url: str, rows: int, folder: Path) -> None:
    """Synthetic labelled leads written as a raw CSV and ingested (not timed)."""
    from core.ingest import ingest_file
    from core.store import make_engine
    from core.synthetic import generate_leads, write_leads_csv

    path = folder / "leads.csv"
    write_leads_csv(generate_leads(rows, seed=5), path)
    engine = make_engine(url)
    print(ingest_file(engine, path).line())
    engine.dispose()


def measure_training(url: str, home: Path) -> None:
    """Two trainings in a row, each timed step by step."""
    os.environ["LEADSCORE_HOME"], os.environ["LEADSCORE_DATABASE_URL"] = str(home), url
    from core import registry
    from core.config import load_settings
    from core.store import make_engine

    settings = load_settings()
    registry.connect(settings).search_experiments()  # migrate the MLflow store before the clock starts
    engine = make_engine(url)
    for attempt in (1, 2):
        total = sum(_timed_steps(engine, settings))
        print(verdict(f"training run {attempt}, read -> train -> MLflow -> model_versions", total, BUDGET_S,
                      peak_mb=peak_rss_mb()))
    _time_features(registry.load_champion(settings).model, engine)


def _time_features(model, engine, rows: int = 1_000_000) -> None:
    """The scoring contract: LeadModel.features on a million leads (interactions pre-summed) well under 2 s."""
    from core import training

    leads = training.load_labelled_leads(engine)
    million = leads.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    _, seconds = timed(lambda: model.features(million))
    print(verdict(f"LeadModel.features on {rows:,} leads", seconds, 2.0, rows))


def _timed_steps(engine, settings) -> list[float]:
    from core import registry, training
    from core.model import train_candidate
    from core.store import engine_schema

    leads, read_s = timed(lambda: training.load_labelled_leads(engine))
    candidate, train_s = timed(lambda: train_candidate(leads, schema=engine_schema(engine)))
    decision, compare_s = timed(lambda: training.compare_with_champion(candidate,
                                                                        registry.load_champion_baseline(settings)))
    registered, log_s = timed(lambda: registry.register_candidate(settings, candidate, decision))
    _, record_s = timed(lambda: registry.record_version(engine, settings.model_name, registered, candidate, decision))
    m = candidate.metrics
    print(f"  {len(leads):,} labelled leads: read {read_s:.1f} s, train+refit {train_s:.1f} s, compare {compare_s:.1f} s, "
          f"MLflow log+register {log_s:.1f} s, model_versions {record_s:.2f} s")
    print(f"  {candidate.report['holdout_method']}; recall on new leads {candidate.report['recall_interval']}; "
          f"leakage warnings {len(candidate.report['leakage'])}")
    print(f"  holdout AUC {m['auc']:.4f} precision {m['precision']:.4f} recall {m['recall']:.4f}; "
          f"version {registered.version}: {decision.reason}")
    return [read_s, train_s, compare_s, log_s, record_s]


def main(rows: int, use_sqlite: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        folder = Path(tmp)
        database = nullcontext(f"sqlite:///{folder / 'bench.db'}") if use_sqlite else fresh_postgres_database()
        with database as url:
            print(f"{rows:,} synthetic labelled leads into {url.split(':')[0]}")
            prepare_store(url, rows, folder)
            measure_training(url, folder / "home")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 240_000, "--sqlite" in sys.argv)
