"""The ingest flow under Prefect, its command line contract, and the landing-folder schedule."""

import os
import subprocess
import sys

import pytest

from core import store
from core.config import Settings
from core.lead_schema import load_schema
from flows.ingest import ingest_flow, ingest_landing_flow
from tests.paths import PROJECT_ROOT, SHARED_DATA
from tests.samples import real_sample, write_sample


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.ingest", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())


def _engine():
    return store.make_engine(Settings().resolved_database_url())


def test_flow_ingests_and_summarises(prefect_harness):
    summaries = ingest_flow([str(SHARED_DATA / "leadscoring_test.csv")])
    assert [(s.rows_in, s.loaded, s.duplicate, s.rejected) for s in summaries] == [(100, 100, 0, 0)]
    assert store.read_frame(_engine(), "SELECT count(*) AS n FROM leads")["n"][0] == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"", "is empty"), (b"x,y\n1,2\n", "missing required columns"),
     (b"\x00\x00PK\x03\x04", "is not a CSV file")],
)
def test_cli_refuses_bad_files_with_one_line(tmp_path, content, message):
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_bytes(content)
    result = _run_cli(str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "home" / "leadscore.db").exists() or _count_leads() == 0


def _count_leads() -> int:
    return int(store.read_frame(_engine(), "SELECT count(*) AS n FROM leads")["n"][0])


def test_landing_folder_files_are_ingested_or_refused(prefect_harness, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_sample(landing / "good.csv", real_sample(5))
    (landing / "bad.csv").write_text("a,b\n1,2\n")
    summaries = ingest_landing_flow(str(landing))
    assert [s.loaded for s in summaries] == [5]
    assert [p.name.split("-", 1)[1] for p in (landing / "processed").glob("*.csv")] == ["good.csv"]
    reasons = list((landing / "refused").glob("*-bad.csv.reason.txt"))
    assert len(reasons) == 1 and "missing required columns" in reasons[0].read_text()
    assert list(landing.glob("*.csv")) == []


def test_cli_refuses_a_bad_schema_file_with_its_one_line(tmp_path, monkeypatch):
    schema = tmp_path / "bad.yaml"
    schema.write_text("name: broken\nlabel: {column: won, positive: ['1']}\nfeatures:\n  visits: {type: numbr}\n")
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(schema))
    result = _run_cli(str(SHARED_DATA / "leadscoring_test.csv"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: schema bad.yaml: features.visits.type: unknown type 'numbr' "
        "(expected one of category, number, flag, lookup, sum, hour, weekday)"]
    assert "prefect" not in result.stdout.lower()


def test_cli_refuses_a_database_of_another_schema_with_one_line(isolated_home, monkeypatch):
    isolated_home.mkdir(parents=True, exist_ok=True)
    crm = PROJECT_ROOT / "schemas" / "example_crm.yaml"
    store.make_engine(Settings().resolved_database_url(), load_schema(crm)).dispose()
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)  # CodePro, against a database of CRM leads
    result = _run_cli(str(SHARED_DATA / "leadscoring_test.csv"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database holds leads of schema 'Example CRM export'")


def test_flow_ingests_under_the_schema_of_leadscore_schema(prefect_harness, tmp_path, monkeypatch):
    crm = PROJECT_ROOT / "schemas" / "example_crm.yaml"
    monkeypatch.setenv("LEADSCORE_SCHEMA", str(crm))
    path = tmp_path / "crm.csv"
    path.write_text("Prospect ID,Lead Number,Lead Origin,Lead Source,Do Not Email,TotalVisits,"
                    "Total Time Spent on Website,Page Views Per Visit,Last Activity,Specialization,"
                    "What is your current occupation,Country,Outcome\n"
                    "P-1,1001,API,Google,No,2,120,2,Email Opened,Select,Student,India,Enrolled\n"
                    "P-2,1002,API,Google,No,abc,120,2,Email Opened,Select,Student,India,Lost\n")
    [summary] = ingest_flow([str(path)])
    assert (summary.rows_in, summary.loaded, summary.rejected) == (2, 1, 1)
    engine = store.make_engine(Settings().resolved_database_url(), load_schema(crm))
    assert store.read_frame(engine, "SELECT lead_id, outcome FROM leads").values.tolist() == [["P-1", 1]]
    assert store.read_frame(engine, "SELECT reason FROM rejected_leads")["reason"].tolist() == [
        "TotalVisits must be a number, got 'abc'"]


def test_landing_files_stay_when_the_database_holds_another_schema(prefect_harness, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    store.make_engine(Settings().resolved_database_url(),
                      load_schema(PROJECT_ROOT / "schemas" / "example_crm.yaml")).dispose()
    landing = isolated_home / "landing"
    landing.mkdir()
    write_sample(landing / "good.csv", real_sample(5))
    with pytest.raises(store.SchemaMismatchError):
        ingest_landing_flow(str(landing))
    assert [p.name for p in landing.glob("*.csv")] == ["good.csv"]  # not the file's fault: left for the next run
    assert not (landing / "refused").exists()
