"""One typed settings object, read from the environment when asked for (never at import)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.clock import DEFAULT_TIMEZONE, zone_named
from core.lead_schema import LeadSchema, load_schema


class Settings(BaseSettings):
    """Where the platform keeps its data and models; env prefix LEADSCORE_."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore")

    home: Path = Path(".leadscore")
    database_url: str | None = None
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI")
    )
    model_name: str = "lead-scoring-l2ac"
    experiment_name: str = "lead-scoring"
    score_chunk_rows: int = 200_000
    registry_attempts: int = 4  # scoring asks MLflow this many times before giving up (an outage)
    registry_backoff_s: float = 1.0  # pause after the first failed attempt, doubled after each (1 + 2 + 4 s)
    retrain_min_live_outcomes: int = 200  # LEADSCORE_RETRAIN_MIN_LIVE_OUTCOMES: live figures trusted from this many
    retrain_drift_runs: int = 3  # LEADSCORE_RETRAIN_DRIFT_RUNS: drift flagged on this many consecutive runs
    retrain_new_outcomes: int = 5_000  # LEADSCORE_RETRAIN_NEW_OUTCOMES: outcomes recorded since the champion's training
    dask_address: str | None = None  # LEADSCORE_DASK_ADDRESS=tcp://host:8786: score partitions on that Dask cluster
    dask_workers: int = 0  # LEADSCORE_DASK_WORKERS=N: on a local Dask cluster of N workers; 0 (and no address) = one process
    dask_no_worker_patience_s: float = 120.0  # LEADSCORE_DASK_NO_WORKER_PATIENCE_S: a run fails once its cluster has had no worker this long
    cache_dir: Path | None = None  # LEADSCORE_CACHE_DIR: compiled trees (core/forest.py); default home/cache
    spill_dir: Path | None = None  # LEADSCORE_SPILL_DIR: partition files; a folder every Dask worker shares
    schema_path: Path | None = Field(default=None, validation_alias=AliasChoices("LEADSCORE_SCHEMA"))  # LEADSCORE_SCHEMA: the lead schema file; None = the built-in CodePro schema
    timezone: str = DEFAULT_TIMEZONE  # LEADSCORE_TIMEZONE: the business time zone (IANA name); stored times are UTC

    def business_zone(self) -> ZoneInfo:
        """The business time zone (core/clock.py); a name that is not an IANA zone raises TimeZoneError (one line)."""
        return zone_named(self.timezone or DEFAULT_TIMEZONE)

    def lead_schema(self) -> LeadSchema:
        """The lead schema every layer reads (a bad file raises SchemaError with one line)."""
        return load_schema(self.schema_path)

    def resolved_database_url(self) -> str:
        """The database URL: LEADSCORE_DATABASE_URL, else SQLite under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'leadscore.db').resolve()}"

    def resolved_tracking_uri(self) -> str:
        """The MLflow store: MLFLOW_TRACKING_URI, else a SQLite store under home."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def scores_on_dask(self) -> bool:
        """Scoring splits into partitions on Dask when a cluster address or a local worker count is set."""
        return bool(self.dask_address) or self.dask_workers > 0

    def resolved_spill_dir(self) -> Path:
        """Where scored partitions are spilled: LEADSCORE_SPILL_DIR, else home/spill."""
        return (self.spill_dir or self.home / "spill").resolve()

    def resolved_cache_dir(self) -> Path:
        """What may be rebuilt at any time (compiled trees): LEADSCORE_CACHE_DIR, else home/cache."""
        return (self.cache_dir or self.home / "cache").resolve()

    def artifact_root(self) -> str:
        """Where a local MLflow store keeps artifacts."""
        return (self.home / "mlartifacts").resolve().as_uri()

    def ensure_home(self) -> None:
        """Create the home folder (only for the embedded defaults)."""
        self.home.mkdir(parents=True, exist_ok=True)


def load_settings() -> Settings:
    """Read and validate settings from the environment at the entry point (a bad LEADSCORE_TIMEZONE is refused
    here, before anything runs)."""
    settings = Settings()
    settings.business_zone()
    settings.ensure_home()
    return settings
