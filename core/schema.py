"""Read a lead file and split it into good rows and rejected rows, by the rules of the lead schema.

Every row of a file ends up either good (typed, under the schema's db names) or rejected with the raw
row and a reason a person reads. A file is refused whole only when it cannot be read at all (missing,
empty, binary, a header that is not UTF-8 text, missing or duplicate columns, no rows). Row by row:

- a line with the wrong number of fields;
- a row that is not valid UTF-8 text, holds a NUL byte (Postgres text cannot store one, so no store
  takes it), or has a cell over MAX_CELL_BYTES;
- a value that breaks its column's rule (datetime, number, flag, text, the label, the id column);
  a datetime with an offset or Z is that instant, one without is a wall-clock time in the business time
  zone (LEADSCORE_TIMEZONE, core/clock.py); either way it is kept as its UTC instant;
- the same lead id as an earlier good row of the file with different content: the first row loads and
  the later ones are rejected ("lead_id X appears earlier in this file with different content (row N)");
  identical repeats are kept and counted as duplicates by the ingest.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from core.clock import as_utc, business_zone, wall_times_to_utc
from core.errors import BadInputError
from core.lead_schema import Label, LeadSchema, RawColumn, load_schema

LEAD_ID = "lead_id"
ROW_NUMBER = "row_number"
MAX_LEAD_ID = 64
MAX_CELL_BYTES = 1 << 20  # 1 MiB: a row with a larger cell is rejected (its full text kept in rejected_leads)
BLOCK_SIZE = 16 << 20  # Arrow's parse block; a file with a row longer than this is re-read in one block
HEADER_BYTES = 1 << 20  # the header must fit in the file's first MiB
# an ISO 8601 time that ends in a zone designator: Z, or an offset such as +05:30, -0500, +01
ZONE_DESIGNATOR = re.compile(r"[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True)
class Quarantined:
    """A row set aside while reading, before any column rule: its position (if known), raw text, reason."""

    row_number: int | None
    raw_row: str  # JSON: the row's cells by column, or the line's text
    reason: str


@dataclass(frozen=True)
class ValidatedFile:
    """A file split into typed good rows (lead_id, row_number, db-named columns, the label) and rejected rows.

    `rows` holds every readable row typed (a rejected row's values mean nothing) and `good_rows` the
    positions of the good ones: a writer takes those positions, sparing a copy of the data."""

    rows: pd.DataFrame
    good_rows: np.ndarray
    rejected: pd.DataFrame  # row_number, raw_row, reason
    has_label: bool
    rows_in: int

    @cached_property
    def good(self) -> pd.DataFrame:
        """The good rows alone."""
        return self.rows if len(self.good_rows) == len(self.rows) else self.rows.iloc[self.good_rows]


def file_sha256(path: Path) -> str:
    """Fingerprint of a file, so re-ingesting the same bytes is recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- refusing a file whole


def check_raw_csv(path: Path, schema: LeadSchema) -> list[str]:
    """Refuse a file whole (missing, empty, not CSV, missing or duplicate columns, no rows); its header."""
    head = _file_head(path)
    header, rest = _header_and_rest(head, path)
    names = [name.strip() for name in header]
    if names and (names[0] == "" or names[0].startswith("Unnamed: 0")):
        names = names[1:]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadInputError(f"{path.name} has duplicate columns: {', '.join(repeated)}")
    missing = [c for c in schema.file_columns() if c not in names]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise BadInputError(f"{path.name} is missing required columns: {shown}")
    if not rest.strip() and path.stat().st_size <= len(head):
        raise BadInputError(f"{path.name} has a header but no rows")
    return header


def _file_head(path: Path) -> bytes:
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    if not path.is_file():
        raise BadInputError(f"{path} is not a file")
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    if not head.strip():
        raise BadInputError(f"{path.name} is empty")
    return head


def _header_and_rest(head: bytes, path: Path) -> tuple[list[str], str]:
    """The header's names (as in the file) and the text after it; a binary or non-UTF-8 header refuses the file."""
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error as error:
        raise BadInputError(f"{path.name} is not a CSV file (header: {error})") from error
    joined = ",".join(header)
    if "\x00" in joined:
        raise BadInputError(f"{path.name} is not a CSV file (binary content)")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadInputError(f"{path.name} is not a CSV file (the header is not UTF-8 text)") from error
    rest = text[len(_header_line(text)):]
    return header, rest


def _header_line(text: str) -> str:
    """The header record's text, quoted newlines included (for finding what follows it)."""
    in_quotes, position = False, 0
    for position, char in enumerate(text):
        if char == '"':
            in_quotes = not in_quotes
        elif char == "\n" and not in_quotes:
            return text[:position + 1]
    return text


# ---------------------------------------------------------------- reading rows as text


def read_raw_csv(path: Path, schema: LeadSchema) -> tuple[pd.DataFrame, list[Quarantined]]:
    """Every cell as text (the schema's na_values are empty), indexed by the row's position in the file.

    Returns the frame and the rows set aside while reading (wrong field count, not UTF-8, NUL byte,
    oversized cell): quarantined with a reason, not lost."""
    header = check_raw_csv(path, schema)
    table, quarantined = _read_table(path, header, schema)
    table, positions, unreadable = _set_aside_unreadable_rows(table, _has_nul_byte(path))
    frame = _text_frame(table, positions)
    del table
    pa.default_memory_pool().release_unused()  # the bytes as read are gone: give their memory back
    return frame, [*unreadable, *quarantined]


def _read_table(path: Path, header: list[str], schema: LeadSchema) -> tuple[pa.Table, list[Quarantined]]:
    """Arrow reads every column as bytes. A row longer than the parse block ("straddles two block
    boundaries") gets a block as large as the file; what Arrow still cannot read (a malformed line with an
    undecodable byte) goes through Python's csv reader, slower but line by line."""
    try:
        return _read_table_with_block(path, header, schema, BLOCK_SIZE)
    except pa.ArrowInvalid as error:
        if "straddl" in str(error):
            with contextlib.suppress(pa.ArrowInvalid):
                return _read_table_with_block(path, header, schema, max(BLOCK_SIZE, path.stat().st_size + 1))
    try:
        return _read_table_streaming(path, header, schema)
    except csv.Error as error:
        raise BadInputError(f"{path.name} is not a CSV file ({str(error)[:120]})") from error


def _read_table_with_block(path: Path, header: list[str], schema: LeadSchema,
                           block_size: int) -> tuple[pa.Table, list[Quarantined]]:
    quarantined: list[Quarantined] = []

    def keep_bad_line(row) -> str:
        reason = f"row has {row.actual_columns} fields, the header has {row.expected_columns}"
        quarantined.append(Quarantined(None, json.dumps(row.text, ensure_ascii=False), reason))
        return "skip"

    skip_index = bool(header) and (header[0].strip() == "" or header[0].startswith("Unnamed: 0"))
    with _handler_errors_silenced():  # a malformed line Arrow cannot decode fails the read: we fall back
        table = _arrow_read(path, header, schema, block_size, keep_bad_line, skip_index)
    return table.rename_columns([name.strip() for name in table.column_names]), quarantined


@contextlib.contextmanager
def _handler_errors_silenced():
    """Arrow reports an exception raised while it hands a malformed line to Python through
    sys.unraisablehook (a traceback on stderr) and then fails the read; the failure alone is enough."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _arrow_read(path: Path, header: list[str], schema: LeadSchema, block_size: int, on_bad_line,
                skip_index: bool) -> pa.Table:
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=block_size),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_bad_line, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.binary() for name in header}, strings_can_be_null=True,
            quoted_strings_can_be_null=True, null_values=list(schema.na_values),
            include_columns=header[1:] if skip_index else None),
    )


def _read_table_streaming(path: Path, header: list[str], schema: LeadSchema,
                          chunk_rows: int = 50_000) -> tuple[pa.Table, list[Quarantined]]:
    """Python's csv reader, line by line (undecodable bytes kept); cells turn into Arrow chunk by chunk,
    so only a chunk's Python objects are alive at a time."""
    names = [name.strip() for name in header]
    first = 1 if names and (names[0] == "" or header[0].startswith("Unnamed: 0")) else 0
    nulls = set(schema.na_values)
    chunks: list[pa.RecordBatch] = []
    cells: list[list[bytes | None]] = [[] for _ in names]
    quarantined: list[Quarantined] = []
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(names):
                quarantined.append(Quarantined(None, json.dumps(_line_text(fields), ensure_ascii=False),
                                               f"row has {len(fields)} fields, the header has {len(names)}"))
                continue
            for column, field in zip(cells, fields, strict=True):
                column.append(None if field in nulls else field.encode("utf-8", errors="surrogateescape"))
            if len(cells[0]) == chunk_rows:
                chunks.append(_binary_batch(names[first:], cells[first:]))
                cells = [[] for _ in names]
    chunks.append(_binary_batch(names[first:], cells[first:]))
    return pa.Table.from_batches(chunks), quarantined


def _binary_batch(names: list[str], cells: list[list[bytes | None]]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(column, type=pa.binary()) for column in cells], names=names)


def _line_text(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue().encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _has_nul_byte(path: Path) -> bool:
    with path.open("rb") as handle:
        return any(b"\x00" in block for block in iter(lambda: handle.read(1 << 22), b""))


def _set_aside_unreadable_rows(table: pa.Table, has_nul: bool) -> tuple[pa.Table, np.ndarray, list[Quarantined]]:
    """Rows no store can take as text: invalid UTF-8, a NUL byte, a cell over MAX_CELL_BYTES."""
    problems: dict[int, list[str]] = {}
    for name in table.column_names:
        column = table.column(name)
        for row in _rows_where(pc.greater(pc.binary_length(column), MAX_CELL_BYTES)):
            size = len(column[int(row)].as_py())
            problems.setdefault(int(row), []).append(
                f"cell in column '{name}' is {size:,} bytes, over the maximum of {MAX_CELL_BYTES:,}")
        if has_nul:
            for row in _rows_where(pc.match_substring(column, "\x00")):
                problems.setdefault(int(row), []).append(f"row contains a NUL byte (column '{name}')")
        for row, reason in _invalid_utf8(column, name):
            problems.setdefault(row, []).append(reason)
    positions = np.arange(table.num_rows)
    if not problems:
        return table, positions, []
    bad = np.zeros(table.num_rows, dtype=bool)
    bad[list(problems)] = True
    quarantined = [Quarantined(row + 1, _row_json(table, row), "; ".join(problems[row])) for row in sorted(problems)]
    return table.filter(pa.array(~bad)), positions[~bad], quarantined


def _rows_where(mask: pa.ChunkedArray) -> np.ndarray:
    if not pc.any(mask).as_py():
        return np.array([], dtype=np.int64)
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))  # a missing cell never matches


def _invalid_utf8(column: pa.ChunkedArray, name: str) -> list[tuple[int, str]]:
    """Rows whose cell is not UTF-8 (Arrow checks a whole column at once; only a failing one is scanned)."""
    try:
        column.cast(pa.string())
        return []
    except pa.ArrowInvalid:
        pass
    found = []
    for row, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as error:
            byte = value[error.start]
            found.append((row, f"row is not valid UTF-8 text (byte 0x{byte:02x} at column '{name}')"))
    return found


def _row_json(table: pa.Table, row: int) -> str:
    """A row's cells as JSON text; undecodable bytes are kept as \\xNN escapes."""
    record = {}
    for name in table.column_names:
        value = table.column(name)[row].as_py()
        record[name] = None if value is None else value.decode("utf-8", errors="backslashreplace")
    return json.dumps(record, ensure_ascii=False)


def _text_frame(table: pa.Table, positions: np.ndarray) -> pd.DataFrame:
    texts = table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))
    frame = texts.to_pandas()
    frame.index = pd.Index(positions)
    return frame


def validate_file(path: Path, now: datetime, schema: LeadSchema | None = None,
                  zone: ZoneInfo | None = None) -> ValidatedFile:
    """Read and validate a file in one call, by `schema` (default: LEADSCORE_SCHEMA, else CodePro's); times
    without an offset are read in `zone` (default: the business time zone, LEADSCORE_TIMEZONE)."""
    schema = schema or load_schema(os.environ.get("LEADSCORE_SCHEMA") or None)
    raw, bad_lines = read_raw_csv(path, schema)
    return validate_leads(raw, now, schema, bad_lines, zone)


# ---------------------------------------------------------------- row rules
# The rules run on Arrow arrays, column by column, with positions 0..n-1 of the raw frame; a reason's
# text is only built for the rows that break the rule.


def validate_leads(raw: pd.DataFrame, now: datetime, schema: LeadSchema,
                   bad_lines: list[Quarantined] | None = None, zone: ZoneInfo | None = None) -> ValidatedFile:
    """Apply the schema's rules per row; every input row ends up either good or rejected with a reason. `now`
    (aware, or naive UTC) bounds the created column; times without an offset are read in `zone` (default: the
    business time zone)."""
    bad_lines = bad_lines or []
    has_label = schema.label.column in raw.columns
    reasons = _Reasons(len(raw))
    typed = _typed_columns(raw, _Moments(now, zone or business_zone()), schema, has_label, reasons)
    file_ids = _file_lead_ids(raw, schema, reasons)
    if file_ids is not None:
        lead_ids, identities = file_ids.text, file_ids.text
    else:  # every row is hashed (a bad row's hash is never used): the good frame is then built only once
        hashes = _content_hash(typed, schema)
        lead_ids, identities = _hex_ids(hashes), hashes
    conflicts = _conflicting_repeats(typed, identities, reasons.none(), lead_ids, _id_name(raw, schema))
    if conflicts:
        reasons.add_rows(np.array(list(conflicts)), list(conflicts.values()))
    rows = pd.DataFrame(typed, index=raw.index, copy=False)  # one block per column, no copy
    rows.insert(0, LEAD_ID, _as_series(lead_ids, raw.index))
    rejected = _rejected_rows(raw, reasons, bad_lines)
    return ValidatedFile(rows=rows, good_rows=np.flatnonzero(reasons.none()), rejected=rejected, has_label=has_label,
                         rows_in=len(raw) + len(bad_lines))


class _Reasons:
    """The reasons found per row, "; "-joined in the order the rules ran."""

    def __init__(self, rows: int) -> None:
        self._text = np.full(rows, "", dtype=object)

    def add(self, mask: np.ndarray, prefix: str, column: _Text | None = None, suffix: str = "") -> None:
        """Append `prefix`, or `prefix + the cell's stripped text + suffix`, to the masked rows."""
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        pieces = [prefix] * len(rows) if column is None else [prefix + v + suffix for v in column.shown(rows)]
        self.add_rows(rows, pieces)

    def add_rows(self, rows: np.ndarray, pieces: list[str]) -> None:
        self._text[rows] = self._text[rows] + "; " + np.array(pieces, dtype=object)

    def none(self) -> np.ndarray:
        return self._text == ""

    def of_bad_rows(self) -> tuple[np.ndarray, list[str]]:
        rows = np.flatnonzero(~self.none())
        return rows, [text.removeprefix("; ") for text in self._text[rows]]


class _Text:
    """One raw column as Arrow text without surrounding spaces, and where it is empty (missing or blank)."""

    def __init__(self, values: pd.Series) -> None:
        if values.dtype != "str":
            values = values.astype("str")
        arrow = values.array.__arrow_array__()  # pandas' str keeps Arrow chunks: no copy, no Python objects
        self.text = pc.utf8_trim_whitespace(arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow]))
        empty = pc.fill_null(pc.equal(pc.binary_length(self.text), 0), True)
        self.empty = empty.to_numpy(zero_copy_only=False)
        if int(self.empty.sum()) > self.text.null_count:  # blank cells become missing
            self.text = pc.if_else(empty, pa.scalar(None, self.text.type), self.text)
        self._numbers: np.ndarray | None = None

    @classmethod
    def absent(cls, rows: int) -> _Text:
        return cls(pd.Series([None] * rows, dtype="str"))

    def shown(self, rows: np.ndarray) -> list[str]:
        return ["nan" if v is None else v for v in self.text.take(pa.array(rows)).to_pylist()]

    def lowered_in(self, values: tuple[str, ...]) -> np.ndarray:
        found = pc.is_in(pc.utf8_lower(self.text), value_set=pa.array([v.lower() for v in values], self.text.type))
        return pc.fill_null(found, False).to_numpy(zero_copy_only=False)

    def numbers(self) -> np.ndarray:
        """Each cell as a number where it reads as one (NaN elsewhere), computed once."""
        if self._numbers is None:
            self._numbers = pd.to_numeric(self.text.to_pandas(), errors="coerce").to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
        return self._numbers

    def as_series(self) -> pd.Series:
        return self.text.to_pandas()


@dataclass(frozen=True)
class _Moments:
    """How a datetime column is read: the latest time allowed, the zone of times written without an offset."""

    now: datetime
    zone: ZoneInfo


def _typed_columns(raw: pd.DataFrame, moments: _Moments, schema: LeadSchema, has_label: bool,
                   reasons: _Reasons) -> dict[str, object]:
    """Each raw column under its db name; type rules run in layout order, then the flags' value sets, then the label."""
    typed: dict[str, object] = {ROW_NUMBER: raw.index.to_numpy() + 1}
    flags: list[tuple[RawColumn, _Text, np.ndarray | None]] = []
    for column in schema.raw_columns:
        text = _Text(raw[column.name]) if column.name in raw.columns else _Text.absent(len(raw))
        if column.kind == "datetime":
            typed[column.db_name] = _parse_datetime(text, column, moments, reasons)
        elif column.kind == "number":
            typed[column.db_name] = _parse_number(text, column, reasons)
        elif column.kind == "flag":
            flags.append((column, text, _flag_number(text, column.name, column.yes + column.no, column.required,
                                                     reasons)))
        else:
            if column.required:
                reasons.add(text.empty, f"{column.name} is empty")
            typed[column.db_name] = text.as_series().array
    for column, text, number in flags:
        typed[column.db_name] = _flag_values(text, number, column, reasons)
    typed[schema.label.db_name] = _parse_label(raw, schema.label, reasons) if has_label else \
        pd.array([pd.NA] * len(raw), dtype="Int8")
    order = [ROW_NUMBER, *(c.db_name for c in schema.raw_columns), schema.label.db_name]
    return {name: typed[name] for name in order}


def _as_series(text: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    series = text.to_pandas()
    series.index = index
    return series


def _parse_datetime(text: _Text, column: RawColumn, moments: _Moments, reasons: _Reasons) -> np.ndarray:
    """UTC instants (naive datetime64[us]). The usual `YYYY-MM-DD HH:MM:SS` through Arrow, other ISO 8601 forms
    through pandas; a time with Z or an offset is that instant, any other is a wall-clock time in the business
    zone, converted for the whole column at once (core.clock: fold=0 at daylight-saving changes)."""
    fast = pc.strptime(text.text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    wall = fast.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    slow = np.flatnonzero(np.isnat(wall) & ~text.empty)
    zoned = np.zeros(len(wall), dtype=bool)
    if len(slow):
        written = pd.Series(text.shown(slow))
        zoned[slow] = written.str.contains(ZONE_DESIGNATOR).to_numpy()
        instants = pd.to_datetime(written, format="ISO8601", errors="coerce", utc=True)  # no designator: as written
        wall[slow] = instants.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    if zoned.any():
        parsed = np.where(zoned, wall, wall_times_to_utc(np.where(zoned, np.datetime64("NaT"), wall), moments.zone))
    else:
        parsed = wall_times_to_utc(wall, moments.zone)  # UTC: the times as written, no work
    if column.required:
        reasons.add(text.empty, f"{column.name} is missing")
    reasons.add(np.isnat(parsed) & ~text.empty, f"{column.name} is not a date: '", text, "'")
    latest = np.datetime64(as_utc(moments.now).replace(tzinfo=None), "us")
    reasons.add(parsed > latest, f"{column.name} is in the future: ", text)
    return parsed


def _parse_number(text: _Text, column: RawColumn, reasons: _Reasons) -> np.ndarray:
    if column.required:
        reasons.add(text.empty, f"{column.name} is empty")
    number = _checked_number(text, column.name, column.minimum, column.maximum, reasons)
    return np.where(text.empty, column.fill, number) if column.fill is not None else number


def _checked_number(text: _Text, name: str, minimum: float | None, maximum: float | None,
                    reasons: _Reasons) -> np.ndarray:
    number = _to_float(text)
    with np.errstate(invalid="ignore"):
        reasons.add(np.isnan(number) & ~text.empty, f"{name} must be a number, got '", text, "'")
        if minimum is not None:
            reasons.add(number < minimum, f"{name} must be >= {minimum:g}, got ", text)
        if maximum is not None:
            reasons.add(number > maximum, f"{name} must be <= {maximum:g}, got ", text)
        reasons.add(np.isinf(number), f"{name} must be finite, got ", text)
    return number


def _to_float(text: _Text) -> np.ndarray:
    """Arrow's cast for clean columns (all of them, usually); pandas' tolerant parse otherwise."""
    if text.empty.all():
        return np.full(len(text.empty), np.nan)
    try:
        return pc.cast(text.text, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return pd.to_numeric(text.text.to_pandas(), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


# -- flags and the label: a set of allowed values, compared case-insensitively and as numbers when numeric


def _numbers_of(values: tuple[str, ...]) -> list[float]:
    numbers = []
    for value in values:
        with contextlib.suppress(ValueError):
            numbers.append(float(value))
    return numbers


def _flag_number(text: _Text, name: str, allowed: tuple[str, ...], required: bool,
                 reasons: _Reasons) -> np.ndarray | None:
    """The cell's number when every allowed value is a number (then the number rules apply: "must be a
    number", ">= the lowest allowed value", "finite"); None for text values such as Yes / No."""
    if required:
        reasons.add(text.empty, f"{name} is empty")
    numbers = _numbers_of(allowed)
    if len(numbers) < len(allowed):
        return None
    return _checked_number(text, name, min(numbers), None, reasons)


def _matching(text: _Text, number: np.ndarray | None, values: tuple[str, ...]) -> np.ndarray:
    """Cells equal to one of the values, ignoring case, or as numbers ("1.0" is "1")."""
    matched = text.lowered_in(values)
    numbers = _numbers_of(values)
    if numbers:
        matched |= np.isin(number if number is not None else text.numbers(), numbers)
    return matched


def _check_allowed(text: _Text, number: np.ndarray | None, name: str, allowed: tuple[str, ...], shown: str,
                   reasons: _Reasons) -> None:
    """A value outside the allowed set; numbers below the lowest allowed one already have their reason."""
    outside = ~_matching(text, number, allowed) & ~text.empty
    if number is None:
        reasons.add(outside, f"{name} must be {shown}, got '", text, "'")
        return
    with np.errstate(invalid="ignore"):
        reasons.add(outside & ~np.isnan(number) & (number >= min(_numbers_of(allowed))),
                    f"{name} must be {shown}, got ", text)


def _flag_values(text: _Text, number: np.ndarray | None, column: RawColumn, reasons: _Reasons) -> np.ndarray:
    """1.0 for a yes value, 0.0 for a no value, `fill` (or missing) when empty."""
    _check_allowed(text, number, column.name, column.no + column.yes, " or ".join(column.no + column.yes), reasons)
    flag = np.full(len(text.empty), np.nan)
    flag[_matching(text, number, column.no)] = 0.0
    flag[_matching(text, number, column.yes)] = 1.0
    if column.fill is not None:
        flag[text.empty] = column.fill
    return flag


def _parse_label(raw: pd.DataFrame, label: Label, reasons: _Reasons) -> pd.api.extensions.ExtensionArray:
    """1 for a positive value; 0 for a negative one (or, without `negative`, any other value); empty: no label."""
    text = _Text(raw[label.column])
    if label.negative is None:
        number = None
    else:
        allowed = (*label.negative, *label.positive)
        number = _flag_number(text, label.column, allowed, False, reasons)
        _check_allowed(text, number, label.column, allowed, label.allowed(), reasons)
    value = _matching(text, number, label.positive).astype("int8")
    return pd.arrays.IntegerArray(value, text.empty.copy())


# -- identity


def _id_name(raw: pd.DataFrame, schema: LeadSchema) -> str:
    return schema.id_column if schema.id_column and schema.id_column in raw.columns else LEAD_ID


def _file_lead_ids(raw: pd.DataFrame, schema: LeadSchema, reasons: _Reasons) -> _Text | None:
    """The file's id column when present (stripped, non-empty, at most MAX_LEAD_ID characters)."""
    if not schema.id_column or schema.id_column not in raw.columns:
        return None
    lead_id = _Text(raw[schema.id_column])
    reasons.add(lead_id.empty, f"{schema.id_column} is empty")
    too_long = pc.fill_null(pc.greater(pc.utf8_length(lead_id.text), MAX_LEAD_ID), False)
    reasons.add(too_long.to_numpy(zero_copy_only=False), f"{schema.id_column} is longer than {MAX_LEAD_ID} characters")
    return lead_id


def _content_hash(typed: dict[str, object], schema: LeadSchema) -> np.ndarray:
    """A lead without an id is the hash of its typed content in layout order, without the label:
    identical rows are one lead (as the course's drop_duplicates). The same value as pandas'
    hash_pandas_object of those columns, combined column by column to spare copies of the frame."""
    names = schema.file_columns()
    if len(typed[ROW_NUMBER]) == 0:
        return np.empty(0, dtype=np.uint64)
    combined = _CombinedHash(len(names), len(typed[ROW_NUMBER]))
    for name in names:
        column = schema.raw(name)
        values = typed[column.db_name]
        if column.kind == "datetime":
            values = values.astype("datetime64[us]").view("int64")
        combined.add(_hash_mostly_empty(values) if column.kind in ("number", "flag") else
                     _hash_by_level(values) if column.kind == "text" else pd.util.hash_array(values, categorize=False))
    return combined.result()


def _hash_by_level(values: pd.api.extensions.ExtensionArray) -> np.ndarray:
    """pandas' hash of each text; a column with few distinct values (cities, channel codes) hashes each
    level once and looks the rows up, instead of hashing a million Python strings."""
    encoded = pc.dictionary_encode(values.__arrow_array__()).combine_chunks()
    if len(encoded.dictionary) > len(values) // 4:
        return pd.util.hash_array(values, categorize=False)
    empty = pd.util.hash_array(pd.array([None], dtype=values.dtype), categorize=False)[0]
    if not len(encoded.dictionary):  # every value empty (a small file's unused column)
        return np.full(len(values), empty, dtype=np.uint64)
    levels = pd.util.hash_array(encoded.dictionary.to_pandas().array, categorize=False)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), empty, levels[np.nan_to_num(codes).astype(np.int64)])


class _CombinedHash:
    """pandas' combine_hash_arrays (CPython's tuple hash), as hash_pandas_object applies it to a frame,
    fed one column's hashes at a time."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.seen = columns, 0
        self.mult = np.uint64(1000003)
        self.out = np.full(rows, 0x345678, dtype=np.uint64)

    def add(self, hashed: np.ndarray) -> None:
        inverse_i = self.columns - self.seen
        self.out ^= hashed
        self.out *= self.mult
        self.mult += np.uint64(82520 + inverse_i + inverse_i)
        self.seen += 1

    def result(self) -> np.ndarray:
        return self.out + np.uint64(97531)


def _hash_mostly_empty(values: np.ndarray) -> np.ndarray:
    """pandas' hash of each number; the empty ones (most, in CRM exports) share one hash computed once."""
    present = ~np.isnan(values)
    if present.mean() > 0.5:
        return pd.util.hash_array(values, categorize=False)
    hashed = np.full(len(values), pd.util.hash_array(np.array([np.nan]), categorize=False)[0], dtype=np.uint64)
    hashed[present] = pd.util.hash_array(values[present], categorize=False)
    return hashed


def _hex_ids(hashes: np.ndarray) -> pa.Array:
    """"h" + 16 hex digits per hash (as "h%016x"), built as one Arrow buffer instead of a million strings."""
    digits = np.frombuffer(hashes.astype(">u8").tobytes().hex().encode("ascii"), dtype=np.uint8)
    text = np.empty((len(hashes), 17), dtype=np.uint8)
    text[:, 0] = ord("h")
    text[:, 1:] = digits.reshape(-1, 16)
    offsets = np.arange(0, 17 * len(hashes) + 1, 17, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(hashes), pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def _combined_hashes(arrays: list[np.ndarray]) -> np.ndarray:
    """pandas' combine_hash_arrays (CPython's tuple hash), as hash_pandas_object applies it to a frame."""
    mult = np.uint64(1000003)
    out = np.zeros_like(arrays[0]) + np.uint64(0x345678)
    for i, hashed in enumerate(arrays):
        inverse_i = len(arrays) - i
        out ^= hashed
        out *= mult
        mult += np.uint64(82520 + inverse_i + inverse_i)
    return out + np.uint64(97531)


def _conflicting_repeats(typed: dict[str, object], identities: np.ndarray | pa.ChunkedArray, is_good: np.ndarray,
                         lead_ids: pa.Array | pa.ChunkedArray, id_name: str) -> dict[int, str]:
    """A later good row with an earlier good row's lead id but other content (label included) is rejected:
    the first row wins, and the later content is kept in rejected_leads rather than dropped silently.
    Identical repeats stay (the ingest counts them as duplicates). Returns row position -> reason."""
    good_rows = np.flatnonzero(is_good)
    keys = pd.Series(identities.take(pa.array(good_rows)).to_pandas() if isinstance(identities, pa.ChunkedArray)
                     else identities[good_rows])
    repeated = good_rows[keys.duplicated(keep=False).to_numpy()]
    if len(repeated) == 0:
        return {}
    rows = pd.DataFrame({name: values[repeated] for name, values in typed.items() if name != ROW_NUMBER})
    content = pd.Series(pd.util.hash_pandas_object(rows, index=False, categorize=False).to_numpy())
    ids = pd.Series(lead_ids.take(pa.array(repeated)).to_pylist())
    first_content = content.groupby(ids, sort=False).transform("first")
    first_row = pd.Series(typed[ROW_NUMBER][repeated]).groupby(ids, sort=False).transform("first")
    differs = (content != first_content).to_numpy()
    return {int(position): f"{id_name} {lead_id} appears earlier in this file with different content (row {row})"
            for position, lead_id, row in zip(repeated[differs], ids[differs], first_row[differs], strict=True)}


# -- rejected rows


def _rejected_rows(raw: pd.DataFrame, reasons: _Reasons, bad_lines: list[Quarantined]) -> pd.DataFrame:
    rows, texts = reasons.of_bad_rows()
    bad_raw = raw.iloc[rows]
    records = bad_raw.astype(object).where(bad_raw.notna(), None).to_dict(orient="records")
    frame = pd.DataFrame({
        ROW_NUMBER: pd.array(bad_raw.index.to_numpy() + 1, dtype="Int64"),
        "raw_row": [json.dumps(record, ensure_ascii=False) for record in records],
        "reason": texts,
    })
    if not bad_lines:
        return frame
    quarantined = pd.DataFrame({
        ROW_NUMBER: pd.array([line.row_number for line in bad_lines], dtype="Int64"),
        "raw_row": [line.raw_row for line in bad_lines],
        "reason": [line.reason for line in bad_lines],
    })
    merged = pd.concat([frame, quarantined], ignore_index=True)
    return merged.sort_values(ROW_NUMBER, kind="stable", na_position="last").reset_index(drop=True)
