"""The whole product on a laptop: python -m flows.demo.

Synthetic history -> ingest -> train -> score; a drifted nightly batch -> ingest -> score; then half the nightly
leads' outcomes come back as an outcome feed (lead_id + label, ingested like any file, which evaluates live
performance) and the nightly retraining decision is taken on that evidence, with its reason (no retraining with
the defaults: the live figures clear the bars and 4,000 new outcomes are under LEADSCORE_RETRAIN_NEW_OUTCOMES).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.config import load_settings
from core.errors import BadInputError
from core.lead_schema import load_schema
from core.store import make_engine
from core.synthetic import codepro_layout, generate_leads, write_leads_csv
from flows.cli import exit_promptly, run_command
from flows.ingest import ingest_flow
from flows.retrain import retrain_on_evidence
from flows.score import score_flow
from flows.train import train_flow

HISTORY_WINDOW = ("2021-07-01", "2022-02-28")  # the span of the real training data
NIGHTLY_WINDOW = ("2022-03-01", "2022-03-02")  # the next night: newer than anything the model saw
NIGHTLY_ID_PREFIX = "night-"
OUTCOMES_BACK = 0.5  # the share of last night's leads whose outcome is known the next day (the rest come later)


def demo_folder() -> Path:
    folder = load_settings().home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@task(cache_policy=NO_CACHE)
def write_synthetic_file(name: str, rows: int, seed: int, drifted: bool, labelled: bool, window: tuple[str, str]) -> str:
    """A synthetic CSV in the raw layout under LEADSCORE_HOME/demo."""
    path = demo_folder() / name
    frame = generate_leads(rows, seed=seed, drifted=drifted, labelled=labelled, start=window[0], end=window[1])
    write_leads_csv(frame, path)
    return str(path)


@task(cache_policy=NO_CACHE)
def write_nightly_batch(rows: int, seed: int) -> tuple[str, str]:
    """Last night's drifted leads, each with the lead_id a CRM gives it, generated with their outcomes: (the leads
    file without labels, the outcome feed kept aside until after scoring: lead_id + label of the share of those
    leads whose outcome came back, as a CRM exports it)."""
    layout = codepro_layout()
    frame = generate_leads(rows, seed=seed, drifted=True, labelled=True, start=NIGHTLY_WINDOW[0],
                           end=NIGHTLY_WINDOW[1])
    frame.insert(0, layout.lead_id, [f"{NIGHTLY_ID_PREFIX}{i:06d}" for i in range(1, len(frame) + 1)])
    leads, outcomes = demo_folder() / "nightly.csv", demo_folder() / "nightly-outcomes.csv"
    write_leads_csv(frame.drop(columns=[layout.label]), leads)
    came_back = frame.sample(frac=OUTCOMES_BACK, random_state=seed).sort_index()
    came_back[[layout.lead_id, layout.label]].to_csv(outcomes, index=False)
    return str(leads), str(outcomes)


@flow(name="demo", log_prints=True)
def demo_flow(history_rows: int = 60_000, nightly_rows: int = 8_000) -> None:
    """Synthetic history with outcomes, a champion, the history scored, a drifted nightly batch scored, then the
    outcomes of half the nightly leads fed back: live figures and a retraining decision with its reason."""
    history = write_synthetic_file("history.csv", history_rows, seed=1, drifted=False, labelled=True,
                                   window=HISTORY_WINDOW)
    ingest_flow([history])
    train_flow()
    score_flow()  # run 1: the history, close to the training reference
    nightly, outcomes = write_nightly_batch(nightly_rows, seed=2)
    ingest_flow([nightly])
    run = score_flow()  # run 2: last night's shifted leads; the drift report flags them
    ingest_flow([outcomes])  # half their outcomes come back: labels recorded, then live performance evaluated
    retrain_on_evidence(load_settings(), run.model_version)  # the nightly decision, now on live outcomes
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
    exit_promptly(main())
