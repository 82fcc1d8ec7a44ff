"""Evidently drift reports: a scored batch against the training reference -> summary row + snapshot JSON."""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection

from core.errors import BadInputError
from core.store import drift_reports

# The batch drifts when 30% of its columns drift. Evidently's default (half) misses real shifts here: 5 of the
# ~15 columns are interaction sums that are >99.9% empty and barely move; the labelled leads of Jul-Aug 2021 vs
# the nightly file's Jan-Feb 2022 leads drift on 6 of 15 columns (every channel column, the score).
DRIFT_SHARE = 0.3
MAX_CATEGORICAL_LEVELS = 10  # integer-valued columns with at most this many values are categories
PREDICTED = "predicted"
MISSING = "(missing)"
IDENTIFIER_COLUMNS = frozenset({"lead_id", "run_id", "batch_id", "row_number"})


@dataclass(frozen=True)
class DriftSummary:
    """What the nightly run stores about one drift report (rows_* are the batch sizes before sampling)."""

    rows_current: int
    rows_reference: int
    share_drifted_columns: float
    dataset_drift: bool
    columns: list[dict]
    predicted_positive_share: float | None
    reference_positive_share: float | None
    snapshot_json: str


def build_drift_report(reference: pd.DataFrame, current: pd.DataFrame, max_rows: int = 50_000,
                       seed: int = 0) -> DriftSummary:
    """Compare the batch with the reference on their shared columns, on at most max_rows rows of each."""
    _require_rows(reference, "reference")
    _require_rows(current, "current")
    kinds = column_kinds(reference, current)
    ref = prepare_columns(sample_rows(reference, max_rows, seed), kinds)
    cur = prepare_columns(sample_rows(current, max_rows, seed), kinds)
    snapshot = _run_evidently(ref, cur, kinds)
    share, dataset_drift, columns = read_drift_results(snapshot.dict())
    return DriftSummary(
        rows_current=len(current), rows_reference=len(reference),
        share_drifted_columns=share, dataset_drift=dataset_drift, columns=columns,
        predicted_positive_share=positive_share(current), reference_positive_share=positive_share(reference),
        snapshot_json=snapshot.dumps(),
    )


def _require_rows(frame: pd.DataFrame, name: str) -> None:
    """An empty side makes every drift score meaningless: refuse it in one line."""
    if frame.empty:
        raise BadInputError(f"drift report needs rows: the {name} frame is empty")


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most max_rows rows, the same ones for the same frame and seed (keeps big batches cheap)."""
    if max_rows < 1:
        raise BadInputError(f"drift report needs max_rows >= 1, got {max_rows}")
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def column_kinds(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, str]:
    """'numerical' or 'categorical' for every comparable column present in both frames, in reference order."""
    shared = [c for c in reference.columns if c in current.columns and c not in IDENTIFIER_COLUMNS]
    kinds = {}
    for column in shared:
        kind = _kind_of(reference[column], current[column])
        if kind is not None:
            kinds[column] = kind
    if not kinds:
        raise BadInputError("drift report needs at least one number or text column present in both frames")
    return kinds


def _kind_of(reference: pd.Series, current: pd.Series) -> str | None:
    """Text and few-valued integers are categories, other numbers numerical; dates and all-empty columns skipped."""
    if _is_text(reference) or _is_text(current):
        return "categorical"
    if not (_is_number(reference) and _is_number(current)):
        return None
    if reference.isna().all() or current.isna().all():
        return None
    values = pd.to_numeric(reference.dropna()).astype("float64")  # the reference decides: runs compare alike
    few_integers = bool(np.all(values == np.round(values))) and values.nunique() <= MAX_CATEGORICAL_LEVELS
    return "categorical" if few_integers else "numerical"


def _is_text(series: pd.Series) -> bool:
    """Strings and pandas categories are compared level by level."""
    return isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series)


def _is_number(series: pd.Series) -> bool:
    """Numeric dtypes, and object columns holding only numbers (as read from some drivers)."""
    if pd.api.types.is_numeric_dtype(series):
        return True
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return series.dtype == object and inferred in ("integer", "floating", "mixed-integer-float", "decimal")


def prepare_columns(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Numbers as float64; categories as text ('1' whether stored as 1 or 1.0) with missing as its own level."""
    out = {}
    for column, kind in kinds.items():
        series = frame[column]
        out[column] = _as_float(series) if kind == "numerical" else _as_level(series)
    return pd.DataFrame(out, index=frame.index)


def _as_float(series: pd.Series) -> pd.Series:
    """Nullable and object numbers become plain float64 with NaN, which Evidently's tests expect."""
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _as_level(series: pd.Series) -> pd.Series:
    """Levels as text so 1 and 1.0 match across frames; a missing value counts as a level of its own."""
    if _is_number(series):
        numbers = pd.to_numeric(series).astype("float64")
        text = numbers.map(lambda v: format(v, "g"), na_action="ignore")
    else:
        text = series.astype(object).map(str, na_action="ignore")
    return text.fillna(MISSING).astype(object)


def import_evidently_in_background() -> threading.Thread:
    """Evidently takes ~6 s to import: a nightly run starts importing it as it starts scoring (whose heavy parts
    run in compiled code, the database or a reading process), so the run's drift report does not wait for it."""
    thread = threading.Thread(target=_import_evidently, name="import-evidently", daemon=True)
    thread.start()
    return thread


def _import_evidently() -> None:
    try:
        import evidently  # noqa: F401
        import evidently.presets  # noqa: F401
    except Exception:  # noqa: BLE001 - the report imports it again and says what is wrong
        return


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str]) -> Any:
    """The DataDriftPreset report with its tests (Evidently imported here: it takes seconds to import)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numerical"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    report = Report([DataDriftPreset(drift_share=DRIFT_SHARE)], include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy noise on constant columns
        return report.run(
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
            current_data=Dataset.from_pandas(current, data_definition=definition),
        )


def read_drift_results(report: dict) -> tuple[float, bool, list[dict]]:
    """Share of drifted columns, Evidently's dataset verdict and the per-column rows, from snapshot.dict()."""
    failed = {_test_metric_id(t) for t in report["tests"] if _status(t) == "FAIL"}
    share, dataset_drift, columns = 0.0, False, []
    for metric in report["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            dataset_drift = metric["id"] in failed
        elif config["type"].endswith(":ValueDrift"):
            columns.append(_column_row(metric, drifted=metric["id"] in failed))
    return share, dataset_drift, columns


def _column_row(metric: dict, drifted: bool) -> dict:
    """One row of the per-column table the dashboard shows."""
    config = metric["config"]
    return {
        "column": config["column"], "method": config["method"], "score": float(metric["value"]),
        "threshold": float(config["threshold"]), "drifted": drifted,
    }


def _test_metric_id(test: dict) -> str:
    """Which metric a test result judges."""
    return test["metric_config"]["metric_id"]


def _status(test: dict) -> str:
    """The test status as text (an enum in snapshot.dict(), a string once loaded from JSON)."""
    status = test["status"]
    return str(getattr(status, "value", status))


def positive_share(frame: pd.DataFrame) -> float | None:
    """Share of rows the model flags positive (the course's prediction distribution check), None without predictions."""
    if PREDICTED not in frame.columns or frame[PREDICTED].notna().sum() == 0:
        return None
    return float(pd.to_numeric(frame[PREDICTED], errors="coerce").dropna().astype(bool).mean())


def save_drift_report(conn: Connection, run_id: int, summary: DriftSummary, now: datetime) -> None:
    """Store the run's drift report (replacing an earlier one for the same run, so a rerun completes it)."""
    row = asdict(summary)
    row["column_scores"] = json.dumps(row.pop("columns"))
    conn.execute(delete(drift_reports).where(drift_reports.c.run_id == run_id))
    conn.execute(insert(drift_reports).values(run_id=run_id, created_at=now, **row))


def render_report_html(snapshot_json: str) -> str:
    """The full Evidently HTML page, rebuilt from the stored snapshot (the HTML is too big to store)."""
    from evidently.core.report import Snapshot

    return Snapshot.loads(snapshot_json).get_html_str(as_iframe=False)
