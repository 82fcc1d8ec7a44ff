"""The demo as `make demo` runs it (python -m flows.demo, on a fresh LEADSCORE_HOME) leaves the live pages with
data: half the nightly leads' outcomes come back through an outcome feed after those leads were scored, so the
Model page shows the champion's live figures and a retraining decision taken on them, and the Channels page its
live score bands. Every figure is checked against the demo's own files and the stored scores, read here with
plain SQL; the pages' empty states must be gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import precision_score, roc_auc_score
from sqlalchemy import create_engine, text

from dashboard import empty_states
from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.test_live_pages import frame_by_key, shown_bands
from tests.paths import PROJECT_ROOT

LABEL = "app_complete_flag"
NIGHTLY_RUN = 2  # run 1 scores the history, run 2 the nightly leads


@pytest.fixture(scope="module")
def demo_home(prefect_harness, migrated_mlflow_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh LEADSCORE_HOME after `python -m flows.demo` exited 0 (against the session's Prefect server)."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path_factory.mktemp("demo") / "home"
    home.mkdir()
    shutil.copy(migrated_mlflow_store, home / "mlflow.db")  # an empty MLflow store, migrations already applied
    env = {name: value for name, value in os.environ.items() if not name.startswith(("LEADSCORE_", "MLFLOW_"))}
    env.update(LEADSCORE_HOME=str(home), PREFECT_API_URL=PREFECT_API_URL.value() or "")
    result = subprocess.run([sys.executable, "-m", "flows.demo"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home


@pytest.fixture
def demo(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app reads the demo's database (the default one under its LEADSCORE_HOME)."""
    monkeypatch.setenv("LEADSCORE_HOME", str(demo_home))
    for name in ("LEADSCORE_DATABASE_URL", "LEADSCORE_DASHBOARD_DATABASE_URL", "LEADSCORE_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return demo_home


def sql(home: Path, query: str, **params: object) -> pd.DataFrame:
    engine = create_engine(f"sqlite:///{home / 'leadscore.db'}")
    try:
        with engine.connect() as conn:
            return pd.read_sql(text(query), conn, params=params)
    finally:
        engine.dispose()


def fed_outcomes(home: Path) -> pd.DataFrame:
    """The outcome feed the demo wrote, with the score each lead got in the nightly run (before the feed)."""
    feed = pd.read_csv(home / "demo" / "nightly-outcomes.csv", dtype={"lead_id": str})
    scores = sql(home, "SELECT lead_id, score FROM lead_scores WHERE run_id = :r", r=NIGHTLY_RUN)
    return feed.merge(scores, on="lead_id", how="left")


def infos(at) -> list[str]:
    return [i.value for i in at.info]


def test_the_demo_feeds_back_the_outcomes_of_half_its_scored_nightly_leads(demo: Path) -> None:
    nightly = pd.read_csv(demo / "demo" / "nightly.csv", usecols=["lead_id"], dtype=str)
    fed = fed_outcomes(demo)
    assert len(fed) == len(nightly) // 2 and fed["lead_id"].is_unique and fed["lead_id"].isin(nightly["lead_id"]).all()
    assert fed["score"].notna().all()  # every fed lead was scored by the nightly run, before its outcome came back
    batch = sql(demo, "SELECT * FROM ingest_batches WHERE file_name = 'nightly-outcomes.csv'").iloc[0]
    assert (batch["rows_in"], batch["labels_recorded"], batch["rejected"]) == (len(fed), len(fed), 0)
    stored = sql(demo, f"SELECT lead_id, {LABEL} FROM leads WHERE label_batch_id = :b", b=int(batch["batch_id"]))
    both = stored.merge(fed, on="lead_id", suffixes=("", "_fed"))
    assert len(both) == len(stored) == len(fed) and (both[LABEL] == both[f"{LABEL}_fed"]).all()


def test_the_model_page_shows_the_champions_live_figures_after_the_demo(demo: Path, open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    assert empty_states.NO_OUTCOMES not in infos(at) and empty_states.NO_DECISIONS not in infos(at)
    fed = fed_outcomes(demo)
    threshold = float(sql(demo, "SELECT threshold FROM model_versions WHERE version = '1'")["threshold"].iloc[0])
    auc = roc_auc_score(fed[LABEL], fed["score"])
    precision = precision_score(fed[LABEL], (fed["score"] >= threshold).astype(int))
    table = frame_by_key(at, "holdout_vs_live").set_index("version")
    assert table.loc["1", "live status"] == "live figures" and table.loc["1", "live outcomes"] == len(fed)
    assert table.loc["1", "live AUC"] == pytest.approx(auc, abs=1e-9)
    assert table.loc["1", "live precision"] == pytest.approx(precision, abs=1e-9)
    assert metrics(at)["Live AUC"] == f"{auc:.3f}" and metrics(at)["Live outcomes"] == f"{len(fed):,}"
    assert {"live_weekly_chart", "live_grade_chart", "live_calibration_chart"} <= set(charts(at))


def test_the_retraining_decision_after_the_demo_was_taken_on_the_live_outcomes(demo: Path, open_page) -> None:
    at = open_page("model")

    assert_clean(at)
    decisions = frame_by_key(at, "retrain_decisions")
    assert len(decisions) == 3  # one per scoring run, then the one taken once the outcomes came back
    fed = fed_outcomes(demo)
    auc = roc_auc_score(fed[LABEL], fed["score"])
    newest = decisions.iloc[0]
    assert not newest["retrain"] and newest["champion"] == "1"
    assert newest["reason"].startswith(f"no retraining: champion v1: live AUC {auc:.3f} / precision ")
    assert f"on {len(fed)} outcomes clear the bars" in newest["reason"]
    assert f"; {len(fed)} new outcomes (limit 5000)" in newest["reason"]
    assert all("0 live outcomes" in reason for reason in decisions["reason"].iloc[1:])


def test_the_channels_page_shows_live_score_bands_after_the_demo(demo: Path, open_page) -> None:
    at = open_page("channels")

    assert_clean(at)
    assert empty_states.NO_LIVE_BANDS not in infos(at)
    bands = shown_bands(at)
    assert bands["n"].sum() == len(fed_outcomes(demo))  # only the fed leads were scored before their outcome
