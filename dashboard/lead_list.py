"""Turning stored scores into the rows a sales rep reads and the CSV call list they export.

The schema's channels and list columns appear under their labels; nothing here names a column of one company.
"""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from dashboard import stored_json, style
from dashboard.schema_view import SchemaView

REASONS_IN_LIST = 2
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def top_reasons(positive_raw: object, negative_raw: object, n: int = REASONS_IN_LIST) -> str:
    """The strongest reasons for and against, e.g. '+ referred by a student; − came from platform Level8'."""
    plus = [f"+ {r}" for r in stored_json.reasons(positive_raw)[:n]]
    minus = [f"− {r}" for r in stored_json.reasons(negative_raw)[:1]]
    return "; ".join(plus + minus)


def schema_labels(view: SchemaView, taken: tuple[str, ...]) -> dict[str, str]:
    """Each copied column's key -> its label, made unique against the fixed headers."""
    out: dict[str, str] = {}
    for column in view.copied:
        label, n = column.label, 2
        while label in taken or label in out.values():
            label, n = f"{column.label} ({n})", n + 1
        out[column.key] = label
    return out


def schema_values(page: pd.DataFrame, view: SchemaView) -> dict[str, pd.Series]:
    """The copied columns as a person reads them (flags yes/no, whole numbers without '.0'), under their labels."""
    labels = schema_labels(view, TABLE_HEADERS)
    return {labels[c.key]: page[c.key].map(c.shown) for c in view.copied}


TABLE_HEADERS = ("Grade", "Score", "Rank", "Lead", "Trend", "Why", "Created", "Ingested")


def table(page: pd.DataFrame, view: SchemaView) -> pd.DataFrame:
    """The lead list as displayed: badge, score, rank, when, the schema's columns, trend and why."""
    return pd.DataFrame({
        "Grade": page["grade"].astype(str),
        "Score": page["score"].astype(float),
        "Rank": page["rank"].astype(int),
        "Lead": page["lead_id"],
        "Trend": page["trend"].map(style.trend),
        "Why": [top_reasons(p, n) for p, n in zip(page["reasons_positive"], page["reasons_negative"], strict=True)],
        view.time_word: page["created_date"],
        **schema_values(page, view),
    })


def styled(table: pd.DataFrame) -> Styler:
    """The list with each grade shown as a coloured badge."""
    return table.style.map(style.grade_css, subset=["Grade"])


EXPORT_HEADERS = ("Rank", "Lead", "Grade", "Score", "Created", "Ingested", "Trend", "Previous score",
                  "Reasons for", "Reasons against")


def csv_bytes(rows: pd.DataFrame, view: SchemaView) -> bytes:
    """The exported call list under human headers: every schema column and every reason, joined by ' | '."""
    labels = schema_labels(view, EXPORT_HEADERS)
    out = pd.DataFrame({
        "Rank": rows["rank"], "Lead": rows["lead_id"], "Grade": rows["grade"], "Score": rows["score"],
        view.time_word: rows["created_date"],
        **{labels[c.key]: rows[c.key].map(c.shown) for c in view.copied},
        "Trend": rows["trend"].fillna("new"), "Previous score": rows["previous_score"],
        "Reasons for": [" | ".join(stored_json.reasons(r)) for r in rows["reasons_positive"]],
        "Reasons against": [" | ".join(stored_json.reasons(r)) for r in rows["reasons_negative"]],
    })
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name]):
            out[name] = out[name].map(_defused)
    return out.to_csv(index=False, float_format="%.4f").encode("utf-8")


def _defused(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading quote (CSV injection)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def lead_label(row: pd.Series) -> str:
    """How a lead is named in the detail picker."""
    return f"{row['lead_id']} · grade {row['grade']} · {float(row['score']):.3f}"
