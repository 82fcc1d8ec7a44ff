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
