"""The schema draft: a complete, valid, commented schema inferred from a CSV; one-line refusals on bad requests."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from core.errors import BadInputError
from core.lead_schema import parse_schema
from core.schema_draft import DraftRequest, draft_schema
from core.synthetic import main as synthetic_main
from flows.schema import main
from tests.paths import PROJECT_ROOT, SHARED_DATA

DEV_FILE = SHARED_DATA / "leads_labelled_dev.csv"


def _draft(path, label, **options) -> tuple[str, object]:
    text = draft_schema(DraftRequest(path=path, label=label, **options))
    return text, parse_schema(text, origin="draft.yaml")


def _comment_of(text: str, column: str) -> str:
    """The comment on the line that declares `column` (a feature, leakage or ignore entry)."""
    line = next(line for line in text.splitlines()
                if line.lstrip(" -").startswith((f"{column}:", f'"{column}":', f"{column}  #", f'"{column}"  #')))
    return line.split("  # ", 1)[1]


# --- the real CodePro sample ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_draft():
    return _draft(DEV_FILE, "app_complete_flag", created="created_date")


def test_given_the_codepro_sample_when_drafted_then_a_valid_schema_with_the_course_layout(dev_draft):
    text, schema = dev_draft
    header = pd.read_csv(DEV_FILE, nrows=0, index_col=0).columns.tolist()
    assert schema.file_layout() == header  # the unnamed index column left out, the label last
    assert schema.created_column == "created_date" and schema.id_column is None
    assert schema.label.column == "app_complete_flag" and schema.label.positive == ("1",)
    assert schema.leakage == () and "leakage: []" in text


def test_given_the_codepro_sample_when_drafted_then_types_follow_the_values(dev_draft):
    text, schema = dev_draft
    types = {f.name: f.type for f in schema.features}
    for column in ("city_mapped", "first_platform_c", "first_utm_medium_c", "first_utm_source_c"):
        assert types[column] == "category"
    assert types["total_leads_droppped"] == "number" and schema.raw("total_leads_droppped").minimum == 0
    assert types["referred_lead"] == "flag" and schema.raw("referred_lead").yes == ("1",)
    assert types["created_hour"] == "hour" and types["created_weekday"] == "weekday"
    assert {"career_coach", "chat_clicked", "whatsapp_chat_click"} <= set(schema.ignore)  # empty or constant
    assert _comment_of(text, "career_coach") == "always empty"
    assert _comment_of(text, "whatsapp_chat_click").startswith("constant: every filled row is '2.0'")
    assert schema.channels == ("first_platform_c", "first_utm_medium_c", "first_utm_source_c")


def test_given_a_draft_then_every_column_line_says_what_was_seen(dev_draft):
    text, _ = dev_draft
    body = text.split("features:\n", 1)[1]
    entries = [line for line in body.splitlines() if line.startswith("  ")]
    assert len(entries) == 44 + 2 - 1  # 43 columns besides created, plus hour and weekday
    assert all("  # " in line for line in entries)
    assert _comment_of(text, "city_mapped").startswith("1,062 distinct, 3.8% missing: 'ncr' 15%")
    assert _comment_of(text, "total_leads_droppped") == "numbers 1 .. 50, median 1, 0.3% missing"


# --- the example CRM export --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("crm") / "crm_export.csv"
    code = synthetic_main(["--schema", str(PROJECT_ROOT / "schemas" / "example_crm.yaml"), "--rows", "6000",
                           "--seed", "4", "--out", str(path)])
    assert code == 0
    return path


@pytest.fixture(scope="module")
def crm_draft(crm_file):
    return _draft(crm_file, "Outcome", id_column="Prospect ID")


def test_given_the_example_crm_export_when_drafted_then_its_roles_are_proposed(crm_draft):
    text, schema = crm_draft
    assert schema.id_column == "Prospect ID" and schema.order_column == "Lead Number"
    assert schema.created_column is None and not schema.has_time
    assert schema.label.positive == ("Enrolled",) and "'Enrolled' reads as success" in text
    assert schema.na_values == ("", "Select")
    assert schema.raw("Do Not Email").kind == "flag" and schema.raw("Do Not Email").yes == ("Yes",)
    assert '"yes": ["Yes"], "no": ["No"]' in text  # quoted: never YAML booleans
    numbers = {f.name for f in schema.features if f.type == "number"}
    assert numbers == {"TotalVisits", "Total Time Spent on Website", "Page Views Per Visit"}
    assert schema.channels == ("Lead Origin", "Lead Source")


def test_given_the_example_crm_export_when_drafted_then_tags_are_proposed_as_leakage(crm_draft):
    text, schema = crm_draft
    assert schema.leakage == ("Tags",)
    assert "Tags" not in [f.name for f in schema.features]
    assert "leakage" in _comment_of(text, "Tags") and "'Tags'" in _comment_of(text, "Tags")
    assert all("leakage" not in _comment_of(text, f.name) for f in schema.features)


# --- small files for each rule ----------------------------------------------------------------------------------------


def _write(tmp_path, frame: pd.DataFrame, name="leads.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _leads(rows=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    won = rng.random(rows) < 0.3
    return pd.DataFrame({
        "Ref": [f"R{n:05d}" for n in range(rows)],
        "Opened": pd.date_range("2024-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M"),
        "Channel": rng.choice(["Web", "Phone", "Event"], rows),
        "Opt In": rng.choice(["yes", "no"], rows),
        "Budget": np.where(rng.random(rows) < 0.1, "N/A", rng.integers(100, 900, rows).astype(str)),
        "Region": rng.choice(["North", "South", "-", "Unknown"], rows),
        "Country": "Spain",
        "Notes": [f"called on day {n}, said {w}" for n, w in zip(range(rows), rng.random(rows), strict=True)],
        "Result": np.where(won, "Closed - won", "Closed - lost"),
    })


def test_given_typical_crm_columns_when_drafted_then_each_gets_its_rule(tmp_path):
    text, schema = _draft(_write(tmp_path, _leads()), "Result")
    assert schema.label.positive == ("Closed - won",)
    assert schema.na_values == ("", "-", "N/A")
    assert "maybe placeholders too: 'Unknown'" in text
    assert schema.raw("Opt In").kind == "flag" and schema.raw("Opt In").yes == ("yes",)
    assert schema.feature("Budget").type == "number"
    assert schema.feature("Channel").type == "category" and schema.channels == ("Channel",)
    assert {"Country", "Notes", "Ref", "Opened"} <= set(schema.ignore)
    assert _comment_of(text, "Country") == "constant: every filled row is 'Spain'"
    assert _comment_of(text, "Ref").startswith("nearly all distinct (400 of 400): an id or free text (pass --id 'Ref'")
    assert "pass --created 'Opened'" in _comment_of(text, "Opened")
    assert schema.leakage == ()


def test_given_a_created_column_when_drafted_then_hour_and_weekday_features(tmp_path):
    _, schema = _draft(_write(tmp_path, _leads()), "Result", id_column="Ref", created="Opened")
    assert schema.created_column == "Opened" and schema.id_column == "Ref"
    assert [f.type for f in schema.features][-2:] == ["hour", "weekday"]
    assert "Opened" not in schema.ignore


def test_given_no_column_named_like_a_channel_when_drafted_then_the_two_categories_with_fewest_levels(tmp_path):
    frame = _leads().rename(columns={"Channel": "Kind"})
    rng = np.random.default_rng(2)
    frame["Team"] = rng.choice(["Red", "Blue"], len(frame))
    frame["Product"] = rng.choice([f"P{n}" for n in range(12)], len(frame))
    text, schema = _draft(_write(tmp_path, frame), "Result")
    assert schema.channels == ("Team", "Kind")  # 2 and 3 levels; Region has 3 too but comes later
    assert "no column is named like a source or channel" in text


def test_given_a_created_column_then_no_order_and_without_it_a_running_number_is_the_order(tmp_path):
    frame = _leads()
    frame["Lead No"] = np.arange(1_000, 1_000 + len(frame))
    path = _write(tmp_path, frame)
    assert _draft(path, "Result")[1].order_column == "Lead No"
    _, with_time = _draft(path, "Result", created="Opened")
    assert with_time.order_column is None and "Lead No" in with_time.ignore


def test_given_a_column_that_restates_the_outcome_when_drafted_then_it_is_proposed_as_leakage(tmp_path):
    frame = _leads(rows=2_000)
    frame["Stage"] = np.where(frame["Result"] == "Closed - won", "Contract sent", "Archived")
    text, schema = _draft(_write(tmp_path, frame), "Result")
    assert schema.leakage == ("Stage",) and "leakage" in _comment_of(text, "Stage")
    assert "Channel" in [f.name for f in schema.features]


def test_given_unclear_outcome_values_when_drafted_then_the_rarer_is_proposed_with_a_check(tmp_path):
    frame = _leads()
    frame["Result"] = np.where(frame["Result"] == "Closed - won", "B", "A")
    text, schema = _draft(_write(tmp_path, frame), "Result")
    assert schema.label.positive == ("B",)
    assert "# check: no value reads clearly as success" in text


@pytest.mark.parametrize("column", ["Yes", "on", "01", "null", "a: b", "x # y", "[tag]", "Won?", "12.5", "no"])
def test_given_column_names_yaml_would_misread_when_drafted_then_names_survive(tmp_path, column):
    frame = _leads()
    frame[column] = np.random.default_rng(1).choice(["p", "q"], len(frame))
    _, schema = _draft(_write(tmp_path, frame), "Result")
    assert column in schema.file_layout()
    assert schema.feature(column).type == "category"


def test_given_outcome_values_yaml_would_misread_when_drafted_then_they_stay_text(tmp_path):
    frame = _leads()
    frame["Result"] = np.where(frame["Result"] == "Closed - won", "Yes", "No")
    text, schema = _draft(_write(tmp_path, frame), "Result")
    assert schema.label.positive == ("Yes",) and 'positive: ["Yes"]' in text
    assert isinstance(yaml.safe_load(text)["label"]["positive"][0], str)


def test_given_a_number_column_with_a_few_bad_cells_when_drafted_then_number_with_a_warning(tmp_path):
    frame = _leads(rows=500)
    frame.loc[:4, "Budget"] = "lots"
    text, schema = _draft(_write(tmp_path, frame), "Result")
    assert schema.feature("Budget").type == "number"
    assert "5 not numbers (e.g. 'lots'): those rows will be rejected" in _comment_of(text, "Budget")


# --- refusals ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"label": "Outcome"}, "--label 'Outcome': no such column in leads.csv (columns: Ref, Opened, Channel, Opt In, "
                           "Budget, Region, Country, Notes, ...)"),
    ({"label": "Result", "id_column": "ID"}, "--id 'ID': no such column"),
    ({"label": "Result", "created": "Channel"}, "--created 'Channel' does not hold dates (e.g. "),
    ({"label": "Result", "id_column": "Result"}, "--label, --id and --created must name different columns"),
    ({"label": "Country"}, "--label 'Country' has only 'Spain': a draft needs leads of both outcomes"),
])
def test_given_a_bad_request_when_drafted_then_one_line_refusal(tmp_path, options, message):
    path = _write(tmp_path, _leads())
    with pytest.raises(BadInputError) as caught:
        draft_schema(DraftRequest(path=path, **options))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_given_bad_files_when_drafted_then_one_line_refusals(tmp_path):
    cases = {"missing.csv": None, "empty.csv": b"", "header.csv": b"a,b,Result\n", "latin.csv": "Result,City\n1,C\xe1diz\n"
             .encode("latin-1")}
    messages = {}
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(BadInputError) as caught:
            draft_schema(DraftRequest(path=tmp_path / name, label="Result"))
        messages[name] = str(caught.value)
    assert messages["missing.csv"].endswith("missing.csv: file not found")
    assert messages["empty.csv"] == "empty.csv: the file is empty"
    assert messages["header.csv"] == "header.csv: no rows under the header"
    assert messages["latin.csv"] == "latin.csv: not UTF-8 text (byte 0xe1): save it as UTF-8"


def test_given_the_command_line_when_drafting_then_yaml_on_stdout(tmp_path, capsys):
    path = _write(tmp_path, _leads())
    assert main(["draft", str(path), "--label", "Result", "--id", "Ref"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and parse_schema(captured.out).id_column == "Ref"


def test_given_a_missing_label_on_the_real_command_line_then_exit_2_and_one_line(tmp_path):
    path = _write(tmp_path, _leads())
    done = subprocess.run([sys.executable, "-m", "flows.schema", "draft", str(path), "--label", "Nope"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().startswith("error: --label 'Nope': no such column in leads.csv")
    assert len(done.stderr.strip().splitlines()) == 1
