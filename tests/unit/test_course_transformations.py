"""The course's own expected tables, reproduced by our pipeline on leadscoring_test.csv, from the CodePro schema."""

import io
import sqlite3
from datetime import datetime
from importlib import resources

import pandas as pd
import pytest

from core.features import map_categorical_levels, map_lookups, map_sums
from core.lead_schema import load_schema
from core.schema import validate_file
from tests.paths import SHARED_DATA
from tests.samples import CITY_TIER

# the significant levels the course learned on its full training data (its notebook's lists)
COURSE_SIGNIFICANT_LEVELS: dict[str, tuple[str, ...]] = {
    "first_platform_c": ("Level0", "Level3", "Level7", "Level1", "Level2", "Level8"),
    "first_utm_medium_c": (
        "Level0", "Level2", "Level6", "Level3", "Level4", "Level9", "Level11", "Level5", "Level8", "Level20",
        "Level13", "Level30", "Level33", "Level16", "Level10", "Level15", "Level26", "Level43",
    ),
    "first_utm_source_c": ("Level2", "Level0", "Level7", "Level4", "Level6", "Level16", "Level5", "Level14"),
}
SCHEMA = load_schema()


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
    validated = validate_file(SHARED_DATA / "leadscoring_test.csv", datetime(2026, 1, 1))
    assert validated.rejected.empty
    frame = validated.good[[*SCHEMA.file_columns(), "app_complete_flag"]].copy()
    frame["created_date"] = frame["created_date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def test_loaded_data_matches_course(loaded):
    expected = _expected("loaded_data_test_case")
    assert set(loaded.columns) == set(expected.columns)
    assert _as_row_set(loaded) == _as_row_set(expected)


def test_city_tier_matches_course(loaded):
    expected = _expected("city_tier_mapped_test_case")
    ours = map_lookups(loaded, SCHEMA)
    assert list(ours.columns)[-1] == "city_tier"
    assert _as_row_set(ours) == _as_row_set(expected)


def test_categorical_levels_match_course(loaded):
    expected = _expected("categorical_variables_mapped_test_case")
    ours = map_categorical_levels(map_lookups(loaded, SCHEMA), SCHEMA, COURSE_SIGNIFICANT_LEVELS)
    assert len(ours) == len(expected)
    assert _as_row_set(ours) == _as_row_set(expected)


def test_interactions_match_course(loaded):
    expected = _expected("interactions_mapped_test_case")
    ours = map_sums(map_categorical_levels(map_lookups(loaded, SCHEMA), SCHEMA, COURSE_SIGNIFICANT_LEVELS), SCHEMA)
    assert set(ours.columns) == set(expected.columns)
    assert _as_row_set(ours) == _as_row_set(expected)


def test_schema_sums_are_the_course_interaction_mapping():
    text = resources.files("core").joinpath("data/interaction_mapping.csv").read_text(encoding="utf-8-sig")
    mapping = pd.read_csv(io.StringIO(text))
    expected = mapping.groupby("interaction_mapping")["interaction_type"].apply(set).to_dict()
    ours = {f.key: set(f.sources) for f in SCHEMA.features if f.type == "sum"}
    assert ours == expected


def test_city_tiers_of_the_synthetic_generator_are_the_schema_lookup():
    lookup = SCHEMA.feature("city_tier").lookup
    assert {city: float(tier) for city, tier in lookup.items()} == CITY_TIER
