"""The raw lead contract: every bad-input rule with the reason a person reads."""

import json
from datetime import datetime

import pandas as pd
import pytest

from core.errors import BadInputError
from core.lead_schema import load_schema
from core.schema import check_raw_csv, read_raw_csv, validate_file, validate_leads
from tests.paths import SHARED_DATA
from tests.samples import real_sample, write_sample

NOW = datetime(2026, 1, 1)
CODEPRO = load_schema()


def _validate(tmp_path, frame, **to_csv):
    path = write_sample(tmp_path / "leads.csv", frame, **to_csv)
    raw, bad = read_raw_csv(path, CODEPRO)
    return validate_leads(raw, NOW, CODEPRO, bad)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("referred_lead", "7", "referred_lead must be 0 or 1, got 7"),
        ("app_complete_flag", "2", "app_complete_flag must be 0 or 1, got 2"),
        ("total_leads_droppped", "-1", "total_leads_droppped must be >= 0, got -1"),
        ("total_leads_droppped", "many", "total_leads_droppped must be a number, got 'many'"),
        ("syllabus", "-3", "syllabus must be >= 0, got -3"),
        ("created_date", "", "created_date is missing"),
        ("created_date", "yesterday", "created_date is not a date: 'yesterday'"),
        ("created_date", "2031-05-01 10:00:00", "created_date is in the future: 2031-05-01 10:00:00"),
        ("first_platform_c", "", "first_platform_c is empty"),
        ("first_utm_medium_c", "  ", "first_utm_medium_c is empty"),
        ("first_utm_source_c", "", "first_utm_source_c is empty"),
    ],
)
def test_given_a_rule_broken_when_validated_then_row_rejected_with_reason(tmp_path, column, value, reason):
    frame = real_sample(5)
    frame.loc[2, column] = value
    result = _validate(tmp_path, frame)
    assert len(result.good) == 4
    assert result.rejected["reason"].tolist() == [reason]
    assert result.rejected["row_number"].tolist() == [3]
    raw_value = json.dumps(value) if value else "null"  # an empty cell is stored as null
    assert f'"{column}": {raw_value}' in result.rejected["raw_row"].iloc[0]


def test_given_several_rules_broken_then_every_reason_is_named(tmp_path):
    frame = real_sample(3)
    frame.loc[0, "referred_lead"] = "5"
    frame.loc[0, "first_platform_c"] = ""
    result = _validate(tmp_path, frame)
    assert result.rejected["reason"].iloc[0] == "first_platform_c is empty; referred_lead must be 0 or 1, got 5"


def test_empty_counts_mean_zero_and_empty_city_is_kept(tmp_path):
    frame = real_sample(3)
    frame.loc[0, ["total_leads_droppped", "referred_lead", "city_mapped"]] = ""
    result = _validate(tmp_path, frame)
    assert result.rejected.empty
    first = result.good.iloc[0]
    assert first["total_leads_droppped"] == 0.0 and first["referred_lead"] == 0.0
    assert pd.isna(first["city_mapped"])


def test_bom_crlf_and_index_column_are_accepted(tmp_path):
    frame = real_sample(4).reset_index()
    frame = frame.rename(columns={"index": ""})
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode())
    raw, bad = read_raw_csv(path, CODEPRO)
    result = validate_leads(raw, NOW, CODEPRO, bad)
    assert len(result.good) == 4 and result.rejected.empty
    assert list(raw.columns[: len(CODEPRO.file_columns())]) == CODEPRO.file_columns()


def test_unlabelled_file_gives_no_label(tmp_path):
    frame = real_sample(3).drop(columns=["app_complete_flag"])
    result = _validate(tmp_path, frame)
    assert not result.has_label
    assert result.good["app_complete_flag"].isna().all()


def test_lead_id_from_file_is_used_and_must_not_be_empty(tmp_path):
    frame = real_sample(3)
    frame.insert(0, "lead_id", ["L-1", "", "L-3"])
    result = _validate(tmp_path, frame)
    assert result.good["lead_id"].tolist() == ["L-1", "L-3"]
    assert result.rejected["reason"].tolist() == ["lead_id is empty"]


def test_content_hash_ignores_label_and_index_but_not_content(tmp_path):
    frame = real_sample(3)
    first = _validate(tmp_path, frame).good["lead_id"].tolist()
    flipped = frame.assign(app_complete_flag=(1 - frame["app_complete_flag"].astype(int)).astype(str))
    with_index = flipped.reset_index().rename(columns={"index": ""})
    second = _validate(tmp_path, with_index).good["lead_id"].tolist()
    unlabelled = _validate(tmp_path, frame.drop(columns=["app_complete_flag"])).good["lead_id"].tolist()
    assert first == unlabelled
    changed = frame.copy()
    changed.loc[0, "total_leads_droppped"] = "9.0"
    third = _validate(tmp_path, changed).good["lead_id"].tolist()
    assert first == second
    assert third[0] != first[0] and third[1:] == first[1:]


def test_a_text_column_empty_in_every_row_hashes_as_in_any_other_file(tmp_path):
    # a one-row file with an empty city once failed (IndexError) where a larger file passed
    frame = real_sample(40).assign(city_mapped="")
    whole = _validate(tmp_path, frame).good["lead_id"].tolist()
    alone = [_validate(tmp_path, frame.iloc[[i]]).good["lead_id"].tolist() for i in (0, 39)]
    assert len(whole) == 40
    assert alone == [[whole[0]], [whole[39]]]  # a lead's id does not depend on the file around it


def test_row_with_wrong_field_count_is_quarantined(tmp_path):
    path = write_sample(tmp_path / "ragged.csv", real_sample(3))
    lines = path.read_text().splitlines()
    lines.insert(2, lines[1] + ",extra,fields")
    path.write_text("\n".join(lines) + "\n")
    raw, bad = read_raw_csv(path, CODEPRO)
    result = validate_leads(raw, NOW, CODEPRO, bad)
    assert result.rows_in == 4 and len(result.good) == 3
    assert result.rejected["reason"].iloc[0] == "row has 47 fields, the header has 45"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary", "is not a CSV file"),
        (b"a,b,c\n1,2,3\n", "is missing required columns: created_date"),
        (b"\xff\xfe\xfa not utf8 at all\n", "is not a CSV file"),
    ],
)
def test_bad_files_are_refused_whole(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        check_raw_csv(path, CODEPRO)


def test_header_only_file_is_refused(tmp_path):
    path = write_sample(tmp_path / "header.csv", real_sample(0))
    with pytest.raises(BadInputError, match="has a header but no rows"):
        check_raw_csv(path, CODEPRO)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        check_raw_csv(tmp_path / "nope.csv", CODEPRO)


def test_real_inference_file_validates_cleanly():
    raw, bad = read_raw_csv(SHARED_DATA / "leadscoring_inference.csv", CODEPRO)
    result = validate_leads(raw, NOW, CODEPRO, bad)
    assert result.rows_in == 24_991
    assert result.rejected.empty
    assert len(result.good) == 24_991


def test_duplicate_columns_are_refused(tmp_path):
    frame = real_sample(2)
    path = write_sample(tmp_path / "dup.csv", frame)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",city_mapped"] + [line + ",pune" for line in lines[1:]]) + "\n")
    with pytest.raises(BadInputError, match="has duplicate columns: city_mapped"):
        check_raw_csv(path, CODEPRO)


def test_overlong_lead_id_is_rejected(tmp_path):
    frame = real_sample(2)
    frame.insert(0, "lead_id", ["x" * 65, "ok-1"])
    result = _validate(tmp_path, frame)
    assert result.good["lead_id"].tolist() == ["ok-1"]
    assert result.rejected["reason"].tolist() == ["lead_id is longer than 64 characters"]


def test_validate_file_reads_and_validates_by_the_configured_schema(monkeypatch):
    monkeypatch.delenv("LEADSCORE_SCHEMA", raising=False)
    result = validate_file(SHARED_DATA / "leadscoring_test.csv", NOW)
    assert (len(result.good), len(result.rejected), result.has_label) == (100, 0, True)
