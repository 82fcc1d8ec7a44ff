"""The course's transformations (city tier, rare levels -> others, interaction aggregates) and model features."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from core.schema import CODE_COLUMNS, INTERACTION_COLUMNS, LABEL

TIER_1 = ("bengaluru", "chennai", "hyderabad", "kolkata", "mumbai", "ncr", "pune")
TIER_2 = (
    "agra", "ahmedabad", "aligarh", "anand", "bhopal", "coimbatore", "gandhinagar", "gwalior", "indore",
    "jabalpur", "jaipur", "kanpur", "kochi", "lucknow", "ludhiana", "madurai", "meerut", "nagpur", "nashik",
    "patna", "rajkot", "solapur", "surat", "tiruchirapalli", "vadodara", "vijayawada", "vishakapatnam",
)
CITY_TIER: dict[str, float] = {**{c: 1.0 for c in TIER_1}, **{c: 2.0 for c in TIER_2}}
DEFAULT_TIER = 3.0
OTHERS = "others"

COURSE_SIGNIFICANT_LEVELS: dict[str, tuple[str, ...]] = {
    "first_platform_c": ("Level0", "Level3", "Level7", "Level1", "Level2", "Level8"),
    "first_utm_medium_c": (
        "Level0", "Level2", "Level6", "Level3", "Level4", "Level9", "Level11", "Level5", "Level8", "Level20",
        "Level13", "Level30", "Level33", "Level16", "Level10", "Level15", "Level26", "Level43",
    ),
    "first_utm_source_c": ("Level2", "Level0", "Level7", "Level4", "Level6", "Level16", "Level5", "Level14"),
}
INTERACTION_GROUPS: tuple[str, ...] = (
    "assistance_interaction", "career_interaction", "payment_interaction", "social_interaction",
    "syllabus_interaction",
)
COURSE_INDEX_COLUMNS: tuple[str, ...] = (
    "created_date", "city_tier", *CODE_COLUMNS, "total_leads_droppped", "referred_lead", LABEL,
)


@cache
def interaction_mapping() -> dict[str, str]:
    """Raw interaction column -> aggregate, from the mapping shipped with the package."""
    text = resources.files("core").joinpath("data/interaction_mapping.csv").read_text(encoding="utf-8-sig")
    rows = csv.DictReader(text.splitlines())
    return {row["interaction_type"]: row["interaction_mapping"] for row in rows}


def city_tier(city: pd.Series) -> pd.Series:
    """Tier 1/2 for the course's cities, 3 for every other or missing city."""
    normalised = city.astype("string").str.strip().str.lower()
    return normalised.map(CITY_TIER).astype("float64").fillna(DEFAULT_TIER)


def map_city_tier(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace city_mapped by city_tier (the course's step, city_tier last)."""
    out = frame.drop(columns=["city_mapped"])
    out["city_tier"] = city_tier(frame["city_mapped"]).to_numpy()
    return out


def fold_rare_levels(values: pd.Series, significant: tuple[str, ...] | list[str]) -> pd.Series:
    """Keep the significant levels, everything else (unseen and missing too) becomes 'others'."""
    text = values.astype("string")
    return text.where(text.isin(list(significant)), OTHERS).astype(object)


def map_categorical_levels(frame: pd.DataFrame, levels: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """The course's step: insignificant platform / medium / source levels -> 'others', duplicates dropped."""
    levels = levels or COURSE_SIGNIFICANT_LEVELS
    out = frame.copy()
    for column, significant in levels.items():
        out[column] = fold_rare_levels(out[column], significant)
    return out.drop_duplicates()


def interaction_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """The five interaction aggregates (empty counts as 0), one column per group."""
    mapping = interaction_mapping()
    sums = {}
    for group in INTERACTION_GROUPS:
        members = [c for c in INTERACTION_COLUMNS if mapping[c] == group and c in frame.columns]
        sums[group] = frame[members].fillna(0).sum(axis=1).astype("int64")
    return pd.DataFrame(sums, index=frame.index)


def map_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    """The course's step: 37 interaction columns -> 5 aggregates next to the 8 index columns."""
    index_columns = [c for c in COURSE_INDEX_COLUMNS if c in frame.columns]
    out = frame[index_columns].copy()
    return pd.concat([out, interaction_sums(frame)], axis=1)


def learn_significant_levels(values: pd.Series, coverage: float = 0.9) -> tuple[str, ...]:
    """Most frequent levels that together cover `coverage` of rows (the course's rule)."""
    shares = values.astype("string").fillna(OTHERS).value_counts(normalize=True)
    cumulative = shares.cumsum().to_numpy()
    keep = int(np.searchsorted(cumulative, coverage) + 1)
    return tuple(str(level) for level in shares.index[:keep] if level != OTHERS)


# ---- model features (fast, vectorised; used by core.model) ----

TIME_FEATURES: tuple[str, ...] = ("created_hour", "created_weekday")
COURSE_FEATURES: tuple[str, ...] = (
    "city_tier", *CODE_COLUMNS, "total_leads_droppped", "referred_lead", *INTERACTION_GROUPS,
)
MODEL_FEATURES: tuple[str, ...] = (*COURSE_FEATURES, *TIME_FEATURES)


def fast_city_tier(city: pd.Series) -> np.ndarray:
    """City tier computed once per distinct city, so a million rows cost one factorize."""
    codes, uniques = pd.factorize(city)
    tiers = np.append(city_tier(pd.Series(uniques, dtype=object)).to_numpy(), DEFAULT_TIER)
    return tiers[codes]  # code -1 (missing city) picks the appended default tier


def level_codes(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Integer code of each value among `levels`; unseen and missing values get the 'others' code (len(levels))."""
    indexer = pd.Index(list(levels), dtype=object).get_indexer(values.astype(object))
    return np.where(indexer < 0, len(levels), indexer).astype("int32")


def level_names(codes: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    """The level string of each code (the last code is 'others')."""
    return np.array([*levels, OTHERS], dtype=object)[codes]


def interaction_aggregates(leads: pd.DataFrame) -> pd.DataFrame:
    """The five aggregates: taken as given when already summed (scoring sums in SQL), else summed here."""
    if all(group in leads.columns for group in INTERACTION_GROUPS):
        return leads[list(INTERACTION_GROUPS)].fillna(0).astype("float64")
    return interaction_sums(leads).astype("float64")


def time_of_day_features(created: pd.Series) -> pd.DataFrame:
    """Hour of day and weekday (0 = Monday) of lead creation."""
    stamps = pd.DatetimeIndex(created)
    return pd.DataFrame({"created_hour": stamps.hour.to_numpy("int32"),
                         "created_weekday": stamps.weekday.to_numpy("int32")}, index=created.index)


def model_feature_frame(leads: pd.DataFrame, levels: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Every model feature as numbers: categoricals as level codes, counts as floats (missing -> 0)."""
    columns: dict[str, np.ndarray] = {"city_tier": fast_city_tier(leads["city_mapped"])}
    for column in CODE_COLUMNS:
        columns[column] = level_codes(leads[column], levels[column])
    for column in ("total_leads_droppped", "referred_lead"):
        columns[column] = pd.to_numeric(leads[column], errors="coerce").fillna(0).to_numpy("float64")
    columns.update(interaction_aggregates(leads).to_dict("series"))
    columns.update(time_of_day_features(leads["created_date"]).to_dict("series"))
    return pd.DataFrame({name: np.asarray(values) for name, values in columns.items()}, index=leads.index)
