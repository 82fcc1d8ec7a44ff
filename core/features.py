"""The model matrix, built from the lead schema: one column per schema feature, named by its `key`.

category -> code among the learned significant levels (unseen and missing -> the 'others' code);
lookup -> the looked-up value (numbers as floats, text as level codes); number and flag -> float (the
schema's fill for empty); sum -> the sum of its members (empty counts 0; scoring may pre-sum them in SQL
under the feature's key); hour and weekday -> from the created column, on the business time zone's clock
(stored times are UTC: core/clock.py). The course's transformations (lookup, rare levels -> others,
interaction aggregates) are the same steps applied table-wise.

Frames hold raw columns under their database names (as read from `leads`) or under their names in the
file (raw leads given to the served model); both are accepted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.clock import wall_times
from core.lead_schema import OTHERS, Feature, LeadSchema, RawColumn

TIME_TYPES = ("hour", "weekday")


# ---------------------------------------------------------------- raw columns


def raw_values(frame: pd.DataFrame, column: RawColumn) -> pd.Series:
    """A raw column by its database name, else by its name in the file."""
    if column.db_name in frame.columns:
        return frame[column.db_name]
    if column.name in frame.columns:
        return frame[column.name]
    raise KeyError(f"leads have no column {column.name!r}")


def _text_uniques(values: pd.Series, schema: LeadSchema) -> tuple[np.ndarray, list[str | None]]:
    """Codes of each value and its distinct texts (stripped; the schema's empty markers -> None)."""
    text = values if pd.api.types.is_string_dtype(values) else values.astype(object)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)  # string columns factorize without a copy
    empty = set(schema.na_values)
    texts = [None if (t := str(u).strip()) in empty else t for u in uniques]
    return codes, texts


def text_values(frame: pd.DataFrame, schema: LeadSchema, column: RawColumn) -> np.ndarray:
    """A text column as stripped strings (None when empty)."""
    codes, texts = _text_uniques(raw_values(frame, column), schema)
    return np.array([*texts, None], dtype=object)[codes]


def number_values(frame: pd.DataFrame, schema: LeadSchema, column: RawColumn) -> np.ndarray:
    """A number or flag column as floats (flags given as text read through yes / no; empty -> fill)."""
    values = raw_values(frame, column)
    if column.kind == "flag" and not pd.api.types.is_numeric_dtype(values):
        values = _flag_numbers(values, schema, column)
    numbers = np.asarray(pd.to_numeric(values, errors="coerce"), dtype="float64")
    if column.fill is not None:
        numbers = np.where(np.isnan(numbers), column.fill, numbers)
    return numbers


def _flag_numbers(values: pd.Series, schema: LeadSchema, column: RawColumn) -> np.ndarray:
    codes, texts = _text_uniques(values, schema)
    table = np.array([1.0 if t in column.yes else 0.0 if t in column.no else _number_or_nan(t) for t in texts]
                     + [np.nan])
    return table[codes]


def _number_or_nan(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


# ---------------------------------------------------------------- feature values


def lookup_values(feature: Feature, values: pd.Series) -> np.ndarray:
    """The looked-up value of each source value (normalised strip + lower; unknown and missing -> default),
    computed once per distinct value: floats for a numeric lookup, texts otherwise."""
    text = values if pd.api.types.is_string_dtype(values) else values.astype(object)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    found = [feature.lookup.get(str(u).strip().lower(), feature.default) for u in uniques]
    table = [*found, feature.default]  # code -1 (missing) picks the default
    if feature.numeric:
        return np.array([np.nan if v is None else float(v) for v in table], dtype="float64")[codes]
    return np.array([OTHERS if v is None else v for v in table], dtype=object)[codes]


def sum_values(frame: pd.DataFrame, schema: LeadSchema, feature: Feature) -> np.ndarray:
    """The sum of the feature's members (empty counts 0), or the pre-summed column under its key."""
    if feature.key in frame.columns:
        return pd.to_numeric(frame[feature.key], errors="coerce").fillna(0).to_numpy("float64")
    total = np.zeros(len(frame), dtype="float64")
    for name in feature.sources:
        total += np.nan_to_num(number_values(frame, schema, schema.raw(name)), nan=0.0)
    return total


def created_times(frame: pd.DataFrame, schema: LeadSchema) -> pd.DatetimeIndex:
    """The leads' creation times (the schema's created column: UTC instants) as wall-clock times in the business
    time zone, where "enquired in the morning" and "on a Monday" mean what a sales rep means."""
    stored = raw_values(frame, schema.raw(schema.created_column))
    if not pd.api.types.is_datetime64_any_dtype(stored):  # the scoring read parsed them already
        stored = pd.to_datetime(stored, format="ISO8601")
    return wall_times(pd.DatetimeIndex(stored))


def feature_values(frame: pd.DataFrame, schema: LeadSchema, feature: Feature) -> np.ndarray:
    """One feature's readable values: texts for categories and text lookups, floats otherwise."""
    if feature.type == "category":
        return text_values(frame, schema, schema.raw(feature.sources[0]))
    if feature.type == "lookup":
        return lookup_values(feature, raw_values(frame, schema.raw(feature.sources[0])))
    if feature.type in ("number", "flag"):
        return number_values(frame, schema, schema.raw(feature.sources[0]))
    if feature.type == "sum":
        return sum_values(frame, schema, feature)
    stamps = created_times(frame, schema)
    return (stamps.hour if feature.type == "hour" else stamps.weekday).to_numpy("float64")


# ---------------------------------------------------------------- levels and codes


def learn_significant_levels(values: pd.Series, coverage: float = 0.9, max_levels: int | None = None) -> tuple[str, ...]:
    """Most frequent levels that together cover `coverage` of rows (the course's rule), at most max_levels."""
    shares = pd.Series(values, dtype=object).astype("string").fillna(OTHERS).value_counts(normalize=True)
    cumulative = shares.cumsum().to_numpy()
    keep = int(np.searchsorted(cumulative, coverage) + 1)
    levels = tuple(str(level) for level in shares.index[:keep] if level != OTHERS)
    return levels[:max_levels] if max_levels else levels


def fixed_levels(feature: Feature) -> tuple[str, ...]:
    """A text lookup's levels: its values, then its default (known from the schema, nothing to learn)."""
    return tuple(dict.fromkeys([*feature.lookup.values(), *([feature.default] if feature.default else [])]))


def learn_levels(frame: pd.DataFrame, schema: LeadSchema, keys: list[str]) -> dict[str, tuple[str, ...]]:
    """Levels of every categorical feature among `keys`: learned for categories, fixed for text lookups."""
    levels = {}
    for feature in schema.features:
        if feature.key not in keys or not feature.categorical:
            continue
        if feature.type == "lookup":
            levels[feature.key] = fixed_levels(feature)
        else:
            values = pd.Series(feature_values(frame, schema, feature), dtype=object)
            levels[feature.key] = learn_significant_levels(values, feature.fold, feature.max_levels)
    return levels


def fold_rare_levels(values: pd.Series, significant: tuple[str, ...] | list[str]) -> pd.Series:
    """Keep the significant levels, everything else (unseen and missing too) becomes 'others'."""
    text = values.astype("string")
    return text.where(text.isin(list(significant)), OTHERS).astype(object)


def level_codes(values, levels: tuple[str, ...]) -> np.ndarray:
    """Integer code of each value among `levels`; unseen and missing values get the 'others' code (len(levels))."""
    indexer = pd.Index(list(levels), dtype=object).get_indexer(pd.Series(values, dtype=object))
    return np.where(indexer < 0, len(levels), indexer).astype("int32")


def level_names(codes: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    """The level string of each code (the last code is 'others')."""
    return np.array([*levels, OTHERS], dtype=object)[np.asarray(codes, dtype="int64")]


# ---------------------------------------------------------------- the model matrix


def model_feature_frame(frame: pd.DataFrame, schema: LeadSchema, levels: dict[str, tuple[str, ...]],
                        keys: list[str]) -> pd.DataFrame:
    """The model matrix: categoricals as level codes, everything else as floats, one column per key."""
    by_key = {f.key: f for f in schema.features}
    columns = {}
    for key in keys:
        feature = by_key[key]
        if feature.type == "category":
            columns[key] = category_codes(frame, schema, feature, levels[key])
        elif key in levels:
            columns[key] = level_codes(feature_values(frame, schema, feature), levels[key])
        else:
            columns[key] = feature_values(frame, schema, feature)
    return pd.DataFrame(columns, index=frame.index)


def category_codes(frame: pd.DataFrame, schema: LeadSchema, feature: Feature, levels: tuple[str, ...]) -> np.ndarray:
    """Level codes of a category column in one pass over the rows (the code is found once per distinct value)."""
    codes, texts = _text_uniques(raw_values(frame, schema.raw(feature.sources[0])), schema)
    position = {level: i for i, level in enumerate(levels)}
    table = np.array([position.get(t, len(levels)) for t in texts] + [len(levels)], dtype="int32")
    return table[codes]


def readable_feature_frame(matrix: pd.DataFrame, levels: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """The model matrix with categoricals as level strings, for reasons and drift reports."""
    out = matrix.copy()
    for key, names in levels.items():
        if key in out.columns:
            out[key] = level_names(out[key].to_numpy(), names)
    return out


# ---------------------------------------------------------------- the course's table-wise steps


def map_lookups(frame: pd.DataFrame, schema: LeadSchema) -> pd.DataFrame:
    """Replace each lookup's source column by the looked-up feature (last), as the course's city tier step."""
    out = frame.copy()
    for feature in schema.features:
        if feature.type == "lookup" and schema.raw(feature.sources[0]).db_name in out.columns:
            column = schema.raw(feature.sources[0]).db_name
            out[feature.key] = lookup_values(feature, out[column])
            out = out.drop(columns=[column])
    return out


def map_categorical_levels(frame: pd.DataFrame, schema: LeadSchema,
                           levels: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Category levels outside `levels` (by feature key) -> 'others', then duplicates dropped (the course's step)."""
    out = frame.copy()
    for feature in schema.features:
        if feature.type == "category" and feature.key in levels:
            column = schema.raw(feature.sources[0]).db_name
            out[column] = fold_rare_levels(out[column], levels[feature.key])
    return out.drop_duplicates()


def map_sums(frame: pd.DataFrame, schema: LeadSchema) -> pd.DataFrame:
    """Sum members -> their sums next to the other features' columns, the created column and the label."""
    kept = [schema.raw(schema.created_column).db_name] if schema.created_column else []
    for feature in schema.features:
        if feature.type == "lookup":
            kept.append(feature.key)
        elif feature.type in ("category", "number", "flag"):
            kept.append(schema.raw(feature.sources[0]).db_name)
    kept.append(schema.label.db_name)
    out = frame[[c for c in dict.fromkeys(kept) if c in frame.columns]].copy()
    sums = {f.key: sum_values(frame, schema, f).astype("int64") for f in schema.features if f.type == "sum"}
    return pd.concat([out, pd.DataFrame(sums, index=frame.index)], axis=1)


# ---------------------------------------------------------------- reading the inputs from `leads`


def quoted(name: str) -> str:
    """A column name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def input_select_items(schema: LeadSchema, alias: str = "l") -> list[str]:
    """SELECT items for the raw columns the model reads (alias.db_name), each sum added up in SQL under its key."""
    items: list[str] = []
    for feature in schema.features:
        if feature.type == "sum":
            members = " + ".join(f"COALESCE({alias}.{quoted(schema.raw(c).db_name)}, 0)" for c in feature.sources)
            items.append(f"{members} AS {quoted(feature.key)}")
        elif feature.type not in TIME_TYPES:
            items.append(f"{alias}.{quoted(schema.raw(feature.sources[0]).db_name)}")
    for name in (schema.created_column, schema.order_column):
        if name is not None:
            items.append(f"{alias}.{quoted(schema.raw(name).db_name)}")
    return list(dict.fromkeys(items))
