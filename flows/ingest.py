"""Ingest flow: python -m flows.ingest PATH... (each file in its own transaction)."""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import DBAPIError

from core.config import Settings, load_settings
from core.errors import BadInputError
from core.ingest import IngestSummary, file_away, ingest_file, landing_files
from core.outcomes import FeedSummary, is_outcome_feed
from core.schema import check_raw_csv
from core.store import SchemaMismatchError, make_engine
from flows.aggregates import store_dashboard_aggregates
from flows.cli import exit_promptly, retry_unless_bad_input, run_command
from flows.evaluate import compute_live_performance


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_unless_bad_input)
def ingest_one(database_url: str, path: Path) -> IngestSummary | FeedSummary:
    """Validate one file by the lead schema (LEADSCORE_SCHEMA) and write it in one transaction."""
    engine = make_engine(database_url, load_settings().lead_schema())
    try:
        return ingest_file(engine, path)
    finally:
        engine.dispose()


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str]) -> list[IngestSummary]:
    """Ingest each file; a bad file is refused whole and stops the run with its reason."""
    settings = load_settings()
    summaries = []
    for path in paths:
        summary = ingest_one(settings.resolved_database_url(), Path(path))
        print(summary.line())
        summaries.append(summary)
    evaluate_if_labels_recorded(settings, summaries)
    return summaries


def evaluate_if_labels_recorded(settings: Settings, summaries: list) -> None:
    """Outcomes came back: judge every model version on them again (python -m flows.evaluate's work), and count
    them into the dashboard's aggregates."""
    if any(s.labels_recorded and not s.already_ingested for s in summaries):
        for line in compute_live_performance(settings).lines():
            print(line)
        print(store_dashboard_aggregates(settings))


@flow(name="ingest-landing", log_prints=True)
def ingest_landing_flow(folder: str | None = None) -> list[IngestSummary]:
    """Scheduled ingest: every CSV in the landing folder; done files move to processed/, bad ones to refused/."""
    settings = load_settings()
    landing = Path(folder) if folder else settings.home / "landing"
    _check_database(settings)  # a bad schema or a database of another schema is no file's fault: files stay
    summaries = []
    for path in landing_files(landing):
        try:
            summaries.append(ingest_one(settings.resolved_database_url(), path))
            print(summaries[-1].line())
            file_away(path, "processed")
        except (DBAPIError, SchemaMismatchError):
            raise  # the database is down or holds another schema's leads: leave the file for the next run
        except Exception as error:  # noqa: BLE001 - one bad file must not block the folder's later files
            reason = str(error) if isinstance(error, BadInputError) else f"{type(error).__name__}: {error}"
            print(f"refused {path.name}: {reason}")
            file_away(path, "refused", reason)
    evaluate_if_labels_recorded(settings, summaries)
    return summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.ingest", description=__doc__)
    parser.add_argument("paths", nargs="+", help="CSV files in the raw lead layout")
    args = parser.parse_args(argv)
    return run_command(lambda: ingest_flow(args.paths), precheck=lambda: _check_inputs(args.paths))


def _check_inputs(paths: list[str]) -> None:
    """Before Prefect starts: the schema file, every file's header, then the database's schema (one line each)."""
    settings = load_settings()
    schema = settings.lead_schema()
    for path in paths:
        if not is_outcome_feed(Path(path), schema):
            check_raw_csv(Path(path), schema)
    _check_database(settings)


def _check_database(settings: Settings) -> None:
    make_engine(settings.resolved_database_url(), settings.lead_schema()).dispose()


if __name__ == "__main__":
    exit_promptly(main())
