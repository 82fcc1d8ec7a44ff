"""A database written under the second example schema (schemas/example_crm.yaml): every page shows that company's
own columns and labels, learnt from the database's schema_info, and not one CodePro column name, on SQLite and
Postgres."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.lead_schema import LeadSchema, load_schema, parse_schema
from core.store import make_engine
from dashboard import lead_list, queries
from dashboard.schema_view import view_of
from tests.dashboard.conftest import EXAMPLE_SCHEMA, PAGE_FILES, ROOT
from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.seed import Seeded, holdout_method, leakage_lines, seed_database

INGEST_NOTE = "dates are ingest dates: this schema has no creation time"


def codepro_names() -> set[str]:
    """Every column name of the built-in CodePro schema: file names, stored names, feature names and keys."""
    schema = load_schema()
    names = {schema.label.column, schema.label.db_name, schema.id_column, schema.created_column}
    names |= {c.name for c in schema.raw_columns} | {c.db_name for c in schema.raw_columns}
    names |= {f.name for f in schema.features} | {f.key for f in schema.features}
    return {n for n in names if n}


def rendered_text(at: AppTest) -> str:
    """Everything a page rendered: every element's message (text, widget labels and options, chart specs,
    metric cards, JSON) and every dataframe's cells and headers."""
    parts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    parts += [frame.value.to_csv() for frame in at.dataframe]
    return "\n".join(parts)


def codepro_names_in(at: AppTest) -> set[str]:
    text = rendered_text(at)
    return {name for name in codepro_names()
            if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text, flags=re.IGNORECASE)}


def texts(at: AppTest) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "info", "warning", "title", "subheader")
                    for e in getattr(at, kind))


@pytest.mark.parametrize("page", list(PAGE_FILES))
def test_every_page_renders_with_no_codepro_name(seeded_example: Seeded, open_page, page: str) -> None:
    at = open_page(page)

    assert_clean(at)
    assert codepro_names_in(at) == set()
    if page in ("leads", "channels"):
        assert INGEST_NOTE in texts(at).lower()


def test_the_scan_finds_codepro_names_on_a_codepro_database(seeded_sqlite: Seeded, open_page) -> None:
    at = open_page("leads")
    at.text_input(key="detail_id").set_value(seeded_sqlite.current["lead_id"].iloc[0])
    at.run()

    assert {"first_utm_source_c", "city_mapped", "app_complete_flag"} <= codepro_names_in(at)


def test_lead_list_has_the_schemas_columns_and_filters(seeded_example: Seeded, open_page) -> None:
    at = open_page("leads")

    assert_clean(at)
    filters = {w.label for w in at.sidebar.multiselect}
    assert {"Lead source", "Lead origin", "Market", "Do not email"} <= filters
    assert "Ingested between" in [w.label for w in at.sidebar.date_input]
    table = at.dataframe[0].value
    assert {"Lead source", "Lead origin", "Market", "Do not email", "Ingested"} <= set(table.columns)
    assert set(table["Do not email"]) <= {"yes", "no"}

    at.multiselect(key="filter_lead_source").set_value(["Google", "Reference"])
    at.multiselect(key="filter_market").set_value(["domestic"])
    at.run()

    assert_clean(at)
    current = seeded_example.current
    expected = current[current["lead_source"].isin(["Google", "Reference"]) & (current["market"] == "domestic")]
    assert 0 < len(expected) < len(current)
    assert metrics(at)["Leads matching"] == f"{len(expected):,}"
    shown = at.dataframe[0].value
    best = expected.sort_values(["score", "lead_id"], ascending=[False, True]).head(50)
    assert list(shown["Lead"]) == list(best["lead_id"])
    assert list(shown["Lead source"]) == list(best["lead_source"])


def test_new_since_yesterday_uses_the_ingest_time(seeded_example: Seeded, open_page) -> None:
    at = open_page("leads")
    at.toggle(key="new_only").set_value(True)
    at.run()

    assert_clean(at)
    assert metrics(at)["Leads matching"] == f"{seeded_example.current['previous_score'].isna().sum():,}"


def test_lead_detail_shows_the_stored_columns_under_their_file_names(seeded_example: Seeded, open_page) -> None:
    labelled = seeded_example.leads[seeded_example.leads["outcome"].notna()]
    lead = labelled[labelled["outcome"] == 1].iloc[0]
    at = open_page("leads")
    at.text_input(key="detail_id").set_value(lead["lead_id"])
    at.run()

    assert_clean(at)
    assert metrics(at)["Outcome"] == "Enrolled"
    table = next(d.value for d in at.dataframe if "Column (as in the file)" in d.value.columns)
    stored = table.set_index("Column (as in the file)")["Value"]
    schema = seeded_example.schema
    assert list(stored.index) == [c.name for c in schema.raw_columns]
    assert stored["Lead Source"] == lead["lead_source"]
    assert stored["Total Time Spent on Website"] == str(lead["total_time_spent_on_website"])
    assert stored["Lead Number"] == str(lead["lead_number"])

    failed = labelled[labelled["outcome"] == 0].iloc[0]
    at.text_input(key="detail_id").set_value(failed["lead_id"])
    at.run()
    assert metrics(at)["Outcome"] == "not Enrolled"


@pytest.fixture
def example_engine(seeded_example: Seeded) -> Iterator[Engine]:
    """A writer's engine on the seeded example database."""
    engine = make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded_example.schema)
    yield engine
    engine.dispose()


def test_export_has_human_column_names(seeded_example: Seeded, example_engine: Engine) -> None:
    view = view_of(seeded_example.schema)
    filters = queries.LeadFilters(picks=queries.pick(market=("international",)))
    rows = queries.export_leads(example_engine, view, filters)
    exported = pd.read_csv(io.BytesIO(lead_list.csv_bytes(rows, view)))

    assert list(exported.columns) == ["Rank", "Lead", "Grade", "Score", "Ingested", "Lead source", "Lead origin",
                                      "Market", "Do not email", "Trend", "Previous score", "Reasons for",
                                      "Reasons against"]
    current = seeded_example.current
    assert len(exported) == (current["market"] == "international").sum() > 0
    assert set(exported["Market"]) == {"international"}


def test_channels_break_down_by_the_schemas_channels(seeded_example: Seeded, open_page) -> None:
    at = open_page("channels")

    assert_clean(at)
    radio = at.radio(key="dimension")
    assert list(radio.options) == ["Lead source", "Lead origin", "Market"]
    frame = seeded_example.current.merge(seeded_example.leads[["lead_id", "outcome"]], on="lead_id")
    known = frame["outcome"].notna()
    assert metrics(at)["Actual conversion"] == f"{frame.loc[known, 'outcome'].mean() * 100:.1f}%"
    assert "Over the ingest weeks" in [s.value for s in at.subheader]

    radio.set_value("market")
    at.run()

    assert_clean(at)
    figures = charts(at)
    conversion = {t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in figures["conversion_chart"]["data"]}
    expected = frame[known].groupby("market")["outcome"].mean()
    assert conversion["actual conversion"] == pytest.approx(expected.to_dict())
    assert "by market" in figures["volume_chart"]["layout"]["title"]["text"]
    weekly = figures["weekly_volume_chart"]["data"]
    assert sum(sum(trace["y"]) for trace in weekly) == len(frame)
    assert at.expander[0].label.startswith("Numbers by market")


def test_model_page_labels_holdout_and_leakage(seeded_example: Seeded, open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    schema: LeadSchema = seeded_example.schema
    assert [w.value for w in at.warning] == leakage_lines(schema)
    assert "leakage" in at.warning[0].value and "Market" in at.warning[0].value
    text = " ".join(m.value for m in at.markdown)
    assert f"holdout: {holdout_method(schema)}" in text and "by Lead Number" in text
    importance = charts(at)["importance_chart"]["data"][0]["y"]
    assert {"Lead source", "Lead origin", "Market", "Do not email"} <= set(importance)
    confusion = charts(at)["confusion_chart"]["data"][0]
    assert confusion["y"] == ["actual: not Enrolled", "actual: Enrolled"]


def test_drift_columns_under_the_schemas_labels(seeded_example: Seeded, open_page) -> None:
    at = open_page("drift")

    assert_clean(at)
    columns = at.dataframe[1].value
    labels = dict(view_of(seeded_example.schema).feature_labels)
    assert set(columns["column"]) == {labels[c] for c in seeded_example.drift_columns}
    assert set(columns.loc[columns["drifted"], "column"]) == {"Lead origin", "Market", "Do not email"}


@pytest.mark.parametrize("page", list(PAGE_FILES))
def test_empty_example_database(page: str, example_schema: LeadSchema, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    make_engine(url, schema=example_schema).dispose()
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)

    at = open_page(page)

    assert_clean(at)
    assert "make demo" in " ".join(i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.dataframe
    assert codepro_names_in(at) == set()


@pytest.mark.postgres
def test_empty_example_database_on_postgres(example_schema: LeadSchema, postgres_url: str,
                                            monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    make_engine(postgres_url, schema=example_schema).dispose()
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", postgres_url)

    for page in PAGE_FILES:
        at = open_page(page)
        assert_clean(at)
        assert "make demo" in " ".join(i.value for i in at.info)
        assert codepro_names_in(at) == set()


def test_the_schema_comes_from_the_database_not_the_environment(seeded_example: Seeded, example_engine: Engine,
                                                                sqlite_engine: Engine,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(ROOT / "schemas" / "codepro.yaml"))
    assert queries.lead_schema(example_engine).fingerprint == seeded_example.schema.fingerprint
    assert queries.lead_schema(sqlite_engine).fingerprint == load_schema().fingerprint  # a CodePro database


def test_without_schema_info_the_environment_schema_applies(example_schema: LeadSchema, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    (tmp_path / "blank.db").write_bytes(b"")  # no tables at all: the empty state, under LEADSCORE_SCHEMA
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'blank.db'}")
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(EXAMPLE_SCHEMA))

    engine = make_engine("sqlite://", schema=example_schema)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM schema_info")
    assert queries.lead_schema(engine).fingerprint == example_schema.fingerprint  # empty table: the environment's
    engine.dispose()

    at = open_page("leads")
    assert_clean(at)
    assert "No scores yet" in " ".join(i.value for i in at.info)


@pytest.fixture
def seeded_with_a_number_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """The example schema with a number feature (TotalVisits) among the list columns: filtered by a range."""
    text = EXAMPLE_SCHEMA.read_text(encoding="utf-8").replace("list_columns: [Do Not Email]", "list_columns: [Do Not Email, TotalVisits]")
    schema = parse_schema(text, origin="example_with_visits.yaml")
    assert [f.key for f in schema.score_copy_features()][-1] == "totalvisits"
    url = f"sqlite:///{tmp_path / 'visits.db'}"
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    engine = make_engine(url, schema=schema)
    seeded = seed_database(engine, schema=schema)
    engine.dispose()
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    return seeded


def test_a_number_list_column_is_a_range_filter(seeded_with_a_number_column: Seeded, open_page) -> None:
    at = open_page("leads")
    slider = at.slider(key="filter_totalvisits")
    assert slider.label == "Visits"
    assert "Visits" in at.dataframe[0].value.columns

    slider.set_value((2.0, 3.0))
    at.run()

    assert_clean(at)
    current = seeded_with_a_number_column.current
    expected = current[current["totalvisits"].between(2.0, 3.0)]
    assert 0 < len(expected) < len(current)
    assert metrics(at)["Leads matching"] == f"{len(expected):,}"
    assert set(at.dataframe[0].value["Visits"]) <= {"2", "3"}


def test_a_bad_environment_schema_is_one_line(seeded_sqlite: Seeded, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, open_page) -> None:
    engine = make_engine(os.environ["LEADSCORE_DATABASE_URL"])
    with engine.begin() as conn:  # a database written before lead schemas: it records none
        conn.exec_driver_sql("DELETE FROM schema_info")
    engine.dispose()
    (tmp_path / "bad.yaml").write_text("name: Bad\nlabel: {column: won, positive: [yes]}\nfeatures: {x: {type: colour}}\n")
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(tmp_path / "bad.yaml"))

    at = open_page("leads")

    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Lead schema problem: schema bad.yaml: features.x.type: unknown type 'colour'")
    assert "\n" not in message
