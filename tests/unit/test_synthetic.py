"""The synthetic lead generator: raw layout, determinism, the README's marginals, a real-like label link, drift."""

from __future__ import annotations

import hashlib
from datetime import datetime

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_numeric_dtype
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from core.errors import BadInputError
from core.features import (
    OTHERS,
    fold_rare_levels,
    learn_significant_levels,
    lookup_values,
    sum_values,
)
from core.lead_schema import BUILTIN_SCHEMA as CODEPRO_SCHEMA
from core.lead_schema import load_schema, parse_schema
from core.leakage import find_leakage
from core.schema import validate_file
from core.synthetic import TAIL_TOWNS, generate_leads, main, write_leads_csv
from core.synthetic_schemas import generate_for_schema
from tests.paths import PROJECT_ROOT, SHARED_DATA
from tests.samples import TIER_1, TIER_2
from tests.unit.test_course_transformations import COURSE_SIGNIFICANT_LEVELS

EXAMPLE_SCHEMA = PROJECT_ROOT / "schemas" / "example_crm.yaml"
CODEPRO = load_schema(CODEPRO_SCHEMA)
LABEL = CODEPRO.label.column
RAW_COLUMNS = tuple(c.name for c in CODEPRO.raw_columns)
CODE_COLUMNS = ("first_platform_c", "first_utm_medium_c", "first_utm_source_c")
INTERACTION_COLUMNS = tuple(c for f in CODEPRO.features if f.type == "sum" for c in f.sources)


def city_tier(city: pd.Series) -> pd.Series:
    """Tier of each city by the CodePro schema's lookup."""
    return pd.Series(lookup_values(CODEPRO.feature("city_tier"), city), index=city.index).astype("float64")


def interaction_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """The five interaction aggregates of the CodePro schema."""
    sums = {f.key: sum_values(frame, CODEPRO, f) for f in CODEPRO.features if f.type == "sum"}
    return pd.DataFrame(sums, index=frame.index)

TRAINING_ROWS = 238_964  # the README's cleaned training data: counts below are shares of it
README_CLEANED_COUNTS = {
    "first_platform_c": {"Level0": 84_514, "Level3": 41_021, "Level7": 38_261, OTHERS: 30_805, "Level1": 20_296,
                         "Level2": 13_282, "Level8": 10_785},
    "first_utm_medium_c": {"Level0": 54_309, "Level2": 27_015, OTHERS: 25_764, "Level6": 23_830, "Level3": 19_856,
                           "Level4": 18_491, "Level9": 15_582, "Level11": 9_628, "Level5": 8_907, "Level8": 7_377},
    "first_utm_source_c": {"Level2": 83_088, "Level0": 56_680, OTHERS: 27_901, "Level7": 18_669, "Level4": 15_770,
                           "Level6": 15_444, "Level16": 11_081, "Level5": 5_483, "Level14": 4_848},
}
README_TIER_COUNTS = {1.0: 122_986, 2.0: 42_727, 3.0: 73_251}
NOW = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def batch() -> pd.DataFrame:
    """A training-sized batch (240,000 rows, like the full course data)."""
    return generate_leads(240_000, seed=11)


@pytest.fixture(scope="module")
def drifted_batch() -> pd.DataFrame:
    return generate_leads(100_000, seed=11, drifted=True)


def _code_number(values: pd.Series) -> pd.Series:
    return values.str.removeprefix("Level").astype(int)


# --- layout and determinism ---------------------------------------------------------------------------------


def test_given_a_seed_when_generated_twice_then_frames_identical_and_another_seed_differs():
    first, again = generate_leads(5_000, seed=3), generate_leads(5_000, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = generate_leads(5_000, seed=4)
    assert not first.equals(other)
    assert (first["created_date"] != other["created_date"]).mean() > 0.99


def test_given_labelled_and_unlabelled_when_generated_then_raw_columns_in_order_and_label_last():
    assert list(generate_leads(100).columns) == [*RAW_COLUMNS, LABEL]
    assert list(generate_leads(100, labelled=False).columns) == list(RAW_COLUMNS)


def test_given_a_batch_when_inspected_then_values_look_like_the_raw_files(batch):
    assert batch["created_date"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    cities = batch["city_mapped"].dropna()
    assert (cities == cities.str.lower()).all() and (cities.str.strip() != "").all()
    for column in CODE_COLUMNS:
        assert batch[column].str.fullmatch(r"Level\d+").all()
    numbers = batch[["total_leads_droppped", "referred_lead", *INTERACTION_COLUMNS]]
    assert (numbers.dtypes == "float64").all()
    assert set(batch["referred_lead"].dropna().unique()) == {0.0, 1.0}
    assert batch[LABEL].dtype == np.int64 and set(batch[LABEL].unique()) == {0, 1}


def test_given_bad_arguments_when_generated_then_one_line_refusal():
    with pytest.raises(BadInputError, match="rows must be at least 1"):
        generate_leads(0)
    with pytest.raises(BadInputError, match="is before start"):
        generate_leads(10, start="2022-02-01", end="2021-07-01")
    with pytest.raises(BadInputError, match="must be dates"):
        generate_leads(10, start="yesterday")


# --- marginals against the README's facts about the full training data ---------------------------------------


def test_given_a_training_sized_batch_then_about_half_complete(batch):
    assert batch[LABEL].mean() == pytest.approx(0.502, abs=0.01)


def test_given_a_training_sized_batch_then_city_tiers_match_readme(batch):
    shares = city_tier(batch["city_mapped"]).value_counts(normalize=True)
    for tier, count in README_TIER_COUNTS.items():
        assert shares[tier] == pytest.approx(count / TRAINING_ROWS, abs=0.01)
    assert batch["city_mapped"].isna().mean() == pytest.approx(9_403 / 240_000, abs=0.003)
    unlisted = ~batch["city_mapped"].isin([*TIER_1, *TIER_2]) & batch["city_mapped"].notna()
    assert batch.loc[unlisted, "city_mapped"].nunique() > 150  # tier 3 has a long tail of towns
    assert not set(TAIL_TOWNS) & {*TIER_1, *TIER_2}


@pytest.mark.parametrize("column", CODE_COLUMNS)
def test_given_a_training_sized_batch_when_folded_like_the_course_then_shares_match_readme(batch, column):
    folded = fold_rare_levels(batch[column], COURSE_SIGNIFICANT_LEVELS[column]).value_counts(normalize=True)
    for level, count in README_CLEANED_COUNTS[column].items():
        assert folded[level] == pytest.approx(count / TRAINING_ROWS, abs=0.006), level


@pytest.mark.parametrize(("column", "raw_levels", "most_extra"), [
    ("first_platform_c", (49, 49), 3), ("first_utm_medium_c", (200, 251), 3), ("first_utm_source_c", (100, 120), 3),
])
def test_given_rare_levels_when_significance_learned_then_course_lists_recovered(batch, column, raw_levels, most_extra):
    levels = batch[column].value_counts(normalize=True)
    assert raw_levels[0] <= len(levels) <= raw_levels[1]
    significant = COURSE_SIGNIFICANT_LEVELS[column]
    assert levels.drop(list(significant)).max() < levels[list(significant)].min()  # each rare level below the cut
    learned = learn_significant_levels(batch[column], coverage=0.9)
    assert set(significant) <= set(learned)
    assert len(learned) - len(significant) <= most_extra


def test_given_a_training_sized_batch_then_counts_match_readme(batch):
    dropped = batch["total_leads_droppped"]
    assert dropped.mean() == pytest.approx(1.65, abs=0.03)
    assert 40 <= dropped.max() <= 89  # heavy tail, capped like the real maximum
    assert (dropped.dropna() >= 1).all() and (dropped.dropna() % 1 == 0).all()
    assert batch["referred_lead"].mean() == pytest.approx(0.032, abs=0.002)
    assert dropped.isna().mean() < 0.01


def test_given_a_training_sized_batch_then_interactions_almost_all_empty(batch):
    present = int(batch[list(INTERACTION_COLUMNS)].notna().sum().sum())
    assert 100 <= present <= 1_000  # a few hundred values in 240k rows: over 99.9% of rows empty
    assert batch[list(INTERACTION_COLUMNS)].notna().any(axis=1).mean() < 0.001
    assert (batch[list(INTERACTION_COLUMNS)].stack().dropna() >= 1).all()


def test_given_a_training_sized_batch_then_dates_span_the_season_with_a_daily_rhythm(batch):
    created = pd.to_datetime(batch["created_date"])
    assert created.min() >= pd.Timestamp("2021-07-01") and created.max() < pd.Timestamp("2022-03-01")
    assert created.dt.to_period("M").nunique() == 8
    hours = created.dt.hour.value_counts(normalize=True)
    assert hours[[14, 15, 16]].mean() > 3 * hours[[0, 1, 22, 23]].mean()  # afternoon peak, quiet nights
    weekdays = created.dt.weekday.value_counts(normalize=True)
    assert weekdays.idxmin() == 6 and weekdays[6] == pytest.approx(0.117, abs=0.01)  # Sunday is quietest


def test_given_a_batch_then_a_few_leads_repeat_exactly(batch):
    assert 0 < batch.duplicated().mean() < 0.001


# --- the label's link to the features ---------------------------------------------------------------------------


def test_given_a_batch_then_completion_follows_the_real_links(batch):
    label = batch[LABEL]
    assert label[batch["referred_lead"] == 1].mean() > 0.9
    assert label[batch["city_mapped"].isna()].mean() < 0.15
    dropped = batch["total_leads_droppped"]
    assert label[dropped == 1].mean() < label[dropped == 2].mean() - 0.1
    hour = pd.to_datetime(batch["created_date"]).dt.hour
    assert label[hour.between(14, 17)].mean() < label[hour.between(6, 11)].mean() - 0.08
    by_platform = label.groupby(batch["first_platform_c"]).mean()
    assert by_platform["Level0"] > by_platform["Level7"] + 0.3


def _quick_model_auc(raw: pd.DataFrame) -> float:
    """LightGBM (200 trees) on the course features, 80% train / 20% test: the AUC on the test part."""
    train, test = train_test_split(raw, test_size=0.2, random_state=0, stratify=raw[LABEL])
    model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=31, random_state=0, n_jobs=2,
                               verbose=-1)
    model.fit(_quick_features(train), train[LABEL])
    return float(roc_auc_score(test[LABEL], model.predict_proba(_quick_features(test))[:, 1]))


def _quick_features(raw: pd.DataFrame) -> pd.DataFrame:
    created = pd.to_datetime(raw["created_date"])
    features = pd.DataFrame({"city_tier": city_tier(raw["city_mapped"])}, index=raw.index)
    for column, significant in COURSE_SIGNIFICANT_LEVELS.items():
        features[column] = pd.Categorical(fold_rare_levels(raw[column], significant), categories=[*significant, OTHERS])
    features["total_leads_droppped"] = raw["total_leads_droppped"].astype(float).fillna(0)
    features["referred_lead"] = raw["referred_lead"].astype(float).fillna(0)
    features = pd.concat([features, interaction_sums(raw)], axis=1)
    return features.assign(hour=created.dt.hour, weekday=created.dt.weekday)


def test_given_40k_leads_when_a_quick_model_is_trained_then_auc_is_like_the_real_data():
    synthetic_auc = _quick_model_auc(generate_leads(40_000, seed=5))
    assert 0.78 <= synthetic_auc <= 0.86
    real = pd.read_csv(SHARED_DATA / "leads_labelled_dev.csv", index_col=0)
    assert synthetic_auc == pytest.approx(_quick_model_auc(real), abs=0.05)


# --- the drifted batch -------------------------------------------------------------------------------------------


def test_given_drifted_when_generated_then_platform_level10_surges(batch, drifted_batch):
    assert (batch["first_platform_c"] == "Level10").mean() == pytest.approx(0.014, abs=0.002)
    assert (drifted_batch["first_platform_c"] == "Level10").mean() == pytest.approx(0.15, abs=0.01)
    assert (drifted_batch["first_platform_c"] == "Level7").mean() < 0.06  # 16% in training


def test_given_drifted_when_generated_then_medium_codes_unseen_in_training_appear(batch, drifted_batch):
    assert _code_number(batch["first_utm_medium_c"]).max() <= 250
    unseen = ~drifted_batch["first_utm_medium_c"].isin(set(batch["first_utm_medium_c"]))
    assert unseen.mean() == pytest.approx(0.02, abs=0.005)
    assert _code_number(drifted_batch["first_utm_medium_c"]).max() == 312


def test_given_drifted_when_folded_then_others_share_grows(batch, drifted_batch):
    significant = COURSE_SIGNIFICANT_LEVELS["first_utm_source_c"]
    others = [(fold_rare_levels(b["first_utm_source_c"], significant) == OTHERS).mean() for b in (batch, drifted_batch)]
    assert others[1] > others[0] + 0.15


# --- the CSV and its ingestion ------------------------------------------------------------------------------------


def test_given_a_generated_file_when_validated_then_no_row_rejected(tmp_path):
    frame = generate_leads(20_000, seed=2)
    path = tmp_path / "leads.csv"
    write_leads_csv(frame, path)
    validated = validate_file(path, NOW)
    assert len(validated.rejected) == 0
    assert len(validated.good) == 20_000 and validated.has_label
    assert validated.good[LABEL].sum() == frame[LABEL].sum()
    assert validated.good["total_leads_droppped"].sum() == pytest.approx(frame["total_leads_droppped"].sum())


def test_given_a_frame_when_written_then_raw_layout_without_index_and_empty_cells(tmp_path):
    path = tmp_path / "leads.csv"
    write_leads_csv(generate_leads(50, seed=1, labelled=False), path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(RAW_COLUMNS)
    assert len(lines) == 51
    fields = lines[1].split(",")
    assert len(fields) == len(RAW_COLUMNS) and fields[5].endswith(".0") and fields[6] in ("0.0", "1.0")
    assert fields[-1] == "" and '"' not in path.read_text()


def test_given_missing_columns_when_written_then_refused_and_nothing_written(tmp_path):
    path = tmp_path / "leads.csv"
    with pytest.raises(BadInputError, match="missing columns"):
        write_leads_csv(generate_leads(10).drop(columns=["city_mapped"]), path)
    assert list(tmp_path.iterdir()) == []


def test_given_the_command_line_when_run_then_file_written_and_one_line_printed(tmp_path, capsys):
    path = tmp_path / "out" / "drifted.csv"
    assert main(["--rows", "300", "--seed", "7", "--out", str(path), "--drifted", "--unlabelled"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "300" in printed[0] and str(path) in printed[0]
    written = pd.read_csv(path)
    assert list(written.columns) == list(RAW_COLUMNS) and len(written) == 300


def test_given_bad_rows_on_the_command_line_then_exit_2_with_one_line(tmp_path, capsys):
    assert main(["--rows", "0", "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.strip() == "error: rows must be at least 1, got 0"
    assert not (tmp_path / "x.csv").exists()


def test_given_seed_7_when_written_then_the_file_is_byte_for_byte_the_released_one(tmp_path):
    """The CodePro generator is frozen: the demo, the benchmarks and the README's figures depend on its output."""
    expected = {(False, True): "fa6a9a09ece8a95d20ae5809eac80b440c5d1040372042608ccbcd8b724dc052",
                (True, False): "e1dbb135bcc5380e2b8f97820fbb6140098c18476cefcaffbbee207d80def698"}
    for (drifted, labelled), digest in expected.items():
        path = tmp_path / f"{drifted}-{labelled}.csv"
        write_leads_csv(generate_leads(3_000, seed=7, drifted=drifted, labelled=labelled), path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_given_the_codepro_schema_file_on_the_command_line_then_the_same_file_as_without(tmp_path, capsys):
    plain, with_schema = tmp_path / "plain.csv", tmp_path / "schema.csv"
    assert main(["--rows", "500", "--seed", "3", "--out", str(plain)]) == 0
    assert main(["--rows", "500", "--seed", "3", "--out", str(with_schema), "--schema", str(CODEPRO_SCHEMA)]) == 0
    assert plain.read_bytes() == with_schema.read_bytes()


# --- the example CRM export (--schema schemas/example_crm.yaml) -------------------------------------------------------


@pytest.fixture(scope="module")
def crm_schema():
    return load_schema(EXAMPLE_SCHEMA)


@pytest.fixture(scope="module")
def crm(crm_schema) -> pd.DataFrame:
    return generate_for_schema(crm_schema, 30_000, seed=11)


def test_given_the_example_schema_when_generated_then_columns_are_its_file_layout(crm_schema, crm):
    assert list(crm.columns) == crm_schema.file_layout()
    unlabelled = generate_for_schema(crm_schema, 200, seed=11, labelled=False)
    assert list(unlabelled.columns) == crm_schema.file_layout()[:-1] and unlabelled["Tags"].isna().all()
    pd.testing.assert_frame_equal(generate_for_schema(crm_schema, 2_000, seed=3),
                                  generate_for_schema(crm_schema, 2_000, seed=3))
    assert not generate_for_schema(crm_schema, 2_000, seed=3).equals(generate_for_schema(crm_schema, 2_000, seed=4))


def test_given_the_example_schema_when_generated_then_values_look_like_a_crm_export(crm):
    assert crm["Prospect ID"].str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").all()
    assert crm["Prospect ID"].is_unique
    assert crm["Lead Number"].is_monotonic_increasing and crm["Lead Number"].is_unique
    assert set(crm["Do Not Email"]) == {"Yes", "No"}
    assert (crm["Specialization"] == "Select").mean() == pytest.approx(0.21, abs=0.02)
    assert (crm["City"] == "Select").mean() == pytest.approx(0.24, abs=0.02)
    assert set(crm["Outcome"]) == {"Enrolled", "Lost", "No Answer"}
    assert (crm["Outcome"] == "Enrolled").mean() == pytest.approx(0.35, abs=0.03)
    visits = crm["TotalVisits"].astype(float)
    assert visits.quantile(0.99) < 20 and visits.max() > 150  # a few wild outliers, as in real exports
    assert visits.isna().mean() == pytest.approx(0.015, abs=0.005)
    assert (crm["Total Time Spent on Website"][visits == 0] == 0).all()


def _rule_breaches(schema, frame: pd.DataFrame) -> list[str]:
    """The schema's validation rules read from its raw columns, checked on generated rows (any breach named)."""
    breaches = []
    for column in schema.raw_columns:
        text = frame[column.name].astype("string").str.strip()
        empty = text.isna() | text.isin(schema.na_values)
        if column.required and empty.any():
            breaches.append(f"{column.name}: empty")
        present = text[~empty]
        if column.kind == "number":
            numbers = pd.to_numeric(present, errors="coerce")
            low = column.minimum if column.minimum is not None else -np.inf
            high = column.maximum if column.maximum is not None else np.inf
            if numbers.isna().any() or not numbers.between(low, high).all():
                breaches.append(f"{column.name}: not a number in range")
        if column.kind == "flag" and not present.isin([*column.yes, *column.no]).all():
            breaches.append(f"{column.name}: not a yes/no value")
        if column.kind == "datetime" and pd.to_datetime(present, errors="coerce").isna().any():
            breaches.append(f"{column.name}: not a date")
    return breaches


def test_given_the_example_schema_then_every_generated_row_meets_its_rules(crm_schema, crm):
    assert _rule_breaches(crm_schema, crm) == []
    assert crm["Lead Origin"].notna().all()


def test_given_drifted_when_the_example_schema_is_generated_then_lead_imports_surge(crm_schema, crm):
    drifted = generate_for_schema(crm_schema, 20_000, seed=11, drifted=True)
    assert (crm["Lead Origin"] == "Lead Import").mean() < 0.01
    assert (drifted["Lead Origin"] == "Lead Import").mean() == pytest.approx(0.098, abs=0.01)
    assert (drifted["Lead Source"] == "Facebook").mean() > 0.08
    assert _rule_breaches(crm_schema, drifted) == []


def test_given_the_example_schema_then_tags_leak_the_outcome(crm):
    enrolled = (crm["Outcome"] == "Enrolled").to_numpy().astype(int)
    findings = find_leakage(crm[["Tags", "Lead Source", "Last Activity"]], enrolled)
    assert [f.column for f in findings] == ["Tags"]
    assert crm["Tags"].notna().mean() == pytest.approx(0.68, abs=0.02)


def test_given_the_example_schema_when_a_model_learns_without_tags_then_auc_is_between_08_and_09(crm_schema, crm):
    features = crm.drop(columns=["Prospect ID", "Lead Number", "Tags", "Outcome"])
    features = features.astype({c: "category" for c in features.columns if not is_numeric_dtype(features[c])})
    features["TotalVisits"] = features["TotalVisits"].astype(float)
    label = (crm["Outcome"] == "Enrolled").astype(int)
    train_x, test_x, train_y, test_y = train_test_split(features, label, test_size=0.2, random_state=0, stratify=label)
    model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, random_state=0, n_jobs=2, verbose=-1)
    model.fit(train_x, train_y)
    auc = roc_auc_score(test_y, model.predict_proba(test_x)[:, 1])
    assert 0.80 <= auc <= 0.90


def test_given_the_example_schema_on_the_command_line_then_its_csv_is_written(tmp_path, capsys, crm_schema):
    path = tmp_path / "crm.csv"
    assert main(["--schema", str(EXAMPLE_SCHEMA), "--rows", "300", "--seed", "2", "--out", str(path)]) == 0
    assert "300 synthetic leads (Example CRM export, training-like, labelled, seed 2)" in capsys.readouterr().out
    assert path.read_text().splitlines()[0] == ",".join(crm_schema.file_layout())
    written = pd.read_csv(path, keep_default_na=False, dtype=str)
    assert len(written) == 300 and written["Do Not Email"].isin(["Yes", "No"]).all()
    assert (written["Specialization"] == "").any() and (written["TotalVisits"] == "").any()
    assert written["TotalVisits"].str.fullmatch(r"\d*").all()  # whole visits, no "3.0"


# --- any other schema: generated generically from its declarations ---------------------------------------------------

OTHER_SCHEMA = """\
name: Other
id: Ticket
created: Opened at
label: {column: Won, positive: ["true"]}
na_values: ["", "n/a"]
features:
  Plan: {type: category, required: true}
  Seats: {type: number, min: 1, max: 500}
  Trial: {type: flag, "yes": ["Y"], "no": ["N"]}
  Region: {type: lookup, source: Office, values: {EU: [Paris, Berlin], US: [Boston]}, default: other}
  Clicks: {type: sum, columns: [Clicks A, Clicks B]}
  Hour: {type: hour}
leakage: [Close note]
ignore: [Owner]
"""


def test_given_another_schema_when_generated_then_every_declared_column_follows_its_type(tmp_path):
    schema = parse_schema(OTHER_SCHEMA)
    frame = generate_for_schema(schema, 5_000, seed=1)
    assert list(frame.columns) == schema.file_layout()
    assert frame["Ticket"].is_unique and set(frame["Won"]) == {"true", "false"}
    assert _rule_breaches(schema, frame) == []
    assert frame["Plan"].notna().all() and frame["Plan"].nunique() == 6
    seats = frame["Seats"].dropna()
    assert seats.min() >= 1 and seats.max() <= 500
    assert set(frame["Trial"]) == {"Y", "N"}
    assert {"paris", "berlin", "boston"} <= set(frame["Office"].dropna())
    assert pd.to_datetime(frame["Opened at"], format="%Y-%m-%d %H:%M:%S").is_monotonic_increasing
    won = (frame["Won"] == "true").astype(int).to_numpy()
    assert 0.15 < won.mean() < 0.85
    assert [f.column for f in find_leakage(frame[["Close note", "Plan"]], won)] == ["Close note"]
    path = tmp_path / "other.csv"
    assert main(["--schema", str(_write(tmp_path, OTHER_SCHEMA)), "--rows", "50", "--out", str(path)]) == 0
    assert path.read_text().splitlines()[0] == ",".join(schema.file_layout())


def test_given_another_schema_when_drifted_is_asked_then_one_line_refusal(tmp_path, capsys):
    schema_path = _write(tmp_path, OTHER_SCHEMA)
    assert main(["--schema", str(schema_path), "--rows", "50", "--out", str(tmp_path / "x.csv"), "--drifted"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: --drifted is available for CodePro and the example CRM schema, not for 'Other'"


def test_given_a_bad_schema_on_the_command_line_then_exit_2_with_its_line(tmp_path, capsys):
    assert main(["--schema", str(tmp_path / "none.yaml"), "--rows", "5", "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.strip().endswith("none.yaml: file not found")


def _write(tmp_path, text: str):
    path = tmp_path / "other.yaml"
    path.write_text(text)
    return path
