"""Train, evaluate and choose the threshold and grade cut-offs of the L2AC model; the promotion rule."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import StratifiedKFold

from core.errors import BadInputError
from core.features import (
    COURSE_FEATURES,
    MODEL_FEATURES,
    learn_significant_levels,
    level_names,
    model_feature_frame,
)
from core.schema import CODE_COLUMNS, LABEL

MIN_LABELS_PER_CLASS = 40
MISSION_BARS: dict[str, float] = {"auc": 0.75, "precision": 0.65, "recall": 0.75}
AUC_TOLERANCE = 0.005  # a challenger may be this much below the champion's AUC (noise) and still replace it
GRADE_A_COMPLETION = 0.80  # grade A: the top band where at least 80% of holdout leads completed
GRADE_A_MIN_SHARE = 0.05  # ... and that band holds at least 5% of holdout leads
REFERENCE_ROWS = 20_000
MODEL_FILE = "booster.txt"
META_FILE = "lead_model.json"


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters and evaluation rules of one training (chosen on an inner time split of the dev sample)."""

    learning_rate: float = 0.03
    num_leaves: int = 7
    min_child_samples: int = 100
    num_boost_round: int = 300
    seed: int = 7
    threads: int = 1  # one thread: on a busy 2-core machine OpenMP's second thread made training ~10x slower
    holdout_share: float = 0.2
    min_recall: float = 0.75
    level_coverage: float = 0.9
    feature_set: str = "full"  # "full" = course features + hour and weekday; "course" = the course's features only

    def feature_names(self) -> list[str]:
        """The model's input columns for this feature set."""
        chosen = {"full": MODEL_FEATURES, "course": COURSE_FEATURES}[self.feature_set]
        return list(chosen)

    def lightgbm_params(self) -> dict:
        """Parameters handed to lightgbm.train."""
        return {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "seed": self.seed, "num_threads": self.threads,
            "deterministic": True, "verbose": -1,
        }

    def as_params(self) -> dict[str, object]:
        """Flat parameters for MLflow."""
        return asdict(self)


@dataclass
class LeadModel:
    """The scoring model: preprocessing (levels) and LightGBM booster that always travel together."""

    booster: lightgbm.Booster
    levels: dict[str, tuple[str, ...]]
    feature_names: list[str]
    categorical_features: list[str]
    threshold: float = 0.5
    grade_cutoffs: dict[str, float] = field(default_factory=lambda: {"A": 0.8, "B": 0.65, "C": 0.5})

    def features(self, leads: pd.DataFrame) -> pd.DataFrame:
        """Model input matrix: categoricals as int codes (unseen -> the 'others' code)."""
        return model_feature_frame(leads, self.levels)[self.feature_names]

    def readable_features(self, leads: pd.DataFrame) -> pd.DataFrame:
        """The same columns with categoricals as level strings, for drift reports and reasons."""
        frame = self.features(leads)
        for column in self.categorical_features:
            frame[column] = level_names(frame[column].to_numpy(), self.levels[column])
        return frame

    def predict_proba(self, leads: pd.DataFrame) -> np.ndarray:
        """Probability that each lead completes its application (app_complete_flag == 1)."""
        return self.predict_features(self.features(leads))

    def predict_features(self, features: pd.DataFrame, threads: int | None = None) -> np.ndarray:
        """Probabilities from an already built feature matrix (threads: override the training setting)."""
        extra = {"num_threads": threads} if threads else {}
        return self.booster.predict(features.to_numpy("float64"), **extra)

    def grades(self, scores: np.ndarray) -> np.ndarray:
        """Grade A-D of each score by the cut-offs chosen on the holdout."""
        cuts = self.grade_cutoffs
        return np.select([scores >= cuts["A"], scores >= cuts["B"], scores >= cuts["C"]], ["A", "B", "C"], "D")

    def predicted(self, scores: np.ndarray) -> np.ndarray:
        """0/1 decision at the model's threshold."""
        return (np.asarray(scores) >= self.threshold).astype("int8")

    def save(self, folder: Path) -> None:
        """Write the booster and its metadata to a folder."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {"levels": {k: list(v) for k, v in self.levels.items()}, "feature_names": self.feature_names,
                "categorical_features": self.categorical_features, "threshold": self.threshold,
                "grade_cutoffs": self.grade_cutoffs}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> LeadModel:
        """Read a model written by save()."""
        meta = json.loads((Path(folder) / META_FILE).read_text())
        booster = lightgbm.Booster(model_file=str(Path(folder) / MODEL_FILE))
        levels = {k: tuple(v) for k, v in meta["levels"].items()}
        return cls(booster, levels, meta["feature_names"], meta["categorical_features"],
                   float(meta["threshold"]), {k: float(v) for k, v in meta["grade_cutoffs"].items()})


@dataclass
class Candidate:
    """Everything one training produced: the evaluation model, the refit scoring model and their figures."""

    model: LeadModel  # refit on all labelled leads: the one that scores
    evaluation_model: LeadModel  # trained before the holdout: the one the metrics describe
    config: ModelConfig
    metrics: dict[str, float]
    curves: dict
    importance: dict[str, float]
    window: dict[str, str]
    holdout: pd.DataFrame  # holdout leads with LABEL and "score" (evaluation model)
    reference: pd.DataFrame


@dataclass(frozen=True)
class Decision:
    """Whether a candidate becomes champion, and the one-line reason recorded with the version."""

    promote: bool
    reason: str
    champion_version: str | None = None
    champion_auc: float | None = None
    challenger_auc: float | None = None


def check_label_counts(positives: int, negatives: int) -> None:
    """Refuse to train on labels that cannot give a meaningful model."""
    total = positives + negatives
    if total == 0:
        raise BadInputError("no labelled leads to train on: ingest a file with app_complete_flag first")
    if positives == 0 or negatives == 0:
        value = 1 if positives else 0
        raise BadInputError(f"all {total} labelled leads have {LABEL} = {value}: training needs both outcomes")
    if min(positives, negatives) < MIN_LABELS_PER_CLASS:
        raise BadInputError(f"too few labelled leads: {positives} with {LABEL} = 1 and {negatives} with 0 "
                            f"(need at least {MIN_LABELS_PER_CLASS} of each)")


def check_labels(labels: pd.Series) -> None:
    """check_label_counts on a label column."""
    values = labels.dropna().astype(int)
    check_label_counts(int((values == 1).sum()), int((values == 0).sum()))


def learn_levels(leads: pd.DataFrame, coverage: float) -> dict[str, tuple[str, ...]]:
    """Significant levels per code column: the most frequent ones covering `coverage` of the rows."""
    return {column: learn_significant_levels(leads[column], coverage) for column in CODE_COLUMNS}


def fit_lead_model(leads: pd.DataFrame, labels: np.ndarray, config: ModelConfig) -> LeadModel:
    """Learn levels and a LightGBM booster on these leads."""
    names = config.feature_names()
    categoricals = [c for c in CODE_COLUMNS if c in names]
    levels = learn_levels(leads, config.level_coverage)
    features = model_feature_frame(leads, levels)[names]
    data = lightgbm.Dataset(features, label=np.asarray(labels, dtype="float64"),
                            categorical_feature=categoricals, free_raw_data=True)
    booster = lightgbm.train(config.lightgbm_params(), data, num_boost_round=config.num_boost_round)
    return LeadModel(booster, levels, names, categoricals)


def split_time_holdout(leads: pd.DataFrame, share: float) -> tuple[np.ndarray, pd.Timestamp]:
    """Mask of the most recent `share` of leads by created_date (ties stay together) and the holdout start."""
    dates = leads["created_date"].sort_values(kind="stable").to_numpy()
    start = pd.Timestamp(dates[len(dates) - max(1, int(np.ceil(len(dates) * share)))])
    return (leads["created_date"] >= start).to_numpy(), start


def choose_threshold(labels: np.ndarray, scores: np.ndarray, min_recall: float) -> float:
    """The best-precision threshold keeping recall above min_recall (strictly, as the mission bar reads)."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]
    eligible = np.flatnonzero(recall > min_recall)
    best = eligible[precision[eligible] == precision[eligible].max()]
    return float(thresholds[best].max())


def choose_grade_cutoffs(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Grades on the holdout: C = the threshold (D = predicted not to complete); A = the lowest score whose
    band at and above it has >= 80% completions and >= 5% of leads (else the 90th percentile);
    B = the median holdout score between C and A."""
    a = _grade_a_cutoff(labels, scores)
    a = max(a, float(np.nextafter(threshold, 1.0)))
    between = scores[(scores >= threshold) & (scores < a)]
    b = float(np.median(between)) if len(between) else (a + threshold) / 2
    b = min(max(b, float(np.nextafter(threshold, 1.0))), a)
    return {"A": a, "B": b, "C": float(threshold)}


def _grade_a_cutoff(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    share = recall[:-1] * labels.sum() / np.maximum(precision[:-1], 1e-12) / len(labels)
    eligible = (precision[:-1] >= GRADE_A_COMPLETION) & (share >= GRADE_A_MIN_SHARE)
    if eligible.any():
        return float(thresholds[eligible].min())
    return float(np.quantile(scores, 0.9))


def holdout_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC and PR-AUC on probabilities, and the threshold's confusion figures."""
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "auc": float(roc_auc_score(labels, scores)), "pr_auc": float(average_precision_score(labels, scores)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted)), "f1": float(f1_score(labels, predicted)),
        "accuracy": float(accuracy_score(labels, predicted)), "brier": float(brier_score_loss(labels, scores)),
        "threshold": float(threshold), "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
    }


def evaluation_curves(labels: np.ndarray, scores: np.ndarray, threshold: float, points: int = 200) -> dict:
    """ROC, PR and calibration points (thinned for the dashboard) and the confusion matrix."""
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    observed, predicted = calibration_curve(labels, scores, n_bins=10, strategy="quantile")
    keep_roc, keep_pr = _thin(len(fpr), points), _thin(len(recall), points)
    matrix = confusion_matrix(labels, (scores >= threshold).astype(int), labels=[0, 1])
    return {
        "roc": {"fpr": _round(fpr[keep_roc]), "tpr": _round(tpr[keep_roc])},
        "pr": {"recall": _round(recall[keep_pr]), "precision": _round(precision[keep_pr])},
        "calibration": {"predicted": _round(predicted), "observed": _round(observed)},
        "confusion_matrix": {"labels": [0, 1], "matrix": matrix.tolist()},
    }


def _thin(length: int, points: int) -> np.ndarray:
    return np.unique(np.linspace(0, length - 1, min(points, length)).round().astype(int))


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]


def feature_importance(model: LeadModel) -> dict[str, float]:
    """Share of total split gain per feature, largest first."""
    gain = model.booster.feature_importance(importance_type="gain")
    shares = gain / gain.sum() if gain.sum() > 0 else gain
    pairs = sorted(zip(model.booster.feature_name(), shares, strict=True), key=lambda p: -p[1])
    return {name: round(float(share), 6) for name, share in pairs}


def reference_sample(model: LeadModel, leads: pd.DataFrame, rows: int = REFERENCE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Readable features, score and predicted flag of a random sample of training leads (drift reference)."""
    sample = leads.sample(n=min(rows, len(leads)), random_state=seed) if len(leads) > rows else leads
    return scored_inputs(model, sample, model.predict_proba(sample))


def scored_inputs(model: LeadModel, leads: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """The model's readable inputs with score and predicted flag: the shape drift reports compare."""
    frame = model.readable_features(leads).reset_index(drop=True)
    frame["score"] = np.asarray(scores, dtype="float64")
    frame["predicted"] = model.predicted(frame["score"].to_numpy()).astype("int64")
    return frame


def train_candidate(leads: pd.DataFrame, config: ModelConfig | None = None) -> Candidate:
    """Time-based holdout evaluation, threshold and grades chosen there, then a refit on all labelled leads."""
    config = config or ModelConfig()
    check_labels(leads[LABEL])
    labels = leads[LABEL].astype(int).to_numpy()
    in_holdout, holdout_start = split_time_holdout(leads, config.holdout_share)
    _check_holdout(labels[in_holdout], labels[~in_holdout])
    evaluation = fit_lead_model(leads[~in_holdout], labels[~in_holdout], config)
    holdout = leads[in_holdout].copy()
    holdout["score"] = evaluation.predict_proba(holdout)
    threshold, cutoffs = _decision_rules(labels[in_holdout], holdout["score"].to_numpy(), config)
    evaluation.threshold, evaluation.grade_cutoffs = threshold, cutoffs
    model = fit_lead_model(leads, labels, config)
    model.threshold, model.grade_cutoffs = threshold, dict(cutoffs)
    return _candidate(model, evaluation, config, leads, holdout, holdout_start, int((~in_holdout).sum()))


def _check_holdout(holdout_labels: np.ndarray, train_labels: np.ndarray) -> None:
    for part, values in (("most recent 20% (holdout)", holdout_labels), ("training part", train_labels)):
        if len(np.unique(values)) < 2:
            raise BadInputError(f"the {part} of the labelled leads has only one outcome: cannot evaluate a model")


def _decision_rules(labels: np.ndarray, scores: np.ndarray, config: ModelConfig) -> tuple[float, dict[str, float]]:
    threshold = choose_threshold(labels, scores, config.min_recall)
    return threshold, choose_grade_cutoffs(labels, scores, threshold)


def _candidate(model: LeadModel, evaluation: LeadModel, config: ModelConfig, leads: pd.DataFrame,
               holdout: pd.DataFrame, holdout_start: pd.Timestamp, train_rows: int) -> Candidate:
    labels, scores = holdout[LABEL].astype(int).to_numpy(), holdout["score"].to_numpy()
    metrics = holdout_metrics(labels, scores, evaluation.threshold)
    metrics.update(train_rows=train_rows, holdout_rows=len(holdout), refit_rows=len(leads),
                   holdout_positive_rate=float(labels.mean()), refit_positive_rate=float(leads[LABEL].mean()))
    window = {"data_start": str(leads["created_date"].min()), "holdout_start": str(holdout_start),
              "data_end": str(leads["created_date"].max())}
    return Candidate(model, evaluation, config, metrics, evaluation_curves(labels, scores, evaluation.threshold),
                     feature_importance(evaluation), window, holdout, reference_sample(model, leads))


def cross_validated_auc(leads: pd.DataFrame, config: ModelConfig | None = None, folds: int = 5, seed: int = 0) -> float:
    """Mean AUC over stratified random folds (comparable with the course's figures; optimistic against time)."""
    config = config or ModelConfig()
    labels = leads[LABEL].astype(int).to_numpy()
    aucs = []
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(leads, labels):
        model = fit_lead_model(leads.iloc[train_index], labels[train_index], config)
        aucs.append(roc_auc_score(labels[test_index], model.predict_proba(leads.iloc[test_index])))
    return float(np.mean(aucs))


def clears_mission_bars(metrics: dict[str, float]) -> list[str]:
    """The mission bars a candidate misses (empty when it clears all)."""
    return [f"{name} {metrics[name]:.3f} <= {bar}" for name, bar in MISSION_BARS.items() if not metrics[name] > bar]


def decide_promotion(metrics: dict[str, float], champion_version: str | None = None,
                     champion_auc: float | None = None, challenger_auc: float | None = None) -> Decision:
    """Promote when the mission bars are cleared and AUC >= champion AUC - 0.005 on the same unseen leads."""
    missed = clears_mission_bars(metrics)
    if missed:
        return Decision(False, "misses the mission bars: " + ", ".join(missed), champion_version)
    if champion_version is None:
        return Decision(True, "clears the mission bars; no champion yet")
    if champion_auc is None or challenger_auc is None:
        return Decision(False, f"clears the mission bars but champion v{champion_version} cannot be compared on "
                               "leads it never saw; promote by hand if wanted", champion_version)
    verdict = challenger_auc >= champion_auc - AUC_TOLERANCE
    relation = "not worse than" if verdict else "worse than"
    reason = (f"{'clears the mission bars and' if verdict else 'clears the mission bars but'} AUC {challenger_auc:.4f} "
              f"is {relation} champion v{champion_version} ({champion_auc:.4f}) on the same holdout leads")
    return Decision(verdict, reason, champion_version, champion_auc, challenger_auc)
