"""The raw lead contract: read a CSV in the course's raw layout and split it into good and rejected rows."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from core.errors import BadInputError

INTERACTION_COLUMNS: tuple[str, ...] = (
    "1_on_1_industry_mentorship", "call_us_button_clicked", "career_assistance", "career_coach",
    "career_impact", "careers", "chat_clicked", "companies", "download_button_clicked",
    "download_syllabus", "emi_partner_click", "emi_plans_clicked", "fee_component_click",
    "hiring_partners", "homepage_upgrad_support_number_clicked", "industry_projects_case_studies",
    "live_chat_button_clicked", "payment_amount_toggle_mover", "placement_support",
    "placement_support_banner_tab_clicked", "program_structure", "programme_curriculum",
    "programme_faculty", "request_callback_on_instant_customer_support_cta_clicked",
    "shorts_entry_click", "social_referral_click", "specialisation_tab_clicked", "specializations",
    "specilization_click", "syllabus", "syllabus_expand", "syllabus_submodule_expand",
    "tab_career_assistance", "tab_job_opportunities", "tab_student_support", "view_programs_page",
    "whatsapp_chat_click",
)
CODE_COLUMNS: tuple[str, ...] = ("first_platform_c", "first_utm_medium_c", "first_utm_source_c")
ZERO_IF_EMPTY_COLUMNS: tuple[str, ...] = ("total_leads_droppped", "referred_lead")
COUNT_COLUMNS: tuple[str, ...] = ZERO_IF_EMPTY_COLUMNS + INTERACTION_COLUMNS
RAW_COLUMNS: tuple[str, ...] = (
    "created_date", "city_mapped", *CODE_COLUMNS, *ZERO_IF_EMPTY_COLUMNS, *INTERACTION_COLUMNS,
)
LABEL = "app_complete_flag"
LEAD_ID = "lead_id"
MAX_LEAD_ID = 64
ROW_NUMBER = "row_number"
BINARY_COLUMNS: tuple[str, ...] = ("referred_lead",)
# the tokens pandas reads as missing by default, so "nan" in a file means what it meant to the course
NA_TOKENS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


@dataclass(frozen=True)
class ValidatedFile:
    """A file split into typed good rows (with lead_id) and rejected rows (raw row + reason)."""

    good: pd.DataFrame
    rejected: pd.DataFrame
    has_label: bool
    rows_in: int


def file_sha256(path: Path) -> str:
    """Fingerprint of a file, so re-ingesting the same bytes is recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_raw_csv(path: Path) -> tuple[pd.DataFrame, list[list[str]]]:
    """Read every cell as text; "", "nan", "NULL"... are empty, as the course's pandas read them.

    Returns the frame and the lines that had the wrong number of fields (quarantined, not lost)."""
    _check_is_csv_file(path)
    bad_lines: list[list[str]] = []

    def keep_bad_line(row) -> str:
        bad_lines.append([row.text, f"row has {row.actual_columns} fields, the header has {row.expected_columns}"])
        return "skip"

    header = _header_names(path)
    try:
        table = pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(invalid_row_handler=keep_bad_line, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True,
                quoted_strings_can_be_null=True, null_values=NA_TOKENS),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise BadInputError(f"{path.name} is not a CSV file ({str(error).splitlines()[0][:120]})") from error
    return _normalise_header(table.to_pandas(), path), bad_lines


def _header_names(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError as error:
        raise BadInputError(f"{path.name} is not a CSV file (not UTF-8 text)") from error


def check_raw_csv(path: Path) -> None:
    """Refuse a file whole (missing, empty, not CSV, missing columns) before any work starts."""
    _check_is_csv_file(path)
    try:
        head = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=1)
    except (UnicodeDecodeError, pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise BadInputError(f"{path.name} is not a CSV file ({type(error).__name__})") from error
    _normalise_header(head, path)
    _refuse_duplicate_columns(path)


def _refuse_duplicate_columns(path: Path) -> None:
    names = [name.strip() for name in _header_names(path)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadInputError(f"{path.name} has duplicate columns: {', '.join(repeated)}")


def _check_is_csv_file(path: Path) -> None:
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    if not path.is_file():
        raise BadInputError(f"{path} is not a file")
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise BadInputError(f"{path.name} is empty")
    if b"\x00" in head:
        raise BadInputError(f"{path.name} is not a CSV file (binary content)")


def _normalise_header(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    first = str(frame.columns[0]) if len(frame.columns) else ""
    if first == "" or first.startswith("Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in RAW_COLUMNS if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise BadInputError(f"{path.name} is missing required columns: {shown}")
    if frame.empty:
        raise BadInputError(f"{path.name} has a header but no rows")
    return frame


def validate_leads(raw: pd.DataFrame, now: datetime, bad_lines: list[list[str]] | None = None) -> ValidatedFile:
    """Apply the per-row rules; every input row ends up either good or rejected with a reason."""
    has_label = LABEL in raw.columns
    typed, reasons = _typed_columns(raw, now, has_label)
    is_bad = reasons != ""
    good = typed.loc[~is_bad] if is_bad.any() else typed
    good.insert(0, LEAD_ID, _lead_ids(raw.loc[~is_bad], good))
    rejected = _rejected_rows(raw, reasons, is_bad, bad_lines or [])
    return ValidatedFile(good=good, rejected=rejected, has_label=has_label, rows_in=len(raw) + len(bad_lines or []))


def _typed_columns(raw: pd.DataFrame, now: datetime, has_label: bool) -> tuple[pd.DataFrame, pd.Series]:
    reasons = pd.Series("", index=raw.index, dtype=object)
    typed: dict[str, pd.Series] = {ROW_NUMBER: pd.Series(np.arange(1, len(raw) + 1), index=raw.index)}
    typed["created_date"] = _parse_created_date(raw["created_date"], now, reasons)
    city, city_empty = _stripped(raw["city_mapped"])
    typed["city_mapped"] = city.where(~city_empty)
    for column in CODE_COLUMNS:
        typed[column] = _parse_code(raw[column], column, reasons)
    for column in COUNT_COLUMNS:
        typed[column] = _parse_count(raw[column], column, reasons)
    for column in BINARY_COLUMNS:
        _require_binary(typed[column], raw[column], column, reasons)
    if has_label:
        label = _parse_count(raw[LABEL], LABEL, reasons)
        _require_binary(label, raw[LABEL], LABEL, reasons)
        typed[LABEL] = label.astype("Float64").round().astype("Int8")
    else:
        typed[LABEL] = pd.Series(pd.NA, index=raw.index, dtype="Int8")
    if LEAD_ID in raw.columns:
        lead_id, empty = _stripped(raw[LEAD_ID])
        _add_reason(reasons, empty, "lead_id is empty")
        _add_reason(reasons, lead_id.str.len().fillna(0) > MAX_LEAD_ID, f"lead_id is longer than {MAX_LEAD_ID} characters")
    return pd.DataFrame(typed), reasons.str.removeprefix("; ")


def _add_reason(reasons: pd.Series, mask: pd.Series, prefix: str, value: pd.Series | None = None,
                suffix: str = "") -> None:
    """Append a reason to the masked rows; the per-row text is only built for those rows."""
    if not mask.any():
        return
    piece = prefix if value is None else prefix + value[mask].astype(object).astype(str) + suffix
    reasons.loc[mask] = reasons.loc[mask] + "; " + piece


def _stripped(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text without surrounding spaces, and where it is empty (missing or blank)."""
    text = values.astype("str").str.strip() if values.dtype != "str" else values.str.strip()
    return text, (text.isna() | (text == "")).fillna(True).astype(bool)


def _parse_created_date(values: pd.Series, now: datetime, reasons: pd.Series) -> pd.Series:
    text, empty = _stripped(values)
    parsed = _fast_datetime(text)
    slow = parsed.isna() & ~empty
    if slow.any():
        parsed.loc[slow] = _iso_datetime(text[slow])
    _add_reason(reasons, empty, "created_date is missing")
    _add_reason(reasons, parsed.isna() & ~empty, "created_date is not a date: '", text, "'")
    _add_reason(reasons, parsed > pd.Timestamp(now), "created_date is in the future: ", text)
    return parsed


def _fast_datetime(text: pd.Series) -> pd.Series:
    """The raw layout's own format through Arrow; anything else is left missing for the slow path."""
    parsed = pc.strptime(pa.array(text, type=pa.string()), format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index).astype("datetime64[us]")


def _iso_datetime(text: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def _parse_code(values: pd.Series, column: str, reasons: pd.Series) -> pd.Series:
    text, empty = _stripped(values)
    _add_reason(reasons, empty, f"{column} is empty")
    return text


def _parse_count(values: pd.Series, column: str, reasons: pd.Series) -> pd.Series:
    text, empty = _stripped(values)
    number = _to_float(text, empty)
    _add_reason(reasons, number.isna() & ~empty, f"{column} must be a number, got '", text, "'")
    _add_reason(reasons, number < 0, f"{column} must be >= 0, got ", text)
    _add_reason(reasons, np.isinf(number), f"{column} must be finite, got ", text)
    if column in ZERO_IF_EMPTY_COLUMNS:
        number = number.where(~empty, 0.0)
    return number


def _to_float(text: pd.Series, empty: pd.Series) -> pd.Series:
    """Arrow's cast for clean columns (all of them, usually); pandas' tolerant parse otherwise."""
    if empty.all():
        return pd.Series(np.nan, index=text.index)
    try:
        cast = pc.cast(pa.array(text.where(~empty), type=pa.string()), pa.float64())
        return pd.Series(cast.to_numpy(zero_copy_only=False), index=text.index)
    except pa.ArrowInvalid:
        return pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")


def _require_binary(number: pd.Series, raw: pd.Series, column: str, reasons: pd.Series) -> None:
    bad = number.notna() & (number >= 0) & ~number.isin([0.0, 1.0])
    _add_reason(reasons, bad, f"{column} must be 0 or 1, got ", _stripped(raw)[0])


def _lead_ids(raw_good: pd.DataFrame, good: pd.DataFrame) -> pd.Series:
    """The file's lead_id when present, else a hash of the row's content without the label."""
    if LEAD_ID in raw_good.columns:
        return raw_good[LEAD_ID].str.strip()
    content = good[list(RAW_COLUMNS)].assign(created_date=good["created_date"].astype("int64"))
    hashed = pd.util.hash_pandas_object(content, index=False, categorize=False)
    return pd.Series(np.char.mod("h%016x", hashed.to_numpy()), index=good.index)


def _rejected_rows(raw: pd.DataFrame, reasons: pd.Series, is_bad: pd.Series, bad_lines: list[list[str]]) -> pd.DataFrame:
    bad_raw = raw.loc[is_bad]
    records = bad_raw.astype(object).where(bad_raw.notna(), None).to_dict(orient="records")
    rows = [json.dumps(record, ensure_ascii=False) for record in records]
    frame = pd.DataFrame({
        ROW_NUMBER: np.flatnonzero(is_bad.to_numpy()) + 1,
        "raw_row": rows,
        "reason": reasons.loc[is_bad].to_numpy(),
    })
    if bad_lines:
        frame = pd.concat([frame, _malformed_lines(bad_lines)], ignore_index=True)
    return frame


def _malformed_lines(bad_lines: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame({
        ROW_NUMBER: [None] * len(bad_lines),
        "raw_row": [json.dumps(text, ensure_ascii=False) for text, _ in bad_lines],
        "reason": [reason for _, reason in bad_lines],
    })

