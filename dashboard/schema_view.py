"""What the pages need from the lead schema, as plain hashable values: column keys, labels and outcome words.

The dashboard learns the schema from the database it reads (table `schema_info`), so every column name
and label a page shows comes from there, never from code. Values here are cache keys and SQL identifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.lead_schema import LeadSchema

CHOICE_TYPES = ("category", "lookup", "flag")  # filtered by picking values; the other types by a range
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class ListColumn:
    """A feature copied into lead_scores (a channel or a list column): its column, label and how it filters."""

    key: str  # the lead_scores column (feature.key)
    label: str
    type: str  # the feature type
    numeric: bool

    @property
    def choice(self) -> bool:
        """Filtered by picking values (else by a range of numbers)."""
        return self.type in CHOICE_TYPES

    def shown(self, value: object) -> str:
        """A stored value as a person reads it: flags as yes/no, whole numbers without '.0'."""
        if value is None or (isinstance(value, float) and value != value):
            return "(empty)"
        if self.type == "flag":
            return {1.0: "yes", 0.0: "no"}.get(float(value), f"{value:g}")
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


@dataclass(frozen=True)
class SchemaView:
    """The lead schema as the pages read it (see the module docstring)."""

    name: str
    has_time: bool
    channels: tuple[ListColumn, ...]
    extras: tuple[ListColumn, ...]  # list columns that are not channels
    raw_columns: tuple[tuple[str, str], ...]  # (name in the file, column in `leads`)
    label_column: str
    label_db: str
    positive: tuple[str, ...]
    negative: tuple[str, ...] | None
    feature_labels: tuple[tuple[str, str], ...]  # feature key or name -> label

    @property
    def copied(self) -> tuple[ListColumn, ...]:
        """Every schema column of the lead list, channels first."""
        return self.channels + self.extras

    def column(self, key: str) -> ListColumn:
        """The copied column stored under `key`."""
        return next(c for c in self.copied if c.key == key)

    def label_of(self, name: str) -> str:
        """A feature's label when `name` is one of its keys or names, else the name itself."""
        return dict(self.feature_labels).get(str(name), str(name))

    @property
    def time_word(self) -> str:
        """'Created' when leads carry their creation time, else 'Ingested' (time widgets use the ingest time)."""
        return "Created" if self.has_time else "Ingested"

    @property
    def time_note(self) -> str | None:
        """What a page says when its dates are ingest dates."""
        return None if self.has_time else "Dates are ingest dates: this schema has no creation time."

    def outcome_words(self) -> tuple[str, str]:
        """How a failed and a successful outcome read: ('not Enrolled', 'Enrolled'), or for 0/1 labels
        ('not converted', 'converted')."""
        positive = self.positive[0]
        if _NUMBER.match(positive):
            return "not converted", "converted"
        negative = self.negative[0] if self.negative and not _NUMBER.match(self.negative[0]) else f"not {positive}"
        return negative, positive

    @property
    def outcome_rule(self) -> str:
        """The label rule in words, e.g. 'Outcome is Enrolled'."""
        return f"{self.label_column} is {' or '.join(self.positive)}"


def view_of(schema: LeadSchema) -> SchemaView:
    """The pages' view of a lead schema."""
    def column(name: str) -> ListColumn:
        feature = schema.feature(name)
        return ListColumn(key=feature.key, label=feature.label, type=feature.type, numeric=feature.numeric)

    labels = [(f.key, f.label) for f in schema.features] + [(f.name, f.label) for f in schema.features]
    return SchemaView(
        name=schema.name, has_time=schema.has_time,
        channels=tuple(column(n) for n in schema.channels),
        extras=tuple(column(n) for n in schema.list_columns if n not in schema.channels),
        raw_columns=tuple((c.name, c.db_name) for c in schema.raw_columns),
        label_column=schema.label.column, label_db=schema.label.db_name, positive=schema.label.positive,
        negative=schema.label.negative, feature_labels=tuple(dict(labels).items()))
