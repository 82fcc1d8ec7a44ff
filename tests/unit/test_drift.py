"""Drift reports on the real lead files: real shifts are flagged, a random split is not, and the report is stored."""

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from core.drift import (
    DRIFT_SHARE,
    build_drift_report,
    column_kinds,
    positive_share,
    render_report_html,
    save_drift_report,
)
from core.errors import BadInputError
from core.features import fold_rare_levels, lookup_values, sum_values
from core.lead_schema import load_schema
from core.schema import validate_file
from core.store import read_frame, scoring_runs
from tests.paths import SHARED_DATA
from tests.unit.test_course_transformations import COURSE_SIGNIFICANT_LEVELS

NOW = datetime(2026, 1, 1)
SCHEMA = load_schema()
P_VALUE_METHODS = ("p_value",)
# the full training data's cleaned platform mix (shared/data/README.md), 238,964 rows
TRAINING_PLATFORM_COUNTS = {
    "Level0": 84_514, "Level3": 41_021, "Level7": 38_261, "others": 30_805,
    "Level1": 20_296, "Level2": 13_282, "Level8": 10_785,
}


def _readable_frame(file_name: str) -> pd.DataFrame:
    """The model's readable inputs plus a fixed-formula score, with created_date kept for time splits."""
    good = validate_file(SHARED_DATA / file_name, NOW).good
    out = pd.DataFrame({"lead_id": good["lead_id"], "created_date": good["created_date"],
                        "city_tier": lookup_values(SCHEMA.feature("city_tier"), good["city_mapped"])})
    for column, levels in COURSE_SIGNIFICANT_LEVELS.items():
        out[column] = fold_rare_levels(good[column], levels)
    out["total_leads_droppped"] = good["total_leads_droppped"]
    out["referred_lead"] = good["referred_lead"]
    for feature in SCHEMA.features:
        if feature.type == "sum":
            out[feature.key] = sum_values(good, SCHEMA, feature).astype("int64")
    out["hour"] = good["created_date"].dt.hour
    out["weekday"] = good["created_date"].dt.weekday
    out["score"] = _fake_score(out)
    out["predicted"] = (out["score"] >= 0.5).astype("int64")
    return out.reset_index(drop=True)


def _fake_score(frame: pd.DataFrame) -> pd.Series:
    """A fixed logistic formula standing in for the model (written elsewhere)."""
    z = (-0.6 + 0.9 * (frame["first_platform_c"] == "Level0") + 0.4 * frame["referred_lead"]
         - 0.3 * (frame["city_tier"] - 2) + 0.15 * frame["total_leads_droppped"].clip(0, 5)
         + 0.5 * (frame["first_utm_source_c"] == "Level2"))
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    return _readable_frame("leads_labelled_dev.csv")


@pytest.fixture(scope="module")
def nightly() -> pd.DataFrame:
    return _readable_frame("leadscoring_inference.csv")


@pytest.fixture(scope="module")
def halves(labelled: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = labelled.sample(frac=0.5, random_state=7)
    return reference, labelled.drop(reference.index)


@pytest.fixture(scope="module")
def drifted(labelled: pd.DataFrame, nightly: pd.DataFrame):
    """Training period = the first two months of labelled leads; nightly batch = the last two months of the file."""
    reference = labelled[labelled["created_date"] < "2021-09-01"]
    current = nightly[nightly["created_date"] >= "2022-01-01"]
    return reference, current, build_drift_report(reference=reference, current=current)


def _by_column(summary) -> dict[str, dict]:
    return {row["column"]: row for row in summary.columns}


def _drifted_columns(summary) -> set[str]:
    return {row["column"] for row in summary.columns if row["drifted"]}


def test_a_random_half_of_the_same_leads_is_not_flagged(halves):
    reference, current = halves
    summary = build_drift_report(reference=reference, current=current)
    assert not summary.dataset_drift
    assert summary.share_drifted_columns == 0.0
    assert _drifted_columns(summary) == set()
    assert max(row["score"] for row in summary.columns) < 0.08  # distances well under the 0.1 thresholds


def test_newer_leads_drift_from_the_training_period_and_are_flagged(drifted):
    _, _, summary = drifted
    assert summary.dataset_drift
    assert summary.share_drifted_columns >= DRIFT_SHARE
    assert {"first_platform_c", "first_utm_medium_c", "first_utm_source_c", "score"} <= _drifted_columns(summary)
    assert not {"city_tier", "referred_lead", "weekday"} & _drifted_columns(summary)


def test_nightly_file_drifts_from_the_documented_training_platform_mix(halves, nightly):
    # Given labelled leads resampled to the full training data's platform mix (Level10 folded into others: 12.9%)
    reference = _with_training_platform_mix(halves[0])
    # When the real nightly file (platform others 34%) is compared with it
    summary = build_drift_report(reference=reference, current=nightly)
    # Then the platform column is among the drifted ones
    platform = _by_column(summary)["first_platform_c"]
    assert platform["drifted"]
    assert platform["score"] > 2 * platform["threshold"]


def _with_training_platform_mix(frame: pd.DataFrame) -> pd.DataFrame:
    target = pd.Series(TRAINING_PLATFORM_COUNTS, dtype="float64") / sum(TRAINING_PLATFORM_COUNTS.values())
    actual = frame["first_platform_c"].value_counts(normalize=True)
    weights = frame["first_platform_c"].map(target / actual)
    return frame.sample(n=len(frame), replace=True, weights=weights, random_state=3)


def test_nightly_file_is_the_same_population_as_the_labelled_sample(halves, nightly):
    # The labelled sample already carries the nightly file's shift (platform Level10 15.5% in both files).
    summary = build_drift_report(reference=halves[0], current=nightly)
    assert not summary.dataset_drift
    assert _by_column(summary)["first_platform_c"]["score"] < 0.05


def test_column_table_has_every_shared_column_with_scores_in_range(drifted):
    reference, current, summary = drifted
    expected = set(reference.columns) - {"lead_id", "created_date"}
    assert {row["column"] for row in summary.columns} == expected
    for row in summary.columns:
        assert set(row) == {"column", "method", "score", "threshold", "drifted"}
        assert row["score"] == pytest.approx(_recomputed_score(reference, current, row), abs=1e-12)
        assert 0.0 < row["threshold"] < 1.0
        assert row["drifted"] == _verdict(row)
    assert summary.share_drifted_columns == pytest.approx(len(_drifted_columns(summary)) / len(summary.columns))
    assert (summary.rows_reference, summary.rows_current) == (len(reference), len(current))


def _recomputed_score(reference: pd.DataFrame, current: pd.DataFrame, row: dict) -> float:
    """The column's drift score computed here with scipy, by the method the report names."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    ref, cur = reference[row["column"]].dropna(), current[row["column"]].dropna()
    if row["method"] == "Wasserstein distance (normed)":
        return wasserstein_distance(ref, cur) / np.std(ref)
    if row["method"] == "Jensen-Shannon distance":
        levels = list(set(ref) | set(cur))
        shares = [s.value_counts(normalize=True).reindex(levels, fill_value=0.0) for s in (ref, cur)]
        return float(jensenshannon(shares[0].to_numpy(), shares[1].to_numpy()))
    raise AssertionError(f"no independent computation for {row['method']!r} (column {row['column']})")


def _verdict(row: dict) -> bool:
    """Evidently's rule: p-values drift below the threshold, distances at or above it."""
    if row["method"].endswith(P_VALUE_METHODS):
        return row["score"] < row["threshold"]
    return row["score"] >= row["threshold"]


def test_predicted_positive_share_is_the_share_of_positive_predictions(drifted):
    reference, current, summary = drifted
    assert summary.predicted_positive_share == pytest.approx(current["predicted"].sum() / len(current))
    assert summary.reference_positive_share == pytest.approx(reference["predicted"].sum() / len(reference))
    assert summary.predicted_positive_share != pytest.approx(summary.reference_positive_share, abs=0.03)
    assert positive_share(current.drop(columns="predicted")) is None


def test_only_columns_present_in_both_frames_are_compared(halves):
    reference, current = halves
    summary = build_drift_report(reference=reference[["city_tier", "score", "hour"]],
                                 current=current[["score", "first_platform_c", "city_tier"]])
    assert {row["column"] for row in summary.columns} == {"city_tier", "score"}
    assert summary.predicted_positive_share is None and summary.reference_positive_share is None


def test_column_kinds_follow_the_dtypes():
    hours = np.arange(24)
    reference = pd.DataFrame({
        "first_platform_c": ["Level0", "others"] * 12, "city_tier": [1.0, 2.0, 3.0] * 8, "weekday": hours % 7,
        "predicted": hours % 2, "score": np.linspace(0.01, 0.99, 24), "hour": hours,
        "created_date": pd.date_range("2021-07-01", periods=24, freq="h"), "lead_id": hours.astype(str),
        "only_here": hours, "empty": np.nan, "tier_from_a_driver": pd.Series([1, 2, 3] * 8, dtype=object),
        "is_weekend": hours % 7 >= 5,
    })
    current = reference.drop(columns="only_here")
    assert column_kinds(reference, current) == {
        "first_platform_c": "categorical", "city_tier": "categorical", "weekday": "categorical",
        "predicted": "categorical", "score": "numerical", "hour": "numerical",
        "tier_from_a_driver": "categorical", "is_weekend": "categorical",
    }


def test_many_valued_integers_are_numerical():
    reference = pd.DataFrame({"total_leads_droppped": np.arange(40, dtype="float64")})
    assert column_kinds(reference, reference) == {"total_leads_droppped": "numerical"}


def test_same_inputs_and_seed_give_the_same_summary_on_a_sample(halves):
    reference, current = halves
    first = build_drift_report(reference=reference, current=current, max_rows=3_000, seed=5)
    again = build_drift_report(reference=reference, current=current, max_rows=3_000, seed=5)
    other_seed = build_drift_report(reference=reference, current=current, max_rows=3_000, seed=6)
    assert _without_snapshot(first) == _without_snapshot(again)
    assert first.columns != other_seed.columns  # the sample really changed with the seed
    assert first.rows_reference == len(reference)  # counts are the batch sizes, not the sample's
    assert json.loads(first.snapshot_json)["metric_results"]


def _without_snapshot(summary) -> dict:
    return {k: v for k, v in summary.__dict__.items() if k != "snapshot_json"}


def test_snapshot_renders_the_full_html_report(drifted):
    _, _, summary = drifted
    html = render_report_html(summary.snapshot_json)
    assert html.lstrip().lower().startswith("<html") or "<!doctype html" in html[:200].lower()
    for column in ("first_platform_c", "first_utm_medium_c", "total_leads_droppped", "score"):
        assert column in html


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_empty_frame_is_refused_with_one_line(halves, empty):
    frames = {"reference": halves[0], "current": halves[1]}
    frames[empty] = frames[empty].iloc[:0]
    with pytest.raises(BadInputError, match=f"the {empty} frame is empty"):
        build_drift_report(**frames)


def test_max_rows_below_one_is_refused(halves):
    with pytest.raises(BadInputError, match="max_rows >= 1"):
        build_drift_report(reference=halves[0], current=halves[1], max_rows=0)


def test_frames_without_a_shared_column_are_refused(halves):
    with pytest.raises(BadInputError, match="at least one"):
        build_drift_report(reference=halves[0][["score"]], current=halves[1][["hour"]])


def test_saved_report_reads_back_and_a_rerun_replaces_it(engine, drifted):
    _, _, summary = drifted
    with engine.begin() as conn:
        conn.execute(insert(scoring_runs).values(
            run_id=1, model_name="leadscore", model_version="1", started_at=NOW, status="done"))
        save_drift_report(conn, 1, summary, NOW)
        save_drift_report(conn, 1, summary, NOW)
    rows = read_frame(engine, "SELECT * FROM drift_reports WHERE run_id = :run", {"run": 1})
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["share_drifted_columns"] == pytest.approx(summary.share_drifted_columns)
    assert bool(row["dataset_drift"]) is summary.dataset_drift
    assert (row["rows_current"], row["rows_reference"]) == (summary.rows_current, summary.rows_reference)
    assert row["predicted_positive_share"] == pytest.approx(summary.predicted_positive_share)
    assert json.loads(row["column_scores"]) == summary.columns
    assert row["snapshot_json"] == summary.snapshot_json
