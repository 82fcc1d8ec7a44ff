"""Pipeline health (data team): where every ingested row went, why rows were rejected, how scoring runs went."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from dashboard import empty_states, queries, style

STATUS_COLOURS = {"success": "#1a9850", "succeeded": "#1a9850", "completed": "#1a9850", "running": "#4575b4",
                  "failed": "#d73027", "crashed": "#d73027"}
OUTCOME_COLOURS = {"loaded": "#1a9850", "duplicate": "#999999", "rejected": "#d73027"}


def headline(batches: pd.DataFrame, runs: pd.DataFrame) -> None:
    """Totals across all batches and the latest scoring run."""
    cards = st.columns(5)
    cards[0].metric("Files ingested", f"{len(batches):,}")
    cards[1].metric("Rows in", f"{int(batches['rows_in'].sum()):,}")
    cards[2].metric("Loaded", f"{int(batches['loaded'].sum()):,}")
    cards[3].metric("Rejected", f"{int(batches['rejected'].sum()):,}")
    if runs.empty:
        cards[4].metric("Last scoring run", "none yet")
    else:
        cards[4].metric(f"Last scoring run (#{runs.iloc[0]['run_id']})", str(runs.iloc[0]["status"]))


def batch_chart(batches: pd.DataFrame) -> go.Figure:
    """Per batch: loaded, duplicate and rejected rows stacked (together they are the rows in)."""
    ordered = batches.sort_values("batch_id")
    names = ordered["batch_id"].astype(str) + " · " + ordered["file_name"]
    figure = go.Figure([go.Bar(x=names, y=ordered[outcome], name=outcome, marker_color=colour)
                        for outcome, colour in OUTCOME_COLOURS.items()])
    figure.update_layout(barmode="stack", title="Where each file's rows went", yaxis_title="rows",
                         legend_traceorder="normal")
    figure.update_xaxes(type="category")
    return style.tidy(figure)


def rejected_section(engine: Engine, batches: pd.DataFrame) -> None:
    """Why rows were rejected, and the rows themselves."""
    st.subheader("Rejected rows")
    reasons = queries.rejection_reasons(engine)
    if reasons.empty:
        st.success("No row has been rejected.", icon=":material/check_circle:")
        return
    figure = px.bar(reasons.head(15).sort_values("rows_rejected"), x="rows_rejected", y="reason",
                    orientation="h", title="Rejection reasons", color_discrete_sequence=["#d73027"],
                    labels={"rows_rejected": "rows rejected"})
    figure.update_yaxes(title=None)
    st.plotly_chart(style.tidy(figure, height=max(260, 30 * min(len(reasons), 15) + 90)), key="reasons_chart")
    choices = [None, *batches["batch_id"].astype(int).tolist()]
    batch = st.selectbox("Batch", choices, key="rejected_batch",
                         format_func=lambda b: "all batches" if b is None else f"batch {b}")
    rows = queries.rejected_rows(engine, batch)
    st.caption(f"{len(rows):,} rows shown (at most {queries.REJECTED_ROWS_MAX:,}).")
    st.dataframe(rows, hide_index=True, key="rejected_table")


def runs_section(runs: pd.DataFrame) -> None:
    """Scoring runs: status, leads scored and duration."""
    st.subheader("Scoring runs")
    if runs.empty:
        st.info("No scoring run yet: `python -m flows.score` scores the stored leads with the champion model.")
        return
    shown = runs.sort_values("run_id")
    figure = go.Figure(go.Bar(
        x="run " + shown["run_id"].astype(str), y=shown["duration_s"], text=shown["leads_scored"].map("{:,} leads".format),
        marker_color=[STATUS_COLOURS.get(str(s).lower(), "#999999") for s in shown["status"]],
        hovertext=shown["status"]))
    figure.update_layout(title="Scoring runs: duration in seconds (green succeeded, red failed)", yaxis_title="seconds",
                         bargap=0.5 if len(shown) < 4 else 0.2)
    figure.update_xaxes(type="category")
    st.plotly_chart(style.tidy(figure), key="runs_chart")
    failed = runs[runs["error"].notna()]
    for _, run in failed.head(3).iterrows():
        st.warning(f"Run {run['run_id']} ({run['status']}): {run['error']}", icon=":material/error:")
    st.dataframe(runs, hide_index=True, key="runs_table")


def main() -> None:
    """The page."""
    st.title("Pipeline health")
    engine, _ = empty_states.require(("ingest_batches", "scoring_runs"), empty_states.NO_PIPELINE, any_of=True)
    batches, runs = queries.ingest_batches(engine), queries.scoring_runs(engine)
    headline(batches, runs)
    st.subheader("Ingested files")
    if batches.empty:
        st.info("No file ingested yet: `python -m flows.ingest FILE.csv`.")
    else:
        st.plotly_chart(batch_chart(batches), key="batches_chart")
        st.dataframe(batches, hide_index=True, key="batches_table")
        rejected_section(engine, batches)
    runs_section(runs)


main()
