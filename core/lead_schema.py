"""The lead schema: one YAML file declares what a company's lead file looks like and how to learn from it.

Everything downstream derives from a `LeadSchema`: the validation rules and reason texts of rejected rows,
the stored columns, the model features, the reasons' phrases, the drift columns, the lead list and the
Channels page, and the business bars. `LEADSCORE_SCHEMA=path` selects a file; without it the built-in
CodePro schema (`schemas/codepro.yaml`) applies. A bad file is refused before anything runs, with one
line naming the key and the problem.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from core.errors import BadInputError

BUILTIN_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "codepro.yaml"
FEATURE_TYPES = ("category", "number", "flag", "lookup", "sum", "hour", "weekday")
TOP_LEVEL_KEYS = ("name", "id", "created", "order", "label", "na_values", "layout", "features", "leakage",
                  "ignore", "channels", "list_columns", "bars")
FEATURE_KEYS: dict[str, tuple[str, ...]] = {
    "category": ("required", "fold", "max_levels"),
    "number": ("min", "max", "fill", "required"),
    "flag": ("yes", "no", "fill", "required"),
    "lookup": ("source", "values", "default"),
    "sum": ("columns", "min", "max"),
    "hour": ("source",),
    "weekday": ("source",),
}
COMMON_FEATURE_KEYS = ("type", "label", "reason", "reason_zero", "reason_yes", "reason_no", "reason_rare")
DEFAULT_BARS = {"auc": 0.75, "precision": 0.65, "recall": 0.75}
DEFAULT_NA_VALUES = ("",)
DEFAULT_FOLD = 0.95
DEFAULT_MAX_LEVELS = 30
OTHERS = "others"
# columns the product adds to `leads` and `lead_scores`: a schema column never takes these names
LEADS_RESERVED = frozenset({"lead_id", "batch_id", "row_number", "label_batch_id", "label_recorded_at"})
SCORES_RESERVED = frozenset({
    "lead_id", "run_id", "model_version", "score", "grade", "rank", "predicted", "previous_score", "trend",
    "reasons_positive", "reasons_negative", "is_current", "created_date", "scored_at",
})
PART_OF_DAY = ((0, 6, "at night"), (6, 12, "in the morning"), (12, 18, "in the afternoon"), (18, 24, "in the evening"))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SAFE_NAME = re.compile(r"^[a-z0-9_]{1,60}$")


class SchemaError(BadInputError):
    """A schema file that cannot be used; the message is one line naming the file, the key and the problem."""


@dataclass(frozen=True)
class RawColumn:
    """One column of the lead file as stored in `leads` (db_name) and validated on ingest.

    kind: "text" (categories, lookup sources, ignored and leakage columns), "number", "flag" (0/1 after
    reading the yes/no values) or "datetime" (the created column)."""

    name: str
    kind: str
    db_name: str
    role: str  # "feature", "created", "order", "leakage" or "ignore"
    required: bool = False  # an empty value rejects the row
    minimum: float | None = None
    maximum: float | None = None
    fill: float | None = None  # the value of an empty number or flag (None: stays missing)
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()

    @property
    def in_file(self) -> bool:
        """A file must have this column (leakage and ignored columns are kept when present)."""
        return self.role in ("feature", "created", "order")


@dataclass(frozen=True)
class Feature:
    """One model feature: a raw column used as is, or derived from raw columns (lookup, sum, hour, weekday)."""

    name: str  # the key in the schema's `features`
    type: str
    key: str  # a safe identifier: the model matrix column and the `lead_scores` column of a channel
    sources: tuple[str, ...]  # raw columns it reads
    label: str
    reason: str | None = None
    reason_zero: str | None = None
    reason_yes: str | None = None
    reason_no: str | None = None
    reason_rare: str | None = None
    fold: float | None = None  # category: levels covering this share of rows are kept, the rest -> others
    max_levels: int = DEFAULT_MAX_LEVELS
    lookup: dict[str, str] = field(default_factory=dict)  # normalised key (stripped, lower case) -> value
    default: str | None = None

    @property
    def numeric(self) -> bool:
        """The feature's values are numbers (else level strings encoded as categories)."""
        if self.type == "category":
            return False
        if self.type == "lookup":
            return all(_is_number(v) for v in [*self.lookup.values(), self.default] if v is not None)
        return True

    @property
    def categorical(self) -> bool:
        """LightGBM treats it as a categorical feature (level codes)."""
        return not self.numeric

    def describe(self, value) -> str:
        """The feature's value in words a sales rep reads."""
        if self.type == "hour":
            hour = int(_as_number(value)) % 24
            return "enquired " + next(t for lo, hi, t in PART_OF_DAY if lo <= hour < hi) + f" ({hour:02d}h)"
        if self.type == "weekday":
            return f"enquired on a {WEEKDAYS[int(_as_number(value)) % 7]}"
        if self.type == "flag":
            return self._describe_flag(value)
        if self.categorical and str(value) == OTHERS and self.reason_rare:
            return self.reason_rare
        if self.numeric and self.reason_zero and _as_number(value) == 0:
            return self.reason_zero
        return (self.reason or "{label} is {value}").format(label=self.label, value=_shown(value),
                                                           s=_plural(value))

    def _describe_flag(self, value) -> str:
        number = _as_number(value)
        if number == 1 and self.reason_yes:
            return self.reason_yes
        if number == 0 and self.reason_no:
            return self.reason_no
        return f"{self.label}: {'yes' if number == 1 else 'no'}"


@dataclass(frozen=True)
class Label:
    """The outcome column: `positive` values mean success; with `negative` given, other values are rejected."""

    column: str
    db_name: str
    positive: tuple[str, ...]
    negative: tuple[str, ...] | None = None

    def allowed(self) -> str:
        """The accepted values, for reason texts."""
        values = [*(self.negative or ()), *self.positive]
        return " or ".join(values)


@dataclass(frozen=True)
class LeadSchema:
    """A company's lead file and how the platform learns from it (see the module docstring)."""

    name: str
    id_column: str | None
    created_column: str | None
    order_column: str | None
    label: Label
    na_values: tuple[str, ...]
    raw_columns: tuple[RawColumn, ...]  # in the file's order (the content hash reads them so)
    features: tuple[Feature, ...]
    leakage: tuple[str, ...]
    ignore: tuple[str, ...]
    channels: tuple[str, ...]  # feature names the Channels page breaks down by (copied into lead_scores)
    list_columns: tuple[str, ...]  # further feature names shown and filtered in the lead list
    bars: dict[str, float]
    source_text: str  # the YAML as written: travels with every model
    origin: str = "<text>"
    layout: tuple[str, ...] = ()  # the `layout` key as written (may place the id and label columns)

    def raw(self, name: str) -> RawColumn:
        """The raw column called `name`."""
        return next(c for c in self.raw_columns if c.name == name)

    def feature(self, name: str) -> Feature:
        """The feature called `name`."""
        return next(f for f in self.features if f.name == name)

    def file_columns(self) -> list[str]:
        """Columns every lead file must have."""
        return [c.name for c in self.raw_columns if c.in_file]

    def file_layout(self) -> list[str]:
        """The columns of a complete labelled file in order: the layout's, else the id, the raw columns, the label."""
        columns = list(self.layout) or [c.name for c in self.raw_columns]
        columns += [c.name for c in self.raw_columns if c.name not in columns]
        if self.id_column and self.id_column not in columns:
            columns.insert(0, self.id_column)
        if self.label.column not in columns:
            columns.append(self.label.column)
        return columns

    def stored_columns(self) -> list[RawColumn]:
        """The raw columns stored per lead, in order."""
        return list(self.raw_columns)

    def score_copy_features(self) -> list[Feature]:
        """Features copied into lead_scores so the lead list and channel pages read one table."""
        names = list(dict.fromkeys([*self.channels, *self.list_columns]))
        return [self.feature(n) for n in names]

    def feature_keys(self) -> list[str]:
        """The model matrix columns, in order."""
        return [f.key for f in self.features]

    def categorical_keys(self) -> list[str]:
        """Model matrix columns LightGBM treats as categories."""
        return [f.key for f in self.features if f.categorical]

    @property
    def fingerprint(self) -> str:
        """What the stored tables depend on; a database records it and refuses another schema's data."""
        shape = {"id": self.id_column, "label": [self.label.column, self.label.db_name],
                 "columns": [[c.name, c.db_name, c.kind] for c in self.raw_columns],
                 "copied": [[f.key, f.numeric] for f in self.score_copy_features()]}
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def has_time(self) -> bool:
        """True when leads carry their own creation time (else time widgets use the ingest time)."""
        return self.created_column is not None


# ---------------------------------------------------------------- loading


def load_schema(path: Path | str | None = None) -> LeadSchema:
    """The schema at `path` (LEADSCORE_SCHEMA), else the built-in CodePro schema."""
    target = Path(path) if path else BUILTIN_SCHEMA
    return _load_cached(str(target.resolve()), target.stat().st_mtime_ns if target.exists() else 0)


@cache
def _load_cached(path: str, _mtime: int) -> LeadSchema:
    target = Path(path)
    if not target.is_file():
        raise SchemaError(f"schema {target}: file not found")
    try:
        text = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SchemaError(f"schema {target.name}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
                          f"position {error.start}): save it as UTF-8") from error
    except OSError as error:
        raise SchemaError(f"schema {target.name}: cannot be read ({error.strerror or type(error).__name__})") from error
    return parse_schema(text, origin=target.name)


def parse_schema(text: str, origin: str = "<text>") -> LeadSchema:
    """Build a LeadSchema from YAML text, or raise SchemaError with one line."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SchemaError(f"schema {origin}: not valid YAML{where} ({problem})") from error
    return _Builder(origin).build(document, text)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (not: the last one wins)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


class _Builder:
    """Reads the YAML document key by key; every problem is one line naming the key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, problem: str) -> SchemaError:
        return SchemaError(f"schema {self.origin}: {key}: {problem}")

    def build(self, doc, text: str) -> LeadSchema:
        if doc is None:
            raise SchemaError(f"schema {self.origin}: is empty (expected keys name, label, features, ...)")
        if not isinstance(doc, dict):
            raise SchemaError(f"schema {self.origin}: must be a mapping of keys (name, label, features, ...), "
                              f"not a {_yaml_kind(doc)}")
        self._check_keys(doc, TOP_LEVEL_KEYS, "top level")
        name = self._text(doc, "name", required=True)
        id_column = self._text(doc, "id")
        created = self._text(doc, "created")
        order = self._text(doc, "order")
        label_doc = doc.get("label")
        if label_doc is None:
            raise self.fail("label", "required: a mapping with `column` and `positive`")
        if not isinstance(label_doc, dict):
            raise self.fail("label", f"must be a mapping with `column` and `positive`, not a {_yaml_kind(label_doc)}")
        features = self._features(doc.get("features"), created)
        leakage = self._names(doc, "leakage")
        ignore = self._names(doc, "ignore")
        sources = self._feature_sources(features)
        self._check_roles(id_column, created, order, label_doc, sources, leakage, ignore)
        raw_kinds = self._raw_kinds(doc, features, created, order, leakage, ignore)
        layout = self._layout(doc, raw_kinds, id_column, str(label_doc["column"]))
        raw_columns = self._raw_columns(layout, raw_kinds)
        label = self._label(label_doc, {c.db_name for c in raw_columns})
        channels = self._feature_list(doc, "channels", features, allow=("category", "lookup"))
        list_columns = self._feature_list(doc, "list_columns", features, allow=FEATURE_TYPES)
        return LeadSchema(
            name=name, id_column=id_column, created_column=created, order_column=order, label=label,
            na_values=self._na_values(doc), raw_columns=raw_columns, features=tuple(features.values()),
            leakage=tuple(leakage), ignore=tuple(ignore), channels=channels, list_columns=list_columns,
            bars=self._bars(doc.get("bars")), source_text=text, origin=self.origin, layout=tuple(layout))

    # -- generic readers

    def _check_keys(self, mapping: dict, allowed: tuple[str, ...], where: str) -> None:
        for key in mapping:
            if isinstance(key, bool):
                raise self.fail(where, f"key {key} is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                       "quote it (\"yes\", \"No\")")
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where != "top level" else str(key),
                                f"unknown key (expected one of {', '.join(allowed)})")

    def _text(self, doc: dict, key: str, required: bool = False) -> str | None:
        value = doc.get(key)
        if value is None:
            if required:
                raise self.fail(key, "required")
            return None
        if isinstance(value, bool):
            raise self.fail(key, f"is the YAML boolean {value}: quote the text")
        if not isinstance(value, str | int | float) or str(value).strip() == "":
            raise self.fail(key, "must be text" if key == "name" else "must be a column name (text)")
        return str(value)

    def _names(self, doc: dict, key: str) -> list[str]:
        value = doc.get(key) or []
        booleans = [v for v in value if isinstance(v, bool)] if isinstance(value, list) else []
        if booleans:
            raise self.fail(key, f"{booleans[0]} is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                 "quote the column name")
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(key, "must be a list of column names")
        names = [str(v) for v in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise self.fail(key, f"lists {repeated[0]!r} twice")
        return names

    def _values(self, value, key: str) -> tuple[str, ...]:
        if value is None:
            raise self.fail(key, "required: a list of values")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list of values")
        for item in value:
            if isinstance(item, bool):
                raise self.fail(key, f"{item} is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                     "quote the values (\"Yes\", \"No\")")
            if not isinstance(item, str | int | float):
                raise self.fail(key, "must be a list of texts or numbers")
        return tuple(_canonical(item) for item in value)

    def _number(self, value, key: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self.fail(key, f"must be a number, got {value!r}")
        return float(value)

    # -- features

    def _features(self, doc, created: str | None) -> dict[str, Feature]:
        if doc is None or doc == {}:
            raise self.fail("features", "required: a mapping of column name -> settings")
        if not isinstance(doc, dict):
            raise self.fail("features", f"must be a mapping of column name -> settings, not a {_yaml_kind(doc)}")
        features: dict[str, Feature] = {}
        keys: set[str] = set()
        for name, settings in doc.items():
            if isinstance(name, bool):
                raise self.fail("features", f"key {name} is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                            "quote the column name")
            if name is None or str(name).strip() == "":
                raise self.fail("features", "a column name is empty (an unquoted ~ or null is read as empty)")
            feature = self._feature(str(name), settings, created)
            feature = _with_key(feature, _unique_key(feature.name, keys, frozenset()))
            keys.add(feature.key)
            features[feature.name] = feature
        return features

    def _feature(self, name: str, settings, created: str | None) -> Feature:
        where = f"features.{name}"
        settings = {"type": "category"} if settings is None else settings
        if not isinstance(settings, dict):
            raise self.fail(where, "must be a mapping of settings (type: category|number|flag|...)")
        kind = settings.get("type")
        if kind is None:
            raise self.fail(f"{where}.type", f"required (one of {', '.join(FEATURE_TYPES)})")
        if kind not in FEATURE_TYPES:
            raise self.fail(f"{where}.type", f"unknown type {kind!r} (expected one of {', '.join(FEATURE_TYPES)})")
        self._check_keys(settings, (*COMMON_FEATURE_KEYS, *FEATURE_KEYS[kind]), where)
        if not isinstance(settings.get("required", False), bool):
            raise self.fail(f"{where}.required", f"must be true or false, got {settings['required']!r}")
        texts = {k: self._phrase(settings.get(k), f"{where}.{k}") for k in COMMON_FEATURE_KEYS[2:]}
        label = self._phrase(settings.get("label"), f"{where}.label") or _human(name)
        common = {"name": name, "type": kind, "key": name, "label": label, **texts}
        return getattr(self, f"_feature_{kind}")(where, settings, common, created)

    def _phrase(self, value, key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, "must be text")
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:
            raise self.fail(key, f"unbalanced braces in {value!r} ({error}; write {{{{ and }}}} for a brace)") from error
        unknown = [name for name in fields if name not in ("label", "value", "s")]
        if unknown:
            raise self.fail(key, f"unknown placeholder {{{unknown[0]}}} in {value!r} (use {{value}}, {{label}}, {{s}})")
        try:
            value.format(label="x", value="x", s="")
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            raise self.fail(key, f"bad placeholder in {value!r} ({error})") from error
        return value

    def _feature_category(self, where, settings, common, _created) -> Feature:
        fold = self._number(settings.get("fold"), f"{where}.fold")
        if fold is not None and not 0 < fold <= 1:
            raise self.fail(f"{where}.fold", f"must be a share of rows in (0, 1], got {fold}")
        max_levels = settings.get("max_levels", DEFAULT_MAX_LEVELS)
        if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 1:
            raise self.fail(f"{where}.max_levels", f"must be a positive whole number, got {max_levels!r}")
        return Feature(**common, sources=(common["name"],), fold=fold if fold is not None else DEFAULT_FOLD,
                       max_levels=max_levels)

    def _feature_number(self, where, settings, common, _created) -> Feature:
        self._bounds(where, settings)
        return Feature(**common, sources=(common["name"],))

    def _feature_flag(self, where, settings, common, _created) -> Feature:
        yes = self._values(settings.get("yes"), f"{where}.yes")
        no = self._values(settings.get("no"), f"{where}.no")
        both = sorted(set(yes) & set(no))
        if both:
            raise self.fail(where, f"{both[0]!r} is in both yes and no")
        return Feature(**common, sources=(common["name"],))

    def _feature_lookup(self, where, settings, common, _created) -> Feature:
        source = self._text(settings, "source") if "source" in settings else None
        if source is None:
            raise self.fail(f"{where}.source", "required: the raw column the lookup reads")
        groups = settings.get("values")
        if not isinstance(groups, dict) or not groups:
            raise self.fail(f"{where}.values", "required: a mapping of value -> list of source values")
        lookup: dict[str, str] = {}
        for value, keys in groups.items():
            if isinstance(value, bool):
                raise self.fail(f"{where}.values", f"key {value} is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                                   "quote it")
            for key in self._values(keys, f"{where}.values.{value}"):
                normal = key.strip().lower()
                if normal in lookup and lookup[normal] != _canonical(value):
                    raise self.fail(f"{where}.values", f"{key!r} is listed under both {lookup[normal]} and {value}")
                lookup[normal] = _canonical(value)
        default = settings.get("default")
        if isinstance(default, bool) or not isinstance(default, str | int | float | None):
            raise self.fail(f"{where}.default", f"must be a text or number (quote \"Yes\"/\"No\"), got {default!r}")
        return Feature(**common, sources=(source,), lookup=lookup,
                       default=None if default is None else _canonical(default))

    def _feature_sum(self, where, settings, common, _created) -> Feature:
        columns = settings.get("columns")
        if columns is None:
            raise self.fail(f"{where}.columns", "required: the list of number columns to add up")
        if not isinstance(columns, list) or not columns or any(isinstance(c, bool | dict | list) for c in columns):
            raise self.fail(f"{where}.columns", "must be a non-empty list of column names")
        names = tuple(str(c) for c in columns)
        self._bounds(where, settings)
        return Feature(**common, sources=names)

    def _feature_hour(self, where, settings, common, created) -> Feature:
        if not created:
            article = "an" if common["type"] == "hour" else "a"
            raise self.fail(where, f"{article} {common['type']} feature needs the top-level `created` column (none declared)")
        source = str(settings.get("source") or created)
        if source != created:
            raise self.fail(f"{where}.source", f"must be the schema's `created` column {created!r}, got {source!r}")
        return Feature(**common, sources=(source,))

    _feature_weekday = _feature_hour

    def _bounds(self, where: str, settings: dict) -> None:
        low = self._number(settings.get("min"), f"{where}.min")
        high = self._number(settings.get("max"), f"{where}.max")
        if low is not None and high is not None and low > high:
            raise self.fail(where, f"min {low:g} is above max {high:g}")
        self._number(settings.get("fill"), f"{where}.fill")

    @staticmethod
    def _feature_sources(features: dict[str, Feature]) -> dict[str, str]:
        """Raw column -> the feature that reads it."""
        sources: dict[str, str] = {}
        for feature in features.values():
            if feature.type in ("hour", "weekday"):
                continue
            for column in feature.sources:
                sources.setdefault(column, feature.name)
        return sources

    def _check_roles(self, id_column, created, order, label_doc, sources, leakage, ignore) -> None:
        label_column = label_doc.get("column")
        if isinstance(label_column, bool):
            raise self.fail("label.column", f"is the YAML boolean {label_column}: quote the text")
        if label_column is not None and not isinstance(label_column, str | int | float):
            raise self.fail("label.column", "must be a column name (text)")
        if label_column is None or str(label_column).strip() == "":
            raise self.fail("label.column", "required: the outcome column")
        roles: dict[str, str] = {}
        entries = [(id_column, "id"), (created, "created"), (order, "order"), (str(label_column), "label"),
                   *((c, f"features.{f}") for c, f in sources.items()), *((c, "leakage") for c in leakage),
                   *((c, "ignore") for c in ignore)]
        for column, role in entries:
            if column is None:
                continue
            if column in roles:
                raise self.fail(role, f"column {column!r} is also in {roles[column]} (a column has one role)")
            roles[column] = role

    def _raw_kinds(self, doc, features, created, order, leakage, ignore) -> dict[str, dict]:
        """Every stored raw column with its kind and rules, from the features that read it."""
        kinds: dict[str, dict] = {}
        if created:
            kinds[created] = {"kind": "datetime", "role": "created", "required": True}
        if order:
            kinds[order] = {"kind": "number", "role": "order", "required": True}
        for feature in features.values():
            settings = doc["features"][feature.name] or {}
            for column, spec in self._raw_of_feature(feature, settings).items():
                kinds.setdefault(column, spec)
        for column in leakage:
            kinds.setdefault(column, {"kind": "text", "role": "leakage"})
        for column in ignore:
            kinds.setdefault(column, {"kind": "text", "role": "ignore"})
        return kinds

    def _raw_of_feature(self, feature: Feature, settings: dict) -> dict[str, dict]:
        bounds = {"minimum": self._number(settings.get("min"), "min"),
                  "maximum": self._number(settings.get("max"), "max")}
        required = bool(settings.get("required", False))
        if feature.type == "category":
            return {feature.name: {"kind": "text", "role": "feature", "required": required}}
        if feature.type == "lookup":
            return {feature.sources[0]: {"kind": "text", "role": "feature"}}
        if feature.type == "number":
            return {feature.name: {"kind": "number", "role": "feature", "required": required,
                                   "fill": self._number(settings.get("fill"), "fill"), **bounds}}
        if feature.type == "flag":
            return {feature.name: {"kind": "flag", "role": "feature", "required": required,
                                   "fill": self._number(settings.get("fill"), "fill"),
                                   "yes": self._values(settings["yes"], "yes"), "no": self._values(settings["no"], "no")}}
        if feature.type == "sum":
            # an empty source stays empty in `leads` (as received); the sum counts it as 0
            return {c: {"kind": "number", "role": "feature", **bounds} for c in feature.sources}
        return {}

    def _layout(self, doc, kinds: dict[str, dict], id_column: str | None, label_column: str) -> list[str]:
        """The `layout` key: declared columns in the file's order; it may also place the id and label columns."""
        layout = self._names(doc, "layout") if doc.get("layout") is not None else []
        unknown = [c for c in layout if c not in kinds and c not in (id_column, label_column)]
        if unknown:
            raise self.fail("layout", f"column {unknown[0]!r} is not declared (features, created, leakage or ignore)")
        return layout

    def _raw_columns(self, layout: list[str], kinds: dict[str, dict]) -> tuple[RawColumn, ...]:
        ordered = [*(c for c in layout if c in kinds), *(c for c in kinds if c not in layout)]
        taken: set[str] = set()
        columns = []
        for name in ordered:
            db_name = _unique_key(name, taken, LEADS_RESERVED)
            taken.add(db_name)
            columns.append(RawColumn(name=name, db_name=db_name, **kinds[name]))
        return tuple(columns)

    def _label(self, doc: dict, taken: set[str]) -> Label:
        self._check_keys(doc, ("column", "positive", "negative"), "label")
        column = str(doc["column"])
        positive = self._values(doc.get("positive"), "label.positive")
        negative = self._values(doc["negative"], "label.negative") if doc.get("negative") is not None else None
        both = sorted(set(positive) & set(negative or ()))
        if both:
            raise self.fail("label", f"{both[0]!r} is in both positive and negative")
        return Label(column=column, db_name=_unique_key(column, taken, LEADS_RESERVED), positive=positive,
                     negative=negative)

    def _feature_list(self, doc, key: str, features: dict[str, Feature], allow: tuple[str, ...]) -> tuple[str, ...]:
        names = self._names(doc, key)
        for name in names:
            if name not in features:
                raise self.fail(key, f"{name!r} is not a feature")
            if features[name].type not in allow:
                raise self.fail(key, f"{name!r} is a {features[name].type} feature (allowed: {', '.join(allow)})")
        return tuple(names)

    def _na_values(self, doc) -> tuple[str, ...]:
        if doc.get("na_values") is None:
            return DEFAULT_NA_VALUES
        return tuple(dict.fromkeys(["", *self._values(doc["na_values"], "na_values")]))

    def _bars(self, doc) -> dict[str, float]:
        if doc is None:
            return dict(DEFAULT_BARS)
        if not isinstance(doc, dict):
            raise self.fail("bars", "must be a mapping like {auc: 0.75, precision: 0.65, recall: 0.75}")
        self._check_keys(doc, tuple(DEFAULT_BARS), "bars")
        bars = dict(DEFAULT_BARS)
        for key, value in doc.items():
            number = self._number(value, f"bars.{key}")
            if not 0 <= number < 1:
                raise self.fail(f"bars.{key}", f"must lie in [0, 1), got {number:g}")
            bars[key] = number
        return bars


# ---------------------------------------------------------------- helpers


def _unique_key(name: str, taken: set[str], reserved: frozenset[str]) -> str:
    """A safe SQL / LightGBM identifier for a column name: the name itself when it is one, else a slug."""
    base = name if _SAFE_NAME.match(name) else (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:55] or "column")
    candidate, n = base, 2
    while candidate in taken or candidate in reserved:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _with_key(feature: Feature, key: str) -> Feature:
    return Feature(**{**feature.__dict__, "key": key})


def _canonical(value) -> str:
    """A YAML scalar as the text a file holds: 1 -> "1", 1.5 -> "1.5", "Yes" -> "Yes"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _yaml_kind(value) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}.get(type(value), "value")


def _human(name: str) -> str:
    words = re.sub(r"[_\s]+", " ", name).strip()
    return words[:1].upper() + words[1:]


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _as_number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _shown(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _plural(value) -> str:
    return "" if _is_number(value) and float(value) == 1 else "s"
