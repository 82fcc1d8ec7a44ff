"""Turning stored scores into the rows a sales rep reads and the CSV call list they export."""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from dashboard import stored_json, style

REASONS_IN_LIST = 2
TEXT_EXPORT_COLUMNS = ("lead_id", "grade", "platform", "utm_medium", "utm_source", "trend", "reasons_positive",
                       "reasons_negative")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = {
    "rank": "rank", "lead_id": "lead_id", "grade": "grade", "score": "score", "created_date": "created_date",
    "city_tier": "city_tier", "first_platform_c": "platform", "first_utm_medium_c": "utm_medium",
    "first_utm_source_c": "utm_source", "trend": "trend", "previous_score": "previous_score",
}


def top_reasons(positive_raw: object, negative_raw: object, n: int = REASONS_IN_LIST) -> str:
    """The strongest reasons for and against, e.g. '+ referred by a student; − came from platform Level8'."""
    plus = [f"+ {r}" for r in stored_json.reasons(positive_raw)[:n]]
    minus = [f"− {r}" for r in stored_json.reasons(negative_raw)[:1]]
    return "; ".join(plus + minus)


def table(page: pd.DataFrame) -> pd.DataFrame:
    """The lead list as displayed: badge, score, rank, when, where from, trend and why."""
    return pd.DataFrame({
        "Grade": page["grade"].astype(str),
        "Score": page["score"].astype(float),
        "Rank": page["rank"].astype(int),
        "Lead": page["lead_id"],
        "Trend": page["trend"].map(style.trend),
        "Why": [top_reasons(p, n) for p, n in zip(page["reasons_positive"], page["reasons_negative"], strict=True)],
        "Created": page["created_date"],
        "City tier": page["city_tier"].astype(int),
        "Source": page["first_utm_source_c"],
        "Medium": page["first_utm_medium_c"],
        "Platform": page["first_platform_c"],
    })


def styled(table: pd.DataFrame) -> Styler:
    """The list with each grade shown as a coloured badge."""
    return table.style.map(style.grade_css, subset=["Grade"])


def csv_bytes(rows: pd.DataFrame) -> bytes:
    """The exported call list: plain columns plus every reason, joined by ' | '."""
    out = rows[list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)
    out["trend"] = out["trend"].fillna("new")
    out["reasons_positive"] = [" | ".join(stored_json.reasons(r)) for r in rows["reasons_positive"]]
    out["reasons_negative"] = [" | ".join(stored_json.reasons(r)) for r in rows["reasons_negative"]]
    for name in TEXT_EXPORT_COLUMNS:
        out[name] = out[name].map(_defused)
    return out.to_csv(index=False, float_format="%.4f").encode("utf-8")


def _defused(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading quote (CSV injection)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def lead_label(row: pd.Series) -> str:
    """How a lead is named in the detail picker."""
    return f"{row['lead_id']} · grade {row['grade']} · {float(row['score']):.3f}"
