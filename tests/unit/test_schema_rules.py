"""Validation driven by a lead schema: each column kind's rules and reason texts, on a small schema written here."""

from datetime import datetime

import pandas as pd
import pytest

from core.errors import BadInputError
from core.lead_schema import parse_schema
from core.schema import check_raw_csv, read_raw_csv, validate_leads

NOW = datetime(2026, 1, 1)
SCHEMA = parse_schema("""
name: Rules
id: Ref
created: Opened At
label: {column: Result, positive: ["Won", "Closed - won"], negative: ["Lost"]}
na_values: ["", "Select", "-"]
features:
  Channel: {type: category, required: true}
  Visits: {type: number, min: 0, max: 1000, fill: 0}
  Score: {type: number, required: true}
  Opted In: {type: flag, "yes": ["Yes", "1"], "no": ["No", "0"], fill: 0}
  Newsletter: {type: flag, "yes": ["1"], "no": ["0"]}
leakage: [Notes]
""", origin="rules.yaml")
HEADER = "Ref,Opened At,Channel,Visits,Score,Opted In,Newsletter,Notes,Result"
GOOD = "R-{n},2025-05-01 10:00:00,Web,3,0.5,Yes,1,called,Won"


def _validate(tmp_path, *rows: str, header: str = HEADER, schema=SCHEMA):
    path = tmp_path / "leads.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    raw, bad = read_raw_csv(path, schema)
    return validate_leads(raw, NOW, schema, bad)


def _row(**cells: str) -> str:
    values = dict(zip(HEADER.split(","), GOOD.format(n=1).split(","), strict=True))
    values.update({name.replace("_", " "): value for name, value in cells.items()})
    return ",".join(values.values())


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"Visits": "abc"}, "Visits must be a number, got 'abc'"),
        ({"Visits": "-3"}, "Visits must be >= 0, got -3"),
        ({"Visits": "1500"}, "Visits must be <= 1000, got 1500"),
        ({"Visits": "inf"}, "Visits must be <= 1000, got inf; Visits must be finite, got inf"),
        ({"Score": ""}, "Score is empty"),
        ({"Score": "-"}, "Score is empty"),  # an na_value
        ({"Channel": "Select"}, "Channel is empty"),
        ({"Opted_In": "maybe"}, "Opted In must be No or 0 or Yes or 1, got 'maybe'"),
        ({"Newsletter": "7"}, "Newsletter must be 0 or 1, got 7"),
        ({"Newsletter": "x"}, "Newsletter must be a number, got 'x'"),
        ({"Result": "Pending"}, "Result must be Lost or Won or Closed - won, got 'Pending'"),
        ({"Opened_At": "soon"}, "Opened At is not a date: 'soon'"),
        ({"Opened_At": "2030-01-01 00:00:00"}, "Opened At is in the future: 2030-01-01 00:00:00"),
        ({"Ref": ""}, "Ref is empty"),
        ({"Ref": "x" * 65}, "Ref is longer than 64 characters"),
    ],
)
def test_each_rule_rejects_with_a_reason_named_after_the_schema_column(tmp_path, cells, reason):
    result = _validate(tmp_path, GOOD.format(n=0), _row(**cells))
    assert result.rejected["reason"].tolist() == [reason]
    assert result.rejected["row_number"].tolist() == [2]
    assert result.good["lead_id"].tolist() == ["R-0"]


def test_flags_and_label_compare_case_insensitively_and_as_numbers(tmp_path):
    rows = [_row(Ref="a", Opted_In="yes", Newsletter="1.0", Result="won"),
            _row(Ref="b", Opted_In="NO", Newsletter=" 0 ", Result="CLOSED - WON"),
            _row(Ref="c", Opted_In="1.0", Newsletter="", Result="lost"),
            _row(Ref="d", Opted_In="", Newsletter="0.0", Result="")]
    good = _validate(tmp_path, *rows).good.set_index("lead_id")
    assert good["opted_in"].tolist() == [1.0, 0.0, 1.0, 0.0]  # empty -> fill 0
    assert good["newsletter"].tolist()[:2] == [1.0, 0.0] and pd.isna(good.loc["c", "newsletter"])  # no fill
    assert good["result"].tolist()[:3] == [1, 1, 0] and pd.isna(good.loc["d", "result"])


def test_stored_under_db_names_with_stripped_text_fill_and_leakage_column(tmp_path):
    good = _validate(tmp_path, _row(Visits="", Channel="  Web  ", Notes=" rang twice ")).good
    assert list(good.columns) == ["lead_id", "row_number", "opened_at", "channel", "visits", "score", "opted_in",
                                  "newsletter", "notes", "result"]
    first = good.iloc[0]
    assert (first["channel"], first["visits"], first["notes"]) == ("Web", 0.0, "rang twice")
    assert first["opened_at"] == pd.Timestamp("2025-05-01 10:00:00")


def test_label_without_negative_makes_every_other_value_a_failure(tmp_path):
    schema = parse_schema(SCHEMA.source_text.replace(', negative: ["Lost"]', ""), origin="open.yaml")
    result = _validate(tmp_path, _row(Ref="a", Result="Won"), _row(Ref="b", Result="No Answer"),
                       _row(Ref="c", Result=""), schema=schema)
    assert result.rejected.empty
    assert result.good["result"].tolist()[:2] == [1, 0] and pd.isna(result.good["result"].iloc[2])


def test_optional_columns_may_be_absent_and_the_id_falls_back_to_a_content_hash(tmp_path):
    header = "Opened At,Channel,Visits,Score,Opted In,Newsletter"
    rows = ["2025-05-01 10:00:00,Web,3,0.5,Yes,1", "2025-05-01 10:00:00,Web,3,0.5,Yes,1",
            "2025-05-02 10:00:00,Web,3,0.5,Yes,1"]
    result = _validate(tmp_path, *rows, header=header)
    ids = result.good["lead_id"].tolist()
    assert ids[0] == ids[1] != ids[2] and ids[0].startswith("h") and len(ids[0]) == 17
    assert result.good["notes"].isna().all() and not result.has_label


def test_same_id_with_other_content_is_rejected_and_identical_repeat_kept(tmp_path):
    result = _validate(tmp_path, GOOD.format(n=1), GOOD.format(n=2), GOOD.format(n=1),
                       GOOD.format(n=1).replace(",3,", ",4,"))
    assert result.good["lead_id"].tolist() == ["R-1", "R-2", "R-1"]
    assert result.rejected["reason"].tolist() == ["Ref R-1 appears earlier in this file with different content (row 1)"]
    assert result.rejected["row_number"].tolist() == [4]


def test_a_file_missing_a_schema_column_is_refused_with_its_name(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("Opened At,Channel\n2025-05-01 10:00:00,Web\n")
    with pytest.raises(BadInputError, match="short.csv is missing required columns: Visits, Score, Opted In, Newsletter"):
        check_raw_csv(path, SCHEMA)
