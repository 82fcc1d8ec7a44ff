"""The sales rep's lead list: the numbers, rows and order shown match the seeded scores, on SQLite and Postgres."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import store
from core.lead_schema import load_schema
from dashboard import lead_list, queries
from dashboard.schema_view import view_of
from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.seed import Seeded, ensure_run_partitions, write_scores


def best_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["score", "lead_id"], ascending=[False, True])


def shown_lead_ids(at: AppTest) -> list[str]:
    table = at.dataframe[0].value
    return list(table["Lead"])


def test_list_shows_every_current_lead_best_first(seeded: Seeded, open_page) -> None:
    at = open_page("leads")

    assert_clean(at)
    current = seeded.current
    shown = metrics(at)
    assert shown["Leads matching"] == f"{len(current):,}"
    for grade in "ABCD":
        assert shown[f"Grade {grade}"] == f"{(current['grade'] == grade).sum():,}"
    table = at.dataframe[0].value
    expected = best_first(current).head(50)
    assert list(table["Lead"]) == list(expected["lead_id"])
    assert list(table["Grade"]) == list(expected["grade"])
    assert table["Score"].tolist() == expected["score"].round(6).tolist()
    assert f"Showing 1-50 of {len(current):,}" in " ".join(c.value for c in at.caption)


def test_filters_narrow_the_list_in_sql(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.multiselect(key="grades").set_value(["A", "B"])
    at.multiselect(key="filter_city_tier").set_value([2.0])
    at.multiselect(key="filter_first_utm_source_c").set_value(["Level2", "Level16", "Level7"])
    at.run()

    assert_clean(at)
    current = seeded.current
    expected = current[current["grade"].isin(["A", "B"]) & (current["city_tier"] == 2)
                       & current["first_utm_source_c"].isin(["Level2", "Level16", "Level7"])]
    assert 0 < len(expected) < 50
    assert metrics(at)["Leads matching"] == str(len(expected))
    assert metrics(at)["Grade C"] == "0"
    assert shown_lead_ids(at) == list(best_first(expected)["lead_id"])


def test_minimum_score_and_new_since_yesterday(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.slider(key="min_score").set_value(0.6)
    at.toggle(key="new_only").set_value(True)
    at.run()

    assert_clean(at)
    current = seeded.current
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)  # stored times are naive UTC
    expected = current[(current["score"] >= 0.6) & current["previous_score"].isna() & (current["scored_at"] >= since)]
    assert len(expected) > 0
    assert metrics(at)["Leads matching"] == str(len(expected))
    assert shown_lead_ids(at) == list(best_first(expected)["lead_id"])
    assert set(expected["created_date"].dt.month) == {2}  # only the second file's leads are new


def test_created_date_range_and_newest_first(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.date_input(key="created").set_value((date(2021, 12, 1), date(2021, 12, 31)))
    at.selectbox(key="sort").set_value("Newest leads first")
    at.run()

    assert_clean(at)
    current = seeded.current
    expected = current[(current["created_date"] >= "2021-12-01") & (current["created_date"] < "2022-01-01")]
    assert metrics(at)["Leads matching"] == str(len(expected))
    newest = expected.sort_values(["created_date", "lead_id"], ascending=[False, True]).head(50)
    assert shown_lead_ids(at) == list(newest["lead_id"])


def test_paging_moves_through_the_list_in_sql(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.selectbox(key="page_size").set_value(25)
    at.run()
    at.pagination[0].set_value(3)
    at.run()

    assert_clean(at)
    assert shown_lead_ids(at) == list(best_first(seeded.current)["lead_id"].iloc[50:75])
    assert "Showing 51-75 of 300" in " ".join(c.value for c in at.caption)


def test_no_match_says_so(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.multiselect(key="grades").set_value(["D"])
    at.slider(key="min_score").set_value(0.9)
    at.run()

    assert_clean(at)
    assert metrics(at)["Leads matching"] == "0"
    assert any("No lead matches these filters" in i.value for i in at.info)
    assert not at.dataframe


def test_lead_detail_shows_all_reasons_and_history(seeded: Seeded, open_page) -> None:
    rescored = seeded.current[seeded.current["previous_score"].notna()].iloc[5]
    at = open_page("leads")
    at.text_input(key="detail_id").set_value(rescored["lead_id"])
    at.run()

    assert_clean(at)
    shown = metrics(at)
    assert shown["Score"] == f"{rescored['score']:.3f}"
    assert shown["Grade"] == rescored["grade"]
    flag = seeded.leads.set_index("lead_id").loc[rescored["lead_id"], "app_complete_flag"]
    assert shown["Outcome"] == ("not known yet" if pd.isna(flag) else ("converted" if flag == 1 else "not converted"))
    text = " ".join(m.value for m in at.markdown)
    for reason in json.loads(rescored["reasons_positive"]) + json.loads(rescored["reasons_negative"]):
        assert reason in text
    history = charts(at)["lead_history"]["data"][0]
    old = seeded.scores[(seeded.scores["lead_id"] == rescored["lead_id"])].sort_values("run_id")
    assert history["y"] == pytest.approx(old["score"].tolist())
    assert len(history["y"]) == 2


def test_unknown_lead_id_is_a_warning_not_a_traceback(seeded: Seeded, open_page) -> None:
    at = open_page("leads")
    at.text_input(key="detail_id").set_value("no-such-lead")
    at.run()

    assert_clean(at)
    assert any("No current score for lead id" in w.value for w in at.warning)


def test_export_is_the_filtered_list_capped_by_the_query(seeded: Seeded, seeded_engine, open_page) -> None:
    view = view_of(seeded.schema)
    filters = queries.LeadFilters(grades=("A",), picks=queries.pick(city_tier=(1.0, 2.0)))
    exported = pd.read_csv(io.BytesIO(lead_list.csv_bytes(queries.export_leads(seeded_engine, view, filters), view)))
    current = seeded.current
    expected = best_first(current[(current["grade"] == "A") & current["city_tier"].isin([1, 2])])
    assert list(exported["Lead"]) == list(expected["lead_id"])
    first = expected.iloc[0]
    assert exported.loc[0, "Reasons for"] == " | ".join(json.loads(first["reasons_positive"]))
    assert list(exported.columns) == ["Rank", "Lead", "Grade", "Score", "Created", "UTM source", "UTM medium",
                                      "Platform", "City tier", "Referred", "Trend", "Previous score", "Reasons for",
                                      "Reasons against"]
    assert set(exported["City tier"]) <= {1, 2} and set(exported["Referred"]) <= {"yes", "no"}
    assert len(queries.export_leads(seeded_engine, view, queries.LeadFilters(), max_rows=7)) == 7

    at = open_page("leads")
    at.multiselect(key="grades").set_value(["A"])
    at.run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [f"Download these {(current['grade'] == 'A').sum()} leads as CSV"]


def test_export_defuses_spreadsheet_formulas() -> None:
    rows = pd.DataFrame([{
        "rank": 1, "lead_id": "=HYPERLINK(\"http://x\")", "grade": "A", "score": 0.9,
        "created_date": pd.Timestamp("2022-01-01"), "city_tier": 1.0, "first_platform_c": "+cmd",
        "first_utm_medium_c": "Level0", "first_utm_source_c": "@SUM(A1)", "referred_lead": 0.0, "trend": None,
        "previous_score": None, "reasons_positive": json.dumps(["-2 earlier enquiries"]), "reasons_negative": "[]",
    }])
    exported = pd.read_csv(io.BytesIO(lead_list.csv_bytes(rows, view_of(load_schema()))), keep_default_na=False)
    assert exported.loc[0, "Lead"].startswith("'=")
    assert exported.loc[0, "Platform"] == "'+cmd"
    assert exported.loc[0, "UTM source"] == "'@SUM(A1)"
    assert exported.loc[0, "Reasons for"] == "'-2 earlier enquiries"
    assert exported.loc[0, "Trend"] == "new"


def test_grade_filtered_pages_in_both_score_orders(seeded: Seeded, seeded_engine) -> None:
    current = seeded.current[seeded.current["grade"].isin(["B", "C"]) & (seeded.current["city_tier"] != 2)]
    filters = queries.LeadFilters(grades=("C", "B", "C"), picks=queries.pick(city_tier=(1.0, 3.0)))
    view = view_of(seeded.schema)
    for sort, ascending in (("Score, best first", False), ("Score, lowest first", True)):
        expected = current.sort_values(["score", "lead_id"], ascending=[ascending, True])
        page = queries.lead_page(seeded_engine, view, filters, sort, limit=20, offset=40)
        assert list(page["lead_id"]) == list(expected["lead_id"].iloc[40:60])
    assert sum(queries.grade_counts(seeded_engine, filters).values()) == len(current)


def test_cached_counts_refresh_when_a_new_run_lands(seeded: Seeded, seeded_engine, open_page) -> None:
    assert metrics(open_page("leads"))["Leads matching"] == "300"
    runs = seeded.runs.iloc[[1]].assign(run_id=4, started_at=pd.Timestamp(seeded.now))
    new = seeded.current.head(5).assign(run_id=4, lead_id=[f"new-lead-{i}" for i in range(5)])
    with seeded_engine.begin() as conn:
        store.bulk_insert(conn, "scoring_runs", runs)
        ensure_run_partitions(conn, [4])
        write_scores(conn, store.schema_tables(seeded.schema), new)

    assert metrics(open_page("leads"))["Leads matching"] == "305"


def test_filter_then_sort_plan_returns_the_same_pages(seeded: Seeded, seeded_engine) -> None:
    filters = queries.LeadFilters(picks=queries.pick(city_tier=(1.0, 3.0), first_utm_source_c=("Level2", "Level0")))
    view = view_of(seeded.schema)
    for sort in queries.SORTS:
        for offset in (0, 40):
            by_index = queries.lead_page(seeded_engine, view, filters, sort, limit=20, offset=offset)
            by_scan = queries.lead_page(seeded_engine, view, filters, sort, limit=20, offset=offset,
                                        selectivity=1e-6)
            assert list(by_scan["lead_id"]) == list(by_index["lead_id"]) and len(by_index) == 20
    assert queries._order(seeded_engine, "Score, best first", 50, 1e-6) != queries.SORTS["Score, best first"]
    assert queries._order(seeded_engine, "Score, best first", 50, 0.5) == queries.SORTS["Score, best first"]
