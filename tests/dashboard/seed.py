"""Realistic rows in every table, written through core.store, so dashboard tests can check the numbers shown.

Three ingest batches (two lead files, one outcomes file) with rejected rows; 300 leads, most with a
known outcome; scoring run 1 (model v1, 240 leads), run 2 (model v2, all 300 leads, current) and a
failed run 3; drift reports for runs 1 and 2; three model versions (v2 champion, v3 not promoted).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from core import store
from core.features import CITY_TIER

FIRST_BATCH_LEADS = 240
SECOND_BATCH_LEADS = 60
CUTOFFS = {"A": 0.7, "B": 0.5, "C": 0.3}
THRESHOLD = 0.45
LABELLED_BEFORE = datetime(2022, 1, 20)
PLATFORMS = (("Level0", 0.40), ("Level3", 0.2), ("Level7", 0.18), ("Level1", 0.1), ("Level2", 0.07), ("Level8", 0.05))
MEDIUMS = (("Level0", 0.3), ("Level2", 0.2), ("Level6", 0.2), ("Level3", 0.15), ("Level11", 0.1), ("Level33", 0.05))
SOURCES = (("Level2", 0.35), ("Level0", 0.25), ("Level7", 0.15), ("Level4", 0.1), ("Level16", 0.1), ("Level14", 0.05))
SOURCE_EFFECT = {"Level2": 0.3, "Level0": -1.2, "Level7": 0.6, "Level4": 0.0, "Level16": 1.0, "Level14": -0.4}
REJECTION_REASONS = ("created_date is not a date: '2022-13-45 10:00:00'", "first_platform_c is empty",
                     "referred_lead must be 0 or 1: 'yes'", "row has 12 fields, expected 44")


@dataclass(frozen=True)
class Seeded:
    """Everything written, so tests compute the expected numbers independently of the app."""

    now: datetime
    batches: pd.DataFrame
    rejected: pd.DataFrame
    leads: pd.DataFrame
    runs: pd.DataFrame
    scores: pd.DataFrame
    models: pd.DataFrame
    drift: pd.DataFrame

    @property
    def current(self) -> pd.DataFrame:
        """The current score of every lead."""
        return self.scores[self.scores["is_current"]]


def seed_database(engine: Engine, now: datetime | None = None, seed: int = 7) -> Seeded:
    """Write the whole story into an empty database; returns what was written."""
    now = (now or datetime.now()).replace(microsecond=0)
    rng = np.random.default_rng(seed)
    leads, true_score = _leads(rng, now)
    seeded = Seeded(now=now, batches=_batches(now, leads), rejected=_rejected(), leads=leads, runs=_runs(now),
                    scores=_scores(rng, leads, true_score, now), models=_models(now), drift=_drift(now))
    with engine.begin() as conn:
        ensure_run_partitions(conn, [int(r) for r in seeded.runs["run_id"]])
        for table, frame in (("ingest_batches", seeded.batches), ("rejected_leads", seeded.rejected),
                             ("leads", seeded.leads), ("scoring_runs", seeded.runs),
                             ("lead_scores", seeded.scores), ("model_versions", seeded.models),
                             ("drift_reports", seeded.drift)):
            store.bulk_insert(conn, table, frame)
    return seeded


def ensure_run_partitions(conn, run_ids: list[int]) -> None:
    """On Postgres lead_scores may be partitioned by run: give each seeded run its partition."""
    if not store.is_postgres(conn):
        return
    partitioned = conn.execute(text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                                    "WHERE c.relname = 'lead_scores'")).first()
    for run_id in run_ids if partitioned else []:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS lead_scores_seed_run_{int(run_id)} "
                          f"PARTITION OF lead_scores FOR VALUES IN ({int(run_id)})"))


def _pick(rng: np.random.Generator, levels: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names, weights = zip(*levels, strict=True)
    return rng.choice(names, size=n, p=np.array(weights) / sum(weights))


def _leads(rng: np.random.Generator, now: datetime) -> tuple[pd.DataFrame, np.ndarray]:
    n = FIRST_BATCH_LEADS + SECOND_BATCH_LEADS
    first = pd.Timestamp("2021-11-01") + pd.to_timedelta(rng.uniform(0, 91, FIRST_BATCH_LEADS), unit="D")
    second = pd.Timestamp("2022-02-01") + pd.to_timedelta(rng.uniform(0, 14, SECOND_BATCH_LEADS), unit="D")
    created = pd.Series(np.concatenate([first.values, second.values])).dt.floor("s")
    frame = pd.DataFrame({
        "lead_id": [hashlib.sha256(f"seed-lead-{i}".encode()).hexdigest()[:16] for i in range(n)],
        "batch_id": [1] * FIRST_BATCH_LEADS + [2] * SECOND_BATCH_LEADS,
        "row_number": list(range(1, FIRST_BATCH_LEADS + 1)) + list(range(1, SECOND_BATCH_LEADS + 1)),
        "created_date": created,
        "city_mapped": _cities(rng, n),
        "first_platform_c": _pick(rng, PLATFORMS, n),
        "first_utm_medium_c": _pick(rng, MEDIUMS, n),
        "first_utm_source_c": _pick(rng, SOURCES, n),
        "total_leads_droppped": rng.poisson(1.6, n).astype(float),
        "referred_lead": (rng.uniform(size=n) < 0.08).astype(float),
    })
    logit = (frame["first_utm_source_c"].map(SOURCE_EFFECT) + 1.8 * frame["referred_lead"]
             - 0.25 * frame["total_leads_droppped"] + rng.normal(0, 0.9, n) + 0.3)
    true_score = 1 / (1 + np.exp(-logit.to_numpy()))
    labelled = frame["created_date"] < LABELLED_BEFORE
    outcome = (rng.uniform(size=n) < true_score).astype(int)
    frame["app_complete_flag"] = pd.Series(outcome, dtype="Int64").where(labelled)
    frame["label_batch_id"] = pd.Series(3, index=frame.index, dtype="Int64").where(labelled)
    frame["label_recorded_at"] = pd.Series(pd.Timestamp(now - timedelta(days=1)), index=frame.index).where(labelled)
    return frame, true_score


def _cities(rng: np.random.Generator, n: int) -> np.ndarray:
    """Tier 1 about half the leads, tier 2 a fifth, the rest tier 3 or no city (as in the real data)."""
    by_tier = {t: sorted(c for c, tier in CITY_TIER.items() if tier == t) for t in (1.0, 2.0)}
    pools = [by_tier[1.0], by_tier[2.0], ["raipur", "varanasi", "salem", "jammu"], [None]]
    pool_of_lead = rng.choice(4, size=n, p=[0.5, 0.18, 0.28, 0.04])
    return np.array([rng.choice(pools[p]) if pools[p] != [None] else None for p in pool_of_lead], dtype=object)


def _tier(city: object) -> int:
    return int(CITY_TIER.get(city, 3.0)) if isinstance(city, str) else 3


def _grade(score: float) -> str:
    return next((g for g, lo in CUTOFFS.items() if score >= lo), "D")


def _reasons(lead: pd.Series) -> tuple[list[str], list[str]]:
    plus, minus = [], []
    if lead["referred_lead"] == 1:
        plus.append("referred by a student")
    if SOURCE_EFFECT[lead["first_utm_source_c"]] > 0:
        plus.append(f"came from source {lead['first_utm_source_c']}")
    else:
        minus.append(f"came from source {lead['first_utm_source_c']}")
    if lead["total_leads_droppped"] >= 3:
        minus.append(f"dropped {int(lead['total_leads_droppped'])} earlier enquiries")
    (plus if _tier(lead["city_mapped"]) == 1 else minus).append(f"lives in a tier-{_tier(lead['city_mapped'])} city")
    plus.append(f"first visited on platform {lead['first_platform_c']}")
    return plus, minus


def _score_rows(leads: pd.DataFrame, score: np.ndarray, run_id: int, version: str, scored_at: datetime) -> pd.DataFrame:
    reasons = [_reasons(row) for _, row in leads.iterrows()]
    return pd.DataFrame({
        "run_id": run_id, "lead_id": leads["lead_id"].to_numpy(), "model_version": version, "score": score,
        "grade": [_grade(s) for s in score],
        "rank": pd.Series(score).rank(ascending=False, method="first").astype(int).to_numpy(),
        "predicted": (score >= THRESHOLD).astype(int),
        "reasons_positive": [json.dumps(p) for p, _ in reasons],
        "reasons_negative": [json.dumps(m) for _, m in reasons],
        "created_date": leads["created_date"].to_numpy(), "city_tier": leads["city_mapped"].map(_tier).to_numpy(),
        "first_platform_c": leads["first_platform_c"].to_numpy(), "first_utm_medium_c": leads["first_utm_medium_c"].to_numpy(),
        "first_utm_source_c": leads["first_utm_source_c"].to_numpy(), "referred_lead": leads["referred_lead"].astype(int).to_numpy(),
        "scored_at": pd.Timestamp(scored_at),
    })


def _scores(rng: np.random.Generator, leads: pd.DataFrame, true_score: np.ndarray, now: datetime) -> pd.DataFrame:
    old_leads = leads.iloc[:FIRST_BATCH_LEADS]
    old_score = np.clip(true_score[:FIRST_BATCH_LEADS] + rng.normal(0, 0.06, FIRST_BATCH_LEADS), 0.001, 0.999)
    run1 = _score_rows(old_leads, old_score, 1, "1", now - timedelta(days=3))
    run1["previous_score"], run1["trend"], run1["is_current"] = np.nan, None, False
    run2 = _score_rows(leads, np.round(true_score, 6), 2, "2", now - timedelta(hours=2))
    previous = np.concatenate([old_score, np.full(SECOND_BATCH_LEADS, np.nan)])
    change = run2["score"].to_numpy() - previous
    run2["previous_score"] = previous
    run2["trend"] = np.select([np.isnan(previous), change > 0.02, change < -0.02],
                              [None, "improving", "declining"], "steady")
    run2["is_current"] = True
    return pd.concat([run1, run2], ignore_index=True)


def _batches(now: datetime, leads: pd.DataFrame) -> pd.DataFrame:
    labels = int(leads["app_complete_flag"].notna().sum())
    return pd.DataFrame({
        "batch_id": [1, 2, 3],
        "file_name": ["leads_2022-01.csv", "leads_2022-02.csv", "outcomes_2022-02.csv"],
        "sha256": [hashlib.sha256(f"file-{i}".encode()).hexdigest() for i in range(3)],
        "rows_in": [FIRST_BATCH_LEADS + 6 + 9, SECOND_BATCH_LEADS + 2 + 4, labels + 1],
        "loaded": [FIRST_BATCH_LEADS, SECOND_BATCH_LEADS, 0], "duplicate": [6, 2, labels], "rejected": [9, 4, 1],
        "labels_recorded": [0, 0, labels],
        "started_at": [pd.Timestamp(now - timedelta(days=d)) for d in (5, 4, 1)],
        "finished_at": [pd.Timestamp(now - timedelta(days=d) + timedelta(seconds=3)) for d in (5, 4, 1)],
    })


def _rejected() -> pd.DataFrame:
    rows = [(batch, number) for batch, count in ((1, 9), (2, 4), (3, 1)) for number in range(1, count + 1)]
    return pd.DataFrame({
        "batch_id": [b for b, _ in rows],
        "row_number": [n * 7 for _, n in rows],
        "raw_row": [json.dumps({"created_date": "2022-13-45 10:00:00", "first_platform_c": "", "row": n})
                    for _, n in rows],
        "reason": [REJECTION_REASONS[(b + n) % len(REJECTION_REASONS)] for b, n in rows],
    })


def _runs(now: datetime) -> pd.DataFrame:
    starts = [now - timedelta(days=3), now - timedelta(hours=2), now - timedelta(hours=1)]
    return pd.DataFrame({
        "run_id": [1, 2, 3], "model_name": "lead-scoring-l2ac", "model_version": ["1", "2", "2"],
        "started_at": [pd.Timestamp(s) for s in starts],
        "finished_at": [pd.Timestamp(starts[0] + timedelta(seconds=4.2)), pd.Timestamp(starts[1] + timedelta(seconds=5.1)),
                        pd.Timestamp(starts[2] + timedelta(seconds=0.8))],
        "status": ["success", "success", "failed"],
        "leads_scored": [FIRST_BATCH_LEADS, FIRST_BATCH_LEADS + SECOND_BATCH_LEADS, 0],
        "duration_s": [4.2, 5.1, 0.8],
        "error": [None, None, "OperationalError: connection to the database was lost; the rerun completes it"],
    })


def _metrics(auc: float, precision: float, recall: float, champion: tuple[str, float] | None) -> str:
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
    })


CHAMPION_CURVES = {
    "roc": {"fpr": [0.0, 0.1, 0.2, 0.4, 0.7, 1.0], "tpr": [0.0, 0.45, 0.66, 0.84, 0.95, 1.0]},
    "pr": {"recall": [0.0, 0.4, 0.6, 0.8, 1.0], "precision": [1.0, 0.85, 0.78, 0.7, 0.5]},
    "calibration": {"predicted": [0.1, 0.3, 0.5, 0.7, 0.9], "observed": [0.12, 0.28, 0.52, 0.69, 0.88]},
    "confusion_matrix": {"labels": [0, 1], "matrix": [[1012, 491], [301, 1216]]},
}
CHAMPION_IMPORTANCE = {"first_utm_source_c": 0.412, "referred_lead": 0.2335, "total_leads_droppped": 0.1802,
                       "city_tier": 0.096, "first_platform_c": 0.0713, "created_hour": 0.02}


def _models(now: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "model_name": "lead-scoring-l2ac", "version": ["1", "2", "3"],
        "mlflow_run_id": ["0a1b2c3d4e5f60718293a4b5c6d7e8f9", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "1234abcd5678ef901234abcd5678ef90"],
        "created_at": [pd.Timestamp(now - timedelta(days=d)) for d in (10, 2, 1)],
        "is_champion": [False, True, False], "promoted": [True, True, False],
        "decision_reason": ["first champion: clears AUC > 0.75, precision > 0.65, recall > 0.75",
                            "promoted: AUC 0.801 beats the champion's 0.783 on the same holdout",
                            "not promoted: precision 0.612 is below the bar 0.65"],
        "metrics_json": [_metrics(0.783, 0.671, 0.781, None), _metrics(0.801, 0.712, 0.802, ("1", 0.783)),
                         _metrics(0.79, 0.612, 0.83, ("2", 0.801))],
        "threshold": [0.47, THRESHOLD, 0.41],
        "grade_cutoffs_json": json.dumps(CUTOFFS),
        "curves_json": [None, json.dumps(CHAMPION_CURVES), None],
        "feature_importance_json": [None, json.dumps(CHAMPION_IMPORTANCE), None],
    })


def _column_scores(drifted: set[str]) -> str:
    columns = ("first_platform_c", "first_utm_medium_c", "first_utm_source_c", "city_tier", "referred_lead",
               "total_leads_droppped")
    return json.dumps([{"column": c, "method": "chi-square p_value" if c != "total_leads_droppped" else
                        "Wasserstein distance (normed)", "score": 0.001 if c in drifted else 0.42,
                        "threshold": 0.05, "drifted": c in drifted} for c in columns])


def _drift(now: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": [1, 2], "created_at": [pd.Timestamp(now - timedelta(days=3)), pd.Timestamp(now - timedelta(hours=2))],
        "rows_current": [FIRST_BATCH_LEADS, FIRST_BATCH_LEADS + SECOND_BATCH_LEADS], "rows_reference": [5000, 5000],
        "share_drifted_columns": [1 / 6, 3 / 6], "dataset_drift": [False, True],
        "predicted_positive_share": [0.47, 0.58], "reference_positive_share": [0.5, 0.5],
        "column_scores": [_column_scores({"first_platform_c"}),
                          _column_scores({"first_platform_c", "first_utm_medium_c", "city_tier"})],
        "snapshot_json": json.dumps({"note": "seeded rows: not an Evidently snapshot"}),
    })
