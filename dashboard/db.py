"""The dashboard's one read-only database engine per process, and cached calls into the queries module."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from core.clock import postgres_session_options, zone_name
from core.config import Settings
from core.lead_schema import parse_schema
from dashboard import aggregates, queries
from dashboard.schema_view import SchemaView, view_of

DASHBOARD_URL_ENV = "LEADSCORE_DASHBOARD_DATABASE_URL"
CACHE_SECONDS = 300


def database_url() -> str:
    """LEADSCORE_DASHBOARD_DATABASE_URL (the read-only role) if set, else the platform's database."""
    return os.environ.get(DASHBOARD_URL_ENV) or Settings().resolved_database_url()


def shown_url(url: str) -> str:
    """The URL without its password, for captions and messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL and process; it never creates tables and refuses to write."""
    path = sqlite_path(url)
    if path is not None:
        uri = f"{path.as_uri()}?mode=ro"
        return create_engine(url, poolclass=QueuePool, creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=30, check_same_thread=False))
    if make_url(url).get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True,
                             connect_args=postgres_session_options("default_transaction_read_only=on"))
    return create_engine(url, pool_pre_ping=True)


def open_engine() -> Engine | None:
    """The engine for the configured database, or None when its SQLite file does not exist yet."""
    url = database_url()
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    return engine_for(url)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _cached_call(url: str, query_name: str, args: tuple, scoring_marker: str, aggregates_run: int | None) -> Any:
    """From the run's stored aggregates when they answer (dashboard/aggregates.py), else from the scores."""
    engine = engine_for(url)
    if aggregates_run is not None and hasattr(aggregates, query_name):
        answer = getattr(aggregates, query_name)(engine, aggregates_run, *args)
        if answer is not None:
            return answer
    return getattr(queries, query_name)(engine, *args)


def cached(query: Callable[..., Any], *args: Any) -> Any:
    """A heavy aggregate from the queries module, cached per database until the next scoring run (at most 5 min);
    read from the aggregates the latest scoring run stored when they are those of the current scores."""
    url = database_url()
    zone = zone_name()
    with engine_for(url).connect() as conn:  # two tiny reads on one connection
        marker, run = f"{queries.scoring_marker(conn)}:{zone}", aggregates.usable_run(conn, zone)
    return _cached_call(url, query.__name__, args, marker, run)


def schema_view() -> SchemaView:
    """The lead schema of the database in use (its `schema_info`), else LEADSCORE_SCHEMA or the built-in one."""
    engine = open_engine()
    source = queries.stored_schema_text(engine) if engine is not None else None
    return _view_of(source, _fallback_key() if source is None else "")


def _fallback_key() -> str:
    """LEADSCORE_SCHEMA and when its file last changed (an edited file is read again)."""
    path = os.environ.get("LEADSCORE_SCHEMA") or ""
    stamp = Path(path).stat().st_mtime_ns if path and Path(path).is_file() else 0
    return f"{path}:{stamp}"


@st.cache_resource(show_spinner=False, max_entries=16)
def _view_of(source: str | None, fallback: str) -> SchemaView:
    """Parsed once per schema text (the fallback file keys the cache when the database records none)."""
    schema = parse_schema(source, origin="schema_info") if source else Settings().lead_schema()
    return view_of(schema)
