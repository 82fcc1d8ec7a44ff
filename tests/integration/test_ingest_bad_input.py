"""Hostile files on both stores: one bad row is quarantined with its reason, the rest of the file loads.

Each class of bad input: an undecodable byte, a malformed line holding one, a NUL byte, an oversized cell
(with and without Arrow's block boundary in the way), a wrong field count, the same lead id with other
content, value rules. In every case in = loaded + duplicate + rejected, and the quarantined row is kept.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import Engine

from core import schema as schema_module
from core import store
from core.ingest import IngestSummary, ingest_file
from core.schema import MAX_CELL_BYTES
from tests.samples import real_sample, write_sample


def _lines(tmp_path, rows: int = 6) -> list[bytes]:
    """A small real file's lines as bytes (header first)."""
    return write_sample(tmp_path / "base.csv", real_sample(rows)).read_bytes().splitlines()


def _replace_cell(line: bytes, column: int, value: bytes) -> bytes:
    cells = line.split(b",")
    cells[column] = value
    return b",".join(cells)


def _ingest(engine: Engine, tmp_path, lines: list[bytes]) -> IngestSummary:
    path = tmp_path / "hostile.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest_file(engine, path)
    assert summary.loaded + summary.duplicate + summary.rejected == summary.rows_in
    return summary


def _rejected(engine: Engine) -> list[tuple]:
    frame = store.read_frame(engine, "SELECT row_number, raw_row, reason FROM rejected_leads ORDER BY id")
    return [(None if pd.isna(row) else int(row), raw_row, reason)
            for row, raw_row, reason in frame.itertuples(index=False, name=None)]


def _stored_leads(engine: Engine) -> int:
    return int(store.read_frame(engine, "SELECT count(*) AS n FROM leads")["n"][0])


def test_undecodable_byte_quarantines_its_row_only(engine, tmp_path):
    lines = _lines(tmp_path)
    lines[3] = _replace_cell(lines[3], 1, "café".encode("latin-1"))  # city_mapped, Latin-1 é
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.rows_in, summary.loaded, summary.rejected) == (6, 5, 1)
    [(row, raw_row, reason)] = _rejected(engine)
    assert reason == "row is not valid UTF-8 text (byte 0xe9 at column 'city_mapped')"
    assert row == 3
    assert json.loads(raw_row)["city_mapped"] == "caf\\xe9"  # the byte is kept, escaped
    assert _stored_leads(engine) == 5


def test_malformed_line_with_undecodable_byte_is_quarantined(engine, tmp_path):
    lines = _lines(tmp_path)
    lines[2] = lines[2] + b",caf\xe9"  # one field too many, and not UTF-8: Arrow cannot read it at all
    lines[4] = _replace_cell(lines[4], 1, b"caf\xe9")
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.rows_in, summary.loaded, summary.rejected) == (6, 4, 2)
    rejected = _rejected(engine)
    assert [(row, reason) for row, _, reason in rejected] == [
        (3, "row is not valid UTF-8 text (byte 0xe9 at column 'city_mapped')"),
        (None, "row has 46 fields, the header has 45"),
    ]
    assert json.loads(rejected[1][1]).endswith(",caf\\xe9")


def test_nul_byte_in_a_cell_is_quarantined_on_both_stores(engine, tmp_path):
    lines = _lines(tmp_path)
    lines[1] = _replace_cell(lines[1], 2, b"Level\x000")  # first_platform_c, in the file's first bytes
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.loaded, summary.rejected) == (5, 1)
    [(row, raw_row, reason)] = _rejected(engine)
    assert (row, reason) == (1, "row contains a NUL byte (column 'first_platform_c')")
    assert json.loads(raw_row)["first_platform_c"] == "Level\x000"
    assert "\x00" not in raw_row  # JSON escapes it, so Postgres text takes the quarantined row


@pytest.mark.parametrize("block_size", [schema_module.BLOCK_SIZE, 1 << 20])
def test_oversized_cell_is_quarantined_and_the_file_loads(engine, tmp_path, monkeypatch, block_size):
    monkeypatch.setattr(schema_module, "BLOCK_SIZE", block_size)  # 1 MiB: Arrow's default, where it straddled
    lines = _lines(tmp_path)
    lines[2] = _replace_cell(lines[2], 1, b'"' + b"x" * 3_000_000 + b'"')
    lines[4] = _replace_cell(lines[4], 1, b"y" * (MAX_CELL_BYTES // 2))  # large but allowed
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.loaded, summary.rejected) == (5, 1)
    [(row, raw_row, reason)] = _rejected(engine)
    assert (row, reason) == (2, "cell in column 'city_mapped' is 3,000,000 bytes, over the maximum of 1,048,576")
    assert len(json.loads(raw_row)["city_mapped"]) == 3_000_000
    longest = store.read_frame(engine, "SELECT max(length(city_mapped)) AS n FROM leads")["n"][0]
    assert longest == MAX_CELL_BYTES // 2


def test_wrong_field_count_is_quarantined(engine, tmp_path):
    lines = _lines(tmp_path)
    lines[5] = b",".join(lines[5].split(b",")[:10])
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.rows_in, summary.loaded, summary.rejected) == (6, 5, 1)
    [(row, raw_row, reason)] = _rejected(engine)
    assert (row, reason) == (None, "row has 10 fields, the header has 45")
    assert json.loads(raw_row) == lines[5].decode()


def test_same_content_twice_without_id_is_one_lead_other_label_is_rejected(engine, tmp_path):
    frame = real_sample(4)
    frame.loc[2] = frame.loc[0]  # identical: one lead, counted as a duplicate
    frame.loc[3] = frame.loc[0]
    frame.loc[3, "app_complete_flag"] = str(1 - int(frame.loc[0, "app_complete_flag"]))  # same lead, other outcome
    summary = ingest_file(engine, write_sample(tmp_path / "twice.csv", frame))
    assert (summary.rows_in, summary.loaded, summary.duplicate, summary.rejected) == (4, 2, 1, 1)
    [(row, _, reason)] = _rejected(engine)
    assert row == 4
    assert reason.startswith("lead_id h") and reason.endswith(" appears earlier in this file with different content (row 1)")
    label = store.read_frame(engine, "SELECT app_complete_flag FROM leads WHERE row_number = 1")
    assert label["app_complete_flag"].tolist() == [int(frame.loc[0, "app_complete_flag"])]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("referred_lead", "7", "referred_lead must be 0 or 1, got 7"),
        ("total_leads_droppped", "abc", "total_leads_droppped must be a number, got 'abc'"),
        ("syllabus", "inf", "syllabus must be finite, got inf"),
        ("created_date", "2031-05-01 10:00:00", "created_date is in the future: 2031-05-01 10:00:00"),
        ("app_complete_flag", "7", "app_complete_flag must be 0 or 1, got 7"),
        ("first_utm_source_c", "", "first_utm_source_c is empty"),
    ],
)
def test_value_rules_quarantine_with_their_reason(engine, tmp_path, column, value, reason):
    frame = real_sample(4)
    frame.loc[1, column] = value
    summary = ingest_file(engine, write_sample(tmp_path / "rule.csv", frame))
    assert (summary.loaded, summary.rejected) == (3, 1)
    assert [(row, why) for row, _, why in _rejected(engine)] == [(2, reason)]


def test_lead_id_rules_on_both_stores(engine, tmp_path):
    frame = real_sample(4)
    frame.insert(0, "lead_id", ["L-1", "", "x" * 65, "L-4"])
    summary = ingest_file(engine, write_sample(tmp_path / "ids.csv", frame))
    assert (summary.loaded, summary.rejected) == (2, 2)
    assert [(row, why) for row, _, why in _rejected(engine)] == [
        (2, "lead_id is empty"), (3, "lead_id is longer than 64 characters")]


def test_file_of_only_bad_rows_records_its_batch_and_every_row(engine, tmp_path):
    lines = _lines(tmp_path, 3)
    lines[1] = lines[1] + b",extra"
    lines[2] = _replace_cell(lines[2], 1, b"caf\xe9")
    lines[3] = _replace_cell(lines[3], 2, b"Level\x000")
    summary = _ingest(engine, tmp_path, lines)
    assert (summary.rows_in, summary.loaded, summary.duplicate, summary.rejected) == (3, 0, 0, 3)
    assert [(row, reason) for row, _, reason in _rejected(engine)] == [
        (1, "row is not valid UTF-8 text (byte 0xe9 at column 'city_mapped')"),
        (2, "row contains a NUL byte (column 'first_platform_c')"),
        (None, "row has 46 fields, the header has 45"),
    ]
    assert _stored_leads(engine) == 0
