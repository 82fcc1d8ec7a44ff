"""The registered champion stands alone: plain MLflow loads and serves it from any folder, on raw leads (text as a
lead file holds them), and its scores equal the project's own scoring of the same leads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from core import registry, store
from core.config import Settings
from core.lead_schema import load_schema
from core.model import train_candidate
from core.schema import validate_leads
from core.scoring import score_leads
from core.serving import score_raw_leads
from core.training import load_labelled_leads, run_training
from tests.model.registry_support import (
    DEV_FILE,
    MLFLOW,
    free_port,
    stop_process_group,
    store_dev_leads,
    wait_until_answers,
)

SERVED_ROWS = 400

SCHEMA = load_schema()
LABEL = SCHEMA.label.column
RAW_COLUMNS = tuple(SCHEMA.file_columns())
COUNT_COLUMNS = tuple(c.name for c in SCHEMA.raw_columns if c.kind in ("number", "flag"))


@pytest.fixture(scope="module")
def leads_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serving-db") / "leadscore.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store_dev_leads(engine)
    engine.dispose()
    return path


@pytest.fixture
def scored(settings: Settings, leads_database: Path) -> Iterator[Engine]:
    """A trained champion, and every stored lead scored by the project's own scoring run (lead_scores)."""
    shutil.copy(leads_database, settings.home / "leadscore.db")
    engine = store.make_engine(settings.resolved_database_url())
    run_training(engine, settings)
    champion = registry.load_champion(settings)
    score_leads(engine, champion.model, settings.model_name, champion.version)
    yield engine
    engine.dispose()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the repository, where `core` cannot be imported."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _plain_env(settings: Settings) -> dict[str, str]:
    """A user's shell with the virtualenv active (its bin first on PATH), no PYTHONPATH, the MLflow store set."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    path = os.pathsep.join([str(MLFLOW.parent), env.get("PATH", "")])
    return {**env, "PATH": path, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri()}


def _raw_leads(rows: int) -> pd.DataFrame:
    """The first rows of the real lead file exactly as written (text; empty cells as empty strings)."""
    raw = pd.read_csv(DEV_FILE, dtype=str, keep_default_na=False, nrows=rows)
    return raw.drop(columns=[raw.columns[0], LABEL])  # the file's unnamed index column, and the outcome


def _project_scores(engine: Engine, raw: pd.DataFrame) -> pd.DataFrame:
    """The project's stored scores of these raw rows, in their order (lead ids as ingest computes them)."""
    lead_ids = validate_leads(raw, datetime.now(), SCHEMA).good["lead_id"]
    stored = store.read_frame(engine, "SELECT lead_id, score, grade, predicted FROM current_scores")
    return stored.set_index("lead_id").loc[lead_ids.to_numpy()].reset_index()


def _post(port: int, payload: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_mlflow_models_serve_outside_the_repository_scores_raw_leads_as_the_project_does(settings, scored, elsewhere):
    raw = _raw_leads(SERVED_ROWS)
    bad = raw.iloc[[0]].assign(created_date="yesterday-ish")  # a row ingest would reject: no score, the reason
    port = free_port()
    command = [str(MLFLOW), "models", "serve", "-m", f"models:/{settings.model_name}@champion",
               "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"]
    log = elsewhere / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=elsewhere, env=_plain_env(settings), stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/ping", server, seconds=180)
        except RuntimeError as error:
            raise AssertionError(log.read_text()[-3000:]) from error
        answer = _post(port, {"dataframe_split": json.loads(pd.concat([raw, bad]).to_json(orient="split",
                                                                                              index=False))})
    finally:
        stop_process_group(server)
    served = pd.DataFrame(answer["predictions"])
    expected = _project_scores(scored, raw)
    assert len(served) == SERVED_ROWS + 1
    np.testing.assert_allclose(served["score"].iloc[:-1].to_numpy("float64"), expected["score"], rtol=0, atol=1e-9)
    assert served["grade"].iloc[:-1].tolist() == expected["grade"].tolist()
    assert served["predicted"].iloc[:-1].astype(int).tolist() == expected["predicted"].astype(int).tolist()
    assert expected["score"].std() > 0.05 and set(expected["grade"]) == {"A", "B", "C", "D"}
    assert served["score"].iloc[-1] is None or np.isnan(served["score"].iloc[-1])
    assert served["problem"].iloc[-1] == "created_date is not a date: 'yesterday-ish'"


LOAD_ELSEWHERE = textwrap.dedent("""
    import importlib.util, json, sys
    import mlflow, pandas as pd
    assert importlib.util.find_spec("core") is None, "core is importable here: the test would prove nothing"
    model = mlflow.pyfunc.load_model("models:/" + sys.argv[1] + "@champion")
    raw = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
    model.predict(raw).to_parquet(sys.argv[3])
    example = mlflow.models.Model.load("models:/" + sys.argv[1] + "@champion").load_input_example()
    signature = model.metadata.signature
    print(json.dumps({"inputs": signature.inputs.to_dict(), "outputs": signature.outputs.input_names(),
                      "example_columns": list(example.columns), "example_rows": len(example),
                      "example_scores": model.predict(example)["score"].tolist()}))
""")


@pytest.mark.slow
def test_pyfunc_loads_in_a_plain_process_elsewhere_with_signature_and_raw_example(settings, scored, elsewhere):
    raw = _raw_leads(SERVED_ROWS)
    raw.to_csv(elsewhere / "leads.csv", index=False)
    result = subprocess.run([sys.executable, "-c", LOAD_ELSEWHERE, settings.model_name, str(elsewhere / "leads.csv"),
                             str(elsewhere / "scores.parquet")], cwd=elsewhere, env=_plain_env(settings),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    served, expected = pd.read_parquet(elsewhere / "scores.parquet"), _project_scores(scored, raw)
    np.testing.assert_allclose(served["score"].to_numpy("float64"), expected["score"], rtol=0, atol=1e-9)
    assert served["grade"].tolist() == expected["grade"].tolist()
    inputs = {column["name"]: column for column in facts["inputs"]}
    assert list(inputs) == [*RAW_COLUMNS, "lead_id"]
    assert {column["type"] for column in inputs.values()} == {"string"} and inputs["lead_id"]["required"] is False
    assert facts["outputs"] == ["score", "grade", "predicted", "problem"]
    assert facts["example_columns"] == list(RAW_COLUMNS) and facts["example_rows"] == 5
    assert all(0 < score < 1 for score in facts["example_scores"])


def test_the_raw_example_is_stored_leads_written_back_as_their_file_holds_them(settings, leads_database):
    shutil.copy(leads_database, settings.home / "leadscore.db")
    example = registry.raw_lead_example(settings)
    assert list(example.columns) == list(RAW_COLUMNS) and len(example) == 5
    assert example["created_date"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert all(isinstance(v, str) for v in example.stack().dropna())
    parsed = validate_leads(example, datetime.now(), SCHEMA)
    engine = store.make_engine(settings.resolved_database_url())
    stored_ids = set(store.read_frame(engine, "SELECT lead_id FROM leads")["lead_id"])
    engine.dispose()
    # read back as ingest reads a file, the text gives the same leads (the id hashes the typed content)
    assert parsed.rejected.empty and set(parsed.good["lead_id"]) <= stored_ids and len(parsed.good) == 5


def test_raw_leads_score_alike_as_text_or_json_numbers_and_a_refused_row_keeps_its_place(leads_database):
    engine = store.make_engine(f"sqlite:///{leads_database}")
    model = train_candidate(load_labelled_leads(engine)).model
    engine.dispose()
    raw = _raw_leads(300)
    raw.loc[150, "first_platform_c"] = "  "  # ingest refuses a lead without its platform
    numbers = raw.replace({"": None}).astype(object)
    for column in COUNT_COLUMNS:
        numbers[column] = pd.to_numeric(numbers[column])  # what a client sending JSON numbers and nulls sends
    as_text, as_numbers = score_raw_leads(model, raw), score_raw_leads(model, numbers)
    pd.testing.assert_frame_equal(as_text, as_numbers)
    valid = validate_leads(raw, datetime.now(), SCHEMA).good
    np.testing.assert_array_equal(as_text["score"].drop(index=150).to_numpy(), model.predict_proba(valid))
    assert np.isnan(as_text.loc[150, "score"]) and as_text.loc[150, "problem"] == "first_platform_c is empty"
    assert as_text["problem"].drop(index=150).isna().all()
