"""The real app in a real headless browser: every page opens on a seeded database, shows its numbers and no error,
on the built-in CodePro schema and on the second example schema (its own labels, no CodePro column name).

Screenshots go to a folder under the pytest tmp dir (and to /work/notes/screenshots/ when that folder exists).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from benchmarks.browser_pages import free_port, wait_healthy
from core.lead_schema import load_schema
from core.store import make_engine
from tests.dashboard.seed import Seeded, seed_database, seed_live_outcomes, seed_retrain_decisions

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/lib/chromium/chromium-headless-shell")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
NOTES_SCREENSHOTS = Path("/work/notes/screenshots")
EXAMPLE_SCHEMA = ROOT / "schemas" / "example_crm.yaml"
ERROR_SELECTORS = ("[data-testid=stException]", "[data-testid=stAlertContentError]", "[role=dialog]")


@dataclass(frozen=True)
class PageCase:
    """A page, its address, its title and a few numbers it must show."""

    name: str
    path: str
    title: str
    charts: int


PAGES = (
    PageCase("leads", "", "Leads to call", 1),
    PageCase("channels", "channels", "Channels", 7),
    PageCase("model", "model", "Model", 6),
    PageCase("drift", "drift", "Drift", 3),
    PageCase("pipeline", "pipeline", "Pipeline health", 3),
)


def _browser_required() -> bool:
    return os.environ.get("LEADSCORE_REQUIRE_BROWSER", "") not in ("", "0", "false")


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    """Debian's headless shell; skipped when missing, failed when CI requires the browser."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (install Debian's chromium-headless-shell: make system-deps)"
        if _browser_required():
            pytest.fail(message + " and LEADSCORE_REQUIRE_BROWSER=1")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def seeded_app(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    """`streamlit run dashboard/app.py` on a free local port against a seeded SQLite database."""
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'leadscore.db'}"
    engine = make_engine(url, schema=load_schema())
    seeded = seed_database(engine)
    _store_a_real_snapshot(engine)
    engine.dispose()
    with _served(folder, url) as base:
        yield base, seeded


@pytest.fixture(scope="module")
def example_app(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    """The app on a database written under schemas/example_crm.yaml (learnt from its schema_info)."""
    folder = tmp_path_factory.mktemp("e2e-example")
    url = f"sqlite:///{folder / 'leadscore.db'}"
    schema = load_schema(EXAMPLE_SCHEMA)
    engine = make_engine(url, schema=schema)
    seeded = seed_database(engine, schema=schema)
    engine.dispose()
    with _served(folder, url) as base:
        yield base, seeded


@contextmanager
def _served(folder: Path, url: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LEADSCORE_DASHBOARD_DATABASE_URL", "LEADSCORE_SCHEMA")}
    env.update(LEADSCORE_DATABASE_URL=url, LEADSCORE_HOME=str(folder / "home"))
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    log = (folder / "streamlit.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _store_a_real_snapshot(engine) -> None:
    """Run 2's drift report gets a real Evidently snapshot, so the full report can be rendered."""
    from core.drift import build_drift_report

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"first_platform_c": rng.choice(["Level0", "Level3"], 300),
                              "city_tier": rng.choice([1, 2, 3], 300), "predicted": rng.integers(0, 2, 300)})
    current = reference.assign(first_platform_c=rng.choice(["Level0", "Level10"], 300))
    with engine.begin() as conn:
        conn.execute(text("UPDATE drift_reports SET snapshot_json = :s WHERE run_id = 2"),
                     {"s": build_drift_report(reference, current).snapshot_json})


@pytest.fixture(scope="module")
def browser_page(chromium_path: Path) -> Iterator[object]:
    """One headless Chromium tab for all pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        yield page
        browser.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _settle(page, case: PageCase) -> None:
    """Wait until the script finished and the page's charts are drawn."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=60_000)
    page.get_by_role("heading", name=case.title).first.wait_for(timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {case.charts}",
                           timeout=30_000)
    page.wait_for_timeout(1_000)


def _screenshot(page, case: PageCase, folder: Path) -> Path:
    """The whole page: the viewport grows to the height of the app's content first."""
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1500, "height": min(max(int(height) + 40, 1000), 8000)})
    page.wait_for_timeout(1_500)
    path = folder / f"{case.name}.png"
    page.screenshot(path=str(path), full_page=True)
    if NOTES_SCREENSHOTS.is_dir():
        shutil.copy(path, NOTES_SCREENSHOTS / path.name)
    page.set_viewport_size({"width": 1500, "height": 1000})
    return path


def _metric_values(page) -> dict[str, str]:
    labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values, strict=False)}


@pytest.mark.parametrize("case", PAGES, ids=[c.name for c in PAGES])
def test_page_renders_in_a_real_browser(seeded_app, browser_page, screenshot_dir: Path, case: PageCase) -> None:
    base, seeded = seeded_app
    page = browser_page

    page.goto(f"{base}/{case.path}")
    _settle(page, case)
    path = _screenshot(page, case, screenshot_dir)

    for selector in ERROR_SELECTORS:
        assert page.locator(selector).count() == 0, f"{case.name}: {selector} shown"
    assert page.locator(".js-plotly-plot").count() == case.charts  # _settle waited for at least this many
    assert path.stat().st_size > 20_000
    metrics = _metric_values(page)
    expected = _expected_metrics(case.name, seeded)
    assert {k: metrics.get(k) for k in expected} == expected


def _wait_for_rerun(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=60_000)


def test_new_since_yesterday_toggle_in_a_real_browser(seeded_app, browser_page) -> None:
    base, seeded = seeded_app
    page = browser_page
    page.goto(base)
    _settle(page, PAGES[0])

    page.get_by_text("New since yesterday").click()
    _wait_for_rerun(page)

    new = seeded.current["previous_score"].isna().sum()
    page.get_by_text(f"Showing 1-{min(new, 50)} of {new}").wait_for(timeout=30_000)
    assert _metric_values(page)["Leads matching"] == f"{new:,}"
    assert page.locator("[data-testid=stException]").count() == 0


def test_full_evidently_report_in_a_real_browser(seeded_app, browser_page, screenshot_dir: Path) -> None:
    base, _ = seeded_app
    page = browser_page
    page.goto(f"{base}/drift")
    _settle(page, PAGES[3])

    page.get_by_text("Show the full Evidently report").click()
    _wait_for_rerun(page)

    page.frame_locator("iframe").get_by_text("Dataset Drift").first.wait_for(timeout=60_000)
    assert page.locator("[data-testid=stAlertContentWarning]").count() == 0
    _screenshot(page, PageCase("drift-report", "drift", "Drift", 3), screenshot_dir)


def _expected_metrics(name: str, seeded: Seeded) -> dict[str, str]:
    """A few numbers each page must show, computed from what was seeded."""
    current = seeded.current
    if name == "leads":
        return {"Leads matching": f"{len(current):,}", "Grade A": f"{(current['grade'] == 'A').sum():,}"}
    if name == "channels":
        known = seeded.leads[seeded.outcome].notna().sum()
        return {"Leads": f"{len(current):,}", "Leads with a known outcome": f"{known:,}"}
    if name == "model":
        return {"AUC": "0.801", "Precision": "0.712"}
    if name == "drift":
        return {"Columns drifted": "50.0%", "Dataset drift": "yes"}
    return {"Files ingested": "3", "Rejected": f"{int(seeded.batches['rejected'].sum()):,}"}


EXAMPLE_LABELS = {"leads": ("Lead source", "Market"), "channels": ("Lead source", "Market"),
                  "model": ("Lead source", "Market"), "drift": ("Lead source", "Market"), "pipeline": ()}


def codepro_names() -> set[str]:
    """Every column name of the built-in CodePro schema."""
    schema = load_schema()
    names = {schema.label.column, schema.id_column, schema.created_column}
    names |= {c.name for c in schema.raw_columns} | {c.db_name for c in schema.raw_columns}
    return {n for n in names | {f.name for f in schema.features} | {f.key for f in schema.features} if n}


def _page_text(page) -> str:
    """What the page shows: its text and the text drawn in its charts (SVG)."""
    return page.evaluate("() => document.querySelector('[data-testid=stApp]').textContent")


@pytest.mark.parametrize("case", PAGES, ids=[c.name for c in PAGES])
def test_example_schema_page_in_a_real_browser(example_app, browser_page, screenshot_dir: Path,
                                               case: PageCase) -> None:
    base, seeded = example_app
    page = browser_page

    page.goto(f"{base}/{case.path}")
    _settle(page, PageCase(case.name, case.path, case.title, 0 if case.name == "leads" else case.charts))
    _screenshot(page, PageCase(f"example-{case.name}", case.path, case.title, case.charts), screenshot_dir)

    for selector in ERROR_SELECTORS:
        assert page.locator(selector).count() == 0, f"{case.name}: {selector} shown"
    text = _page_text(page)
    for label in EXAMPLE_LABELS[case.name]:
        assert label in text, f"{case.name}: {label!r} not shown"
    found = {n for n in codepro_names() if re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text, re.I)}
    assert found == set(), f"{case.name}: CodePro column names shown: {sorted(found)}"
    if case.name in ("leads", "channels"):
        assert "ingest dates" in text
    expected = _expected_metrics(case.name, seeded)
    assert {k: _metric_values(page).get(k) for k in expected} == expected


# ---- outcomes that came back (issue 11): the Model and Channels pages with and without them ------------------

@pytest.fixture(scope="module")
def live_app(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded, object]]:
    """The app on a seeded database whose outcomes came back and were judged by evaluate_live (with the
    Evidently classification snapshots), with three retraining decisions."""
    folder = tmp_path_factory.mktemp("e2e-live")
    url = f"sqlite:///{folder / 'leadscore.db'}"
    engine = make_engine(url, schema=load_schema())
    seeded = seed_database(engine)
    live = seed_live_outcomes(engine, seeded, snapshots=True)
    seed_retrain_decisions(engine, seeded)
    engine.dispose()
    with _served(folder, url) as base:
        yield base, seeded, live


def _no_error_shown(page, name: str) -> None:
    for selector in ERROR_SELECTORS:
        assert page.locator(selector).count() == 0, f"{name}: {selector} shown"


def test_model_page_without_outcomes_in_a_real_browser(seeded_app, browser_page) -> None:
    base, _ = seeded_app
    page = browser_page
    page.goto(f"{base}/model")
    _settle(page, PAGES[2])

    _no_error_shown(page, "model without outcomes")
    page.get_by_text("No outcomes have come back yet").wait_for(timeout=30_000)
    page.get_by_text("No retraining decisions yet").wait_for(timeout=30_000)
    assert "Live AUC" not in _metric_values(page)


def test_model_page_with_outcomes_in_a_real_browser(live_app, browser_page, screenshot_dir: Path) -> None:
    base, _, live = live_app
    page = browser_page
    page.goto(f"{base}/model")
    _settle(page, PageCase("model", "model", "Model", 9))  # the holdout charts, weekly AUC, grades, calibration
    _screenshot(page, PageCase("model-live", "model", "Model", 9), screenshot_dir)

    _no_error_shown(page, "model with outcomes")
    champion = next(f for f in live.evaluations[-1].overall if f.model_version == "2")
    metrics = _metric_values(page)
    assert metrics["Live AUC"] == f"{champion.auc:.3f}" and metrics["Live outcomes"] == f"{champion.n_labelled:,}"
    assert page.get_by_text("Retraining decisions").count() >= 1
    assert page.get_by_text("No outcomes have come back yet").count() == 0

    page.get_by_text("Show the full Evidently classification report").click()
    _wait_for_rerun(page)
    page.frame_locator("iframe").get_by_text("Classification").first.wait_for(timeout=60_000)
    _no_error_shown(page, "model classification report")
    assert page.get_by_text("could not be rendered").count() == 0  # (the only warning left: the seeded leakage line)


def test_channels_page_with_live_outcomes_in_a_real_browser(live_app, browser_page) -> None:
    base, _, _ = live_app
    page = browser_page
    page.goto(f"{base}/channels")
    _settle(page, PageCase("channels", "channels", "Channels", 7))

    _no_error_shown(page, "channels with outcomes")
    page.get_by_text("Does the score work on outcomes it had not seen?").wait_for(timeout=30_000)
    assert page.get_by_text("No live outcomes yet").count() == 0


# ---- the pages on a database the real pipeline wrote ------------------------------------------

PIPELINE_CHARTS = {"leads": 0, "channels": 6, "model": 6, "drift": 3, "pipeline": 2}  # one run, no rejected row


@pytest.fixture(scope="module")
def pipeline_app(chromium_path: Path, prefect_harness, migrated_mlflow_store: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app served on the SQLite database of the real flows: ingest -> train (MLflow) -> ingest -> score."""
    from tests.dashboard.conftest import build_pipeline_database

    folder = tmp_path_factory.mktemp("e2e-pipeline")
    built = build_pipeline_database("sqlite", f"sqlite:///{folder / 'leadscore.db'}", folder / "home",
                                    migrated_mlflow_store)
    with _served(folder, built.url) as base:
        yield base, built.url


def _stored(url: str, query: str) -> pd.DataFrame:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(text(query), conn)
    finally:
        engine.dispose()


def _pipeline_metrics(name: str, url: str) -> dict[str, str]:
    """A few numbers each page must show, read from what the pipeline stored."""
    if name in ("leads", "channels"):
        current = _stored(url, "SELECT s.grade, l.app_complete_flag AS outcome FROM current_scores s "
                               "JOIN leads l ON l.lead_id = s.lead_id")
        if name == "leads":
            return {"Leads matching": f"{len(current):,}", "Grade A": f"{(current['grade'] == 'A').sum():,}"}
        return {"Leads": f"{len(current):,}", "Leads with a known outcome": f"{current['outcome'].notna().sum():,}"}
    if name == "model":
        stored = json.loads(_stored(url, "SELECT metrics_json FROM model_versions WHERE is_champion").iloc[0, 0])
        return {"AUC": f"{stored['auc']:.3f}", "Precision": f"{stored['precision']:.3f}"}
    if name == "drift":
        report = _stored(url, "SELECT share_drifted_columns, dataset_drift FROM drift_reports").iloc[0]
        return {"Columns drifted": f"{report['share_drifted_columns'] * 100:.1f}%",
                "Dataset drift": "yes" if report["dataset_drift"] else "no"}
    runs = _stored(url, "SELECT run_id, status FROM scoring_runs ORDER BY run_id DESC")
    files = _stored(url, "SELECT COUNT(*) AS n, SUM(rejected) AS rejected FROM ingest_batches").iloc[0]
    return {"Files ingested": f"{files['n']:,}", "Rejected": f"{int(files['rejected']):,}",
            f"Last scoring run (#{runs['run_id'].iloc[0]})": str(runs["status"].iloc[0])}


@pytest.mark.parametrize("case", PAGES, ids=[c.name for c in PAGES])
def test_page_on_the_pipeline_database_in_a_real_browser(pipeline_app, browser_page, screenshot_dir: Path,
                                                         case: PageCase) -> None:
    base, url = pipeline_app
    page = browser_page

    page.goto(f"{base}/{case.path}")
    _settle(page, PageCase(case.name, case.path, case.title, PIPELINE_CHARTS[case.name]))
    _screenshot(page, PageCase(f"pipeline-{case.name}", case.path, case.title, 0), screenshot_dir)

    for selector in ERROR_SELECTORS:
        assert page.locator(selector).count() == 0, f"{case.name}: {selector} shown"
    assert page.locator(".js-plotly-plot").count() == PIPELINE_CHARTS[case.name]
    expected = _pipeline_metrics(case.name, url)
    assert {k: _metric_values(page).get(k) for k in expected} == expected
