"""The lead schema file: every class of bad file is refused with one line naming the key; the shipped schemas load."""

from __future__ import annotations

import csv

import pytest

from core.errors import BadInputError
from core.lead_schema import BUILTIN_SCHEMA, SchemaError, load_schema, parse_schema
from tests.paths import PROJECT_ROOT, SHARED_DATA

EXAMPLE_SCHEMA = PROJECT_ROOT / "schemas" / "example_crm.yaml"

# A small valid schema using every feature type; each bad case below changes one thing in it.
GOOD = """\
name: Probe
id: Lead ID
created: Created
label:
  column: Result
  positive: ["Won"]
features:
  Source: {type: category}
  Visits: {type: number, min: 0}
  Opted out: {type: flag, "yes": ["Yes"], "no": ["No"]}
  Market: {type: lookup, source: Country, values: {home: [India]}, default: abroad}
  Clicks: {type: sum, columns: [A clicks, B clicks]}
  Hour: {type: hour}
leakage: [Notes]
ignore: [City]
channels: [Source, Market]
"""


def _changed(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def _refusal(text: str) -> str:
    with pytest.raises(SchemaError) as caught:
        parse_schema(text, origin="probe.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("schema probe.yaml: ")
    return message.removeprefix("schema probe.yaml: ")


def test_given_the_probe_schema_then_it_loads():
    schema = parse_schema(GOOD)
    assert [f.type for f in schema.features] == ["category", "number", "flag", "lookup", "sum", "hour"]
    assert issubclass(SchemaError, BadInputError)


BAD_FILES = {
    "yaml syntax": ("name: [Probe\nlabel: {}\n",
                    "not valid YAML at line 2 (expected ',' or ']', but got ':')"),
    "tab indent": (GOOD.replace("  Source", "\tSource"),
                   "not valid YAML at line 8 (found character '\\t' that cannot start any token)"),
    "duplicate key": (GOOD + "features:\n  X: {type: category}\n", "not valid YAML at line 17 (key 'features' given twice)"),
    "empty": ("", "is empty (expected keys name, label, features, ...)"),
    "a list": ("- name\n- label\n", "must be a mapping of keys (name, label, features, ...), not a list"),
    "a text": ("just words", "must be a mapping of keys (name, label, features, ...), not a text"),
    "unknown top-level key": (GOOD + "colour: red\n", "colour: unknown key (expected one of name, id, created, order, "
                              "label, na_values, layout, features, leakage, ignore, channels, list_columns, bars)"),
    "missing name": (_changed("name: Probe\n", ""), "name: required"),
    "missing label": (_changed('label:\n  column: Result\n  positive: ["Won"]\n', ""),
                      "label: required: a mapping with `column` and `positive`"),
    "label as text": (_changed('label:\n  column: Result\n  positive: ["Won"]\n', "label: Result\n"),
                      "label: must be a mapping with `column` and `positive`, not a text"),
    "missing label.column": (_changed("  column: Result\n", ""), "label.column: required: the outcome column"),
    "missing label.positive": (_changed('  positive: ["Won"]\n', ""), "label.positive: required: a list of values"),
    "unknown label key": (_changed('  positive: ["Won"]\n', '  positive: ["Won"]\n  negatve: ["Lost"]\n'),
                          "label.negatve: unknown key (expected one of column, positive, negative)"),
    "missing features": (GOOD.split("features:")[0], "features: required: a mapping of column name -> settings"),
    "features as list": (GOOD.split("features:")[0] + "features: [Source, Visits]\n",
                         "features: must be a mapping of column name -> settings, not a list"),
    "unknown feature type": (_changed("Source: {type: category}", "Source: {type: text}"),
                             "features.Source.type: unknown type 'text' "
                             "(expected one of category, number, flag, lookup, sum, hour, weekday)"),
    "missing feature type": (_changed("Source: {type: category}", "Source: {fold: 0.9}"),
                             "features.Source.type: required (one of category, number, flag, lookup, sum, hour, weekday)"),
    "unknown feature setting": (_changed("{type: number, min: 0}", "{type: number, minimum: 0}"),
                                "features.Visits.minimum: unknown key (expected one of type, label, reason, reason_zero, "
                                "reason_yes, reason_no, reason_rare, min, max, fill, required)"),
    "settings not a mapping": (_changed("Source: {type: category}", "Source: [category]"),
                               "features.Source: must be a mapping of settings (type: category|number|flag|...)"),
    "feature and leakage": (_changed("leakage: [Notes]", "leakage: [Notes, Source]"),
                            "leakage: column 'Source' is also in features.Source (a column has one role)"),
    "feature and ignore": (_changed("ignore: [City]", "ignore: [City, Visits]"),
                           "ignore: column 'Visits' is also in features.Visits (a column has one role)"),
    "label used as feature": (_changed("Source: {type: category}", "Result: {type: category}").replace(
        "channels: [Source, Market]", "channels: [Market]"),
        "features.Result: column 'Result' is also in label (a column has one role)"),
    "id used as feature": (_changed("Source: {type: category}", "Lead ID: {type: category}").replace(
        "channels: [Source, Market]", "channels: [Market]"),
        "features.Lead ID: column 'Lead ID' is also in id (a column has one role)"),
    "created used as feature": (_changed("Source: {type: category}", "Created: {type: category}").replace(
        "channels: [Source, Market]", "channels: [Market]"),
        "features.Created: column 'Created' is also in created (a column has one role)"),
    "leakage and ignore": (_changed("ignore: [City]", "ignore: [City, Notes]"),
                           "ignore: column 'Notes' is also in leakage (a column has one role)"),
    "listed twice": (_changed("ignore: [City]", "ignore: [City, City]"), "ignore: lists 'City' twice"),
    "unquoted Yes value": (_changed('"yes": ["Yes"]', '"yes": [Yes]'),
                           'features.Opted out.yes: True is a YAML boolean (unquoted yes/no/true/false/on/off): '
                           'quote the values ("Yes", "No")'),
    "unquoted yes key": (_changed('"yes": ["Yes"]', 'yes: ["Yes"]'),
                         'features.Opted out: key True is a YAML boolean (unquoted yes/no/true/false/on/off): '
                         'quote it ("yes", "No")'),
    "unquoted positive": (_changed('positive: ["Won"]', "positive: [true]"),
                          'label.positive: True is a YAML boolean (unquoted yes/no/true/false/on/off): '
                          'quote the values ("Yes", "No")'),
    "unquoted na value": (GOOD + "na_values: [Select, No]\n",
                          'na_values: False is a YAML boolean (unquoted yes/no/true/false/on/off): '
                          'quote the values ("Yes", "No")'),
    "unquoted column name key": (_changed("Source: {type: category}", "On: {type: category}"),
                                 "features: key True is a YAML boolean (unquoted yes/no/true/false/on/off): "
                                 "quote the column name"),
    "unquoted label column": (_changed("column: Result", "column: yes"), "label.column: is the YAML boolean True: quote the text"),
    "unquoted name in a list": (_changed("ignore: [City]", "ignore: [City, Off]"),
                                "ignore: False is a YAML boolean (unquoted yes/no/true/false/on/off): quote the column name"),
    "unquoted id": (_changed("id: Lead ID", "id: yes"), "id: is the YAML boolean True: quote the text"),
    "unquoted lookup default": (_changed("default: abroad", "default: no"),
                                'features.Market.default: must be a text or number (quote "Yes"/"No"), got False'),
    "lookup without source": (_changed("source: Country, ", ""),
                              "features.Market.source: required: the raw column the lookup reads"),
    "lookup without values": (_changed("values: {home: [India]}, ", ""),
                              "features.Market.values: required: a mapping of value -> list of source values"),
    "flag without yes": (_changed('"yes": ["Yes"], ', ""), "features.Opted out.yes: required: a list of values"),
    "flag value in yes and no": (_changed('"no": ["No"]', '"no": ["No", "Yes"]'),
                                 "features.Opted out: 'Yes' is in both yes and no"),
    "sum without columns": (_changed("columns: [A clicks, B clicks]", "min: 0"),
                            "features.Clicks.columns: required: the list of number columns to add up"),
    "sum columns not a list": (_changed("columns: [A clicks, B clicks]", "columns: A clicks"),
                               "features.Clicks.columns: must be a non-empty list of column names"),
    "hour without created": (_changed("created: Created\n", ""),
                             "features.Hour: an hour feature needs the top-level `created` column (none declared)"),
    "weekday without created": (_changed("created: Created\n", "").replace("{type: hour}", "{type: weekday}"),
                                "features.Hour: a weekday feature needs the top-level `created` column (none declared)"),
    "hour of another column": (_changed("{type: hour}", "{type: hour, source: Visits}"),
                               "features.Hour.source: must be the schema's `created` column 'Created', got 'Visits'"),
    "min above max": (_changed("{type: number, min: 0}", "{type: number, min: 5, max: 1}"),
                      "features.Visits: min 5 is above max 1"),
    "min not a number (nan)": (_changed("{type: number, min: 0}", "{type: number, min: .nan}"),
                               "features.Visits.min: must be a number, got nan"),
    "empty column name": (_changed("Source: {type: category}", "~: {type: category}").replace(
        "channels: [Source, Market]", "channels: [Market]"),
        "features: a column name is empty (an unquoted ~ or null is read as empty)"),
    "label column a list": (_changed("column: Result", "column: [Result]"), "label.column: must be a column name (text)"),
    "lookup value in two groups": (_changed("values: {home: [India]}", "values: {home: [India], away: [india]}"),
                                   "features.Market.values: 'india' is listed under both home and away"),
    "min not a number": (_changed("{type: number, min: 0}", "{type: number, min: low}"),
                         "features.Visits.min: must be a number, got 'low'"),
    "required not a boolean": (_changed("Source: {type: category}", "Source: {type: category, required: maybe}"),
                               "features.Source.required: must be true or false, got 'maybe'"),
    "fold out of range": (_changed("Source: {type: category}", "Source: {type: category, fold: 2}"),
                          "features.Source.fold: must be a share of rows in (0, 1], got 2.0"),
    "bar above 1": (GOOD + "bars: {auc: 1.5}\n", "bars.auc: must lie in [0, 1), got 1.5"),
    "bar below 0": (GOOD + "bars: {recall: -0.1}\n", "bars.recall: must lie in [0, 1), got -0.1"),
    "bar not a number": (GOOD + "bars: {precision: high}\n", "bars.precision: must be a number, got 'high'"),
    "unknown bar": (GOOD + "bars: {f1: 0.5}\n", "bars.f1: unknown key (expected one of auc, precision, recall)"),
    "channel not a feature": (_changed("channels: [Source, Market]", "channels: [Source, Country]"),
                              "channels: 'Country' is not a feature"),
    "channel a number feature": (_changed("channels: [Source, Market]", "channels: [Source, Visits]"),
                                 "channels: 'Visits' is a number feature (allowed: category, lookup)"),
    "list column not a feature": (GOOD + "list_columns: [Nope]\n", "list_columns: 'Nope' is not a feature"),
    "unknown placeholder": (_changed("{type: category}", '{type: category, reason: "from {source}"}'),
                            "features.Source.reason: unknown placeholder {source} in 'from {source}' "
                            "(use {value}, {label}, {s})"),
    "positional placeholder": (_changed("{type: category}", '{type: category, reason: "from {0}"}'),
                               "features.Source.reason: unknown placeholder {0} in 'from {0}' (use {value}, {label}, {s})"),
    "unbalanced brace": (_changed("{type: category}", '{type: category, reason: "from {value"}'),
                         "features.Source.reason: unbalanced braces in 'from {value' "
                         "(expected '}' before end of string; write {{ and }} for a brace)"),
    "layout names an undeclared column": (GOOD + "layout: [Lead ID, Nope]\n",
                                          "layout: column 'Nope' is not declared (features, created, leakage or ignore)"),
    "leakage not a list": (_changed("leakage: [Notes]", "leakage: Notes"), "leakage: must be a list of column names"),
    "name not text": (_changed("name: Probe", "name: [Probe]"), "name: must be text"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_given_a_bad_schema_when_parsed_then_refused_with_one_line(case):
    text, expected = BAD_FILES[case]
    assert _refusal(text) == expected


def test_given_no_file_when_loaded_then_file_not_found(tmp_path):
    with pytest.raises(SchemaError, match=r"^schema .*nowhere\.yaml: file not found$"):
        load_schema(tmp_path / "nowhere.yaml")


def test_given_a_non_utf8_file_when_loaded_then_refused_naming_the_byte(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(GOOD.replace("Probe", "Caf\xe9").encode("latin-1"))
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert str(caught.value) == "schema latin.yaml: not UTF-8 text (byte 0xe9 at position 9): save it as UTF-8"


def test_given_a_fixed_file_when_loaded_again_then_the_new_text_is_read(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text(GOOD + "colour: red\n")
    with pytest.raises(SchemaError, match="colour: unknown key"):
        load_schema(path)
    path.write_text(GOOD.replace("Probe", "Fixed"))
    assert load_schema(path).name == "Fixed"


# --- the shipped schemas --------------------------------------------------------------------------------------


def test_given_no_path_then_the_builtin_codepro_schema_loads():
    schema = load_schema(None)
    assert schema.name == "CodePro" and schema.origin == BUILTIN_SCHEMA.name
    assert schema.label.column == "app_complete_flag" and schema.label.positive == ("1",)
    assert schema.created_column == "created_date" and schema.has_time and schema.leakage == ()
    assert schema.channels == ("first_utm_source_c", "first_utm_medium_c", "first_platform_c", "city_tier")
    assert schema.bars == {"auc": 0.75, "precision": 0.65, "recall": 0.75}
    assert len(schema.features) == 13 and schema.feature("city_tier").lookup["ncr"] == "1"


def test_given_codepro_then_its_raw_columns_are_the_course_layout_in_order():
    with (SHARED_DATA / "leadscoring_test.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert len(header) == 45 and header[-1] == "app_complete_flag"
    schema = load_schema(None)
    assert [c.name for c in schema.raw_columns] == header[:-1]
    assert [c.db_name for c in schema.raw_columns] == header[:-1]  # the course's names are safe SQL names already
    assert schema.file_columns() == header[:-1]


def test_given_the_example_crm_schema_then_it_loads_with_its_own_layout_and_roles():
    schema = load_schema(EXAMPLE_SCHEMA)
    assert schema.id_column == "Prospect ID" and schema.created_column is None and not schema.has_time
    assert schema.order_column == "Lead Number"
    assert schema.label.column == "Outcome" and schema.label.positive == ("Enrolled",) and schema.label.negative is None
    assert schema.file_layout() == [
        "Prospect ID", "Lead Number", "Lead Origin", "Lead Source", "Do Not Email", "TotalVisits",
        "Total Time Spent on Website", "Page Views Per Visit", "Last Activity", "Specialization",
        "What is your current occupation", "Country", "City", "Tags", "Outcome"]
    assert "Prospect ID" not in [c.name for c in schema.raw_columns]  # the id is stored as lead_id
    assert schema.raw("Tags").role == "leakage" and schema.raw("City").role == "ignore"
    assert schema.raw("Do Not Email").kind == "flag" and schema.raw("Do Not Email").yes == ("Yes",)
    assert "Select" in schema.na_values
    assert schema.raw("Total Time Spent on Website").db_name == "total_time_spent_on_website"
    assert all(key.isidentifier() and key == key.lower() for key in schema.feature_keys())


# --- reason phrases -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codepro():
    return load_schema(None)


@pytest.mark.parametrize(("feature", "value", "phrase"), [
    ("first_utm_source_c", "Level2", "came through source Level2"),
    ("first_utm_source_c", "others", "came through a rare source"),
    ("city_tier", 1.0, "tier-1 city"),
    ("total_leads_droppped", 0.0, "first enquiry (no earlier leads)"),
    ("total_leads_droppped", 1.0, "left 1 earlier lead"),
    ("total_leads_droppped", 3.0, "left 3 earlier leads"),
    ("referred_lead", 1.0, "referred by a student"),
    ("referred_lead", 0.0, "not referred by a student"),
    ("payment_interaction", 0.0, "no payment interactions"),
    ("payment_interaction", 2.0, "2 payment interactions on the site"),
    ("created_hour", 15, "enquired in the afternoon (15h)"),
    ("created_hour", 3, "enquired at night (03h)"),
    ("created_hour", 21, "enquired in the evening (21h)"),
    ("created_weekday", 0, "enquired on a Monday"),
    ("created_weekday", 6, "enquired on a Sunday"),
])
def test_given_a_codepro_feature_when_described_then_a_sales_phrase(codepro, feature, value, phrase):
    assert codepro.feature(feature).describe(value) == phrase


def test_given_features_without_phrases_when_described_then_defaults_read_well():
    schema = parse_schema(_changed("Visits: {type: number, min: 0}", "Page views: {type: number, min: 0}"))
    assert schema.feature("Source").describe("Google") == "Source is Google"
    assert schema.feature("Page views").describe(2.5) == "Page views is 2.5"
    assert schema.feature("Page views").describe(0.123456) == "Page views is 0.123"
    assert schema.feature("Opted out").describe(1.0) == "Opted out: yes"
    assert schema.feature("Opted out").describe(0.0) == "Opted out: no"
    assert schema.feature("Market").describe("home") == "Market is home"


def test_given_the_example_crm_features_when_described_then_its_own_phrases(tmp_path):
    schema = load_schema(EXAMPLE_SCHEMA)
    assert schema.feature("Do Not Email").describe(1.0) == "asked not to be emailed"
    assert schema.feature("TotalVisits").describe(0.0) == "never visited the site"
    assert schema.feature("TotalVisits").describe(1.0) == "visited the site 1 time"
    assert schema.feature("Lead Source").describe("others") == "came through a rare source"
    assert schema.feature("Market").describe("domestic") == "domestic lead"
