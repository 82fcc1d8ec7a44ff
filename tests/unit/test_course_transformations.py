"""The course's own expected tables, reproduced by our pipeline on leadscoring_test.csv."""

import sqlite3
from datetime import datetime

import pandas as pd
import pytest

from core.features import map_categorical_levels, map_city_tier, map_interactions
from core.schema import RAW_COLUMNS, read_raw_csv, validate_leads
from tests.paths import SHARED_DATA


def _expected(table: str) -> pd.DataFrame:
    with sqlite3.connect(SHARED_DATA / "unit_test_cases.db") as conn:
        return pd.read_sql_query(f'SELECT * FROM "{table}"', conn)


def _as_row_set(frame: pd.DataFrame) -> set[tuple]:
    """Rows as a set, with numbers compared as numbers and empty cells as None."""
    def cell(value):
        if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)
    ordered = frame[sorted(frame.columns)]
    return {tuple(cell(v) for v in row) for row in ordered.itertuples(index=False, name=None)}


@pytest.fixture(scope="module")
def loaded() -> pd.DataFrame:
    raw, bad = read_raw_csv(SHARED_DATA / "leadscoring_test.csv")
    validated = validate_leads(raw, datetime(2026, 1, 1), bad)
    assert validated.rejected.empty
    frame = validated.good[[*RAW_COLUMNS, "app_complete_flag"]].copy()
    frame["created_date"] = frame["created_date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def test_loaded_data_matches_course(loaded):
    expected = _expected("loaded_data_test_case")
    assert set(loaded.columns) == set(expected.columns)
    assert _as_row_set(loaded) == _as_row_set(expected)


def test_city_tier_matches_course(loaded):
    expected = _expected("city_tier_mapped_test_case")
    ours = map_city_tier(loaded)
    assert list(ours.columns)[-1] == "city_tier"
    assert _as_row_set(ours) == _as_row_set(expected)


def test_categorical_levels_match_course(loaded):
    expected = _expected("categorical_variables_mapped_test_case")
    ours = map_categorical_levels(map_city_tier(loaded))
    assert len(ours) == len(expected)
    assert _as_row_set(ours) == _as_row_set(expected)


def test_interactions_match_course(loaded):
    expected = _expected("interactions_mapped_test_case")
    ours = map_interactions(map_categorical_levels(map_city_tier(loaded)))
    assert set(ours.columns) == set(expected.columns)
    assert _as_row_set(ours) == _as_row_set(expected)
