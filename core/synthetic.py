"""Realistic synthetic leads in the course's raw layout, for the demo and the benchmarks.

Marginals follow the facts about the full training data (../shared/data/README.md). The label's
log-odds are the additive effects of a logistic model fitted once on the real labelled dev sample
(rounded constants below; no real row is copied). Channels shape the hour of day the way they do in
the real leads (some platforms arrive in the afternoon), which links the hour to the label.
`drifted=True` shifts the channels the way the real nightly inference file is shifted.
In the frame, the creation time is text 'YYYY-MM-DD HH:MM:SS', exactly as in the raw files. Column names and
the city tiers come from the built-in CodePro schema (schemas/codepro.yaml); the calibration below names them.

Command line: python -m core.synthetic --rows N --seed S --out PATH [--drifted] [--unlabelled] [--schema PATH]
With --schema, leads for that schema instead (core.synthetic_schemas): the example CRM export's own generator for
schemas/example_crm.yaml, a generic one for any other schema (CodePro's own file: this generator).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.errors import BadInputError
from core.lead_schema import load_schema

DEFAULT_START = "2021-07-01"
DEFAULT_END = "2022-02-28"
WORLD_SEED = 20210701  # fixes the hidden effects of rare levels: every seed samples the same world
MAX_CODE = 400  # codes are Level0 .. Level400
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default str dtype, backed by Arrow


@dataclass(frozen=True)
class CodeMix:
    """How one code column is drawn: named head shares, a Zipf tail over further codes, new codes."""

    head: dict[int, float]
    tail: tuple[int, ...]
    tail_first: float  # share of the most frequent tail code (kept below the smallest head level)
    new: tuple[int, ...] = ()  # codes never seen in training
    new_share: float = 0.0


def _codes(first: Sequence[int], upto: int, count: int | None = None) -> tuple[int, ...]:
    """The listed codes first, then the other codes below `upto` in order (all, or `count` in total).

    A mix ignores the codes of its head here, so `count` is the number of raw levels of the column.
    """
    rest = [code for code in range(upto) if code not in first]
    codes = (*first, *rest)
    return codes if count is None else codes[:count]


# Platform: 49 raw levels in training (README counts; Level10 1.4%); the inference file's mix when drifted.
_PLATFORM_TAIL = _codes((11, 4, 21, 14, 5, 16, 24, 6, 18, 25, 15, 12, 9, 22, 17, 27, 19, 20, 30, 33), 64, 49)
PLATFORM_MIX = CodeMix(
    head={0: .3537, 3: .1717, 7: .1601, 1: .0849, 2: .0556, 8: .0451, 10: .014},
    tail=_PLATFORM_TAIL, tail_first=.013,
)
PLATFORM_DRIFTED_MIX = CodeMix(
    head={0: .3404, 3: .1714, 10: .1544, 2: .0533, 4: .0433, 11: .0431, 1: .0421, 7: .0403, 21: .0155,
          14: .0140, 5: .0121, 16: .0121, 8: .0119, 24: .0093, 6: .0080, 18: .0064},
    tail=_PLATFORM_TAIL, tail_first=.0035,
)
# Medium: codes Level0 .. Level250 in training; the drifted batch adds Level251 .. Level312.
_MEDIUM_TAIL = _codes((18, 31, 21, 51, 40, 60, 14, 71, 129, 23, 41, 19, 54, 7, 64, 38, 160, 76, 24, 95, 22, 56,
                       227), 251)
MEDIUM_MIX = CodeMix(
    head={0: .2273, 2: .1131, 6: .0997, 3: .0831, 4: .0774, 9: .0652, 11: .0403, 5: .0373, 8: .0309,
          20: .027, 13: .019, 30: .016, 33: .013, 16: .011, 10: .0095, 15: .0085, 26: .0074, 43: .0065},
    tail=_MEDIUM_TAIL, tail_first=.006,
)
MEDIUM_DRIFTED_MIX = CodeMix(
    head={0: .2276, 8: .0799, 4: .0753, 13: .0659, 2: .0563, 11: .0415, 15: .0357, 18: .0285, 9: .0236,
          31: .0181, 21: .0168, 51: .0155, 6: .0143, 40: .0142, 60: .0136, 14: .0119, 71: .0111, 129: .0109,
          23: .0098, 41: .0096, 30: .0084, 19: .0082, 54: .0082, 7: .0071, 64: .0070, 38: .0060, 160: .0058,
          76: .0051, 24: .0050, 95: .0049, 22: .0048, 56: .0046, 227: .0042},
    tail=_MEDIUM_TAIL, tail_first=.004, new=tuple(range(251, 313)), new_share=.02,
)
# Source: codes Level0 .. Level119.
_SOURCE_TAIL = _codes((9, 10, 21, 24, 11, 13, 20, 1, 22, 23, 35, 19, 44, 37, 34, 15, 25, 31, 46, 30, 18, 39, 36), 120)
SOURCE_MIX = CodeMix(
    head={2: .3477, 0: .2372, 7: .0781, 4: .0660, 6: .0646, 16: .0464, 5: .0229, 14: .0203},
    tail=_SOURCE_TAIL, tail_first=.012,
)
SOURCE_DRIFTED_MIX = CodeMix(
    head={2: .2476, 0: .2364, 9: .0961, 6: .0676, 7: .0665, 10: .0581, 21: .0451, 24: .0221, 16: .0198,
          11: .0155, 13: .0110, 20: .0096, 1: .0092, 22: .0077, 23: .0075, 4: .0073, 35: .0068, 19: .0063,
          44: .0052, 37: .0052, 34: .0050},
    tail=_SOURCE_TAIL, tail_first=.004,
)

# Log-odds effects per level (logistic fit on the real dev sample); unlisted levels: rest + hidden jitter.
PLATFORM_EFFECTS = {0: 1.36, 1: -1.23, 2: -.48, 3: .98, 4: -1.34, 5: 1.24, 6: -.46, 7: -1.58, 8: -.82, 9: -1.59,
                    10: 1.9, 11: -.66, 12: -.25, 14: 1.13, 15: -1.06, 16: 1.78, 18: 2.07, 21: .25, 24: -1.54,
                    25: -.74}
MEDIUM_EFFECTS = {0: .02, 1: -.84, 2: -.06, 4: -.14, 6: .32, 7: -.48, 8: -.03, 9: .38, 11: .19, 13: .01, 14: -.22,
                  15: -1.37, 18: .14, 19: -.59, 21: .02, 22: -.36, 23: -.05, 24: .19, 26: -1.06, 30: .89, 31: 1.4,
                  38: .42, 40: -.67, 41: -.56, 46: .04, 50: -1.08, 51: .25, 54: .11, 55: -.39, 56: .24, 60: -.26,
                  63: -.33, 64: .17, 71: -.04, 76: -.47, 93: 0.0, 95: .19, 103: .45, 129: .74, 160: .93, 227: 1.56}
SOURCE_EFFECTS = {0: -.12, 1: -2.13, 2: .33, 4: -.88, 6: .56, 7: .61, 9: .03, 10: -.46, 11: .11, 13: 1.0, 15: .69,
                  16: .67, 19: .54, 20: -.56, 21: -.46, 22: -1.32, 23: -.23, 24: .82, 25: .04, 31: .37, 34: .16,
                  35: .25, 37: .25, 44: -.4}
REST_EFFECT = {"first_platform_c": -.21, "first_utm_medium_c": .02, "first_utm_source_c": -.21}
REST_JITTER = {"first_platform_c": .9, "first_utm_medium_c": .6, "first_utm_source_c": .7}
TIER_EFFECTS = (-3.5, .42, .32, .30)  # missing city, tier 1, tier 2, tier 3
LEADS_DROPPED_EFFECTS = (.29, -1.3, .04, .37, .07)  # missing, 1, 2, 3, 4 or more
REFERRED_EFFECT = 4.6
INTERACTION_EFFECT = -1.07
WEEKDAY_EFFECTS = (-.03, -.05, 0.0, -.09, -.10, -.10, .15)  # Monday first
INTERCEPT = -.06  # calibrated so that a training-like batch has 50.2% ones

# Cities: tier 1 51.5%, tier 2 17.9%, tier 3 30.7% (listed cities, a tail of other towns, 3.9% missing).
TIER_1_WEIGHTS = {"ncr": 288, "mumbai": 175, "bengaluru": 163, "pune": 111, "hyderabad": 110, "chennai": 83,
                  "kolkata": 70}
TIER_2_WEIGHTS = {"lucknow": 158, "ahmedabad": 151, "jaipur": 105, "patna": 100, "indore": 84, "nagpur": 58,
                  "coimbatore": 53, "bhopal": 52, "ludhiana": 36, "surat": 36, "kanpur": 21, "vijayawada": 20,
                  "vadodara": 19, "agra": 16, "madurai": 15, "meerut": 14, "nashik": 13, "kochi": 12, "aligarh": 11,
                  "rajkot": 9, "jabalpur": 6, "gwalior": 4, "solapur": 2, "gandhinagar": 2, "anand": 1,
                  "tiruchirapalli": 1, "vishakapatnam": 1}
TIER_3_WEIGHTS = {"bhubaneswar": 121, "guwahati": 83, "chandigarh": 77, "dehradun": 66, "ranchi": 58, "raipur": 37,
                  "faridabad": 32, "guntur": 32, "varanasi": 30, "salem": 23, "jodhpur": 21, "thrissur": 20,
                  "kozhikode": 20, "aurangabad": 16, "mangalore": 13, "gorakhpur": 11, "amritsar": 10,
                  "bhavnagar": 10, "bhilai": 9, "jamshedpur": 8, "patiala": 8, "kollam": 7, "dhanbad": 7,
                  "warangal": 7, "vellore": 7, "nellore": 7, "kurnool": 7, "jammu": 6, "amravati": 6, "jamnagar": 6,
                  "etawah": 5, "srinagar": 5, "roorkee": 5, "allahabad": 5, "kannur": 5, "sangli": 4,
                  "tirunelveli": 3, "thiruvananthapuram": 3, "hajipur": 2, "pondicherry": 1, "hubli-dharwad": 1,
                  "mysore": 1}
# Towns outside the course's lists (tier 3), most frequent first: other spellings, suburbs, small towns, states.
TAIL_TOWNS = (
    "visakhapatnam", "ernakulam", "gurgaon", "noida", "thane", "mysuru", "mohali", "ghaziabad", "navi mumbai",
    "prayagraj", "trivandrum", "rohtak", "calcutta", "bangalore", "shimla", "secunderabad", "anantapur", "tiruchi",
    "siliguri", "jalandhar", "tirupati", "panipat", "bareilly", "imphal", "ambala", "muzaffarpur", "durgapur",
    "howrah", "kottayam", "bilaspur", "bihar", "tirupur", "cuttack", "moradabad", "haridwar", "greater noida",
    "shillong", "india", "karnataka", "sonipat", "karnal", "madhya pradesh", "chittoor", "panchkula", "hisar",
    "bathinda", "udaipur", "ajmer", "kota", "bikaner", "alwar", "jhansi", "mathura", "firozabad", "saharanpur",
    "muzaffarnagar", "gaya", "bhagalpur", "darbhanga", "asansol", "kharagpur", "rourkela", "sambalpur",
    "berhampur", "agartala", "aizawl", "kohima", "itanagar", "gangtok", "port blair", "silchar", "dibrugarh",
    "jorhat", "tezpur", "kolhapur", "satara", "latur", "nanded", "akola", "jalgaon", "dhule", "ahmednagar",
    "belgaum", "gulbarga", "davangere", "bellary", "shimoga", "tumkur", "udupi", "hassan", "mandya", "karimnagar",
    "nizamabad", "khammam", "kakinada", "rajahmundry", "eluru", "ongole", "kadapa", "erode", "thanjavur",
    "dindigul", "karur", "nagercoil", "hosur", "palakkad", "alappuzha", "malappuram", "kasaragod",
    "pathanamthitta", "margao", "panaji", "vasco da gama", "ujjain", "sagar", "rewa", "satna", "ratlam", "dewas",
    "korba", "durg", "bokaro", "hazaribagh", "deoghar", "junagadh", "bhuj", "porbandar", "navsari", "valsad",
    "vapi", "bharuch", "mehsana", "palanpur", "haldwani", "rudrapur", "rishikesh", "solan", "mandi",
    "dharamshala", "kathua", "anantnag", "leh", "pathankot", "hoshiarpur", "moga", "firozpur", "sirsa", "bhiwani",
    "rewari", "kurukshetra", "yamunanagar", "sitapur", "faizabad", "ayodhya", "sultanpur", "azamgarh", "ballia",
    "jaunpur", "mirzapur", "basti", "deoria", "unnao", "rae bareli", "hardoi", "shahjahanpur", "pilibhit",
    "rampur", "budaun", "etah", "mainpuri", "maharashtra", "uttar pradesh", "kerala", "tamil nadu",
)
CITY_GROUP_SHARES = {"tier 1": .5147, "tier 2": .1788, "tier 3": .0793, "towns": .1880, "missing": .0392}

# When leads arrive: per-day intensity by month, weekday weights, hour of day by channel profile (per mille).
MONTH_INTENSITY = {"2021-07": .90, "2021-08": 1.09, "2021-09": 1.07, "2021-10": .78, "2021-11": 1.17,
                   "2021-12": 1.16, "2022-01": 1.08, "2022-02": .75}
WEEKDAY_WEIGHTS = (1.057, 1.096, 1.064, 1.023, .968, .969, .822)
ALL_DAY_HOURS = (8, 15, 27, 35, 43, 59, 68, 61, 55, 54, 58, 53, 54, 58, 69, 65, 68, 54, 36, 26, 17, 7, 6, 4)
AFTERNOON_HOURS = (1, 0, 1, 2, 15, 41, 35, 26, 16, 18, 15, 20, 31, 45, 145, 229, 168, 106, 70, 11, 4, 1, 0, 0)
AFTERNOON_PLATFORMS = (1, 4, 7, 8)

# Counts: leads dropped 1/2/3 then a geometric body and a power-law tail up to 89; referred; missing both.
LEADS_DROPPED_HEAD = (.614, .252, .082)
LEADS_DROPPED_BODY = (.0485, .42)  # mass, ratio from 4 up
LEADS_DROPPED_TAIL = (.0035, 1.6)  # mass, exponent from 4 up
LEADS_DROPPED_MAX = 89
REFERRED_SHARE = .032
COUNTS_MISSING_SHARE = .0036
INTERACTION_ROW_SHARE = {False: .0005, True: .0009}  # a few hundred values per 240k rows; more when drifted
INTERACTION_WEIGHTS = {"career_assistance": 2, "careers": 4, "download_button_clicked": 29,
                       "emi_partner_click": 15, "emi_plans_clicked": 13, "hiring_partners": 2,
                       "live_chat_button_clicked": 2, "program_structure": 2, "specialisation_tab_clicked": 13,
                       "syllabus": 11, "syllabus_expand": 21, "syllabus_submodule_expand": 11,
                       "tab_career_assistance": 9, "tab_job_opportunities": 8, "tab_student_support": 3,
                       "whatsapp_chat_click": 5}
DUPLICATE_SHARE = .0003  # exact repeats, as in the real files


@dataclass(frozen=True)
class CodeProLayout:
    """CodePro's columns as the generator fills them, read from the built-in schema."""

    raw: tuple[str, ...]  # the file's columns in order (without id and label)
    created: str
    city: str  # the city tier lookup's source
    codes: tuple[str, ...]  # platform, medium, source
    counts: tuple[str, ...]  # leads dropped, referred, then the interaction columns
    label: str
    lead_id: str
    tiers: dict[str, int]  # listed city -> tier 1 or 2 (any other city is tier 3)

    @property
    def interactions(self) -> tuple[str, ...]:
        return self.counts[2:]


@cache
def codepro_layout() -> CodeProLayout:
    """The built-in CodePro schema's columns in the shape the generator needs."""
    schema = load_schema(None)
    city = next(f for f in schema.features if f.type == "lookup")
    return CodeProLayout(
        raw=tuple(c.name for c in schema.raw_columns), created=schema.created_column, city=city.sources[0],
        codes=tuple(f.name for f in schema.features if f.type == "category"),
        counts=tuple(c.name for c in schema.raw_columns if c.kind in ("number", "flag")),
        label=schema.label.column, lead_id=schema.id_column,
        tiers={name: int(tier) for name, tier in city.lookup.items() if tier in ("1", "2")})


@dataclass(frozen=True)
class _Draws:
    """One synthetic batch as numbers, before it becomes text columns."""

    timestamps: np.ndarray  # datetime64[s]
    city: np.ndarray  # slot in the city table, 0 for missing
    codes: dict[str, np.ndarray]  # code number per code column
    counts: np.ndarray  # rows x 39 (Fortran order): leads dropped, referred, 37 interactions; NaN when empty
    label: np.ndarray

    @property
    def dropped(self) -> np.ndarray:
        return self.counts[:, 0]

    @property
    def referred(self) -> np.ndarray:
        return self.counts[:, 1]

    @property
    def interactions(self) -> np.ndarray:
        return self.counts[:, 2:]


def generate_leads(rows: int, seed: int = 0, drifted: bool = False, labelled: bool = True,
                   start: str = DEFAULT_START, end: str = DEFAULT_END) -> pd.DataFrame:
    """A batch of realistic leads in the raw layout (plus the label column when labelled)."""
    days = _day_range(start, end)
    if int(rows) < 1:
        raise BadInputError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    draws = _duplicate_some(_draw_leads(rng, int(rows), days, drifted), rng)
    return _leads_frame(draws, labelled)


def _day_range(start: str, end: str) -> np.ndarray:
    try:
        first, last = np.datetime64(start, "D"), np.datetime64(end, "D")
    except ValueError as error:
        raise BadInputError(f"start and end must be dates like 2021-07-01, got {start!r} and {end!r}") from error
    if last < first:
        raise BadInputError(f"end {end} is before start {start}")
    return np.arange(first, last + 1)


def _draw_leads(rng: np.random.Generator, rows: int, days: np.ndarray, drifted: bool) -> _Draws:
    layout = codepro_layout()
    codes = {column: rng.choice(MAX_CODE + 1, rows, p=code_shares(column, drifted)) for column in layout.codes}
    afternoon = np.isin(codes[layout.codes[0]], AFTERNOON_PLATFORMS)
    timestamps = _draw_timestamps(rng, rows, days, afternoon)
    city = rng.choice(len(_city_table()[0]), rows, p=_city_table()[1])
    counts = np.full((rows, len(layout.counts)), np.nan, order="F")
    _draw_counts(rng, counts)
    _draw_interactions(rng, counts[:, 2:], INTERACTION_ROW_SHARE[drifted])
    draws = _Draws(timestamps, city, codes, counts, np.zeros(rows, dtype=np.int64))
    chance = _completion_probability(draws)
    return replace(draws, label=(rng.random(rows) < chance).astype(np.int64))


@cache
def code_shares(column: str, drifted: bool = False) -> np.ndarray:
    """Probability of every code number 0..MAX_CODE in a code column (training-like or drifted)."""
    mixes = (PLATFORM_DRIFTED_MIX, MEDIUM_DRIFTED_MIX, SOURCE_DRIFTED_MIX) if drifted else (
        PLATFORM_MIX, MEDIUM_MIX, SOURCE_MIX)
    mix = dict(zip(codepro_layout().codes, mixes, strict=True))[column]
    shares = np.zeros(MAX_CODE + 1)
    shares[list(mix.head)] = list(mix.head.values())
    tail = [code for code in mix.tail if code not in mix.head]
    shares[tail] = _zipf_shares(len(tail), 1.0 - sum(mix.head.values()) - mix.new_share, mix.tail_first)
    if mix.new:
        shares[list(mix.new)] = mix.new_share / len(mix.new)
    shares /= shares.sum()
    shares.setflags(write=False)  # cached: callers share one array
    return shares


def _zipf_shares(count: int, total: float, first: float) -> np.ndarray:
    """`count` decreasing shares k^-a summing to `total`, the first one `first` (a found by bisection)."""
    ranks = np.arange(1, count + 1, dtype=float)
    low, high = 0.0, 8.0
    for _ in range(60):
        exponent = (low + high) / 2
        weights = ranks ** -exponent
        low, high = (exponent, high) if total * weights[0] / weights.sum() < first else (low, exponent)
    return total * weights / weights.sum()


def _draw_timestamps(rng: np.random.Generator, rows: int, days: np.ndarray, afternoon: np.ndarray) -> np.ndarray:
    """Days by month intensity and weekday; hours by the channel's profile; minutes and seconds uniform."""
    months = np.datetime_as_string(days.astype("datetime64[M]"))
    weights = np.array([MONTH_INTENSITY.get(month, 1.0) for month in months]) * np.take(WEEKDAY_WEIGHTS, _weekday(days))
    day = days[rng.choice(len(days), rows, p=weights / weights.sum())].astype("datetime64[s]")
    hour = np.where(afternoon, rng.choice(24, rows, p=_norm(AFTERNOON_HOURS)), rng.choice(24, rows, p=_norm(ALL_DAY_HOURS)))
    return day + (hour * 3600 + rng.integers(0, 3600, rows)).astype("timedelta64[s]")


def _weekday(moments: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (moments.astype("datetime64[D]").astype(np.int64) + 3) % 7


def _norm(weights: Sequence[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


@cache
def _city_table() -> tuple[tuple[str, ...], np.ndarray]:
    """City names and probabilities; slot 0 is the missing city."""
    groups = (TIER_1_WEIGHTS, TIER_2_WEIGHTS, TIER_3_WEIGHTS, dict(zip(TAIL_TOWNS, 1.0 / np.arange(1, len(TAIL_TOWNS) + 1), strict=True)))
    names: list[str] = []
    shares = [CITY_GROUP_SHARES["missing"]]
    for group, share in zip(groups, list(CITY_GROUP_SHARES.values())[:4], strict=True):
        names.extend(group)
        shares.extend(share * _norm(list(group.values())))
    return ("", *names), _norm(shares)


def _draw_counts(rng: np.random.Generator, counts: np.ndarray) -> None:
    """total_leads_droppped (heavy tail up to 89) and referred_lead; a few rows have both empty."""
    rows = len(counts)
    counts[:, 0] = rng.choice(LEADS_DROPPED_MAX, rows, p=_leads_dropped_shares()) + 1
    counts[:, 1] = rng.random(rows) < REFERRED_SHARE
    counts[rng.random(rows) < COUNTS_MISSING_SHARE, :2] = np.nan


@cache
def _leads_dropped_shares() -> np.ndarray:
    """Probability of 1..89 leads dropped."""
    from_four = np.arange(4, LEADS_DROPPED_MAX + 1, dtype=float)
    body = LEADS_DROPPED_BODY[1] ** (from_four - 4)
    tail = from_four ** -LEADS_DROPPED_TAIL[1]
    rest = LEADS_DROPPED_BODY[0] * body / body.sum() + LEADS_DROPPED_TAIL[0] * tail / tail.sum()
    return _norm([*LEADS_DROPPED_HEAD, *rest])


def _draw_interactions(rng: np.random.Generator, matrix: np.ndarray, row_share: float) -> None:
    """Mostly empty: a few rows get 1..13 clicked items with heavy-tailed counts."""
    rows = len(matrix)
    chosen = rng.choice(rows, rng.binomial(rows, row_share), replace=False)
    per_row = np.minimum(rng.geometric(0.28, len(chosen)), 13)
    interactions = codepro_layout().interactions
    weights = _norm([INTERACTION_WEIGHTS.get(column, 0.5) for column in interactions])
    columns = rng.choice(len(interactions), per_row.sum(), p=weights)
    values = np.minimum(np.floor(np.exp(rng.exponential(1.5, per_row.sum()))), 999.0)
    matrix[np.repeat(chosen, per_row), columns] = values


def _completion_probability(draws: _Draws) -> np.ndarray:
    """The chance each lead completes its application: additive log-odds from the real link."""
    logit = np.full(len(draws.city), INTERCEPT)
    for column, codes in draws.codes.items():
        logit += _level_effects()[column][codes]
    logit += np.take(TIER_EFFECTS, _city_tiers()[draws.city])
    logit += np.take(LEADS_DROPPED_EFFECTS, _dropped_bucket(draws.dropped))
    logit += REFERRED_EFFECT * np.nan_to_num(draws.referred)
    logit += np.take(WEEKDAY_EFFECTS, _weekday(draws.timestamps))
    logit += INTERACTION_EFFECT * ~np.isnan(draws.interactions).all(axis=1)
    return 1.0 / (1.0 + np.exp(-logit))


@cache
def _level_effects() -> dict[str, np.ndarray]:
    """Effect of every code number per column; levels never fitted get the rest effect plus a fixed jitter."""
    world = np.random.default_rng(WORLD_SEED)
    effects = {}
    for column, fitted in zip(codepro_layout().codes, (PLATFORM_EFFECTS, MEDIUM_EFFECTS, SOURCE_EFFECTS), strict=True):
        values = REST_EFFECT[column] + REST_JITTER[column] * world.standard_normal(MAX_CODE + 1)
        values[list(fitted)] = list(fitted.values())
        effects[column] = values
    return effects


@cache
def _city_tiers() -> np.ndarray:
    """Tier per city-table slot (0 for the missing city)."""
    names = _city_table()[0]
    tiers = codepro_layout().tiers
    return np.array([0] + [tiers.get(n, 3) for n in names[1:]])


def _dropped_bucket(dropped: np.ndarray) -> np.ndarray:
    """0 missing, 1, 2, 3, 4 for four or more."""
    return np.where(np.isnan(dropped), 0, np.minimum(np.nan_to_num(dropped), 4)).astype(np.int64)


def _duplicate_some(draws: _Draws, rng: np.random.Generator) -> _Draws:
    """Overwrite a few rows with exact copies of others (the real files repeat a few leads)."""
    rows = len(draws.city)
    pairs = rng.choice(rows, 2 * min(rng.binomial(rows, DUPLICATE_SHARE), rows // 2), replace=False)
    targets, sources = np.split(pairs, 2)
    for array in (draws.timestamps, draws.city, draws.counts, draws.label, *draws.codes.values()):
        array[targets] = array[sources]
    return draws


def _leads_frame(draws: _Draws, labelled: bool) -> pd.DataFrame:
    """Numbers -> the raw layout: text dates, cities and codes, float counts, NaN for empty cells."""
    layout = codepro_layout()
    frame = pd.DataFrame(draws.counts, columns=list(layout.counts), copy=False)
    frame.insert(0, layout.created, pd.Series(pc.cast(pa.array(draws.timestamps), pa.string()), dtype=TEXT))
    frame.insert(1, layout.city, _text(_city_table()[0], draws.city, missing=draws.city == 0))
    for position, column in enumerate(layout.codes, start=2):
        frame.insert(position, column, _text(_level_names(), draws.codes[column]))
    if labelled:
        frame[layout.label] = draws.label
    return frame


def _text(names: Sequence[str], index: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Pick names by index without a Python loop (Arrow take); masked slots become missing."""
    picked = pa.array(names).take(pa.array(index, mask=missing))
    return pd.Series(picked, dtype=TEXT)


@cache
def _level_names() -> tuple[str, ...]:
    return tuple(f"Level{code}" for code in range(MAX_CODE + 1))


def write_leads_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write leads as a raw-layout CSV (header, empty cells for missing, no index) via Arrow, atomically."""
    layout = codepro_layout()
    missing = [column for column in layout.raw if column not in frame.columns]
    if missing:
        raise BadInputError(f"cannot write leads: missing columns {', '.join(missing[:5])}")
    columns = [c for c in (layout.lead_id, *layout.raw, layout.label) if c in frame.columns]
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    table = pa.table([_as_raw_text(table.column(c)) for c in columns], names=columns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        pacsv.write_csv(table, partial, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _as_raw_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whole-number floats as the raw files write them ('2.0', not '2'); anything else unchanged."""
    if not pa.types.is_floating(column.type) or column.null_count == len(column):
        return column
    values = column.to_numpy()
    present = values[~np.isnan(values)]
    if present.min() < 0 or present.max() > 10_000 or not np.array_equal(present, np.floor(present)):
        return column
    lookup = pa.array([f"{whole}.0" for whole in range(int(present.max()) + 1)])
    return pa.chunked_array([lookup.take(pa.array(np.nan_to_num(values).astype(np.int64), mask=np.isnan(values)))])


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate leads and write them as a CSV; one line says what was written."""
    args = _parser().parse_args(argv)
    try:
        frame, schema_name = _generate(args)
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    kind = ("drifted" if args.drifted else "training-like") + (", unlabelled" if args.unlabelled else ", labelled")
    kind = f"{schema_name}, {kind}" if schema_name else kind
    print(f"wrote {len(frame):,} synthetic leads ({kind}, seed {args.seed}) to {args.out}")
    return 0


def _generate(args: argparse.Namespace) -> tuple[pd.DataFrame, str | None]:
    """CodePro's leads, or with --schema another schema's (the schema's name is returned for the message)."""
    from core.lead_schema import load_schema

    schema = load_schema(args.schema) if args.schema else None
    if schema is None or schema.fingerprint == load_schema(None).fingerprint:
        frame = generate_leads(args.rows, seed=args.seed, drifted=args.drifted, labelled=not args.unlabelled,
                               start=args.start, end=args.end)
        write_leads_csv(frame, args.out)
        return frame, None
    from core.synthetic_schemas import generate_for_schema, write_schema_leads_csv

    frame = generate_for_schema(schema, args.rows, seed=args.seed, labelled=not args.unlabelled, drifted=args.drifted,
                                start=args.start, end=args.end)
    write_schema_leads_csv(frame, args.out)
    return frame, schema.name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.synthetic", description="Write realistic synthetic leads.")
    parser.add_argument("--rows", type=int, required=True, help="number of leads")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same file")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--drifted", action="store_true", help="shift channels like the nightly inference file")
    parser.add_argument("--unlabelled", action="store_true", help="leave out the label column")
    parser.add_argument("--schema", type=Path, help="a lead schema file: leads in its layout (default: CodePro)")
    parser.add_argument("--start", default=DEFAULT_START, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", default=DEFAULT_END, help="last day (YYYY-MM-DD)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
