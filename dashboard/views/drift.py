"""Drift (data team): how each scoring run's leads differ from the training reference, down to the column."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from dashboard import db, empty_states, queries, stored_json, style
from dashboard.evidently_report import show_snapshot

LOG_FLOOR = 1e-4  # a score of 0 is drawn here: a log axis has no zero


def history_charts(history: pd.DataFrame) -> tuple[go.Figure, go.Figure]:
    """Share of drifted columns per run, and predicted positive share against the reference's."""
    drifted = px.line(history, x="run_id", y="share_drifted_columns", markers=True,
                      title="Share of drifted columns per scoring run",
                      labels={"run_id": "scoring run", "share_drifted_columns": "share of columns drifted"})
    drifted.update_yaxes(tickformat=".0%", range=[0, 1])
    drifted.update_xaxes(type="category")
    shares = history.melt(id_vars="run_id", value_vars=["predicted_positive_share", "reference_positive_share"],
                          var_name="sample", value_name="share")
    shares["sample"] = shares["sample"].map({"predicted_positive_share": "this run",
                                             "reference_positive_share": "training reference"})
    positive = px.line(shares, x="run_id", y="share", color="sample", markers=True,
                       title="Share of leads predicted to convert", labels={"run_id": "scoring run", "share": ""})
    positive.update_yaxes(tickformat=".0%", range=[0, 1])
    positive.update_xaxes(type="category")
    for figure in (drifted, positive):
        figure.update_traces(marker={"size": 10})
    return style.tidy(drifted), style.tidy(positive)


def run_summary(run: pd.Series) -> None:
    """Headline figures of one run's report."""
    cards = st.columns(4)
    cards[0].metric("Columns drifted", style.share(run["share_drifted_columns"]))
    cards[1].metric("Dataset drift", "yes" if run["dataset_drift"] else "no")
    cards[2].metric("Leads in this run", f"{int(run['rows_current']):,}")
    cards[3].metric("Reference rows", f"{int(run['rows_reference']):,}")


def column_chart(columns: pd.DataFrame) -> go.Figure:
    """Each column's drift score next to its threshold (log scale: p-values drift below it, distances above)."""
    shown = columns.sort_values(["drifted", "column"], ascending=[True, False])
    colours = shown["drifted"].map({True: "#d73027", False: "#4575b4"})
    figure = go.Figure([
        go.Scatter(x=shown["threshold"], y=shown["column"], mode="markers", name="threshold",
                   marker={"symbol": "line-ns-open", "size": 18, "color": "#555555", "line": {"width": 2}}),
        go.Scatter(x=shown["score"].astype(float).clip(lower=LOG_FLOOR), y=shown["column"], mode="markers",
                   name="score (red = drifted)", marker={"size": 12, "color": colours},
                   customdata=list(zip(shown["method"], shown["score"], strict=True)),
                   hovertemplate="%{y}: %{customdata[1]} (%{customdata[0]})<extra></extra>"),
    ])
    figure.update_layout(title="Drift score per column, against its threshold")
    figure.update_xaxes(type="log", title=f"score (log scale; 0 drawn at {LOG_FLOOR:g})")
    figure.update_yaxes(type="category")
    return style.tidy(figure, height=max(300, 30 * len(columns) + 120))


def full_report(engine: Engine, run_id: int) -> None:
    """The full Evidently report, rendered from the stored snapshot only when asked (it is heavy)."""
    if not st.toggle("Show the full Evidently report", key="show_report"):
        return
    snapshot = queries.drift_snapshot(engine, run_id)
    show_snapshot(snapshot, "full report", "The summary above is unaffected.")


def main() -> None:
    """The page."""
    st.title("Drift")
    engine, _ = empty_states.require(("drift_reports",), empty_states.NO_DRIFT)
    st.caption("Each scoring run compares its leads with the training reference (Evidently). Many drifted "
               "columns or a moving predicted share mean the model may need retraining.")
    history = queries.drift_history(engine)
    drifted, positive = history_charts(history)
    left, right = st.columns(2)
    left.plotly_chart(drifted, key="drift_history_chart")
    right.plotly_chart(positive, key="positive_share_chart")
    with st.expander(f"Numbers by run ({len(history)} runs)"):
        st.dataframe(history, hide_index=True, key="drift_history_numbers")
    runs = list(history["run_id"].astype(int))[::-1]
    run_id = st.selectbox("Scoring run", runs, key="drift_run", format_func=lambda r: f"run {r}")
    run = history.set_index("run_id").loc[run_id]
    run_summary(run)
    columns = stored_json.column_scores(queries.drift_column_scores(engine, run_id))
    columns["column"] = columns["column"].map(db.schema_view().label_of)  # the schema's labels for features
    if columns.empty:
        st.caption("Per-column scores: n/a (not stored for this run)")
    else:
        st.plotly_chart(column_chart(columns), key="column_chart")
        st.dataframe(columns, hide_index=True, key="column_table")
    full_report(engine, run_id)


main()
