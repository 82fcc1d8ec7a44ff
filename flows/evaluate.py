"""Live performance flow: python -m flows.evaluate (each model version judged on the outcomes that came back)."""

from __future__ import annotations

import argparse

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.config import Settings, load_settings
from core.evaluation import EvaluationSummary, evaluate_live
from core.store import make_engine
from flows.cli import exit_promptly, run_command


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def compute_live_performance(settings: Settings) -> EvaluationSummary:
    """Select the scores given before each outcome arrived, compute and store the figures."""
    schema = settings.lead_schema()
    engine = make_engine(settings.resolved_database_url(), schema)
    try:
        return evaluate_live(engine, schema)
    finally:
        engine.dispose()


@flow(name="evaluate", log_prints=True)
def evaluate_flow() -> EvaluationSummary:
    """Live AUC, PR-AUC, precision, recall, completion per grade and calibration per version and week."""
    summary = compute_live_performance(load_settings())
    for line in summary.lines():
        print(line)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.evaluate", description=__doc__)
    parser.parse_args(argv)
    return run_command(lambda: print_lines(evaluate_flow()), precheck=lambda: load_settings().lead_schema())


def print_lines(summary: EvaluationSummary) -> None:
    """The figures on the command's stdout too (the flow's prints go to Prefect's log)."""
    for line in summary.lines():
        print(line)


if __name__ == "__main__":
    exit_promptly(main())
