"""MLflow: log a training run, register the model, move the champion alias, load the champion back."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.engine import Connection

from core import store
from core.config import Settings
from core.errors import BadInputError, NoChampionError
from core.model import Candidate, Decision, LeadModel, holdout_start_from_param

CHAMPION_ALIAS = "champion"
MODEL_ARTIFACT = "model"
EVALUATION_ARTIFACT = "evaluation_model"
REFERENCE_ARTIFACT = "reference"
REFERENCE_FILE = "reference.parquet"
T = TypeVar("T")
PIP_REQUIREMENTS = ["lightgbm==4.7.0", "pandas==3.0.6", "numpy==2.4.6", "scikit-learn==1.9.1", "mlflow==3.17.2"]


class LeadModelPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper: the saved LeadModel folder is its artifact, so features and booster load as one."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the LeadModel from the model's artifact folder."""
        self.lead_model = LeadModel.load(Path(context.artifacts["lead_model"]))

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
                params: dict | None = None) -> np.ndarray:
        """Probability of completing the application, per lead."""
        return self.lead_model.predict_proba(model_input)


@dataclass
class Champion:
    """The model that scores, with its registry coordinates and the training reference sample for drift."""

    model: LeadModel
    version: str
    run_id: str
    reference: pd.DataFrame


@dataclass
class ChampionBaseline:
    """The champion's evaluation model (never saw leads from holdout_start on), to compare a challenger fairly."""

    version: str
    evaluation_model: LeadModel
    holdout_start: object  # a time, an order value, or None (random holdout)


@dataclass(frozen=True)
class RegisteredVersion:
    """Where a candidate landed in the registry."""

    version: str
    run_id: str
    is_champion: bool


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the deployment's store (called at the entry of every registry operation)."""
    uri = settings.resolved_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's chatter (pickling advice, registration notices) while we log; errors still show."""
    logger = logging.getLogger("mlflow")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def ensure_experiment(client: MlflowClient, settings: Settings) -> str:
    """The deployment's experiment id; a local store keeps its artifacts under LEADSCORE_HOME/mlartifacts."""
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    local = settings.resolved_tracking_uri().startswith(("sqlite:", "file:"))
    return client.create_experiment(settings.experiment_name,
                                    artifact_location=settings.artifact_root() if local else None)


def champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version carrying the champion alias, or None."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def require_champion(settings: Settings) -> ModelVersion:
    """The champion's registry entry (no model download), or a one-line refusal when there is none."""
    version = champion_version(connect(settings), settings.model_name)
    if version is None:
        raise NoChampionError("no champion model yet: run python -m flows.train")
    return version


def load_champion(settings: Settings) -> Champion:
    """The champion LeadModel exactly as logged (models:/NAME/VERSION), with its drift reference."""
    version = require_champion(settings)
    pyfunc_model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version.version}")
    model = pyfunc_model.unwrap_python_model().lead_model
    reference = _read_artifact(version.run_id, f"{REFERENCE_ARTIFACT}/{REFERENCE_FILE}", pd.read_parquet)
    return Champion(model, str(version.version), version.run_id, reference)


def load_champion_baseline(settings: Settings) -> ChampionBaseline | None:
    """The champion's evaluation model and holdout start, or None when there is no champion."""
    client = connect(settings)
    version = champion_version(client, settings.model_name)
    if version is None:
        return None
    model = _read_artifact(version.run_id, EVALUATION_ARTIFACT, LeadModel.load)
    start = holdout_start_from_param(client.get_run(version.run_id).data.params.get("holdout_start"))
    return ChampionBaseline(str(version.version), model, start)


def _read_artifact(run_id: str, path: str, reader: Callable[[Path], T]) -> T:
    """Download a run artifact to a temporary folder and read it into memory."""
    with tempfile.TemporaryDirectory(prefix="leadscore-artifact-") as folder:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=folder)
        return reader(Path(local))


def register_candidate(settings: Settings, candidate: Candidate, decision: Decision) -> RegisteredVersion:
    """Log the run (params, metrics, plots, reference, both models), register the scoring model, move the alias."""
    client = connect(settings)
    experiment_id = ensure_experiment(client, settings)
    with _quiet_mlflow(), mlflow.start_run(experiment_id=experiment_id) as run:
        _log_run(candidate, decision)
        model_uri = _log_lead_model(candidate.model)
    with _quiet_mlflow():
        version = mlflow.register_model(model_uri, settings.model_name, tags=decision_tags(decision))
    client.update_model_version(settings.model_name, version.version, description=decision.reason)
    if decision.promote:
        client.set_registered_model_alias(settings.model_name, CHAMPION_ALIAS, version.version)
    return RegisteredVersion(str(version.version), run.info.run_id, decision.promote)


def decision_tags(decision: Decision) -> dict[str, str]:
    """Tags every version carries: the decision and its reason."""
    tags = {"decision": "promoted" if decision.promote else "not_promoted", "decision_reason": decision.reason}
    if decision.champion_version is not None:
        tags["compared_with_version"] = decision.champion_version
    return tags


def _log_run(candidate: Candidate, decision: Decision) -> None:
    mlflow.log_params({**candidate.config.as_params(), **candidate.window,
                       "threshold": candidate.model.threshold, **_grade_params(candidate)})
    mlflow.log_metrics({k: float(v) for k, v in candidate.metrics.items()})
    report = candidate.report
    mlflow.set_tags({**decision_tags(decision), "holdout": report.get("holdout_method", ""),
                     "leakage": ("; ".join(report.get("leakage", [])) or "none")[:4000]})
    mlflow.log_dict(report, "evaluation/report.json")  # bars, leakage lines, holdout method, recall interval
    mlflow.log_dict(candidate.curves, "evaluation/curves.json")
    mlflow.log_dict(candidate.importance, "evaluation/feature_importance.json")
    _log_figures(candidate)
    _log_folder_artifacts(candidate)


def _grade_params(candidate: Candidate) -> dict[str, float]:
    return {f"grade_{grade}_cutoff": cut for grade, cut in candidate.model.grade_cutoffs.items()}


def _log_folder_artifacts(candidate: Candidate) -> None:
    with tempfile.TemporaryDirectory(prefix="leadscore-run-") as folder:
        evaluation = Path(folder) / EVALUATION_ARTIFACT
        candidate.evaluation_model.save(evaluation)
        mlflow.log_artifacts(str(evaluation), EVALUATION_ARTIFACT)
        reference = Path(folder) / REFERENCE_FILE
        candidate.reference.to_parquet(reference, index=False)
        mlflow.log_artifact(str(reference), REFERENCE_ARTIFACT)


def _log_lead_model(model: LeadModel) -> str:
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as folder:
        model.save(Path(folder) / "lead_model")
        info = mlflow.pyfunc.log_model(name=MODEL_ARTIFACT, python_model=LeadModelPyfunc(),
                                       artifacts={"lead_model": str(Path(folder) / "lead_model")},
                                       pip_requirements=PIP_REQUIREMENTS)
    return info.model_uri


def _log_figures(candidate: Candidate) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, draw in (("roc", _draw_roc), ("pr", _draw_pr), ("calibration", _draw_calibration),
                       ("feature_importance", _draw_importance)):
        figure, axes = plt.subplots(figsize=(5, 4))
        draw(axes, candidate)
        figure.tight_layout()
        mlflow.log_figure(figure, f"plots/{name}.png")
        plt.close(figure)


def _draw_roc(axes, candidate: Candidate) -> None:
    roc = candidate.curves["roc"]
    axes.plot(roc["fpr"], roc["tpr"], label=f"AUC {candidate.metrics['auc']:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (time-based holdout)")
    axes.legend(loc="lower right")


def _draw_pr(axes, candidate: Candidate) -> None:
    pr = candidate.curves["pr"]
    axes.plot(pr["recall"], pr["precision"], label=f"PR-AUC {candidate.metrics['pr_auc']:.3f}")
    axes.scatter([candidate.metrics["recall"]], [candidate.metrics["precision"]], color="red", label="threshold")
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall (holdout)")
    axes.legend(loc="lower left")


def _draw_calibration(axes, candidate: Candidate) -> None:
    calibration = candidate.curves["calibration"]
    axes.plot(calibration["predicted"], calibration["observed"], marker="o")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(xlabel="mean predicted probability", ylabel="observed completion rate", title="Calibration (holdout)")


def _draw_importance(axes, candidate: Candidate) -> None:
    names = list(candidate.importance)[::-1]
    axes.barh(names, [candidate.importance[n] for n in names])
    axes.set(xlabel="share of split gain", title="Feature importance")


def record_version(engine: Engine, model_name: str, registered: RegisteredVersion, candidate: Candidate,
                   decision: Decision) -> None:
    """Write the version's row for the dashboard; the champion flag follows the registry alias."""
    row = version_row(model_name, registered, candidate, decision)
    with engine.begin() as conn:
        conn.execute(delete(store.model_versions).where(store.model_versions.c.model_name == model_name,
                                                        store.model_versions.c.version == registered.version))
        conn.execute(insert(store.model_versions).values(**row))
        if registered.is_champion:
            _mark_champion(conn, model_name, registered.version)


def version_row(model_name: str, registered: RegisteredVersion, candidate: Candidate, decision: Decision) -> dict:
    """The model_versions row: holdout metrics, refit figures, window, comparison, curves and importance."""
    comparison = {"champion_version": decision.champion_version, "champion_auc": decision.champion_auc,
                  "challenger_auc": decision.challenger_auc}
    metrics = {**candidate.metrics, **candidate.report, "window": candidate.window, "comparison": comparison}
    return {
        "model_name": model_name, "version": registered.version, "mlflow_run_id": registered.run_id,
        "created_at": datetime.now(), "is_champion": registered.is_champion, "promoted": decision.promote,
        "decision_reason": decision.reason, "metrics_json": json.dumps(metrics),
        "threshold": candidate.model.threshold, "grade_cutoffs_json": json.dumps(candidate.model.grade_cutoffs),
        "curves_json": json.dumps(candidate.curves), "feature_importance_json": json.dumps(candidate.importance),
    }


def _mark_champion(conn: Connection, model_name: str, version: str) -> None:
    """Exactly one row per model carries is_champion."""
    table = store.model_versions
    conn.execute(update(table).where(table.c.model_name == model_name)
                 .values(is_champion=table.c.version == version))


def promote(settings: Settings, version: str, reason: str) -> None:
    """Manual promotion: move the alias, record the reason as a version tag and in model_versions."""
    if not reason.strip():
        raise BadInputError("a reason is required to promote a model version by hand")
    client = connect(settings)
    _require_version(client, settings.model_name, version)
    engine = store.make_engine(settings.resolved_database_url())
    try:
        with engine.begin() as conn:
            _record_manual_promotion(conn, settings.model_name, version, reason)
            client.set_model_version_tag(settings.model_name, version, "decision", "promoted_manually")
            client.set_model_version_tag(settings.model_name, version, "decision_reason", f"manual: {reason}")
            client.set_registered_model_alias(settings.model_name, CHAMPION_ALIAS, version)  # last: all or nothing
    finally:
        engine.dispose()


def _require_version(client: MlflowClient, model_name: str, version: str) -> None:
    try:
        client.get_model_version(model_name, version)
    except MlflowException as error:
        raise BadInputError(f"model {model_name} has no version {version}") from error


def _record_manual_promotion(conn: Connection, model_name: str, version: str, reason: str) -> None:
    table = store.model_versions
    result = conn.execute(update(table).where(table.c.model_name == model_name, table.c.version == version)
                          .values(promoted=True, decision_reason=f"promoted by hand: {reason}"))
    if result.rowcount != 1:
        raise BadInputError(f"version {version} of {model_name} is not in the model_versions table")
    _mark_champion(conn, model_name, version)
