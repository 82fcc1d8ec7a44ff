"""Synthetic leads for schemas other than CodePro: the example CRM export, and any other schema generically.

`generate_for_schema(schema, rows, seed)` picks the generator: the example CRM export's own generator when the
schema describes its columns (schemas/example_crm.yaml, or an edited copy with the same columns), else a
generic one that draws every declared column from its type and settings with a weak, learnable signal
(so a new schema can be tried end to end before real data arrives). CodePro's generator is core.synthetic.

The example CRM export imitates a typical education CRM: Lead Origin -> Lead Source, visits and time on the
site (zeros and outliers), Yes/No flags, "Select" placeholders, a text id, an increasing lead number, an
outcome called Outcome (Enrolled / Lost / No Answer) and Tags that a rep writes after the outcome (leakage).
The outcome's log-odds are additive effects of the features, tuned so LightGBM reaches AUC 0.8-0.9 without Tags.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import BadInputError
from core.lead_schema import LeadSchema

CRM_COLUMNS = ("Prospect ID", "Lead Number", "Lead Origin", "Lead Source", "Do Not Email", "TotalVisits",
               "Total Time Spent on Website", "Page Views Per Visit", "Last Activity", "Specialization",
               "What is your current occupation", "Country", "City", "Tags", "Outcome")
FIRST_LEAD_NUMBER = 579_533

# Each mix: value -> (share, log-odds effect). None is an empty cell.
ORIGINS = {"Landing Page Submission": (.528, 0.0), "API": (.387, -.15), "Lead Add Form": (.077, 1.6),
           "Lead Import": (.006, -.6), "Quick Add Form": (.002, .8)}
ORIGINS_DRIFTED = {"Landing Page Submission": (.40, 0.0), "API": (.45, -.15), "Lead Add Form": (.05, 1.6),
                   "Lead Import": (.098, -.6), "Quick Add Form": (.002, .8)}
SOURCES_BY_ORIGIN = {
    "Landing Page Submission": {"Direct Traffic": (.46, -.2), "Google": (.38, .1), "Organic Search": (.12, 0.0),
                                "Referral Sites": (.025, -.3), "bing": (.005, -.3), "Pay per Click Ads": (.002, 0.0),
                                "Social Media": (.002, -.3), "Click2call": (.002, .6), "blog": (.002, 0.0),
                                None: (.002, 0.0)},
    "API": {"Olark Chat": (.48, -.45), "Google": (.27, .1), "Organic Search": (.13, 0.0), "Direct Traffic": (.08, -.2),
            "Referral Sites": (.02, -.3), "Live Chat": (.005, .8), "google": (.005, .1), "Press_Release": (.002, -.5),
            "NC_EDM": (.002, .3), None: (.008, -.5)},
    "Lead Add Form": {"Reference": (.72, .7), "Welingak Website": (.25, 2.0), "Direct Traffic": (.01, 0.0),
                      "Facebook": (.01, 0.0), "Google": (.01, 0.0)},
    "Lead Import": {"Facebook": (.9, -.3), "Organic Search": (.05, 0.0), "youtubechannel": (.05, 0.0)},
    "Quick Add Form": {"Reference": (.7, .5), "Google": (.3, 0.0)},
}
DO_NOT_EMAIL = {"No": (.92, 0.0), "Yes": (.08, -1.1)}
LAST_ACTIVITY = {"Email Opened": (.372, .3), "SMS Sent": (.297, 1.2), "Olark Chat Conversation": (.105, -1.2),
                 "Page Visited on Website": (.069, -.3), "Converted to Lead": (.046, -1.1),
                 "Email Bounced": (.035, -1.1), "Email Link Clicked": (.029, .1),
                 "Form Submitted on Website": (.013, 0.0), "Unreachable": (.010, -.4), "Unsubscribed": (.007, -.4),
                 "Had a Phone Conversation": (.003, 1.8), "Approached upfront": (.001, 2.0),
                 "View in browser link Clicked": (.001, 0.0), "Email Received": (.0005, 1.0),
                 "Email Marked Spam": (.0005, 0.0), "Visited Booth in Tradeshow": (.0002, 0.0),
                 "Resubscribed to emails": (.0002, 0.0), None: (.0106, -.3)}
SPECIALIZATIONS = {"Select": (.21, -.55), None: (.156, -.7), "Finance Management": (.106, .2),
                   "Human Resource Management": (.092, .25), "Marketing Management": (.091, .3),
                   "Operations Management": (.054, .2), "Business Administration": (.044, .1),
                   "IT Projects Management": (.040, 0.0), "Supply Chain Management": (.038, .05),
                   "Banking, Investment And Insurance": (.037, .3), "Travel and Tourism": (.022, -.2),
                   "Media and Advertising": (.022, 0.0), "International Business": (.019, 0.0),
                   "Healthcare Management": (.017, .25), "Hospitality Management": (.012, -.1),
                   "E-COMMERCE": (.012, 0.0), "Retail Management": (.011, -.1), "Rural and Agribusiness": (.008, 0.0),
                   "E-Business": (.006, 0.0), "Services Excellence": (.004, -.3)}
OCCUPATIONS = {"Unemployed": (.606, 0.0), None: (.291, -1.1), "Working Professional": (.076, 2.3),
               "Student": (.023, -.1), "Other": (.002, .5), "Housewife": (.001, 3.0), "Businessman": (.001, .5)}
COUNTRIES = {"India": (.703, 0.0), None: (.266, -.25), "United States": (.0075, -.3),
             "United Arab Emirates": (.0057, 0.0), "Singapore": (.0026, 0.0), "Saudi Arabia": (.0023, -.3),
             "United Kingdom": (.0016, 0.0), "Australia": (.0014, -.3), "Qatar": (.0011, -.3), "Bahrain": (.0008, 0.0),
             "Hong Kong": (.0008, 0.0), "Oman": (.0007, 0.0), "France": (.0007, 0.0), "Nigeria": (.0005, -.5),
             "Germany": (.0005, 0.0), "Canada": (.0004, 0.0), "Kuwait": (.0004, 0.0), "South Africa": (.0004, 0.0)}
CITIES = {"Mumbai": (.349, 0.0), "Select": (.244, 0.0), None: (.154, 0.0), "Thane & Outskirts": (.081, 0.0),
          "Other Cities": (.074, 0.0), "Other Cities of Maharashtra": (.049, 0.0), "Other Metro Cities": (.041, 0.0),
          "Tier II Cities": (.008, 0.0)}
TAGS_ENROLLED = {"Will revert after reading the email": .58, "Closed by Horizzon": .18, "Lost to EINS": .09,
                 "Busy": .05, "Want to take admission but has financial problems": .04, "Lateral student": .03,
                 "in touch with EINS": .03}
TAGS_FAILED = {"Ringing": .30, "Interested in other courses": .14, "Already a student": .12, "switched off": .07,
               "Not doing further education": .04, "Interested  in full time MBA": .03, "invalid number": .02,
               "wrong number given": .02, "Diploma holder (Not Eligible)": .02, "Graduation in progress": .03,
               "opp hangup": .01, "number not provided": .01, "Busy": .06, "Will revert after reading the email": .06,
               "in touch with EINS": .02, "Still Thinking": .05}
TAGS_WRITTEN = .68  # share of labelled leads whose rep wrote a tag
NO_ANSWER_SHARE = .22  # share of failures that never answered
INTERCEPT = -0.8  # calibrated: about 35% enrolled
TIME_EFFECT = 1.9  # per 1,000 seconds on the site (centred at 500)
VISITS_EFFECT = .05  # per visit (capped at 10)


def is_example_crm(schema: LeadSchema) -> bool:
    """The schema describes the example CRM export's file (the shipped one or an edited copy)."""
    return set(schema.file_layout()) == set(CRM_COLUMNS)


def generate_for_schema(schema: LeadSchema, rows: int, seed: int = 0, labelled: bool = True, drifted: bool = False,
                        start: str = "2024-01-01", end: str = "2024-06-30") -> pd.DataFrame:
    """Leads in the schema's file layout: the example CRM generator for its schema, else the generic one."""
    if int(rows) < 1:
        raise BadInputError(f"rows must be at least 1, got {rows}")
    if is_example_crm(schema):
        frame = generate_crm_leads(int(rows), seed, labelled=labelled, drifted=drifted)
        return frame[[c for c in schema.file_layout() if c in frame.columns]]
    if drifted:
        raise BadInputError(f"--drifted is available for CodePro and the example CRM schema, not for {schema.name!r}")
    return generate_generic_leads(schema, int(rows), seed, labelled=labelled, start=start, end=end)


# ---------------------------------------------------------------- the example CRM export


def generate_crm_leads(rows: int, seed: int = 0, labelled: bool = True, drifted: bool = False) -> pd.DataFrame:
    """A batch of example-CRM leads (columns CRM_COLUMNS; Outcome only when labelled, Tags empty when not)."""
    rng = np.random.default_rng(seed)
    logit = np.full(rows, INTERCEPT)
    origin = _pick(rng, ORIGINS_DRIFTED if drifted else ORIGINS, rows, logit)
    source = np.empty(rows, dtype=object)
    for value, mix in SOURCES_BY_ORIGIN.items():
        chosen = origin == value
        source[chosen] = _pick(rng, mix, int(chosen.sum()), logit, chosen)
    visits, seconds, pages = _site_visits(rng, origin, source)
    logit += TIME_EFFECT * (np.nan_to_num(seconds) - 500) / 1000 + VISITS_EFFECT * np.minimum(np.nan_to_num(visits), 10)
    frame = pd.DataFrame({
        "Prospect ID": _prospect_ids(rng, rows),
        "Lead Number": FIRST_LEAD_NUMBER + np.cumsum(rng.geometric(0.6, rows)),
        "Lead Origin": origin, "Lead Source": source,
        "Do Not Email": _pick(rng, DO_NOT_EMAIL, rows, logit),
        "TotalVisits": pd.array(visits, dtype="Int64"), "Total Time Spent on Website": seconds.astype(np.int64),
        "Page Views Per Visit": pages,
        "Last Activity": _pick(rng, LAST_ACTIVITY, rows, logit),
        "Specialization": _pick(rng, SPECIALIZATIONS, rows, logit),
        "What is your current occupation": _pick(rng, OCCUPATIONS, rows, logit),
        "Country": _pick(rng, COUNTRIES, rows, logit),
        "City": _pick(rng, CITIES, rows, logit),
    })
    enrolled = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame["Tags"] = _tags(rng, enrolled) if labelled else pd.Series(pd.NA, index=frame.index, dtype="string")
    if labelled:
        frame["Outcome"] = np.where(enrolled, "Enrolled", np.where(rng.random(rows) < NO_ANSWER_SHARE, "No Answer", "Lost"))
    return frame


def _pick(rng: np.random.Generator, mix: Mapping, rows: int, logit: np.ndarray, where: np.ndarray | None = None):
    """Draw values by share and add their effects to the log-odds (of the rows `where` selects)."""
    values = list(mix)
    shares = np.array([mix[v][0] for v in values])
    codes = rng.choice(len(values), rows, p=shares / shares.sum())
    effects = np.array([mix[v][1] for v in values])[codes]
    if where is None:
        logit += effects
    else:
        logit[where] += effects
    return np.array(values, dtype=object)[codes]


def _site_visits(rng: np.random.Generator, origin: np.ndarray, source: np.ndarray):
    """Visits (zeros for chat and form leads, a few huge outliers), seconds on the site, pages per visit; 1.5% empty."""
    rows = len(origin)
    never = (source == "Olark Chat") | np.isin(origin, ["Lead Add Form", "Lead Import", "Quick Add Form"])
    visits = np.where(never & (rng.random(rows) < .9), 0, 1 + rng.negative_binomial(2, .4, rows)).astype(float)
    outliers = rng.random(rows) < .003
    visits[outliers] = rng.integers(30, 252, int(outliers.sum()))
    seconds = np.where(visits == 0, 0, np.minimum(rng.lognormal(np.log(420), 1.0, rows), 2272)).round()
    pages = np.where(visits == 0, 0, np.minimum(1 + rng.gamma(2.0, .7, rows), visits)).round(2)
    pages[outliers] = np.minimum(pages[outliers] * rng.uniform(1, 8, int(outliers.sum())), 55).round(2)
    empty = rng.random(rows) < .015
    visits[empty], pages[empty] = np.nan, np.nan
    return visits, seconds, pages


def _prospect_ids(rng: np.random.Generator, rows: int) -> list[str]:
    """Text ids shaped like UUIDs (8-4-4-4-12 hex digits), unique with overwhelming probability."""
    words = rng.integers(0, 2**32, size=(rows, 4), dtype=np.uint64)
    return [f"{a:08x}-{b >> 16:04x}-{b & 0xFFFF:04x}-{c >> 16:04x}-{c & 0xFFFF:04x}{d:08x}"
            for a, b, c, d in words.tolist()]


def _tags(rng: np.random.Generator, enrolled: np.ndarray) -> pd.Series:
    """What the rep wrote after the outcome: tags that mostly give the outcome away; a third left empty."""
    tags = np.full(len(enrolled), None, dtype=object)
    for outcome, mix in ((True, TAGS_ENROLLED), (False, TAGS_FAILED)):
        chosen = (enrolled == outcome) & (rng.random(len(enrolled)) < TAGS_WRITTEN)
        values = list(mix)
        shares = np.array(list(mix.values()))
        tags[chosen] = np.array(values, dtype=object)[rng.choice(len(values), int(chosen.sum()), p=shares / shares.sum())]
    return pd.Series(tags, dtype="string")


# ---------------------------------------------------------------- any other schema


def generate_generic_leads(schema: LeadSchema, rows: int, seed: int = 0, labelled: bool = True,
                           start: str = "2024-01-01", end: str = "2024-06-30") -> pd.DataFrame:
    """Every column of the schema's layout drawn from its declared type, with a weak signal towards the label."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(int(schema.fingerprint, 16) % 2**32)  # the same effects for every seed
    logit = np.full(rows, -0.4)
    columns: dict[str, object] = {}
    for column in schema.raw_columns:
        columns[column.name] = _generic_column(column, schema, rng, world, rows, logit, (start, end))
    positive = rng.random(rows) < 1 / (1 + np.exp(-logit))
    for column in schema.raw_columns:
        if column.role == "leakage":
            columns[column.name] = _leaky_text(rng, positive)
    if schema.id_column:
        prefix = int(rng.integers(100_000, 1_000_000))
        columns[schema.id_column] = [f"L{prefix}-{n:08d}" for n in range(1, rows + 1)]
    if labelled:
        success = schema.label.positive[0]
        columns[schema.label.column] = np.where(positive, success, (schema.label.negative or (_failure(success),))[0])
    return pd.DataFrame({name: columns[name] for name in schema.file_layout() if name in columns})


def _generic_column(column, schema: LeadSchema, rng, world, rows: int, logit: np.ndarray, span: tuple[str, str]):
    if column.kind == "datetime":
        return _moments(rng, rows, *span)
    if column.role == "order":
        return 1_000 + np.cumsum(rng.geometric(0.5, rows))
    if column.kind == "number":
        return _generic_numbers(column, rng, world, rows, logit)
    if column.kind == "flag":
        yes = rng.random(rows) < 0.2
        logit += world.normal(0, 0.8) * yes
        return np.where(yes, column.yes[0], column.no[0])
    if column.role in ("leakage", "ignore"):
        return np.array([f"note {n}" for n in rng.integers(0, 50, rows)], dtype=object)
    return _generic_levels(column, schema, rng, world, rows, logit)


def _generic_numbers(column, rng, world, rows: int, logit: np.ndarray) -> np.ndarray:
    low = column.minimum if column.minimum is not None else 0.0
    high = column.maximum if column.maximum is not None else low + 100.0
    values = np.minimum(low + rng.exponential(max((high - low) / 8, 1e-9), rows), high).round(1)
    logit += world.normal(0, 0.8) * (values - values.mean()) / (values.std() or 1.0)
    if column.fill is None and not column.required:
        values[rng.random(rows) < 0.02] = np.nan
    return values


def _generic_levels(column, schema: LeadSchema, rng, world, rows: int, logit: np.ndarray) -> np.ndarray:
    """Text levels: a lookup's own keys plus an unlisted one, else six invented levels with Zipf shares."""
    lookup = next((f for f in schema.features if f.type == "lookup" and column.name in f.sources), None)
    levels = [*sorted(lookup.lookup)[:12], "somewhere else"] if lookup else [f"{column.name} {c}" for c in "ABCDEF"]
    shares = 1 / np.arange(1, len(levels) + 1)
    codes = rng.choice(len(levels), rows, p=shares / shares.sum())
    logit += world.normal(0, 0.6, len(levels))[codes]
    values = np.array(levels, dtype=object)[codes]
    if not column.required:
        values[rng.random(rows) < 0.03] = None
    return values


def _failure(success: str) -> str:
    """The opposite of a success value in the same style ("Yes" -> "No", "1" -> "0"), else "Lost"."""
    opposite = {"1": "0", "yes": "no", "true": "false", "y": "n", "t": "f", "won": "lost"}.get(success.lower(), "lost")
    if success.isupper():
        return opposite.upper()
    return opposite.capitalize() if success[:1].isupper() or opposite == "lost" else opposite


def _moments(rng, rows: int, start: str, end: str) -> np.ndarray:
    try:
        first, last = np.datetime64(start, "s"), np.datetime64(end, "s") + np.timedelta64(86_399, "s")
    except ValueError as error:
        raise BadInputError(f"start and end must be dates like 2024-01-01, got {start!r} and {end!r}") from error
    if last < first:
        raise BadInputError(f"end {end} is before start {start}")
    seconds = rng.integers(0, int((last - first).astype(np.int64)) + 1, rows)
    text = np.datetime_as_string(np.sort(first + seconds.astype("timedelta64[s]")), unit="s")
    return np.char.replace(text, "T", " ").astype(object)


def _leaky_text(rng, positive: np.ndarray) -> np.ndarray:
    """A note written after the outcome: it names the outcome for most leads."""
    written = rng.random(len(positive)) < 0.7
    return np.where(written, np.where(positive, "closed: success", "closed: no deal"), None).astype(object)


def write_schema_leads_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write leads as a CSV (header, empty cells for missing, no index), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        frame.to_csv(partial, index=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
