"""Draft a lead schema from a CSV: types inferred from the values, one comment per line saying what was seen.

The draft is a starting point a person edits: every column gets a role (feature, created, order, leakage or
ignore), placeholders such as `Select` are proposed as `na_values`, the label's success values are proposed
from their wording, columns that alone separate the outcomes are proposed under `leakage`, and the result
always loads with `parse_schema` (checked before it is returned).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.errors import BadInputError
from core.lead_schema import DEFAULT_BARS, parse_schema

MAX_ROWS = 1_000_000  # a draft reads at most this many rows
# strings that mean "empty" in CRM exports: proposed as na_values when seen
PLACEHOLDERS = frozenset({"Select", "select", "SELECT", "N/A", "n/a", "NA", "-", "--", "---", "?", "NULL", "null",
                          "None", "none", "nan", "NaN", "#N/A", "(blank)", "(none)", "Not Available", "not available"})
# strings that may mean "empty" or may be a real answer: named in a comment only
MAYBE_PLACEHOLDERS = frozenset({"Unknown", "unknown", "UNKNOWN", "Not Specified", "not specified", "Not Provided",
                                "not provided", "Not Sure", "not sure"})
YES_NO_PAIRS = (("yes", "no"), ("y", "n"), ("true", "false"), ("t", "f"))
POSITIVE_EXACT = re.compile(r"^(1|1\.0+|yes|y|true|t|won|win|success|successful|positive|sale|sold|converted|"
                            r"enrolled|complete|completed|paid|purchased|hired|accepted|approved|signed)$", re.I)
POSITIVE_STEM = re.compile(r"won|\bwin|enrol|convert|success|complet|\bpaid|purchas|hired|signed|\bsold|accept|approv",
                           re.I)
NEGATION = re.compile(r"\b(not|no|non|never)\b|\bun|\bin(?=complete)|lost|fail|reject|declin", re.I)
CHANNEL_NAME = re.compile(r"source|medium|channel|campaign|origin|platform|utm", re.I)
DATE_LIKE = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d\d(:\d\d)?.*)?$")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .()/&+-]*$")
MAX_CHANNEL_LEVELS = 400
LEAKAGE_ROWS = 100_000
RARE_LEVEL_ROWS = 20  # levels this rare are pooled before the leakage check (a level seen once "predicts" itself)
DISTINCT_SHARE_ID = 0.95  # text this often distinct is an id or free text
FREE_TEXT_LENGTH = 60
NUMBER_SHARE = 0.98  # a column with this share of numbers is a number column (the rest: rejected rows)


@dataclass
class Entry:
    """One column's proposal: its role, its settings as YAML flow text, and the comment saying what was seen."""

    column: str
    role: str  # feature, ignore, leakage, created, order
    settings: str = ""
    comment: str = ""
    kind: str = "text"  # what the values look like: number, flag, date, text, empty, constant, id
    levels: int = 0
    values: pd.Series | None = field(default=None, repr=False)  # typed values for the leakage check


@dataclass(frozen=True)
class DraftRequest:
    """What the user asked for on the command line."""

    path: Path
    label: str
    id_column: str | None = None
    created: str | None = None


def draft_schema(request: DraftRequest) -> str:
    """The schema YAML for the file: complete, valid (parse_schema loads it) and commented line by line."""
    frame, note = read_text_frame(request.path)
    _check_request(frame, request)
    seen = _seen_values(frame, request)
    placeholders = sorted(v for v in seen if v in PLACEHOLDERS)
    missing = frame.isin(["", *placeholders])
    labels, label_lines = propose_label(frame[request.label].str.strip(), missing[request.label], request.label)
    entries = [_entry(frame[c], missing[c], request) for c in frame.columns if c not in (request.label, request.id_column)]
    _propose_order(entries, request)
    _mark_leakage(entries, labels, ~missing[request.label])
    maybe = sorted(v for v in seen if v in MAYBE_PLACEHOLDERS)
    text = _render(frame, request, note, entries, label_lines, placeholders, maybe)
    parse_schema(text, origin="draft")  # a draft that does not load is a bug here, not the user's problem
    return text


# ---------------------------------------------------------------- reading


def read_text_frame(path: Path) -> tuple[pd.DataFrame, str]:
    """Every cell as stripped text (nothing guessed yet); drops a leading unnamed index column."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=MAX_ROWS, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadInputError(f"{path.name}: not UTF-8 text (byte 0x{error.object[error.start]:02x}): save it as UTF-8") \
            from error
    except pd.errors.EmptyDataError as error:
        raise BadInputError(f"{path.name}: the file is empty") from error
    except pd.errors.ParserError as error:
        raise BadInputError(f"{path.name}: not a readable CSV ({str(error).strip().splitlines()[-1]})") from error
    if frame.empty:
        raise BadInputError(f"{path.name}: no rows under the header")
    frame = frame.apply(lambda column: column.str.strip())
    note = f"{len(frame):,} rows" + (f" (the first {MAX_ROWS:,} read)" if len(frame) == MAX_ROWS else "")
    first = str(frame.columns[0])
    if first == "" or first.startswith("Unnamed: 0"):
        frame = frame.drop(columns=first)
        note += "; the leading unnamed index column left out"
    return frame, note


def _check_request(frame: pd.DataFrame, request: DraftRequest) -> None:
    named = {"--label": request.label, "--id": request.id_column, "--created": request.created}
    for option, column in named.items():
        if column is not None and column not in frame.columns:
            raise BadInputError(f"{option} {column!r}: no such column in {request.path.name} "
                                f"(columns: {_shortlist(frame.columns)})")
    given = [c for c in named.values() if c is not None]
    if len(set(given)) < len(given):
        raise BadInputError("--label, --id and --created must name different columns")
    values = frame[request.label][frame[request.label] != ""]
    if values.nunique() < 2:
        seen = f"only {values.iloc[0]!r}" if len(values) else "no values"
        raise BadInputError(f"--label {request.label!r} has {seen}: a draft needs leads of both outcomes")
    if request.created and not _dates(frame[request.created][frame[request.created] != ""]):
        example = frame[request.created].iloc[0]
        raise BadInputError(f"--created {request.created!r} does not hold dates (e.g. {example!r})")


def _seen_values(frame: pd.DataFrame, request: DraftRequest) -> set[str]:
    """Every distinct text in the file outside the id column (where placeholders are looked for)."""
    return set().union(*(frame[c].unique() for c in frame.columns if c != request.id_column))


def _shortlist(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


# ---------------------------------------------------------------- the label


def propose_label(values: pd.Series, missing: pd.Series, column: str) -> tuple[np.ndarray, list[str]]:
    """Success values from their wording, else the rarer of the two commonest; 0/1 per labelled row; YAML lines."""
    counts = values[~missing].value_counts()
    share = counts / counts.sum()
    positive = [v for v in counts.index if _reads_as_success(v)]
    if positive and len(positive) < len(counts):
        check = f"# {', '.join(map(repr, positive))} read{'s' if len(positive) == 1 else ''} as success"
    else:
        positive = [counts.index[:2][-1]]
        check = f"# check: no value reads clearly as success; proposed the rarer of the two commonest, {positive[0]!r}"
    negative = [v for v in counts.index if v not in positive]
    seen = ", ".join(f"{v!r} {share[v]:.1%}" for v in counts.index[:6]) + (", ..." if len(counts) > 6 else "")
    lines = [
        "label:",
        f"  column: {_name(column)}  # {len(counts)} values: {seen}" + _missing_note(missing),
        f"  positive: {_flow(positive)}  {check}",
        f"  # negative: {_flow(negative[:20])}  # uncomment to reject any other value (else: every other value is "
        "a failure)",
    ]
    labels = values[~missing].isin(positive).astype(int).to_numpy()
    return labels, lines


def _reads_as_success(value: str) -> bool:
    if POSITIVE_EXACT.match(value):
        return True
    return bool(POSITIVE_STEM.search(value)) and not NEGATION.search(value)


# ---------------------------------------------------------------- one column


def _entry(values: pd.Series, missing: pd.Series, request: DraftRequest) -> Entry:
    """The proposal for one column from its values (placeholders already count as missing)."""
    name = str(values.name)
    present = values[~missing]
    gone = _missing_note(missing)
    if name == request.created:
        return Entry(name, "created", comment=f"dates {_date_span(present)}{gone}", kind="date")
    if present.empty:
        return Entry(name, "ignore", comment="always empty", kind="empty")
    counts = present.value_counts()
    if len(counts) == 1:
        return Entry(name, "ignore", comment=f"constant: every filled row is {counts.index[0]!r}{gone}", kind="constant")
    return (_flag_entry(name, present, counts, missing) or _number_entry(name, present, missing)
            or _date_entry(name, present, gone) or _text_entry(name, present, counts, missing))


def _flag_entry(name: str, present: pd.Series, counts: pd.Series, missing: pd.Series) -> Entry | None:
    if len(counts) > 4:  # at most two spellings each of yes and no
        return None
    lowered = {str(v).lower() for v in counts.index}
    yes_no = next((pair for pair in YES_NO_PAIRS if lowered == set(pair)), None)
    numbers = pd.to_numeric(pd.Series(counts.index), errors="coerce")
    if yes_no is None and not (numbers.notna().all() and set(numbers) == {0.0, 1.0}):
        return None
    if yes_no is None:
        yes, no = ["1"], ["0"]
    else:
        yes = sorted(v for v in counts.index if v.lower() == yes_no[0])
        no = sorted(v for v in counts.index if v.lower() == yes_no[1])
    seen = ", ".join(f"{v!r} {c / len(present):.1%}" for v, c in counts.items())
    typed = present.str.lower().isin([v.lower() for v in yes]).astype(float) if yes_no else numbers_of(present)
    return Entry(name, "feature", f'{{type: flag, "yes": {_flow(yes)}, "no": {_flow(no)}}}',
                 f"yes/no: {seen}{_missing_note(missing)}", "flag", 2, _reindex(typed, missing))


def _number_entry(name: str, present: pd.Series, missing: pd.Series) -> Entry | None:
    numbers = numbers_of(present)
    if numbers.notna().mean() < NUMBER_SHARE:
        return None
    bad = present[numbers.isna()]
    whole = bool((numbers.dropna() % 1 == 0).all())
    low, high, median = numbers.min(), numbers.max(), numbers.median()
    comment = f"numbers {_num(low)} .. {_num(high)}, median {_num(median)}{_missing_note(missing)}"
    if len(bad):
        comment += f"; {len(bad)} not numbers (e.g. {bad.iloc[0]!r}): those rows will be rejected"
    distinct = numbers.nunique()
    if whole and distinct >= 0.99 * len(missing) and missing.mean() == 0:
        return Entry(name, "ignore", comment=f"whole numbers, all distinct ({_num(low)} .. {_num(high)}): a running "
                     "number or an id", kind="id")
    settings = "{type: number, min: 0}" if low >= 0 else "{type: number}"
    return Entry(name, "feature", settings, comment, "number", distinct, _reindex(numbers, missing))


def _date_entry(name: str, present: pd.Series, gone: str) -> Entry | None:
    if not _dates(present):
        return None
    return Entry(name, "ignore", comment=f"dates {_date_span(present)}{gone}: pass --created {name!r} if it is the "
                 "lead's creation time", kind="date")


def _text_entry(name: str, present: pd.Series, counts: pd.Series, missing: pd.Series) -> Entry:
    gone = _missing_note(missing)
    distinct_share = len(counts) / len(present)
    if len(present) >= 50 and distinct_share >= DISTINCT_SHARE_ID:
        return Entry(name, "ignore", comment=f"nearly all distinct ({len(counts):,} of {len(present):,}): an id or "
                     f"free text (pass --id {name!r} if it identifies a lead){gone}", kind="id")
    if present.str.len().mean() > FREE_TEXT_LENGTH and distinct_share > 0.5:
        return Entry(name, "ignore", comment=f"free text ({len(counts):,} distinct, {present.str.len().mean():.0f} "
                     f"characters on average){gone}", kind="id")
    top = ", ".join(f"{v!r} {_share(c / len(present))}" for v, c in counts.head(4).items())
    comment = f"{len(counts):,} distinct{gone}: {top}" + (", ..." if len(counts) > 4 else "")
    typed = _pool_rare(present)
    return Entry(name, "feature", "{type: category}", comment, "text", len(counts), _reindex(typed, missing))


def numbers_of(values: pd.Series) -> pd.Series:
    """Text -> float; non-numbers (also "1,234": ingest reads plain numbers) -> NaN. Parses each distinct text once."""
    codes, distinct = pd.factorize(values)
    parsed = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
    numbers = np.append(parsed.to_numpy("float64"), np.nan)[codes]  # code -1 (missing) -> the NaN at the end
    return pd.Series(numbers, index=values.index, name=values.name)


def _pool_rare(present: pd.Series) -> pd.Series:
    counts = present.value_counts()
    rare = counts.index[counts < RARE_LEVEL_ROWS]
    return present.where(~present.isin(rare), "(rare levels)").astype(object)


def _reindex(typed: pd.Series, missing: pd.Series) -> pd.Series:
    return typed.reindex(missing.index)


def _dates(values: pd.Series) -> bool:
    sample = values.head(500)
    if sample.empty or not sample.str.match(DATE_LIKE).all():
        return False
    return bool(pd.to_datetime(sample, errors="coerce", format="mixed").notna().all())


def _date_span(values: pd.Series) -> str:
    moments = pd.to_datetime(values, errors="coerce", format="mixed").dropna()
    if moments.empty:
        return "(none readable)"
    return f"{moments.min():%Y-%m-%d} .. {moments.max():%Y-%m-%d}"


# ---------------------------------------------------------------- across columns


def _propose_order(entries: list[Entry], request: DraftRequest) -> None:
    """Without a created column, a running number orders the leads for the holdout (the first one found)."""
    if request.created is not None:
        return
    for entry in entries:
        if entry.kind == "id" and entry.comment.startswith("whole numbers"):
            entry.role = "order"
            entry.comment = entry.comment.removesuffix(": a running number or an id") + \
                ": check that it grows as leads arrive (the holdout is the newest 20% by it)"
            return


def _mark_leakage(entries: list[Entry], labels: np.ndarray, labelled: pd.Series) -> None:
    """Features that alone separate the outcomes (core.leakage) move to `leakage`, with the warning as comment."""
    from core.leakage import find_leakage  # scikit-learn loads only when a draft is made

    features = [e for e in entries if e.role == "feature" and e.values is not None]
    if not features:
        return
    frame = pd.DataFrame({e.column: e.values for e in features}).loc[labelled.to_numpy()]
    if len(frame) > LEAKAGE_ROWS:  # a seeded sample is plenty to see a column that gives the outcome away
        chosen = np.sort(np.random.default_rng(0).choice(len(frame), LEAKAGE_ROWS, replace=False))
        frame, labels = frame.iloc[chosen], labels[chosen]
    findings = {f.column: f for f in find_leakage(frame, labels)}
    for entry in features:
        if entry.column in findings:
            entry.role = "leakage"
            entry.comment = findings[entry.column].line().removeprefix("warning: ")
            entry.settings = ""


def _channels(entries: list[Entry]) -> tuple[list[str], str]:
    categories = [e for e in entries if e.role == "feature" and e.kind == "text" and e.levels >= 2]
    named = [e.column for e in categories if CHANNEL_NAME.search(e.column) and e.levels <= MAX_CHANNEL_LEVELS]
    if named:
        return named, "categories whose names say where leads come from"
    fewest = sorted(categories, key=lambda e: e.levels)[:2]
    if not fewest:
        return [], "no category feature to break down by"
    return [e.column for e in fewest], "no column is named like a source or channel: the categories with fewest levels"


# ---------------------------------------------------------------- writing


def _render(frame, request, note, entries, label_lines, placeholders, maybe) -> str:
    roles = {role: [e for e in entries if e.role == role] for role in ("feature", "leakage", "ignore", "order")}
    channels, why = _channels(entries)
    lines = [
        f"# Draft lead schema for {request.path.name} ({note}, {frame.shape[1]} columns):",
        "# made by `python -m flows.schema draft`. Check every line, then use it with LEADSCORE_SCHEMA=this-file.",
        "# Values are quoted on purpose: unquoted Yes/No/true/off are YAML booleans and 01 is a number.",
        f"name: {_name(request.path.stem)}",
    ]
    if request.id_column:
        ids = frame[request.id_column]
        lines.append(f"id: {_name(request.id_column)}  # {ids.nunique():,} distinct of {len(ids):,} rows"
                     + ("" if ids.is_unique else ": repeated ids are the same lead"))
    if request.created:
        created = frame[request.created]
        lines.append(f"created: {_name(request.created)}  # dates {_date_span(created[created != ''])}"
                     + _missing_note(created == "") + ("" if (created != "").all() else ": rows without one are rejected"))
    for entry in roles["order"]:
        lines.append(f"order: {_name(entry.column)}  # {entry.comment}")
    lines += label_lines
    lines += _na_lines(frame, placeholders, maybe, request)
    lines.append(f"bars: {json.dumps(DEFAULT_BARS).replace(chr(34), '')}  # what a champion model must clear "
                 "on held-out leads")
    lines += _wrapped("layout", [str(c) for c in frame.columns], "the file's columns in order")
    lines.append(f"channels: {_flow(channels, names=True)}  # the Channels page's breakdowns: {why}")
    lines.append("list_columns: []  # further features shown and filtered in the lead list")
    lines += _features_lines(roles["feature"], request)
    lines += _list_lines("leakage", roles["leakage"], "none found: no column alone separates the outcomes")
    lines += _list_lines("ignore", roles["ignore"], "nothing to ignore")
    return "\n".join(lines) + "\n"


def _na_lines(frame, placeholders, maybe, request) -> list[str]:
    used = [c for c in frame.columns if c != request.id_column]
    where = []
    for value in placeholders:
        columns = [c for c in used if (frame[c] == value).any()]
        where.append(f"{value!r} in {_shortlist(columns)}")
    comment = "placeholders seen: " + "; ".join(where) if where else "no placeholder strings seen"
    lines = [f"na_values: {_flow(['', *placeholders])}  # {comment}"]
    if maybe:
        lines.append(f"# maybe placeholders too: {', '.join(map(repr, maybe))}: add them to na_values if they mean empty")
    return lines


def _features_lines(features: list[Entry], request: DraftRequest) -> list[str]:
    lines = ["features:"]
    for entry in features:
        lines.append(f"  {_name(entry.column)}: {entry.settings}  # {entry.comment}")
    if request.created:
        taken = {e.column for e in features} | {request.created}
        for kind in ("hour", "weekday"):
            name = _free_name(f"created_{kind}", taken)
            lines.append(f"  {_name(name)}: {{type: {kind}, source: {_name(request.created, flow=True)}}}  "
                         f"# the {kind} of {request.created}")
    if len(lines) == 1:
        raise BadInputError(f"{request.path.name}: no column can be a feature (every column is empty, constant, an id, "
                            "a date or leaks the outcome)")
    return lines


def _list_lines(key: str, entries: list[Entry], empty: str) -> list[str]:
    if not entries:
        return [f"{key}: []  # {empty}"]
    return [f"{key}:", *(f"  - {_name(e.column)}  # {e.comment}" for e in entries)]


def _wrapped(key: str, names: list[str], comment: str) -> list[str]:
    items = [_name(n, flow=True) for n in names]
    lines, current = [], f"{key}: ["
    indent = " " * len(current)
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else "]")
        if len(current) + len(piece) > 110 and current.strip() not in (f"{key}: [", ""):
            lines.append(current.rstrip())
            current = indent
        current += piece
    lines.append(f"{current}  # {comment}")
    return lines


def _free_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _flow(values: list[str], names: bool = False) -> str:
    """A YAML flow list: values always quoted (a flag's "Yes" stays text), names plain when that is safe."""
    return "[" + ", ".join(_name(v, flow=True) if names else _quote(v) for v in values) + "]"


def _name(name: str, flow: bool = False) -> str:
    """A column name as a YAML scalar: plain when PyYAML reads it back as the same text, else double-quoted."""
    text = str(name)
    plain = (PLAIN_NAME.match(text) and text == text.strip() and " #" not in text
             and not (flow and re.search(r"[,\[\]{}]", text)))
    if plain and yaml.safe_load(text) == text:
        return text
    return _quote(text)


def _quote(value: str) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _missing_note(missing: pd.Series) -> str:
    share = float(missing.mean())
    if not share:
        return ""
    return ", over 99.9% missing" if 0.999 < share < 1 else f", {share:.1%} missing"


def _share(share: float) -> str:
    return "<1%" if share < 0.005 else f"{share:.0%}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"
