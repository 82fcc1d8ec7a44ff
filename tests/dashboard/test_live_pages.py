"""Outcomes that came back, on the Model and Channels pages: live figures side by side with the holdout, over the
weeks, calibration, exclusions, retraining decisions and live score bands, as evaluate_live stored them, on SQLite
and Postgres; and the empty states before any outcome arrived."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from streamlit.testing.v1 import AppTest

from core import store
from core.live import OVERALL
from core.store import make_engine
from dashboard import empty_states
from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.seed import (
    NEVER_SCORED,
    SCORED_AFTER,
    LiveSeeded,
    Seeded,
    first_feed_at,
    labels_arrived_before_scoring,
    seed_live_outcomes,
    seed_retrain_decisions,
)
from tests.dashboard.test_example_schema import codepro_names_in

VERSIONS = ["3", "2", "1"]  # newest first, as the page lists them


def writer(seeded: Seeded):
    return make_engine(os.environ["LEADSCORE_DATABASE_URL"], schema=seeded.schema)


def with_outcomes(seeded: Seeded, few: int | None = None, snapshots: bool = False,
                  decisions: bool = True) -> tuple[LiveSeeded, pd.DataFrame]:
    """Outcomes come back on the seeded database, evaluate_live runs; returns them and the decisions written."""
    engine = writer(seeded)
    try:
        live = seed_live_outcomes(engine, seeded, few=few, snapshots=snapshots)
        written = seed_retrain_decisions(engine, seeded) if decisions else pd.DataFrame()
    finally:
        engine.dispose()
    return live, written


def stored_live(seeded: Seeded) -> pd.DataFrame:
    """Every live_performance row, read with a plain SELECT (the page's SQL is not used)."""
    engine = writer(seeded)
    try:
        return store.read_frame(engine, "SELECT * FROM live_performance", parse_dates=("computed_at",))
    finally:
        engine.dispose()


def latest(rows: pd.DataFrame) -> pd.DataFrame:
    """Each version's newest evaluation: its overall row and weekly rows."""
    newest = rows[rows["period"] == OVERALL].groupby("model_version")["computed_at"].transform("max")
    overall = rows[rows["period"] == OVERALL]
    times = dict(zip(overall["model_version"], newest, strict=True))
    return rows[rows["computed_at"] == rows["model_version"].map(times)]


TABLE_COLUMNS = {"holdout_vs_live": "live status", "retrain_decisions": "decided"}  # a column only that table has


def frame_by_key(at: AppTest, key: str) -> pd.DataFrame:
    """A dataframe element by the Streamlit key it was given (read-only tables carry no id: found by a column)."""
    found = [frame.value for frame in at.dataframe if TABLE_COLUMNS[key] in frame.value.columns]
    assert len(found) == 1, [list(frame.value.columns) for frame in at.dataframe]
    return found[0]


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def as_floats(values: list) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v) for v in values]


# ---- model page ----------------------------------------------------------------------------------------------

def test_model_page_before_any_outcome_says_how_to_get_them(seeded: Seeded, open_page: Callable) -> None:
    at = open_page("model")

    assert_clean(at)
    assert empty_states.NO_OUTCOMES in infos(at)
    assert empty_states.NO_DECISIONS in infos(at)
    assert "No outcomes have come back yet: ingest an outcome feed (id + label columns)" in empty_states.NO_OUTCOMES
    assert not any(key in charts(at) for key in ("live_weekly_chart", "live_grade_chart", "live_calibration_chart"))
    assert metrics(at)["AUC"] == "0.801"  # the holdout evaluation is still there


def test_holdout_and_live_side_by_side_are_the_stored_figures(seeded: Seeded, open_page: Callable) -> None:
    live, _ = with_outcomes(seeded)
    at = open_page("model")

    assert_clean(at)
    table = frame_by_key(at, "holdout_vs_live").set_index("version")
    assert list(table.index) == VERSIONS
    rows = latest(stored_live(seeded))
    overall = rows[rows["period"] == OVERALL].set_index("model_version")
    for version in ("1", "2"):
        for label, key in (("AUC", "auc"), ("precision", "precision"), ("recall", "recall"), ("PR-AUC", "pr_auc")):
            assert table.loc[version, f"live {label}"] == pytest.approx(overall.loc[version, key], abs=1e-12)
        assert table.loc[version, "live outcomes"] == overall.loc[version, "n_labelled"]
        assert table.loc[version, "live status"] == "live figures"
    summary = {f.model_version: f for f in live.evaluations[-1].overall}
    assert table.loc["1", "live outcomes"] == summary["1"].n_labelled == 3 * live.evaluations[0].overall[0].n_labelled
    assert table.loc["2", "live AUC"] == pytest.approx(summary["2"].auc, abs=1e-12)
    assert table.loc["2", "holdout AUC"] == 0.801 and table.loc["1", "holdout precision"] == 0.671
    assert pd.isna(table.loc["3", "live AUC"]) and table.loc["3", "live status"] == "no live outcomes yet"
    assert metrics(at)["Live AUC"] == f"{summary['2'].auc:.3f}"  # the champion is the version shown
    assert metrics(at)["Live outcomes"] == f"{summary['2'].n_labelled:,}"


def test_live_auc_of_the_champion_is_the_auc_of_its_scores_before_the_outcomes(seeded: Seeded,
                                                                               open_page: Callable) -> None:
    live, _ = with_outcomes(seeded)
    at = open_page("model")

    copies = live.leads.iloc[:len(live.leads) - NEVER_SCORED - SCORED_AFTER]  # scored by run 2 before their outcome
    run2 = live.scores[live.scores["run_id"] == 2].set_index("lead_id").loc[copies["lead_id"]]
    expected = roc_auc_score(copies[seeded.outcome].astype(int), run2["score"])
    table = frame_by_key(at, "holdout_vs_live").set_index("version")
    assert table.loc["2", "live AUC"] == pytest.approx(expected, abs=1e-9)
    assert table.loc["2", "live outcomes"] == len(copies)


def test_weekly_live_auc_and_completion_by_grade_are_the_stored_weeks(seeded: Seeded, open_page: Callable) -> None:
    with_outcomes(seeded)
    at = open_page("model")

    assert_clean(at)
    rows = latest(stored_live(seeded))
    weekly = rows[rows["period"] != OVERALL].sort_values(["model_version", "period"])
    traces = {t["name"]: t for t in charts(at)["live_weekly_chart"]["data"]}
    assert set(traces) == {"v1", "v2"}
    for version, part in weekly.groupby("model_version"):
        assert traces[f"v{version}"]["x"] == list(part["period"])
        assert as_floats(traces[f"v{version}"]["y"]) == pytest.approx(as_floats(list(part["auc"])), abs=1e-12)
    with_figures = weekly[weekly["auc"].notna()]
    assert len(with_figures) >= 3 and weekly["auc"].isna().any()  # some weeks have figures, some too few outcomes
    grades = {t["name"]: t for t in charts(at)["live_grade_chart"]["data"]}
    champion_weeks = weekly[weekly["model_version"] == "2"]
    for grade in "ABCD":
        expected = {week: json.loads(raw).get(grade)
                    for week, raw in zip(champion_weeks["period"], champion_weeks["completion_by_grade"], strict=True)}
        shown = dict(zip(grades[f"grade {grade}"]["x"], grades[f"grade {grade}"]["y"], strict=True))
        assert {w: v for w, v in shown.items() if v is not None} == \
            pytest.approx({w: v for w, v in expected.items() if v is not None})
    assert grades["grade A"]["y"][0] > grades["grade D"]["y"][0]  # the grades mean something on live outcomes


def test_calibration_and_exclusions_of_the_latest_evaluation(seeded: Seeded, open_page: Callable) -> None:
    live, _ = with_outcomes(seeded)
    at = open_page("model")

    rows = latest(stored_live(seeded))
    champion = rows[(rows["period"] == OVERALL) & (rows["model_version"] == "2")].iloc[0]
    stored = json.loads(champion["calibration"])
    curve = charts(at)["live_calibration_chart"]["data"][0]
    assert curve["x"] == stored["predicted"] and curve["y"] == stored["observed"]
    assert sum(curve["customdata"]) == champion["n_labelled"]
    captions = " ".join(c.value for c in at.caption)
    assert f"**{NEVER_SCORED:,}** outcomes of leads never scored" in captions
    assert f"**{SCORED_AFTER:,}** of leads scored only after their outcome arrived" in captions
    assert live.evaluations[-1].never_scored == NEVER_SCORED and live.evaluations[-1].scored_after_outcome == SCORED_AFTER


def test_retraining_decisions_newest_first_with_their_reasons(seeded: Seeded, open_page: Callable) -> None:
    _, written = with_outcomes(seeded)
    at = open_page("model")

    assert_clean(at)
    shown = frame_by_key(at, "retrain_decisions")
    expected = written.sort_values("decided_at", ascending=False)
    assert list(shown["decided"]) == list(expected["decided_at"])
    assert list(shown["reason"]) == list(expected["reason"])
    assert list(shown["retrain"]) == list(expected["retrain"])
    assert list(shown["champion"]) == list(expected["champion_version"])
    assert shown["reason"].iloc[1].startswith("retrain: drift flagged on the last 3 scoring runs")
    assert shown["outcome"].iloc[2].startswith("version 2 trained: promoted")
    assert list(written["decided_at"]) != list(expected["decided_at"])  # written out of order: the page sorts


def test_too_few_outcomes_say_how_many_more_are_needed(seeded: Seeded, open_page: Callable) -> None:
    live, _ = with_outcomes(seeded, few=30, decisions=False)
    at = open_page("model")

    assert_clean(at)
    needed = live.evaluations[0].overall[0].needed
    assert needed > 0
    assert f"Version 1: 30 live outcomes so far; {needed:,} more outcomes of the scarcer class needed before live " \
           "figures are shown." in infos(at)
    table = frame_by_key(at, "holdout_vs_live").set_index("version")
    assert table.loc["1", "live status"] == f"{needed:,} more outcomes of the scarcer class needed"
    assert pd.isna(table.loc["1", "live AUC"]) and table.loc["1", "live outcomes"] == 30
    assert empty_states.NO_DECISIONS in infos(at)

    at.selectbox(key="version").set_value("1")
    at.run()
    assert_clean(at)
    assert metrics(at)["Live AUC"] == "n/a" and metrics(at)["Live outcomes"] == "30"


def test_report_toggle_without_a_stored_report_is_a_clear_message(seeded: Seeded, open_page: Callable) -> None:
    with_outcomes(seeded, decisions=False)
    at = open_page("model")
    at.toggle(key="show_live_report").set_value(True)
    at.run()

    assert_clean(at)
    assert any("no stored classification report" in message for message in infos(at))
    assert not at.get("iframe")


@pytest.mark.slow
def test_the_evidently_classification_report_renders_on_demand(seeded_sqlite: Seeded, open_page: Callable) -> None:
    with_outcomes(seeded_sqlite, snapshots=True, decisions=False)
    at = open_page("model")
    assert not at.get("iframe")  # nothing rendered until asked

    at.toggle(key="show_live_report").set_value(True)
    at.run()

    assert_clean(at)
    frames = at.get("iframe")
    assert len(frames) == 1
    assert "<html" in frames[0].proto.srcdoc and len(frames[0].proto.srcdoc) > 10_000


# ---- channels page -------------------------------------------------------------------------------------------

def live_bands(seeded: Seeded, live: LiveSeeded | None) -> pd.DataFrame:
    """Per score band, computed in pandas: each labelled lead once, with its latest score from before its outcome
    first arrived (the first outcome row, else label_recorded_at)."""
    leads = seeded.leads if live is None else pd.concat([seeded.leads, live.leads], ignore_index=True)
    scores = seeded.scores if live is None else pd.concat([seeded.scores, live.scores], ignore_index=True)
    leads = leads[leads[seeded.outcome].notna()]
    arrival = leads.set_index("lead_id")["label_recorded_at"]
    if live is not None and not live.outcomes.empty:
        first = live.outcomes.groupby("lead_id")["recorded_at"].min()
        arrival = first.reindex(arrival.index).fillna(arrival)
    frame = scores.merge(arrival.rename("arrived_at"), left_on="lead_id", right_index=True)
    frame = frame[frame["scored_at"] < frame["arrived_at"]].sort_values("run_id").groupby("lead_id").tail(1)
    frame = frame.merge(leads[["lead_id", seeded.outcome]], on="lead_id")
    frame["band"] = np.minimum((frame["score"] * 10).astype(int), 9)
    out = frame.groupby("band").agg(n=("score", "size"), conversion=(seeded.outcome, "mean"))
    out.index = [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in out.index]
    return out


def shown_bands(at: AppTest) -> pd.DataFrame:
    trace = charts(at)["live_band_chart"]["data"][0]
    return pd.DataFrame({"n": [int(t.removeprefix("n=").replace(",", "")) for t in trace["text"]],
                         "conversion": trace["y"]}, index=trace["x"])


def test_live_score_bands_count_outcomes_that_arrived_after_the_score(seeded: Seeded, open_page: Callable) -> None:
    live, _ = with_outcomes(seeded, decisions=False)
    at = open_page("channels")

    assert_clean(at)
    expected = live_bands(seeded, live)
    shown = shown_bands(at)
    assert list(shown.index) == list(expected.index)
    assert list(shown["n"]) == list(expected["n"])
    assert list(shown["conversion"]) == pytest.approx(list(expected["conversion"]))
    labelled = len(seeded.leads[seeded.leads[seeded.outcome].notna()]) + len(live.leads)
    assert expected["n"].sum() == labelled - NEVER_SCORED - SCORED_AFTER  # the excluded are not counted
    assert "score given before they arrived" in charts(at)["live_band_chart"]["layout"]["title"]["text"]
    assert "band_chart" in charts(at)  # the stored-label view stays, labelled as such


def test_live_bands_use_when_the_label_was_recorded_without_an_outcome_feed(seeded: Seeded,
                                                                           open_page: Callable) -> None:
    at = open_page("channels")  # labels recorded a day ago: after run 1, before run 2

    assert_clean(at)
    expected = live_bands(seeded, None)
    shown = shown_bands(at)
    assert list(shown["n"]) == list(expected["n"])
    assert list(shown["conversion"]) == pytest.approx(list(expected["conversion"]))
    run1 = seeded.scores[seeded.scores["run_id"] == 1]
    assert expected["n"].sum() == run1["lead_id"].isin(seeded.leads.loc[seeded.leads[seeded.outcome].notna(),
                                                                           "lead_id"]).sum()
    assert first_feed_at(seeded) > run1["scored_at"].max()


def test_no_live_outcomes_is_said_and_the_stored_view_is_labelled(seeded: Seeded, open_page: Callable) -> None:
    engine = writer(seeded)
    labels_arrived_before_scoring(engine, seeded)
    engine.dispose()

    at = open_page("channels")

    assert_clean(at)
    assert empty_states.NO_LIVE_BANDS in infos(at)
    figures = charts(at)
    assert "live_band_chart" not in figures
    assert "every known outcome (incl. training leads)" in figures["band_chart"]["layout"]["title"]["text"]


# ---- another company's schema -----------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["model", "channels"])
def test_live_sections_on_the_example_schema_show_no_codepro_name(seeded_example: Seeded, open_page: Callable,
                                                                   page: str) -> None:
    live, _ = with_outcomes(seeded_example)
    at = open_page(page)

    assert_clean(at)
    assert codepro_names_in(at) == set()
    if page == "model":
        table = frame_by_key(at, "holdout_vs_live").set_index("version")
        summary = {f.model_version: f for f in live.evaluations[-1].overall}
        assert table.loc["2", "live AUC"] == pytest.approx(summary["2"].auc, abs=1e-12)
        assert "live_weekly_chart" in charts(at) and len(frame_by_key(at, "retrain_decisions")) == 3
    else:
        assert list(shown_bands(at)["n"]) == list(live_bands(seeded_example, live)["n"])
