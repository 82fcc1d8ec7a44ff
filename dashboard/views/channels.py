"""Channels (sales manager): volume, score, grade mix and actual conversion by each of the schema's channels,
over weeks and score bands."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import channel_stats, db, empty_states, queries, style
from dashboard.queries import FilterOptions
from dashboard.schema_view import ListColumn, SchemaView

TOP_CHANNELS = 15
TREND_LINES = 6
MIN_CHANNEL_LEADS = 30
MIN_CHANNEL_SHARE = 0.005


def sidebar(options: FilterOptions, view: SchemaView) -> tuple[ListColumn, date, date]:
    """Which breakdown (one of the schema's channels) and which created-date (or ingest-date) window."""
    st.sidebar.header("Channels")
    labels = {c.key: c.label for c in view.channels}
    key = st.sidebar.radio("Break down by", list(labels), format_func=labels.get, key="dimension")
    picked = st.sidebar.date_input(f"Leads {view.time_word.lower()} between", value=(options.first_created, options.last_created),
                                   min_value=options.first_created, max_value=options.last_created, key="window")
    picked = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    start = picked[0] if picked else options.first_created
    end = picked[1] if len(picked) > 1 else options.last_created
    return view.column(key), start, end


def headline(grades: pd.DataFrame) -> None:
    """Leads, mean score and actual conversion over the window."""
    leads, known = int(grades["leads"].sum()), int(grades["with_outcome"].sum())
    mean = float((grades["mean_score"].astype(float) * grades["leads"]).sum() / leads) if leads else None
    cards = st.columns(4)
    cards[0].metric("Leads", f"{leads:,}")
    cards[1].metric("Mean score", "n/a" if mean is None else f"{mean:.3f}")
    cards[2].metric("Leads with a known outcome", f"{known:,}")
    cards[3].metric("Actual conversion", style.share(grades["completed"].sum() / known if known else None))


def volume_chart(top: pd.DataFrame, dimension: str) -> go.Figure:
    """Stacked bars: lead volume per channel split by grade."""
    order = top.sort_values("leads")
    figure = go.Figure([go.Bar(y=order["channel"], x=order[f"grade_{g.lower()}"], name=g, orientation="h",
                               marker_color=style.GRADE_COLOURS[g]) for g in style.GRADES])
    figure.update_layout(barmode="stack", title=f"Lead volume and grade mix by {dimension.lower()}",
                         xaxis_title="leads", legend_traceorder="normal")
    figure.update_yaxes(type="category")
    return style.tidy(figure, height=420)


def conversion_chart(top: pd.DataFrame, dimension: str) -> go.Figure:
    """Grouped bars: mean score next to the actual conversion of each channel."""
    figure = go.Figure([
        go.Bar(y=top["channel"], x=top["mean_score"], name="mean score", orientation="h", marker_color="#4575b4"),
        go.Bar(y=top["channel"], x=top["conversion"], name="actual conversion", orientation="h", marker_color="#fdae61"),
    ])
    figure.update_layout(barmode="group", title=f"Mean score vs actual conversion by {dimension.lower()}")
    figure.update_yaxes(categoryorder="array", categoryarray=list(top["channel"])[::-1], type="category")
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    return style.tidy(figure, height=420)


def junk_volume_floor(summary: pd.DataFrame) -> int:
    """Channels smaller than this are left out of the junk chart: 3 leads of grade D out of 3 say nothing."""
    return max(MIN_CHANNEL_LEADS, int(summary["leads"].sum() * MIN_CHANNEL_SHARE))


def junk_chart(summary: pd.DataFrame, dimension: str) -> go.Figure:
    """Where junk comes from: share of grade D per channel (channels of a meaningful size), worst first."""
    floor = junk_volume_floor(summary)
    worst = summary[summary["leads"] >= floor].nlargest(TOP_CHANNELS, "share_d").sort_values("share_d")
    labels = [f"{d:,} of {n:,}" for d, n in zip(worst["grade_d"], worst["leads"], strict=True)]
    figure = px.bar(worst, y="channel", x="share_d", orientation="h", text=labels,
                    title=f"Where junk comes from: share of grade D by {dimension.lower()} (≥ {floor:,} leads)",
                    labels={"share_d": "share of grade D", "channel": ""}, color_discrete_sequence=["#d73027"])
    figure.update_yaxes(type="category")
    figure.update_xaxes(tickformat=".0%", range=[0, 1])
    return style.tidy(figure, height=420)


STORED_BANDS_TITLE = "Current score vs every known outcome (incl. training leads)"
LIVE_BANDS_TITLE = "Live outcomes by the score given before they arrived"


def band_chart(bands: pd.DataFrame, title: str = STORED_BANDS_TITLE) -> go.Figure:
    """Actual conversion per score band: a working score climbs from left to right."""
    figure = px.bar(bands, x="band", y="conversion", text=bands["with_outcome"].map(lambda n: f"n={n:,}"),
                    title=title,
                    labels={"band": "score band", "conversion": "actual conversion (known outcomes)"},
                    color_discrete_sequence=["#4575b4"])
    figure.update_traces(textposition="outside", textangle=0, textfont_size=10, cliponaxis=False)
    figure.update_xaxes(type="category")
    figure.update_yaxes(tickformat=".0%", range=[0, 1.08])
    return style.tidy(figure)


def weekly_charts(weekly: pd.DataFrame, summary: pd.DataFrame, dimension: str) -> tuple[go.Figure, go.Figure]:
    """Weekly volume per channel (largest few) and weekly mean score vs actual conversion."""
    keep = list(summary["channel"].head(TREND_LINES))
    folded = channel_stats.fold_small_channels(weekly, keep)
    volume = px.line(folded, x="week", y="leads", color="channel", markers=True,
                     title=f"Leads per week by {dimension.lower()}", labels={"week": "week starting"})
    totals = channel_stats.weekly_totals(weekly).melt(id_vars="week", value_vars=["mean_score", "conversion"],
                                                      var_name="measure", value_name="value")
    totals["measure"] = totals["measure"].map({"mean_score": "mean score", "conversion": "actual conversion"})
    quality = px.line(totals, x="week", y="value", color="measure", markers=True,
                      title="Mean score vs actual conversion per week", labels={"week": "week starting", "value": ""})
    quality.update_yaxes(tickformat=".0%", range=[0, 1])
    for figure in (volume, quality):
        figure.update_xaxes(tickformat="%Y-%m-%d")  # weeks, also when there is only one
    return style.tidy(volume), style.tidy(quality)


def numbers(frame: pd.DataFrame, title: str, key: str) -> None:
    """The numbers behind a chart, one click away."""
    with st.expander(title):
        st.dataframe(frame, hide_index=True, key=key)


BAND_HEADERS = {"band": "score band", "leads": "leads", "mean_score": "mean score", "with_outcome": "known outcomes",
                "completed": "converted", "conversion": "actual conversion"}
WEEKLY_HEADERS = {"week": "week starting", "channel": "channel", "leads": "leads", "mean_score": "mean score",
                  "with_outcome": "known outcomes", "completed": "converted", "conversion": "actual conversion"}


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-channel numbers with readable headers."""
    columns = {"channel": "channel", "leads": "leads", "mean_score": "mean score", "grade_a": "A", "grade_b": "B",
               "grade_c": "C", "grade_d": "D", "share_d": "share D", "with_outcome": "known outcomes",
               "completed": "converted", "conversion": "actual conversion"}
    return summary[list(columns)].rename(columns=columns)


def live_bands(outcome: str, start: date, end: date) -> None:
    """Conversion per score band on outcomes that arrived after the lead was scored, by the score it had then."""
    st.subheader("Does the score work on outcomes it had not seen?")
    bands = db.cached(queries.live_score_band_conversion, outcome, start, end)
    if bands.empty:
        st.info(empty_states.NO_LIVE_BANDS, icon=":material/hourglass_empty:")
        return
    st.caption(f"{int(bands['with_outcome'].sum()):,} leads whose outcome arrived after they were scored, each "
               "counted once under the latest score it had before its outcome came back.")
    bands = channel_stats.band_labels(channel_stats.with_rates(bands))
    left, _ = st.columns(2)
    left.plotly_chart(band_chart(bands, LIVE_BANDS_TITLE), key="live_band_chart")
    numbers(bands[["band", "mean_score", "with_outcome", "completed", "conversion"]].rename(columns=BAND_HEADERS),
            "Numbers by score band (live outcomes)", "live_band_numbers")


def main() -> None:
    """The page."""
    st.title("Channels")
    empty_states.require(("lead_scores",), empty_states.NO_SCORES)
    view = db.schema_view()
    st.caption(f"Which channels bring leads that succeed ({view.outcome_rule}). Actual conversion counts "
               "only leads whose outcome is already known.")
    if view.time_note:
        st.info(view.time_note, icon=":material/schedule:")
    if not view.channels:
        st.info(f"The lead schema {view.name!r} declares no channels: list them under `channels` in the schema file.")
        return
    column, start, end = sidebar(db.cached(queries.filter_options, view), view)
    dimension, outcome = column.label, view.label_db
    grades = db.cached(queries.grade_conversion, outcome, start, end)
    headline(grades)
    raw = db.cached(queries.channel_summary, outcome, column.key, start, end)
    summary = channel_stats.with_rates(channel_stats.channel_labels(raw, column))
    if summary.empty:
        st.info("No leads in this window: widen the dates in the sidebar.")
        return
    top = summary.head(TOP_CHANNELS)
    left, right = st.columns(2)
    left.plotly_chart(volume_chart(top, dimension), key="volume_chart")
    right.plotly_chart(conversion_chart(top, dimension), key="conversion_chart")
    numbers(summary_table(summary), f"Numbers by {dimension.lower()} ({len(summary)} rows)", "summary_numbers")
    bands = channel_stats.band_labels(channel_stats.with_rates(
        db.cached(queries.score_band_conversion, outcome, start, end)))
    left, right = st.columns(2)
    left.plotly_chart(junk_chart(summary, dimension), key="junk_chart")
    right.plotly_chart(band_chart(bands), key="band_chart")
    numbers(bands[["band", "leads", "mean_score", "with_outcome", "completed", "conversion"]]
            .rename(columns=BAND_HEADERS), "Numbers by score band (current score, every known outcome)", "band_numbers")
    live_bands(outcome, start, end)
    st.subheader("Over the weeks" if view.has_time else "Over the ingest weeks")
    if view.time_note:
        st.caption("Weeks are the weeks the leads were ingested: this schema has no creation time.")
    weekly = channel_stats.channel_labels(
        db.cached(queries.weekly_channel_trend, outcome, column.key, start, end), column)
    volume, quality = weekly_charts(weekly, summary, dimension)
    left, right = st.columns(2)
    left.plotly_chart(volume, key="weekly_volume_chart")
    right.plotly_chart(quality, key="weekly_quality_chart")
    numbers(weekly.rename(columns=WEEKLY_HEADERS), "Numbers by week", "weekly_numbers")


main()
