"""Realistic rows in every table for any lead schema, written through core.store's schema tables, so dashboard
tests can check the numbers shown.

Three ingest batches (two lead files, one outcomes file) with rejected rows; 300 leads, most with a
known outcome; scoring run 1 (model v1, 240 leads), run 2 (model v2, all 300 leads, current) and a
failed run 3; drift reports for runs 1 and 2; three model versions (v2 champion, v3 not promoted).
Every stored column follows the schema (`store.schema_tables(schema)`): `leads` holds one column per raw
column under its db_name and the label under label.db_name; `lead_scores` holds the schema's channels and
list columns under their feature keys; `created_date` is the created value, else the ingest batch's start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from core import store
from core.evaluation import evaluate_live
from core.lead_schema import Feature, LeadSchema, RawColumn
from core.retraining import (
    Evidence,
    RetrainDecision,
    RetrainPolicy,
    decide_retraining,
    gather_evidence,
    record_decision,
)

FIRST_BATCH_LEADS = 240
SECOND_BATCH_LEADS = 60
CUTOFFS = {"A": 0.7, "B": 0.5, "C": 0.3}
THRESHOLD = 0.45
LABELLED_BEFORE = datetime(2022, 1, 20)
LABELLED_ROWS_WITHOUT_TIME = 195  # about the share of leads created before LABELLED_BEFORE
# level pools by raw column name (weights); a column not listed gets '<name> 1', '<name> 2', ...
LEVELS: dict[str, tuple[tuple[str | None, float], ...]] = {
    "first_platform_c": (("Level0", 0.40), ("Level3", 0.2), ("Level7", 0.18), ("Level1", 0.1), ("Level2", 0.07),
                         ("Level8", 0.05)),
    "first_utm_medium_c": (("Level0", 0.3), ("Level2", 0.2), ("Level6", 0.2), ("Level3", 0.15), ("Level11", 0.1),
                           ("Level33", 0.05)),
    "first_utm_source_c": (("Level2", 0.35), ("Level0", 0.25), ("Level7", 0.15), ("Level4", 0.1), ("Level16", 0.1),
                           ("Level14", 0.05)),
    "Lead Source": (("Google", 0.35), ("Direct Traffic", 0.25), ("Olark Chat", 0.15), ("Organic Search", 0.1),
                    ("Reference", 0.1), ("Welingak Website", 0.05)),
    "Lead Origin": (("Landing Page Submission", 0.5), ("API", 0.35), ("Lead Add Form", 0.15)),
    "Country": (("India", 0.6), ("United States", 0.15), ("United Arab Emirates", 0.1), ("Singapore", 0.1),
                (None, 0.05)),
}
UNKNOWN_CITIES = ("raipur", "varanasi", "salem", "jammu")
FIRST_CHANNEL_EFFECTS = (0.3, -1.2, 0.6, 0.0, 1.0, -0.4)  # by level order of the first channel's pool
BARS_V2 = {"auc": 0.76, "precision": 0.66, "recall": 0.76}
RECALL_INTERVAL_V2 = [0.762, 0.841]


@dataclass(frozen=True)
class Seeded:
    """Everything written, so tests compute the expected numbers independently of the app."""

    schema: LeadSchema
    now: datetime
    batches: pd.DataFrame
    rejected: pd.DataFrame
    leads: pd.DataFrame
    runs: pd.DataFrame
    scores: pd.DataFrame
    models: pd.DataFrame
    drift: pd.DataFrame
    drift_columns: tuple[str, ...]

    @property
    def current(self) -> pd.DataFrame:
        """The current score of every lead."""
        return self.scores[self.scores["is_current"]]

    @property
    def outcome(self) -> str:
        """The label's column in `leads`."""
        return self.schema.label.db_name


def seed_database(engine: Engine, now: datetime | None = None, seed: int = 7,
                  schema: LeadSchema | None = None) -> Seeded:
    """Write the whole story into an empty database of `schema` (default: the engine's); returns what was written."""
    schema = schema or store.engine_schema(engine)
    now = (now or datetime.now(UTC).replace(tzinfo=None)).replace(microsecond=0)  # naive UTC, as stored
    rng = np.random.default_rng(seed)
    batches = _batches(now)
    leads, true_score = _leads(rng, schema, batches)
    batches = _with_label_counts(batches, leads, schema)
    drift_columns = _drift_columns(schema)
    seeded = Seeded(schema=schema, now=now, batches=batches, rejected=_rejected(schema), leads=leads,
                    runs=_runs(now), scores=_scores(rng, schema, leads, true_score, batches, now),
                    models=_models(schema, now), drift=_drift(now, drift_columns), drift_columns=drift_columns)
    tables = store.schema_tables(schema)
    with engine.begin() as conn:
        ensure_run_partitions(conn, [int(r) for r in seeded.runs["run_id"]])
        for table, frame in ((store.ingest_batches, seeded.batches), (store.rejected_leads, seeded.rejected),
                             (tables.leads, seeded.leads), (store.scoring_runs, seeded.runs),
                             (store.model_versions, seeded.models), (store.drift_reports, seeded.drift)):
            unknown = set(frame.columns) - set(table.c.keys())
            assert not unknown, f"{table.name}: columns not in the schema's table: {sorted(unknown)}"
            store.bulk_insert(conn, table.name, frame)
        write_scores(conn, tables, seeded.scores)
    return seeded


def write_scores(conn, tables: store.SchemaTables, scores: pd.DataFrame) -> None:
    """Score rows as a run writes them: every row into the lead_scores history, the rows flagged is_current
    (a flag of the seed only) into current_scores, replacing the lead's earlier current score."""
    history = scores.drop(columns=["is_current"])
    unknown = set(history.columns) - set(tables.lead_scores.c.keys())
    assert not unknown, f"lead_scores: columns not in the schema's table: {sorted(unknown)}"
    store.bulk_insert(conn, tables.lead_scores.name, history)
    current = history[scores["is_current"].to_numpy(dtype=bool)]
    conn.execute(tables.current_scores.delete().where(tables.current_scores.c.lead_id.in_(list(current["lead_id"]))))
    store.bulk_insert(conn, tables.current_scores.name, current[list(tables.current_scores.c.keys())])


def ensure_run_partitions(conn, run_ids: list[int]) -> None:
    """On Postgres lead_scores may be partitioned by run: give each seeded run its partition."""
    if not store.is_postgres(conn):
        return
    partitioned = conn.execute(text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                                    "WHERE c.relname = 'lead_scores'")).first()
    for run_id in run_ids if partitioned else []:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS lead_scores_seed_run_{int(run_id)} "
                          f"PARTITION OF lead_scores FOR VALUES IN ({int(run_id)})"))


# ---- leads ------------------------------------------------------------------------------------

def _pool(column: RawColumn, schema: LeadSchema) -> tuple[tuple[str | None, float], ...]:
    if column.name in LEVELS:
        return LEVELS[column.name]
    lookup = next((f for f in schema.features if f.type == "lookup" and f.sources[0] == column.name), None)
    if lookup is not None:
        return _lookup_pool(lookup)
    return tuple((f"{column.name} {i + 1}", 0.5 ** i) for i in range(5))


def _lookup_pool(feature: Feature) -> tuple[tuple[str | None, float], ...]:
    """Half the leads in the lookup's first group, a fifth in the second, the rest unknown or empty."""
    groups: dict[str, list[str]] = {}
    for key, value in feature.lookup.items():
        groups.setdefault(value, []).append(key)
    shares = (0.5, 0.18, 0.1)
    pool = [(key, share / len(keys)) for (_, keys), share in zip(groups.items(), shares, strict=False) for key in keys]
    return (*pool, *((city, 0.28 / len(UNKNOWN_CITIES)) for city in UNKNOWN_CITIES), (None, 0.04))


def _pick(rng: np.random.Generator, levels: tuple[tuple[str | None, float], ...], n: int) -> np.ndarray:
    names, weights = zip(*levels, strict=True)
    return np.array(names, dtype=object)[rng.choice(len(names), size=n, p=np.array(weights) / sum(weights))]


def _raw_values(rng: np.random.Generator, column: RawColumn, schema: LeadSchema, n: int,
                first_number: str | None) -> np.ndarray:
    if column.kind == "datetime":
        first = pd.Timestamp("2021-11-01") + pd.to_timedelta(rng.uniform(0, 91, FIRST_BATCH_LEADS), unit="D")
        second = pd.Timestamp("2022-02-01") + pd.to_timedelta(rng.uniform(0, 14, SECOND_BATCH_LEADS), unit="D")
        return pd.Series(np.concatenate([first.values, second.values])).dt.floor("s").to_numpy()
    if column.role == "order":
        return np.arange(600_000, 600_000 + n, dtype=float)
    if column.kind == "flag":
        return (rng.uniform(size=n) < 0.08).astype(float)
    if column.kind == "number":
        return rng.poisson(1.6 if column.name == first_number else 0.4, n).astype(float)
    return _pick(rng, _pool(column, schema), n)


def _first_of(schema: LeadSchema, kind: str) -> Feature | None:
    listed = [schema.feature(n) for n in (*schema.list_columns, *schema.channels)]
    return next((f for f in [*listed, *schema.features] if f.type == kind), None)


def _leads(rng: np.random.Generator, schema: LeadSchema, batches: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    n = FIRST_BATCH_LEADS + SECOND_BATCH_LEADS
    number, flag = _first_of(schema, "number"), _first_of(schema, "flag")
    frame = pd.DataFrame({
        "lead_id": [hashlib.sha256(f"seed-lead-{i}".encode()).hexdigest()[:16] for i in range(n)],
        "batch_id": [1] * FIRST_BATCH_LEADS + [2] * SECOND_BATCH_LEADS,
        "row_number": list(range(1, FIRST_BATCH_LEADS + 1)) + list(range(1, SECOND_BATCH_LEADS + 1)),
    })
    for column in schema.raw_columns:
        frame[column.db_name] = _raw_values(rng, column, schema, n, number.name if number else None)
    channel = schema.raw(schema.feature(schema.channels[0]).sources[0])
    levels = [name for name, _ in _pool(channel, schema)]
    effects = dict(zip(levels, FIRST_CHANNEL_EFFECTS * 3, strict=False))
    logit = frame[channel.db_name].map(effects).fillna(0.0) + rng.normal(0, 0.9, n) + 0.3
    if flag is not None:
        logit += 1.8 * frame[schema.raw(flag.name).db_name]
    if number is not None:
        logit -= 0.25 * frame[schema.raw(number.name).db_name]
    true_score = 1 / (1 + np.exp(-logit.to_numpy(dtype=float)))
    labelled = _created(schema, frame, batches) < LABELLED_BEFORE if schema.has_time else \
        pd.Series(np.arange(n) < LABELLED_ROWS_WITHOUT_TIME)
    outcome = (rng.uniform(size=n) < true_score).astype(int)
    frame[schema.label.db_name] = pd.Series(outcome, dtype="Int64").where(labelled.to_numpy())
    frame["label_batch_id"] = pd.Series(3, index=frame.index, dtype="Int64").where(labelled.to_numpy())
    recorded = batches.loc[2, "started_at"]
    frame["label_recorded_at"] = pd.Series(recorded, index=frame.index).where(labelled.to_numpy())
    return frame, true_score


def _created(schema: LeadSchema, leads: pd.DataFrame, batches: pd.DataFrame) -> pd.Series:
    """lead_scores.created_date: the created value, else the ingest batch's start."""
    if schema.has_time:
        return pd.to_datetime(leads[schema.raw(schema.created_column).db_name])
    return leads["batch_id"].map(batches.set_index("batch_id")["started_at"]).astype("datetime64[ns]")


# ---- scores -----------------------------------------------------------------------------------

def _feature_value(feature: Feature, schema: LeadSchema, leads: pd.DataFrame) -> pd.Series:
    """A copied feature as lead_scores stores it: raw text, the looked-up value, or the number."""
    raw = [leads[schema.raw(s).db_name] for s in feature.sources if s != schema.created_column]
    if feature.type == "lookup":
        looked = raw[0].map(lambda v: feature.lookup.get(str(v).strip().lower(), feature.default)
                            if isinstance(v, str) else feature.default)
        return looked.astype(float) if feature.numeric else looked
    if feature.type == "sum":
        return sum(r.fillna(0.0) for r in raw)
    if feature.type in ("hour", "weekday"):
        created = pd.to_datetime(leads[schema.raw(schema.created_column).db_name])
        return (created.dt.hour if feature.type == "hour" else created.dt.weekday).astype(float)
    return raw[0]


def _grade(score: float) -> str:
    return next((g for g, lo in CUTOFFS.items() if score >= lo), "D")


def _reasons(schema: LeadSchema, copied: pd.DataFrame, effects: pd.Series, i: int) -> tuple[list[str], list[str]]:
    plus, minus = [], []
    for feature in schema.score_copy_features():
        value = copied[feature.key].iloc[i]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if feature.name == schema.channels[0]:
            (plus if effects.iloc[i] > 0 else minus).append(feature.describe(value))
        elif feature.type == "flag":
            if value == 1:
                plus.append(feature.describe(value))
        elif feature.type == "lookup":
            first = next(iter(feature.lookup.values()), None)
            (plus if str(value) == str(first) or _same_number(value, first) else minus).append(feature.describe(value))
        else:
            plus.append(feature.describe(value))
    return plus, minus


def _same_number(value: object, other: object) -> bool:
    try:
        return float(value) == float(other)
    except (TypeError, ValueError):
        return False


def _score_rows(schema: LeadSchema, leads: pd.DataFrame, created: pd.Series, score: np.ndarray, run_id: int,
                version: str, scored_at: datetime) -> pd.DataFrame:
    copied = pd.DataFrame({f.key: _feature_value(f, schema, leads).to_numpy() for f in schema.score_copy_features()})
    channel = schema.raw(schema.feature(schema.channels[0]).sources[0])
    effects = leads[channel.db_name].map(dict(zip([n for n, _ in _pool(channel, schema)], FIRST_CHANNEL_EFFECTS * 3,
                                                  strict=False))).fillna(0.0)
    reasons = [_reasons(schema, copied, effects, i) for i in range(len(leads))]
    return pd.DataFrame({
        "run_id": run_id, "lead_id": leads["lead_id"].to_numpy(), "model_version": version, "score": score,
        "grade": [_grade(s) for s in score],
        "rank": pd.Series(score).rank(ascending=False, method="first").astype(int).to_numpy(),
        "predicted": (score >= THRESHOLD).astype(int),
        "reasons_positive": [json.dumps(p) for p, _ in reasons],
        "reasons_negative": [json.dumps(m) for _, m in reasons],
        "created_date": created.to_numpy(),
        **{key: copied[key].to_numpy() for key in copied.columns},
        "scored_at": pd.Timestamp(scored_at),
    })


def _scores(rng: np.random.Generator, schema: LeadSchema, leads: pd.DataFrame, true_score: np.ndarray,
            batches: pd.DataFrame, now: datetime) -> pd.DataFrame:
    created = _created(schema, leads, batches)
    old_leads = leads.iloc[:FIRST_BATCH_LEADS]
    old_score = np.clip(true_score[:FIRST_BATCH_LEADS] + rng.normal(0, 0.06, FIRST_BATCH_LEADS), 0.001, 0.999)
    run1 = _score_rows(schema, old_leads, created.iloc[:FIRST_BATCH_LEADS], old_score, 1, "1", now - timedelta(days=3))
    run1["previous_score"], run1["trend"], run1["is_current"] = np.nan, None, False
    run2 = _score_rows(schema, leads, created, np.round(true_score, 6), 2, "2", now - timedelta(hours=2))
    previous = np.concatenate([old_score, np.full(SECOND_BATCH_LEADS, np.nan)])
    change = run2["score"].to_numpy() - previous
    run2["previous_score"] = previous
    run2["trend"] = np.select([np.isnan(previous), change > 0.02, change < -0.02],
                              [None, "improving", "declining"], "steady")
    run2["is_current"] = True
    return pd.concat([run1, run2], ignore_index=True)


# ---- pipeline tables --------------------------------------------------------------------------

def _batches(now: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "batch_id": [1, 2, 3],
        "file_name": ["leads_2022-01.csv", "leads_2022-02.csv", "outcomes_2022-02.csv"],
        "sha256": [hashlib.sha256(f"file-{i}".encode()).hexdigest() for i in range(3)],
        "rows_in": [FIRST_BATCH_LEADS + 6 + 9, SECOND_BATCH_LEADS + 2 + 4, 1],
        "loaded": [FIRST_BATCH_LEADS, SECOND_BATCH_LEADS, 0], "duplicate": [6, 2, 0], "rejected": [9, 4, 1],
        "labels_recorded": [0, 0, 0],
        "started_at": [pd.Timestamp(now - timedelta(days=d)) for d in (5, 4, 1)],
        "finished_at": [pd.Timestamp(now - timedelta(days=d) + timedelta(seconds=3)) for d in (5, 4, 1)],
    })


def _with_label_counts(batches: pd.DataFrame, leads: pd.DataFrame, schema: LeadSchema) -> pd.DataFrame:
    labels = int(leads[schema.label.db_name].notna().sum())
    out = batches.copy()
    out.loc[2, ["rows_in", "duplicate", "labels_recorded"]] = [labels + 1, labels, labels]
    return out


def rejection_reasons(schema: LeadSchema) -> tuple[str, ...]:
    """Reason texts named after the schema's own columns."""
    required = next((c.name for c in schema.raw_columns if c.required and c.kind == "text"), schema.raw_columns[0].name)
    number = next((c.name for c in schema.raw_columns if c.kind == "number"), schema.raw_columns[0].name)
    flag = next((c for c in schema.raw_columns if c.kind == "flag"), None)
    flag_reason = f"{flag.name} must be {' or '.join((*flag.no, *flag.yes))}: 'maybe'" if flag else \
        f"{number} must be a number, got 'n/a'"
    return (f"{number} must be a number, got 'abc'", f"{required} is empty", flag_reason,
            f"row has 12 fields, expected {len(schema.file_columns())}")


def _rejected(schema: LeadSchema) -> pd.DataFrame:
    reasons = rejection_reasons(schema)
    number = next((c.name for c in schema.raw_columns if c.kind == "number"), schema.raw_columns[0].name)
    required = next((c.name for c in schema.raw_columns if c.required and c.kind == "text"), schema.raw_columns[0].name)
    rows = [(batch, number_) for batch, count in ((1, 9), (2, 4), (3, 1)) for number_ in range(1, count + 1)]
    return pd.DataFrame({
        "batch_id": [b for b, _ in rows],
        "row_number": [n * 7 for _, n in rows],
        "raw_row": [json.dumps({number: "abc", required: "", "row": n}) for _, n in rows],
        "reason": [reasons[(b + n) % len(reasons)] for b, n in rows],
    })


def _runs(now: datetime) -> pd.DataFrame:
    starts = [now - timedelta(days=3), now - timedelta(hours=2), now - timedelta(hours=1)]
    return pd.DataFrame({
        "run_id": [1, 2, 3], "model_name": "lead-scoring-l2ac", "model_version": ["1", "2", "2"],
        "started_at": [pd.Timestamp(s) for s in starts],
        "finished_at": [pd.Timestamp(starts[0] + timedelta(seconds=4.2)), pd.Timestamp(starts[1] + timedelta(seconds=5.1)),
                        pd.Timestamp(starts[2] + timedelta(seconds=0.8))],
        "status": ["succeeded", "succeeded", "failed"],  # the words core.scoring writes
        "leads_scored": [FIRST_BATCH_LEADS, FIRST_BATCH_LEADS + SECOND_BATCH_LEADS, 0],
        "duration_s": [4.2, 5.1, 0.8],
        "error": [None, None, "OperationalError: connection to the database was lost; the rerun completes it"],
    })


# ---- models and drift -------------------------------------------------------------------------

def holdout_method(schema: LeadSchema) -> str:
    """The holdout method text training writes for this schema."""
    if schema.created_column:
        return "newest 20% by created time"
    if schema.order_column:
        return f"newest 20% by {schema.order_column}"
    return "stratified random 20% (seed 7)"


def leakage_lines(schema: LeadSchema) -> list[str]:
    """One leakage warning as training writes it, naming a feature of the schema."""
    return [f"possible leakage: {schema.features[-1].name} alone separates the outcomes (AUC 0.97)"]


def _metrics(auc: float, precision: float, recall: float, champion: tuple[str, float] | None,
             extra: dict | None = None) -> str:
    """The shape core.model / core.registry write (holdout metrics, counts, window, comparison)."""
    return json.dumps({
        "auc": auc, "pr_auc": auc - 0.02, "precision": precision, "recall": recall,
        "f1": round(2 * precision * recall / (precision + recall), 4), "accuracy": 0.71, "brier": 0.19,
        "threshold": THRESHOLD, "tn": 1012, "fp": 491, "fn": 301, "tp": 1216,
        "train_rows": 12080, "holdout_rows": 3020, "refit_rows": 15100,
        "window": {"data_start": "2021-07-01 00:00:07", "holdout_start": "2022-01-05 10:12:00",
                   "data_end": "2022-02-14 23:58:00"},
        "comparison": {"champion_version": champion[0] if champion else None,
                       "champion_auc": champion[1] if champion else None, "challenger_auc": auc},
        **(extra or {}),
    })


CHAMPION_CURVES = {
    "roc": {"fpr": [0.0, 0.1, 0.2, 0.4, 0.7, 1.0], "tpr": [0.0, 0.45, 0.66, 0.84, 0.95, 1.0]},
    "pr": {"recall": [0.0, 0.4, 0.6, 0.8, 1.0], "precision": [1.0, 0.85, 0.78, 0.7, 0.5]},
    "calibration": {"predicted": [0.1, 0.3, 0.5, 0.7, 0.9], "observed": [0.12, 0.28, 0.52, 0.69, 0.88]},
    "confusion_matrix": {"labels": [0, 1], "matrix": [[1012, 491], [301, 1216]]},
}
IMPORTANCES = (0.412, 0.2335, 0.1802, 0.096, 0.0713, 0.02)


def champion_importance(schema: LeadSchema) -> dict[str, float]:
    """Feature importance of the champion, keyed by the schema's feature keys (as training writes it)."""
    keys = [f.key for f in schema.score_copy_features()] + [f.key for f in schema.features]
    return dict(zip(list(dict.fromkeys(keys)), IMPORTANCES, strict=False))


def _models(schema: LeadSchema, now: datetime) -> pd.DataFrame:
    v2_extra = {"bars": BARS_V2, "leakage": leakage_lines(schema), "holdout_method": holdout_method(schema),
                "recall_interval": RECALL_INTERVAL_V2}
    return pd.DataFrame({
        "model_name": "lead-scoring-l2ac", "version": ["1", "2", "3"],
        "mlflow_run_id": ["0a1b2c3d4e5f60718293a4b5c6d7e8f9", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "1234abcd5678ef901234abcd5678ef90"],
        "created_at": [pd.Timestamp(now - timedelta(days=d)) for d in (10, 2, 1)],
        "is_champion": [False, True, False], "promoted": [True, True, False],
        "decision_reason": ["first champion: clears AUC > 0.75, precision > 0.65, recall > 0.75",
                            "promoted: AUC 0.801 beats the champion's 0.783 on the same holdout",
                            "not promoted: precision 0.612 is below the bar 0.65"],
        "metrics_json": [_metrics(0.783, 0.671, 0.781, None), _metrics(0.801, 0.712, 0.802, ("1", 0.783), v2_extra),
                         _metrics(0.79, 0.612, 0.83, ("2", 0.801))],
        "threshold": [0.47, THRESHOLD, 0.41],
        "grade_cutoffs_json": json.dumps(CUTOFFS),
        "curves_json": [None, json.dumps(CHAMPION_CURVES), None],
        "feature_importance_json": [None, json.dumps(champion_importance(schema)), None],
    })


def _drift_columns(schema: LeadSchema) -> tuple[str, ...]:
    keys = [f.key for f in schema.score_copy_features()] + [f.key for f in schema.features if f.type == "number"]
    return tuple(list(dict.fromkeys(keys))[:6])


def _column_scores(columns: tuple[str, ...], drifted: set[str]) -> str:
    return json.dumps([{"column": c, "method": "chi-square p_value" if i < 4 else "Wasserstein distance (normed)",
                        "score": 0.001 if c in drifted else 0.42, "threshold": 0.05, "drifted": c in drifted}
                       for i, c in enumerate(columns)])


def _drift(now: datetime, columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": [1, 2], "created_at": [pd.Timestamp(now - timedelta(days=3)), pd.Timestamp(now - timedelta(hours=2))],
        "rows_current": [FIRST_BATCH_LEADS, FIRST_BATCH_LEADS + SECOND_BATCH_LEADS], "rows_reference": [5000, 5000],
        "share_drifted_columns": [1 / 6, 3 / 6], "dataset_drift": [False, True],
        "predicted_positive_share": [0.47, 0.58], "reference_positive_share": [0.5, 0.5],
        "column_scores": [_column_scores(columns, {columns[2]}),
                          _column_scores(columns, {columns[2], columns[1], columns[3]})],
        "snapshot_json": json.dumps({"note": "seeded rows: not an Evidently snapshot"}),
    })


# ---- outcomes that came back, live performance and retraining decisions (issue 11) -----------------

LIVE_COPIES = 2  # each labelled lead is copied this often into batch 4, its outcome arriving after both runs
LIVE_WEEKS = ("2022-01-03", "2022-01-10")  # creation weeks of the copies (schemas with a creation time)
NEVER_SCORED = 3  # labelled leads of batch 4 that no run scored
SCORED_AFTER = 5  # labelled leads of batch 4 scored only by run 2, after their outcome arrived


@dataclass(frozen=True)
class LiveSeeded:
    """The outcomes written on top of a seeded database, and what evaluate_live stored from them."""

    leads: pd.DataFrame  # the leads batch 4 added
    scores: pd.DataFrame  # their score rows (runs 1 and 2)
    outcomes: pd.DataFrame  # every lead_outcomes row
    evaluations: tuple  # core.evaluation.EvaluationSummary of each evaluation, oldest first


def seed_live_outcomes(engine: Engine, seeded: Seeded, few: int | None = None, snapshots: bool = False) -> LiveSeeded:
    """Outcomes come back and are judged with the real core.evaluation.evaluate_live.

    First the outcomes of the seeded labelled leads arrive (a day ago: after run 1, before run 2) and an
    evaluation runs; then batch 4 (copies of the labelled leads in two creation weeks, scored by runs 1 and 2)
    gets its outcomes an hour ago, with a few never scored and a few scored only after their outcome, and
    a second evaluation runs. `few`: only that many of the first outcomes and one evaluation (too few for figures).
    """
    schema = seeded.schema
    early_at = first_feed_at(seeded)
    labelled = seeded.leads[seeded.leads[seeded.outcome].notna()]
    if few is not None:  # only the fed outcomes count: every other label came with its lead, before scoring
        labels_arrived_before_scoring(engine, seeded)
    early = _outcome_rows(labelled if few is None else labelled.head(few), seeded.outcome, 3, early_at)
    _insert(engine, store.lead_outcomes, early)
    first = evaluate_live(engine, schema, now=seeded.now - timedelta(hours=20), with_snapshots=snapshots)
    if few is not None:
        return LiveSeeded(seeded.leads.iloc[:0], seeded.scores.iloc[:0], early, (first,))
    leads, scores, late = _live_batch(seeded, labelled)
    tables = store.schema_tables(schema)
    _insert(engine, store.ingest_batches, _live_batches(seeded, leads))
    _insert(engine, tables.leads, leads)
    with engine.begin() as conn:
        write_scores(conn, tables, scores)
    _insert(engine, store.lead_outcomes, late)
    second = evaluate_live(engine, schema, now=seeded.now, with_snapshots=snapshots)
    return LiveSeeded(leads, scores, pd.concat([early, late], ignore_index=True), (first, second))


def _insert(engine: Engine, table, frame: pd.DataFrame) -> None:
    unknown = set(frame.columns) - set(table.c.keys())
    assert not unknown, f"{table.name}: columns not in the table: {sorted(unknown)}"
    with engine.begin() as conn:
        store.bulk_insert(conn, table.name, frame)


def _outcome_rows(leads: pd.DataFrame, outcome: str, batch_id: int, at: datetime | pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "label": leads[outcome].astype(int).to_numpy(),
                         "batch_id": batch_id, "recorded_at": pd.Series(at, index=leads.index).to_numpy()})


def _live_batch(seeded: Seeded, labelled: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Batch 4: copies of the labelled leads (created in LIVE_WEEKS when the schema has a creation time)."""
    schema, late_at = seeded.schema, seeded.now - timedelta(hours=1)
    extra = NEVER_SCORED + SCORED_AFTER
    source = pd.concat([labelled] * LIVE_COPIES + [labelled.head(extra)], ignore_index=True)
    leads = source.assign(lead_id=[hashlib.sha256(f"seed-live-lead-{i}".encode()).hexdigest()[:16]
                                   for i in range(len(source))],
                          batch_id=4, row_number=np.arange(1, len(source) + 1), label_batch_id=5)
    if schema.has_time:
        weeks = np.resize([pd.Timestamp(w) for w in LIVE_WEEKS], len(leads))
        offsets = pd.to_timedelta(np.arange(len(leads)) % 7, unit="D") + pd.Timedelta(hours=10)
        leads[schema.raw(schema.created_column).db_name] = pd.DatetimeIndex(weeks) + offsets
        created = pd.Series(leads[schema.raw(schema.created_column).db_name].to_numpy())
    else:
        created = pd.Series(pd.Timestamp(seeded.now - timedelta(days=4)), index=range(len(leads)))
    arrival = np.where(np.arange(len(leads)) >= len(leads) - SCORED_AFTER, first_feed_at(seeded), late_at)
    leads["label_recorded_at"] = pd.to_datetime(arrival)
    scores = _live_scores(seeded, source, leads, created)
    return leads, scores, _outcome_rows(leads, seeded.outcome, 5, pd.Series(pd.to_datetime(arrival), index=leads.index))


def first_feed_at(seeded: Seeded) -> datetime:
    """When the first outcome feed arrived (a day before the seeded now)."""
    return seeded.now - timedelta(days=1)


def _live_scores(seeded: Seeded, source: pd.DataFrame, leads: pd.DataFrame, created: pd.Series) -> pd.DataFrame:
    """Each copy gets its source lead's score rows; the never-scored get none, the scored-after only run 2's."""
    n = len(leads)
    kinds = np.full(n, "both", dtype=object)
    kinds[n - NEVER_SCORED - SCORED_AFTER:n - SCORED_AFTER] = "never"
    kinds[n - SCORED_AFTER:] = "after"
    rows = []
    for run_id in (1, 2):
        wanted = (kinds == "both") | ((kinds == "after") & (run_id == 2))
        by_lead = seeded.scores[seeded.scores["run_id"] == run_id].set_index("lead_id")
        picked = by_lead.loc[source.loc[wanted, "lead_id"]].reset_index(drop=True)
        picked["lead_id"] = leads.loc[wanted, "lead_id"].to_numpy()
        picked["created_date"] = created[wanted].to_numpy()
        rows.append(picked)
    return pd.concat(rows, ignore_index=True)


def _live_batches(seeded: Seeded, leads: pd.DataFrame) -> pd.DataFrame:
    started = [pd.Timestamp(seeded.now - timedelta(days=4, hours=1)), pd.Timestamp(seeded.now - timedelta(hours=1))]
    return pd.DataFrame({
        "batch_id": [4, 5], "file_name": ["leads_2022-01-extra.csv", "outcomes_2022-03.csv"],
        "sha256": [hashlib.sha256(f"live-file-{i}".encode()).hexdigest() for i in range(2)],
        "rows_in": [len(leads), len(leads)], "loaded": [len(leads), 0], "duplicate": [0, 0], "rejected": [0, 0],
        "labels_recorded": [0, len(leads)], "started_at": started,
        "finished_at": [s + pd.Timedelta(seconds=2) for s in started],
    })


def seed_retrain_decisions(engine: Engine, seeded: Seeded) -> pd.DataFrame:
    """Three nightly decisions, written out of time order; the newest is decided on the stored evidence."""
    bars = seeded.schema.bars or BARS_V2
    policy = RetrainPolicy(min_live_outcomes=100, drift_runs=3, new_outcomes=10_000)
    written = [
        (seeded.now - timedelta(days=1), "2", decide_retraining(Evidence("2", consecutive_drift_runs=3), bars, policy),
         "version 3 trained: not promoted (precision 0.612 is below the bar 0.65)"),
        (seeded.now - timedelta(days=7), "1", RetrainDecision(True, "retrain: weekly schedule (floor)"),
         "version 2 trained: promoted (AUC 0.801 beats 0.783)"),
        (seeded.now, "2", decide_retraining(gather_evidence(engine, "2"), bars, policy), None),
    ]
    for decided_at, champion, decision, outcome in written:
        record_decision(engine, decision, champion, decided_at, outcome)
    return pd.DataFrame([{"decided_at": d, "champion_version": c, "retrain": r.retrain, "reason": r.reason,
                          "outcome": o} for d, c, r, o in written])


def labels_arrived_before_scoring(engine: Engine, seeded: Seeded) -> None:
    """Every stored label arrived before the first scoring run: no lead has a live outcome."""
    tables = store.schema_tables(seeded.schema)
    with engine.begin() as conn:
        conn.execute(tables.leads.update().where(tables.leads.c.label_recorded_at.is_not(None))
                     .values(label_recorded_at=seeded.now - timedelta(days=30)))
