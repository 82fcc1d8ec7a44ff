"""Leads (sales rep): the ranked call list with filters, paging, CSV export and one lead's detail."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st
from sqlalchemy import Engine

from core.clock import local_date, utc_now, zone_name
from dashboard import db, empty_states, lead_list, queries, stored_json, style
from dashboard.queries import FilterOptions, LeadFilters
from dashboard.schema_view import ListColumn, SchemaView

PAGE_SIZES = (25, 50, 100, 200)
TABLE_ROWS_SHOWN = 20
TABLE_ROW_PX = 35


def date_range(options: FilterOptions, view: SchemaView) -> tuple[date | None, date | None]:
    """The created-date filter (ingest dates when the schema has no creation time); a half-picked range
    filters from its first day."""
    if options.first_created is None:
        return None, None
    picked = st.sidebar.date_input(f"{view.time_word} between", value=(options.first_created, options.last_created),
                                   min_value=options.first_created, max_value=options.last_created, key="created")
    picked = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    if picked == (options.first_created, options.last_created):  # every lead: no date condition to evaluate
        return None, None
    return (picked[0] if picked else None), (picked[1] if len(picked) > 1 else None)


def column_filter(column: ListColumn, options: FilterOptions) -> tuple[tuple | None, tuple | None]:
    """One schema column's widget: pick values (channels, flags, lookups) or a range of numbers."""
    side, key = st.sidebar, f"filter_{column.key}"
    if column.choice:
        picked = side.multiselect(column.label, options.values_of(column.key), format_func=column.shown, key=key,
                                  placeholder="Any")
        return ((column.key, tuple(picked)) if picked else None), None
    low, high = options.span_of(column.key)
    if low is None or high is None or low == high:
        return None, None
    chosen = side.slider(column.label, float(low), float(high), (float(low), float(high)), key=key)
    if tuple(chosen) == (float(low), float(high)):
        return None, None
    return None, (column.key, float(chosen[0]), float(chosen[1]))


def sidebar_filters(options: FilterOptions, view: SchemaView) -> LeadFilters:
    """The rep's filters, all in the sidebar: grade, dates, the schema's channels and list columns, score."""
    side = st.sidebar
    side.header("Filter leads")
    grades = side.multiselect("Grade", style.GRADES, key="grades", placeholder="All grades")
    created_from, created_to = date_range(options, view)
    chosen = [column_filter(column, options) for column in view.copied]
    min_score = side.slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="min_score")
    new_only = side.toggle("New since yesterday", key="new_only",
                           help="Leads scored for the first time in the last 24 hours")
    return LeadFilters(
        grades=tuple(grades), picks=tuple(p for p, _ in chosen if p), ranges=tuple(r for _, r in chosen if r),
        created_from=created_from, created_to=created_to, min_score=min_score or None,
        new_since=_a_day_ago() if new_only else None)


def _a_day_ago() -> datetime:
    """24 hours ago (an instant: the same in every time zone), to the minute, so the cached count of the same list
    is reused for a minute."""
    return utc_now().replace(second=0, microsecond=0) - timedelta(days=1)


def grade_summary(counts: dict[str, int]) -> int:
    """Metric cards: how many leads match, and how many of each grade."""
    total = sum(counts.values())
    cards = st.columns(5)
    cards[0].metric("Leads matching", f"{total:,}")
    for card, grade in zip(cards[1:], style.GRADES, strict=True):
        card.metric(f"Grade {grade}", f"{counts.get(grade, 0):,}")
    return total


def lead_table(engine: Engine, view: SchemaView, filters: LeadFilters, total: int) -> pd.DataFrame:
    """One page of the list, paged and sorted in SQL."""
    controls = st.columns([2, 1, 3])
    sort = controls[0].selectbox("Order", list(queries.SORTS), key="sort")
    size = controls[1].selectbox("Per page", PAGE_SIZES, index=1, key="page_size")
    table_slot = st.container()
    pages = max(1, -(-total // size))
    page_no = st.pagination(pages, key=f"page-{_list_identity(filters, sort, size)}")
    share = total / max(1, sum(db.cached(queries.grade_counts, LeadFilters()).values()))
    rows = queries.lead_page(engine, view, filters, sort, limit=size, offset=(page_no - 1) * size, selectivity=share)
    first = (page_no - 1) * size + 1
    table_slot.caption(f"Showing {first:,}-{first + len(rows) - 1:,} of {total:,}, {sort.lower()}.")
    table_slot.dataframe(lead_list.styled(lead_list.table(rows, view)), hide_index=True, key="lead_table",
                         height=TABLE_ROW_PX * (min(len(rows), TABLE_ROWS_SHOWN) + 1) + 3, column_config={
        "Grade": st.column_config.TextColumn("Grade", width=60),
        "Score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0, format="%.3f", width=120),
        "Rank": st.column_config.NumberColumn("Rank", width=60, help="Position within the scoring run that scored this lead (1 = best of that night)"),
        "Trend": st.column_config.TextColumn("Trend", width=100),
        "Why": st.column_config.TextColumn("Why (top reasons)", width=520),
        view.time_word: st.column_config.DatetimeColumn(view.time_word, format="YYYY-MM-DD HH:mm",
                                                        help=f"Time in {zone_name()}"),
    })
    export_button(engine, view, filters, sort, total)
    return rows


def _list_identity(filters: LeadFilters, sort: str, size: int) -> int:
    """Changes when the list changes, so paging restarts at page 1 (the moving 'since' is ignored)."""
    return hash((replace(filters, new_since=None), filters.new_since is not None, sort, size))


def export_button(engine: Engine, view: SchemaView, filters: LeadFilters, sort: str, total: int) -> None:
    """CSV of the filtered list; the query itself is capped, and runs only when clicked."""
    rows = min(total, queries.EXPORT_MAX_ROWS)
    st.download_button(f"Download these {rows:,} leads as CSV", key="export", mime="text/csv",
                       file_name=f"leads-{local_date(utc_now()):%Y%m%d}.csv", on_click="ignore",
                       icon=":material/download:",
                       data=lambda: lead_list.csv_bytes(queries.export_leads(engine, view, filters, sort), view))
    if total > queries.EXPORT_MAX_ROWS:
        st.caption(f"The export holds the first {queries.EXPORT_MAX_ROWS:,} in this order: narrow the filters "
                   "for the rest.")


def chosen_lead(rows: pd.DataFrame) -> str | None:
    """The lead to explain: typed in, else picked from this page."""
    left, right = st.columns(2)
    labels = {row["lead_id"]: lead_list.lead_label(row) for _, row in rows.iterrows()}
    picked = left.selectbox("Lead on this page", list(labels), format_func=labels.get, key="detail_pick")
    typed = right.text_input("Or look up a lead id", key="detail_id", max_chars=64).strip()
    return typed or picked


def lead_detail(engine: Engine, view: SchemaView, lead_id: str) -> None:
    """Everything behind one lead's score: grade, all reasons, outcome, its stored columns and score history."""
    current = queries.lead_current(engine, view, lead_id)
    if current.empty:
        st.warning(f"No current score for lead id `{lead_id}`.", icon=":material/search_off:")
        return
    lead = current.iloc[0]
    cards = st.columns(5)
    cards[0].metric("Grade", str(lead["grade"]))
    cards[1].metric("Score", f"{lead['score']:.3f}", delta=_score_change(lead), delta_color="normal")
    cards[2].metric("Rank in its run", f"{int(lead['rank']):,}")
    cards[3].metric("Trend", style.trend(lead["trend"]))
    cards[4].metric("Outcome", outcome(view, lead["outcome__"]), help=f"Success: {view.outcome_rule}")
    copied = " · ".join(f"{c.label} {c.shown(lead[c.key])}" for c in view.copied)
    st.caption(f"{view.time_word} {lead['created_date']:%Y-%m-%d %H:%M} ({zone_name()}) · {copied} · "
               f"model {lead['model_version']}")
    reasons(lead)
    history(engine, lead_id)
    with st.expander(f"Stored columns of this lead ({len(view.raw_columns)})"):
        st.dataframe(stored_columns(view, lead), hide_index=True, key="lead_columns")


def stored_columns(view: SchemaView, lead: pd.Series) -> pd.DataFrame:
    """The lead's raw columns under their names in the file, as stored."""
    values = [lead.get(f"raw__{i}") for i in range(len(view.raw_columns))]
    return pd.DataFrame({"Column (as in the file)": [name for name, _ in view.raw_columns],
                         "Value": ["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                                   for v in values]})


def _score_change(lead: pd.Series) -> str | None:
    previous = lead["previous_score"]
    return None if pd.isna(previous) else f"{lead['score'] - previous:+.3f} since last run"


def outcome(view: SchemaView, flag: object) -> str:
    """The stored label in the schema's words ('Enrolled' / 'not Enrolled'), or not known yet."""
    if flag is None or pd.isna(flag):
        return "not known yet"
    failure, success = view.outcome_words()
    return success if int(flag) == 1 else failure


def reasons(lead: pd.Series) -> None:
    """All reasons, strongest first, in the rep's words."""
    left, right = st.columns(2)
    left.markdown("**Why it scores high**")
    left.markdown("\n".join(f"- {r}" for r in stored_json.reasons(lead["reasons_positive"])) or "_none recorded_")
    right.markdown("**What holds it back**")
    right.markdown("\n".join(f"- {r}" for r in stored_json.reasons(lead["reasons_negative"])) or "_none recorded_")


def history(engine: Engine, lead_id: str) -> None:
    """The lead's score over scoring runs."""
    runs = queries.lead_history(engine, lead_id)
    if len(runs) < 2:
        st.caption(f"Scored once so far (run {runs['run_id'].iloc[0]}): its history starts with the next run.")
        return
    figure = px.line(runs, x="scored_at", y="score", markers=True, hover_data=["run_id", "grade", "model_version"],
                     title="Score history", range_y=[0, 1], labels={"scored_at": "scored at"})
    st.plotly_chart(style.tidy(figure, height=280), key="lead_history")
    with st.expander(f"Score history table ({len(runs)} runs)"):
        st.dataframe(runs, hide_index=True)


def main() -> None:
    """The page."""
    st.title("Leads to call")
    engine, _ = empty_states.require(("lead_scores",), empty_states.NO_SCORES)
    view = db.schema_view()
    st.caption(f"Every lead's latest score, best first. Grade A leads are the most likely to succeed "
               f"({view.outcome_rule}).")
    if view.time_note:
        st.info(view.time_note, icon=":material/schedule:")
    options = db.cached(queries.filter_options, view)
    filters = sidebar_filters(options, view)
    total = grade_summary(db.cached(queries.grade_counts, filters))
    if total == 0:
        st.info("No lead matches these filters: loosen them in the sidebar.", icon=":material/filter_alt_off:")
        return
    rows = lead_table(engine, view, filters, total)
    st.subheader("Lead detail")
    lead_id = chosen_lead(rows)
    if lead_id:
        lead_detail(engine, view, lead_id)


main()
