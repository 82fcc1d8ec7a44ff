"""The dashboard's aggregates of the current scores (core/score_aggregates.py), a step of the scoring flow and of
an ingest that records outcomes: the pages sum them instead of reading every score on every view."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from core.config import Settings
from core.score_aggregates import RunSums, refresh_score_aggregates
from core.store import make_engine


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def store_dashboard_aggregates(settings: Settings, run_sums: RunSums | None = None) -> str:
    """Replace the stored aggregates by those of the current scores and outcomes (one transaction); a scoring run
    hands over the sums of the leads it scored, so only the other current scores are read back."""
    engine = make_engine(settings.resolved_database_url(), settings.lead_schema())
    try:
        written = refresh_score_aggregates(engine, settings.lead_schema(), run_sums)
    finally:
        engine.dispose()
    return "no scoring run has succeeded yet: no dashboard aggregates" if written is None else written.line()
