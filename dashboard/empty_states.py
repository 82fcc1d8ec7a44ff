"""What a page shows instead of a traceback when there is nothing to show yet."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from dashboard import db, queries

NO_DATABASE = ("No database yet at `{path}`. Run `make demo` to create one with synthetic leads "
               "(ingest, train, score), or point `LEADSCORE_DATABASE_URL` at your database.")
NO_SCORES = ("No scores yet: run `make demo`, or ingest leads (`python -m flows.ingest FILE.csv`), "
             "train (`python -m flows.train`) and score them (`python -m flows.score`).")
NO_MODEL = "No model trained yet: run `make demo`, or `python -m flows.train` once labelled leads are ingested."
NO_DRIFT = ("No drift reports yet: every scoring run writes one. Run `make demo`, or `python -m flows.score` "
            "once a champion model exists.")
NO_OUTCOMES = ("No outcomes have come back yet: ingest an outcome feed (id + label columns) with "
               "`python -m flows.ingest FILE.csv`; `python -m flows.evaluate` then judges each model version on them.")
NO_LIVE_BANDS = ("No live outcomes yet: no lead's outcome arrived after it was scored. The chart above uses every "
                 "known outcome with the current score, including leads the model may have been trained on.")
NO_DECISIONS = "No retraining decisions yet: the nightly flow records one, with its reason, every night it runs."
NO_PIPELINE = ("Nothing has run yet: run `make demo`, or ingest a file with `python -m flows.ingest FILE.csv` "
               "and score with `python -m flows.score`.")


def require(tables: tuple[str, ...], message: str, any_of: bool = False) -> tuple[Engine, set[str]]:
    """The engine, or an explanation and a stop when the database or the needed rows are missing."""
    engine = db.open_engine()
    if engine is None:
        st.info(NO_DATABASE.format(path=db.sqlite_path(db.database_url())), icon=":material/database:")
        st.stop()
    present = queries.tables_with_rows(engine)
    found = [name in present for name in tables]
    if not (any(found) if any_of else all(found)):
        st.info(message, icon=":material/hourglass_empty:")
        st.stop()
    return engine, present
