"""Small raw-layout files built from the course's real test sample, for bad-input tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.paths import SHARED_DATA


def real_sample(rows: int = 10) -> pd.DataFrame:
    """The first rows of the course's test file, every cell as text."""
    frame = pd.read_csv(SHARED_DATA / "leadscoring_test.csv", dtype=str, keep_default_na=False)
    return frame.head(rows).copy()


def write_sample(path: Path, frame: pd.DataFrame, **to_csv) -> Path:
    """Write a frame as a raw CSV (no index) and return its path."""
    frame.to_csv(path, index=False, **to_csv)
    return path


# The course README's city tiers (city names); the CodePro schema's lookup must agree with them
TIER_1 = ("bengaluru", "chennai", "hyderabad", "kolkata", "mumbai", "ncr", "pune")
TIER_2 = (
    "agra", "ahmedabad", "aligarh", "anand", "bhopal", "coimbatore", "gandhinagar", "gwalior", "indore",
    "jabalpur", "jaipur", "kanpur", "kochi", "lucknow", "ludhiana", "madurai", "meerut", "nagpur", "nashik",
    "patna", "rajkot", "solapur", "surat", "tiruchirapalli", "vadodara", "vijayawada", "vishakapatnam",
)
CITY_TIER: dict[str, float] = {**{c: 1.0 for c in TIER_1}, **{c: 2.0 for c in TIER_2}}
