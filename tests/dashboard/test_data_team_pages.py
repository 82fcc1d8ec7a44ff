"""Model, drift and pipeline-health pages: the figures shown are the stored ones, on SQLite and Postgres."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from core.store import make_engine
from dashboard.schema_view import view_of
from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.seed import (
    BARS_V2,
    CHAMPION_CURVES,
    RECALL_INTERVAL_V2,
    Seeded,
    champion_importance,
    holdout_method,
    leakage_lines,
)


def test_model_page_shows_the_champion_and_its_holdout_evaluation(seeded: Seeded, open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    banner = at.success[0].value
    assert "version 2" in banner and "9f8e7d6c5b4a39281706f5e4d3c2b1a0" in banner
    shown = metrics(at)
    assert (shown["AUC"], shown["Precision"], shown["Recall"]) == ("0.801", "0.712", "0.802")
    assert shown["Brier score"] == "0.190"
    assert "Threshold** 0.450" in " ".join(m.value for m in at.markdown)
    figures = charts(at)
    assert figures["confusion_chart"]["data"][0]["z"] == CHAMPION_CURVES["confusion_matrix"]["matrix"]
    assert figures["roc_chart"]["data"][0]["x"] == CHAMPION_CURVES["roc"]["fpr"]
    assert figures["pr_chart"]["data"][0]["y"] == CHAMPION_CURVES["pr"]["precision"]
    assert figures["calibration_chart"]["data"][0]["y"] == CHAMPION_CURVES["calibration"]["observed"]
    importance = figures["importance_chart"]["data"][0]
    labels = dict(view_of(seeded.schema).feature_labels)
    assert dict(zip(importance["y"], importance["x"], strict=True)) == \
        {labels[k]: v for k, v in champion_importance(seeded.schema).items()}
    assert "UTM source" in importance["y"] and "first_utm_source_c" not in importance["y"]


def test_model_page_shows_the_versions_bars_expected_recall_holdout_and_leakage(seeded: Seeded, open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    assert at.metric[0].proto.delta == f"{0.801 - BARS_V2['auc']:+.3f} vs bar {BARS_V2['auc']}"
    assert at.metric[1].proto.delta == f"{0.712 - BARS_V2['precision']:+.3f} vs bar {BARS_V2['precision']}"
    text = " ".join(m.value for m in at.markdown)
    low, high = RECALL_INTERVAL_V2
    assert f"Expected recall on new leads** {low:.3f}-{high:.3f}" in text
    assert f"holdout: {holdout_method(seeded.schema)}" in text
    assert [w.value for w in at.warning] == leakage_lines(seeded.schema)
    lines = [s["text"] for s in charts(at)["versions_chart"]["layout"]["annotations"]]
    assert lines == ["AUC / recall bar 0.76", "precision bar 0.66"]

    at.selectbox(key="version").set_value("1")  # an older version: no bars, interval, method or leakage stored
    at.run()
    assert_clean(at)
    assert at.metric[0].proto.delta == "+0.033 vs bar 0.75"
    assert not at.warning
    text = " ".join(m.value for m in at.markdown)
    assert "Expected recall" not in text and "the most recent leads, from 2022-01-05 10:12:00" in text


def test_model_history_says_which_versions_were_promoted_and_why(seeded: Seeded, open_page) -> None:
    at = open_page("model")

    history = at.dataframe[0].value
    assert list(history["version"]) == ["3", "2", "1"]
    assert list(history["champion"]) == [False, True, False]
    assert list(history["promoted"]) == [False, True, True]
    assert history["decision"].iloc[0] == "not promoted: precision 0.612 is below the bar 0.65"
    bars = {t["name"]: t["y"] for t in charts(at)["versions_chart"]["data"]}
    assert bars["precision"] == [0.671, 0.712, 0.612]


def test_a_version_without_curves_shows_na_not_a_crash(seeded: Seeded, open_page) -> None:
    at = open_page("model")
    at.selectbox(key="version").set_value("3")  # no curves stored for version 3
    at.run()

    assert_clean(at)
    assert metrics(at)["Precision"] == "0.612"
    assert at.metric[1].proto.delta.startswith("-0.038")
    captions = " ".join(c.value for c in at.caption)
    assert "ROC: n/a" in captions and "Feature importance: n/a" in captions
    assert "confusion_chart" in charts(at)  # rebuilt from tn/fp/fn/tp in metrics_json


def test_drift_page_history_and_columns_of_a_chosen_run(seeded: Seeded, open_page) -> None:
    at = open_page("drift")

    assert_clean(at)
    figures = charts(at)
    assert figures["drift_history_chart"]["data"][0]["y"] == pytest.approx([1 / 6, 3 / 6])
    shares = {t["name"]: t["y"] for t in figures["positive_share_chart"]["data"]}
    assert shares == {"this run": [0.47, 0.58], "training reference": [0.5, 0.5]}
    assert metrics(at)["Columns drifted"] == "50.0%"
    assert at.dataframe[1].value["drifted"].sum() == 3

    at.selectbox(key="drift_run").set_value(1)
    at.run()
    columns = at.dataframe[1].value
    assert list(columns.loc[columns["drifted"], "column"]) == ["Platform"]  # the schema's label of the feature
    assert metrics(at)["Dataset drift"] == "no"


def test_a_snapshot_that_cannot_be_rendered_is_a_clear_message(seeded: Seeded, open_page) -> None:
    at = open_page("drift")
    at.toggle(key="show_report").set_value(True)
    at.run()

    assert_clean(at)
    assert any("could not be rendered" in w.value for w in at.warning)
    assert not at.get("iframe")


@pytest.mark.slow
def test_the_full_evidently_report_renders_from_a_stored_snapshot(seeded_sqlite: Seeded, open_page) -> None:
    from core.drift import build_drift_report

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"first_platform_c": rng.choice(["Level0", "Level3"], 300),
                              "city_tier": rng.choice([1, 2, 3], 300), "predicted": rng.integers(0, 2, 300)})
    current = reference.assign(first_platform_c=rng.choice(["Level0", "Level10"], 300))
    summary = build_drift_report(reference, current)
    engine = make_engine(os.environ["LEADSCORE_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE drift_reports SET snapshot_json = :s WHERE run_id = 2"),
                     {"s": summary.snapshot_json})
    engine.dispose()
    at = open_page("drift")
    at.toggle(key="show_report").set_value(True)
    at.run()

    assert_clean(at)
    frames = at.get("iframe")
    assert len(frames) == 1
    assert "<html" in frames[0].proto.srcdoc and len(frames[0].proto.srcdoc) > 10_000


def test_pipeline_page_accounts_for_every_row(seeded: Seeded, open_page) -> None:
    at = open_page("pipeline")

    assert_clean(at)
    batches = seeded.batches
    shown = metrics(at)
    assert shown["Rows in"] == f"{batches['rows_in'].sum():,}"
    assert shown["Loaded"] == f"{batches['loaded'].sum():,}"
    assert shown["Rejected"] == f"{batches['rejected'].sum():,}"
    assert shown["Last scoring run (#3)"] == "failed"
    stacked = {t["name"]: t["y"] for t in charts(at)["batches_chart"]["data"]}
    assert [sum(v) for v in zip(*stacked.values(), strict=True)] == list(batches["rows_in"])
    reasons = charts(at)["reasons_chart"]["data"][0]
    expected = seeded.rejected["reason"].value_counts()
    assert dict(zip(reasons["y"], reasons["x"], strict=True)) == expected.to_dict()
    assert any("Run 3 (failed)" in w.value for w in at.warning)
    runs = charts(at)["runs_chart"]["data"][0]
    assert runs["y"] == [4.2, 5.1, 0.8]


def test_rejected_rows_of_one_batch(seeded: Seeded, open_page) -> None:
    at = open_page("pipeline")
    at.selectbox(key="rejected_batch").set_value(2)
    at.run()

    assert_clean(at)
    rows = at.dataframe[1].value
    batch = seeded.rejected[seeded.rejected["batch_id"] == 2].sort_values("row_number")
    assert len(rows) == 4 and set(rows["batch_id"]) == {2}
    assert list(rows["reason"]) == list(batch["reason"]) and list(rows["row_number"]) == list(batch["row_number"])
    assert json.loads(rows["raw_row"].iloc[0])["total_leads_droppped"] == "abc"
