"""The training flow under Prefect and the train / promote command lines."""

from __future__ import annotations

import os
import subprocess
import sys

from core import store
from core.registry import load_champion
from core.training import run_training
from flows.train import train_flow
from tests.paths import PROJECT_ROOT


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())


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
