"""The training flow under Prefect and the train / promote command lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import numpy as np

from core import store
from core.lead_schema import load_schema
from core.registry import load_champion
from core.training import run_training
from flows.train import train_flow
from tests.model.crm import CRM_SCHEMA_FILE, crm_leads, store_crm_leads
from tests.paths import PROJECT_ROOT


def _run(module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_train_command_refuses_a_bad_schema_file_before_prefect_starts(settings, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlabel: {column: y, positive: ['1']}\nfeatures:\n  a: {type: colour}\n")
    result = _run("flows.train", LEADSCORE_SCHEMA=str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "error: schema bad.yaml: features.a.type: unknown type 'colour' (expected one " \
                                    "of category, number, flag, lookup, sum, hour, weekday)"


def test_train_command_refuses_a_database_of_another_schema(settings, empty_engine):
    result = _run("flows.train", LEADSCORE_SCHEMA=str(CRM_SCHEMA_FILE))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database holds leads of schema 'CodePro'")


def test_train_command_prints_leakage_warnings(settings, tmp_path):
    text = CRM_SCHEMA_FILE.read_text().replace("features:\n", "features:\n  Stage:\n    type: category\n", 1)
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(text)
    schema = load_schema(leaky)
    raw = crm_leads(3_000, seed=6)
    raw["Stage"] = np.where(raw["Outcome"] == "Enrolled", "Closed - won", "Lost")
    engine = store.make_engine(settings.resolved_database_url(), schema)
    store_crm_leads(engine, raw, schema, datetime(2026, 3, 1))
    engine.dispose()
    result = _run("flows.train", LEADSCORE_SCHEMA=str(leaky), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stdout.splitlines() if "leakage" in line]
    assert len(warnings) == 1 and "'Stage'" in warnings[0]
    row = store.read_frame(store.make_engine(settings.resolved_database_url(), schema),
                           "SELECT metrics_json FROM model_versions")
    stored = json.loads(row["metrics_json"].iloc[0])
    assert stored["leakage"] == warnings and stored["holdout_method"] == "newest 20% by Lead Number"


def test_train_flow_registers_a_champion_and_prints_the_figures(prefect_harness, settings, dev_engine):
    outcome = train_flow()
    assert outcome.version == "1" and outcome.decision.promote and outcome.metrics["auc"] > 0.75
    assert load_champion(settings).version == "1"
    rows = store.read_frame(dev_engine, "SELECT version, is_champion FROM model_versions")
    assert rows.to_dict("records") == [{"version": "1", "is_champion": True}]


def test_train_command_refuses_without_labels_before_prefect_starts(settings, empty_engine):
    result = _run("flows.train")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: no labelled leads to train on: ingest a file with app_complete_flag "
                                     "first")


def test_promote_command_moves_the_champion_back(settings, dev_engine):
    run_training(dev_engine, settings)
    run_training(dev_engine, settings)
    result = _run("flows.promote", "1", "--reason", "roll back")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("version 1 is now the champion (roll back)")
    assert load_champion(settings).version == "1"
    flags = store.read_frame(dev_engine, "SELECT version, is_champion FROM model_versions ORDER BY version")
    assert flags.to_dict("records") == [{"version": "1", "is_champion": True}, {"version": "2", "is_champion": False}]


def test_promote_command_refuses_an_unknown_version(settings, empty_engine):
    result = _run("flows.promote", "7", "--reason", "typo")
    assert result.returncode == 2 and result.stderr.strip() == "error: model lead-scoring-l2ac has no version 7"
