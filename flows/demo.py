"""The whole product on a laptop: python -m flows.demo (synthetic history -> ingest -> train -> nightly batch -> score)."""

from __future__ import annotations

import argparse
import sys

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.config import load_settings
from core.errors import BadInputError
from core.lead_schema import load_schema
from core.store import make_engine
from core.synthetic import generate_leads, write_leads_csv
from flows.cli import run_command
from flows.ingest import ingest_flow
from flows.score import score_flow
from flows.train import train_flow

HISTORY_WINDOW = ("2021-07-01", "2022-02-28")  # the span of the real training data
NIGHTLY_WINDOW = ("2022-03-01", "2022-03-02")  # the next night: newer than anything the model saw


@task(cache_policy=NO_CACHE)
def write_synthetic_file(name: str, rows: int, seed: int, drifted: bool, labelled: bool, window: tuple[str, str]) -> str:
    """A synthetic CSV in the raw layout under LEADSCORE_HOME/demo."""
    folder = load_settings().home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    frame = generate_leads(rows, seed=seed, drifted=drifted, labelled=labelled, start=window[0], end=window[1])
    write_leads_csv(frame, path)
    return str(path)


@flow(name="demo", log_prints=True)
def demo_flow(history_rows: int = 60_000, nightly_rows: int = 8_000) -> None:
    """Synthetic history with outcomes, a champion, the history scored, then a drifted nightly batch scored."""
    history = write_synthetic_file("history.csv", history_rows, seed=1, drifted=False, labelled=True,
                                   window=HISTORY_WINDOW)
    ingest_flow([history])
    train_flow()
    score_flow()  # run 1: the history, close to the training reference
    nightly = write_synthetic_file("nightly.csv", nightly_rows, seed=2, drifted=True, labelled=False,
                                   window=NIGHTLY_WINDOW)
    ingest_flow([nightly])
    score_flow()  # run 2: last night's shifted leads; the drift report flags them
    print("demo data ready: open the dashboard with make dashboard")


def check_before_starting() -> None:
    """The demo's synthetic leads follow the built-in schema: refuse another one, or a database of another schema."""
    settings = load_settings()
    schema, builtin = settings.lead_schema(), load_schema()
    if schema.fingerprint != builtin.fingerprint:
        raise BadInputError(f"the demo runs on the built-in {builtin.name} schema, not {schema.name!r}: "
                            "unset LEADSCORE_SCHEMA")
    make_engine(settings.resolved_database_url(), schema).dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.demo", description=__doc__)
    parser.add_argument("--history-rows", type=int, default=60_000)
    parser.add_argument("--nightly-rows", type=int, default=8_000)
    args = parser.parse_args(argv)
    return run_command(lambda: demo_flow(args.history_rows, args.nightly_rows), precheck=check_before_starting)


if __name__ == "__main__":
    sys.exit(main())
