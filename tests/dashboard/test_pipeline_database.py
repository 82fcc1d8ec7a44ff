"""The dashboard on a database the real pipeline wrote (ingest -> train with MLflow -> ingest -> score + drift),
not on hand-seeded rows: every page renders, and every figure checked equals what the pipeline stored, read back
here with plain SQL (or computed from the input files), on SQLite and Postgres."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from core.lead_schema import load_schema
from tests.dashboard.conftest import DEV_FILE, INFERENCE_FILE, PipelineDatabase
from tests.dashboard.reading import assert_clean, charts, metrics

TITLES = {"leads": "Leads to call", "channels": "Channels", "model": "Model", "drift": "Drift",
          "pipeline": "Pipeline health"}


def sql(pipeline: PipelineDatabase, query: str, **params: object) -> pd.DataFrame:
    """What the pipeline stored, read with a plain engine (not the dashboard's queries)."""
    engine = create_engine(pipeline.url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(text(query), conn, params=params)
    finally:
        engine.dispose()


def one(pipeline: PipelineDatabase, query: str, **params: object) -> object:
    return sql(pipeline, query, **params).iloc[0, 0]


def data_rows(path) -> int:
    """Rows in a raw file, counted by reading it as plain CSV text."""
    return len(pd.read_csv(path, dtype=str, keep_default_na=False))


def champion(pipeline: PipelineDatabase) -> pd.Series:
    rows = sql(pipeline, "SELECT * FROM model_versions WHERE is_champion")
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.mark.parametrize("page", list(TITLES))
def test_every_page_renders_on_the_pipeline_database(pipeline: PipelineDatabase, open_page, page: str) -> None:
    at = open_page(page)

    assert_clean(at)
    assert [t.value for t in at.title] == [TITLES[page]]
    assert not [w.value for w in at.warning if "could not" in w.value.lower()]


def test_the_pipeline_wrote_what_its_flows_reported(pipeline: PipelineDatabase) -> None:
    dev, inference = pipeline.ingested
    assert (dev.rows_in, inference.rows_in) == (data_rows(DEV_FILE), data_rows(INFERENCE_FILE))
    assert one(pipeline, "SELECT COUNT(*) FROM leads") == dev.loaded + inference.loaded
    assert one(pipeline, "SELECT COUNT(*) FROM rejected_leads") == dev.rejected + inference.rejected
    assert pipeline.training.version == "1" and pipeline.training.decision.promote
    assert pipeline.run.leads_scored == dev.loaded + inference.loaded


def test_lead_list_is_the_top_of_lead_scores_by_score(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("leads")

    assert_clean(at)
    current = sql(pipeline, "SELECT lead_id, score, grade FROM current_scores")
    best = current.sort_values(["score", "lead_id"], ascending=[False, True]).head(50)
    table = at.dataframe[0].value
    assert list(table["Lead"]) == list(best["lead_id"])
    assert table["Score"].tolist() == best["score"].tolist()
    assert list(table["Grade"]) == list(best["grade"])
    stored_leads = one(pipeline, "SELECT COUNT(*) FROM leads")
    assert metrics(at)["Leads matching"] == f"{stored_leads:,}"
    assert f"Showing 1-50 of {stored_leads:,}" in " ".join(c.value for c in at.caption)


def test_grade_counts_equal_sql_and_the_stored_cutoffs(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("leads")

    counts = sql(pipeline, "SELECT grade, COUNT(*) AS n FROM current_scores GROUP BY grade")
    by_grade = dict(zip(counts["grade"], counts["n"], strict=True))
    cutoffs = json.loads(champion(pipeline)["grade_cutoffs_json"])
    scores = sql(pipeline, "SELECT score FROM current_scores")["score"]
    from_cutoffs = {"A": int((scores >= cutoffs["A"]).sum()),
                    "B": int(((scores >= cutoffs["B"]) & (scores < cutoffs["A"])).sum()),
                    "C": int(((scores >= cutoffs["C"]) & (scores < cutoffs["B"])).sum()),
                    "D": int((scores < cutoffs["C"]).sum())}
    assert {g: by_grade.get(g, 0) for g in "ABCD"} == from_cutoffs
    assert all(from_cutoffs.values()), from_cutoffs  # the real model uses every grade
    shown = metrics(at)
    assert {g: shown[f"Grade {g}"] for g in "ABCD"} == {g: f"{n:,}" for g, n in from_cutoffs.items()}


def test_model_page_shows_the_registered_champion_and_its_stored_metrics(pipeline: PipelineDatabase,
                                                                         open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    row = champion(pipeline)
    stored = json.loads(row["metrics_json"])
    assert stored["auc"] == pytest.approx(pipeline.training.metrics["auc"])
    shown = metrics(at)
    assert (shown["AUC"], shown["Precision"], shown["Recall"]) == \
        (f"{stored['auc']:.3f}", f"{stored['precision']:.3f}", f"{stored['recall']:.3f}")
    banner = at.success[0].value
    assert f"version {row['version']}" in banner and pipeline.training.run_id in banner
    assert row["mlflow_run_id"] == pipeline.training.run_id
    history = at.dataframe[0].value
    assert list(history["version"]) == ["1"] and list(history["champion"]) == [True]
    assert f"Threshold** {row['threshold']:.3f}" in " ".join(m.value for m in at.markdown)


def test_drift_page_shows_the_stored_report_of_the_run(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("drift")

    assert_clean(at)
    report = sql(pipeline, "SELECT * FROM drift_reports")
    assert list(report["run_id"]) == [pipeline.run.run_id]
    report = report.iloc[0]
    shown = metrics(at)
    assert shown["Columns drifted"] == f"{report['share_drifted_columns'] * 100:.1f}%"
    assert shown["Dataset drift"] == ("yes" if report["dataset_drift"] else "no")
    assert shown["Leads in this run"] == f"{pipeline.run.leads_scored:,}"
    assert charts(at)["drift_history_chart"]["data"][0]["y"] == [report["share_drifted_columns"]]
    columns = json.loads(report["column_scores"])
    drifted = sum(bool(c["drifted"]) for c in columns)
    assert report["share_drifted_columns"] == pytest.approx(drifted / len(columns))
    table = at.dataframe[1].value
    assert (len(table), int(table["drifted"].sum())) == (len(columns), drifted)


def test_pipeline_page_shows_the_run_status_the_product_wrote(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("pipeline")

    assert_clean(at)
    runs = sql(pipeline, "SELECT run_id, status, duration_s FROM scoring_runs ORDER BY run_id")
    assert list(runs["run_id"]) == [pipeline.run.run_id] and list(runs["status"]) == ["succeeded"]
    shown = metrics(at)
    assert shown[f"Last scoring run (#{pipeline.run.run_id})"] == "succeeded"
    assert shown["Files ingested"] == "2"
    assert shown["Rows in"] == f"{data_rows(DEV_FILE) + data_rows(INFERENCE_FILE):,}"
    assert shown["Loaded"] == f"{one(pipeline, 'SELECT COUNT(*) FROM leads'):,}"
    assert shown["Rejected"] == f"{one(pipeline, 'SELECT COUNT(*) FROM rejected_leads'):,}"
    assert charts(at)["runs_chart"]["data"][0]["y"] == pytest.approx(list(runs["duration_s"]))
    assert not at.warning  # a succeeded run has no error to show


def test_pipeline_page_says_no_row_was_rejected_as_sql_counts(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("pipeline")

    assert_clean(at)
    assert one(pipeline, "SELECT COUNT(*) FROM rejected_leads") == 0  # the real files hold no bad row
    assert [s.value for s in at.success] == ["No row has been rejected."]
    assert "reasons_chart" not in charts(at)
    stacked = {t["name"]: t["y"] for t in charts(at)["batches_chart"]["data"]}
    batches = sql(pipeline, "SELECT loaded, duplicate, rejected FROM ingest_batches ORDER BY batch_id")
    assert stacked == {name: list(batches[name]) for name in ("loaded", "duplicate", "rejected")}
    assert stacked["duplicate"][1] > 0  # the inference file repeats leads of the labelled file


def test_channels_headline_equals_sql(pipeline: PipelineDatabase, open_page) -> None:
    at = open_page("channels")

    assert_clean(at)
    label = load_schema().label.db_name
    joined = sql(pipeline, f'SELECT s.score, l."{label}" AS outcome FROM current_scores s '
                           "JOIN leads l ON l.lead_id = s.lead_id")
    known = joined["outcome"].dropna()
    assert len(known) == pipeline.ingested[0].loaded  # the labelled file's leads, and only those
    shown = metrics(at)
    assert shown["Leads"] == f"{len(joined):,}"
    assert shown["Mean score"] == f"{joined['score'].mean():.3f}"
    assert shown["Leads with a known outcome"] == f"{len(known):,}"
    assert shown["Actual conversion"] == f"{(known == 1).mean() * 100:.1f}%"
