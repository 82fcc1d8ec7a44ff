"""MLflow: log a training run, register the model, move the champion alias, load the champion back.

Two answers are never confused: "there is no champion" (the alias or model does not exist) and "MLflow did not
answer" (refused, timed out, server error: RegistryUnavailableError). Registration is idempotent per training
run (the run and its version carry the training id), and `reconcile_versions` makes model_versions agree with
the registry after a crash between the two.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import mlflow
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Connection

from core import store
from core.clock import as_utc, business_zone, utc_now
from core.config import Settings
from core.errors import BadInputError, NoChampionError, RegistryUnavailableError
from core.model import Candidate, Decision, LeadModel, holdout_start_from_param
from core.serving import LEAD_MODEL_ARTIFACT, log_lead_model, raw_signature

CHAMPION_ALIAS = "champion"
MODEL_ARTIFACT = "model"
EVALUATION_ARTIFACT = "evaluation_model"
REFERENCE_ARTIFACT = "reference"
REFERENCE_FILE = "reference.parquet"
VERSION_ROW_ARTIFACT = "registry/model_versions_row.json"
TRAINING_ID_TAG = "leadscore.training_id"
MODEL_URI_TAG = "leadscore.model_uri"  # set last: the run's logging completed
MISSING_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})  # what MLflow says of a missing alias
OUTAGE_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})
EXAMPLE_ROWS = 5
# MLflow's own HTTP retries default to 7 with doubling back-off (minutes of silence in an outage); ours are bounded
MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                        "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
T = TypeVar("T")


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
    if uri.startswith(("http://", "https://")):
        for name, value in MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
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


def is_missing(error: MlflowException) -> bool:
    """MLflow answered that the thing asked for does not exist (a missing alias is INVALID_PARAMETER_VALUE)."""
    return error.error_code in MISSING_CODES


def is_outage(error: BaseException) -> bool:
    """The store did not answer: connection refused, timeout, or a server error (HTTP 5xx)."""
    if isinstance(error, RestException):
        return error.get_http_status_code() >= 500
    if isinstance(error, MlflowException):  # the REST client's own failures (no answer, or not one it can read)
        return error.message.startswith("API request to") or error.error_code in OUTAGE_CODES
    return isinstance(error, requests.RequestException | ConnectionError | TimeoutError)


def unavailable(settings: Settings, error: BaseException, attempts: int = 1, seconds: float | None = None
                ) -> RegistryUnavailableError:
    """The one-line outage error: where MLflow is and why it did not answer."""
    tried = f" ({attempts} attempts over {seconds:.1f} s)" if attempts > 1 and seconds is not None else ""
    return RegistryUnavailableError(f"MLflow at {settings.resolved_tracking_uri()} did not answer: "
                                    f"{_why(error)}{tried}")


def _why(error: BaseException) -> str:
    text = str(error)
    for pattern, reason in ((r"Connection refused", "connection refused"), (r"(?i)timed? ?out", "timed out"),
                            (r"too many (\d{3}) error responses", "server error {0}"),
                            (r"Name or service not known|nodename nor servname", "host not found")):
        match = re.search(pattern, text)
        if match:
            return reason.format(*match.groups())
    return text.splitlines()[0][:200] if text else type(error).__name__


@contextmanager
def answered(settings: Settings) -> Iterator[None]:
    """Turn MLflow's "did not answer" errors (any layer: REST, artifacts, requests) into RegistryUnavailableError.

    urllib3's "Retrying ..." warnings are silenced meanwhile: the outage is reported once, in one line."""
    http_log = logging.getLogger("urllib3.connectionpool")
    previous = http_log.level
    http_log.setLevel(logging.ERROR)
    try:
        yield
    except RegistryUnavailableError:
        raise
    except Exception as error:  # noqa: BLE001 - classified here, re-raised unchanged when not an outage
        if is_outage(error):
            raise unavailable(settings, error) from error
        raise
    finally:
        http_log.setLevel(previous)


def with_retries(settings: Settings, call: Callable[[], T], pause: Callable[[float], None] = time.sleep) -> T:
    """Call, asking again after an outage: settings.registry_attempts tries, pauses doubling from registry_backoff_s."""
    started = time.monotonic()
    for attempt in range(1, settings.registry_attempts + 1):
        try:
            return call()
        except RegistryUnavailableError as error:
            if attempt >= settings.registry_attempts:
                cause = error.__cause__ or error
                raise unavailable(settings, cause, attempt, time.monotonic() - started) from cause
            pause(settings.registry_backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def champion_version(client: MlflowClient, model_name: str, settings: Settings | None = None) -> ModelVersion | None:
    """The version carrying the champion alias; None only when MLflow says there is none (an outage raises)."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as error:
        if is_missing(error):
            return None
        if is_outage(error):
            raise unavailable(settings or Settings(), error) from error
        raise


def check_registry_answers(settings: Settings) -> None:
    """Ask MLflow for the champion once: an outage raises RegistryUnavailableError (before any work starts)."""
    with answered(settings):
        champion_version(connect(settings), settings.model_name, settings)


def require_champion(settings: Settings) -> ModelVersion:
    """The champion's registry entry (no model download), asking again through a short outage; one-line refusals."""
    return with_retries(settings, lambda: _champion_or_refuse(settings))


def _champion_or_refuse(settings: Settings) -> ModelVersion:
    with answered(settings):
        version = champion_version(connect(settings), settings.model_name, settings)
    if version is None:
        raise NoChampionError("no champion model yet: run python -m flows.train")
    return version


def load_champion(settings: Settings) -> Champion:
    """The champion LeadModel exactly as logged (models:/NAME/VERSION), with its drift reference (retried)."""
    return with_retries(settings, lambda: _download_champion(settings))


def _download_champion(settings: Settings) -> Champion:
    version = _champion_or_refuse(settings)
    with answered(settings):
        model = _read_logged_lead_model(f"models:/{settings.model_name}/{version.version}")
        reference = _read_artifact(version.run_id, f"{REFERENCE_ARTIFACT}/{REFERENCE_FILE}", pd.read_parquet)
    return Champion(model, str(version.version), version.run_id, reference)


def load_champion_baseline(settings: Settings) -> ChampionBaseline | None:
    """The champion's evaluation model and holdout start; None when there is no champion, an error in an outage."""
    client = connect(settings)
    with answered(settings):
        version = champion_version(client, settings.model_name, settings)
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


def _read_logged_lead_model(model_uri: str) -> LeadModel:
    """The LeadModel folder inside a logged pyfunc model, read directly (the project needs no pyfunc loading)."""
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as folder:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder))
        return LeadModel.load(local / "artifacts" / LEAD_MODEL_ARTIFACT)


def register_candidate(settings: Settings, candidate: Candidate, decision: Decision,
                       training_id: str | None = None) -> RegisteredVersion:
    """Log the run, register the scoring model, move the alias: once per training id, whatever step a retry redoes."""
    training_id = training_id or uuid.uuid4().hex
    client = connect(settings)
    with answered(settings):
        run_id, model_uri = _logged_run(client, settings, candidate, decision, training_id)
        version = _registered_version(client, settings.model_name, model_uri, training_id)
        if decision.promote:
            client.set_registered_model_alias(settings.model_name, CHAMPION_ALIAS, version)
        _describe_version(client, settings.model_name, version, decision)  # after the alias: tags claim no more
    return RegisteredVersion(version, run_id, decision.promote)


def _logged_run(client: MlflowClient, settings: Settings, candidate: Candidate, decision: Decision,
                training_id: str) -> tuple[str, str]:
    """This training's completed MLflow run (run id, model URI), logged now unless an earlier attempt finished it."""
    experiment_id = ensure_experiment(client, settings)
    for run in client.search_runs([experiment_id], f"tags.`{TRAINING_ID_TAG}` = '{training_id}'"):
        if MODEL_URI_TAG in run.data.tags:
            return run.info.run_id, run.data.tags[MODEL_URI_TAG]
        if run.info.status == "RUNNING":  # an attempt killed while logging: its run never completes
            client.set_terminated(run.info.run_id, "FAILED")
    with _quiet_mlflow(), mlflow.start_run(experiment_id=experiment_id, tags={TRAINING_ID_TAG: training_id}) as run:
        _log_run(candidate, decision)
        mlflow.log_dict(version_content(candidate, decision), VERSION_ROW_ARTIFACT)
        model_uri = _log_lead_model(settings, candidate.model)
        mlflow.set_tag(MODEL_URI_TAG, model_uri)
    return run.info.run_id, model_uri


def _registered_version(client: MlflowClient, model_name: str, model_uri: str, training_id: str) -> str:
    """The version registered by this training, registered now (tagged with the training id) if there is none."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.`{TRAINING_ID_TAG}` = '{training_id}'")
    if found:
        return str(min(int(v.version) for v in found))
    with _quiet_mlflow():
        registered = mlflow.register_model(model_uri, model_name, tags={TRAINING_ID_TAG: training_id})
    return str(registered.version)


def _describe_version(client: MlflowClient, model_name: str, version: str, decision: Decision) -> None:
    """The decision's reason as the description and its tags (set on every attempt: a rerun may decide anew)."""
    client.update_model_version(model_name, version, description=decision.reason)
    for key, value in decision_tags(decision).items():
        client.set_model_version_tag(model_name, version, key, value)


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


def _log_lead_model(settings: Settings, model: LeadModel) -> str:
    """The self-contained pyfunc model: raw leads in, with a signature and an example of stored leads as text."""
    schema = settings.lead_schema()
    optional = [schema.id_column] if schema.id_column else []
    signature = raw_signature(schema.file_columns(), optional)
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as folder:
        return log_lead_model(model, MODEL_ARTIFACT, signature, raw_lead_example(settings), Path(folder))


def raw_lead_example(settings: Settings, rows: int = EXAMPLE_ROWS) -> pd.DataFrame | None:
    """A few stored leads written back as a lead file holds them (text, file column names); None when none."""
    schema = settings.lead_schema()
    columns = [c for c in schema.raw_columns if c.in_file]
    table = store.schema_tables(schema).leads
    engine = store.make_engine(settings.resolved_database_url(), schema)
    try:
        with engine.connect() as conn:
            query = select(*(table.c[c.db_name] for c in columns)).order_by(table.c[store.LEAD_ID]).limit(rows)
            stored = pd.read_sql_query(query, conn)
    finally:
        engine.dispose()
    if stored.empty:
        return None
    return pd.DataFrame({c.name: [_as_file_text(v, c) for v in stored[c.db_name]] for c in columns})


def _as_file_text(value, column) -> str | None:
    """A stored value as the text of a lead file (datetimes as YYYY-MM-DD HH:MM:SS on the business time zone's
    clock, as a file without offsets writes them; flags as their yes/no word)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if column.kind == "datetime":
        return as_utc(pd.Timestamp(value)).astimezone(business_zone()).strftime("%Y-%m-%d %H:%M:%S")
    if column.kind == "flag" and column.yes and column.no:
        return column.yes[0] if float(value) == 1.0 else column.no[0]
    return repr(float(value)) if column.kind in ("number", "flag") else str(value)


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
    _write_version_row(engine, row)


def _write_version_row(engine: Engine, row: dict) -> None:
    with engine.begin() as conn:
        table = store.model_versions
        conn.execute(delete(table).where(table.c.model_name == row["model_name"], table.c.version == row["version"]))
        conn.execute(insert(table).values(**row))
        if row["is_champion"]:
            _mark_champion(conn, row["model_name"], row["version"])


def version_content(candidate: Candidate, decision: Decision) -> dict:
    """The model_versions fields that do not depend on the version number (also logged with the run)."""
    comparison = {"champion_version": decision.champion_version, "champion_auc": decision.champion_auc,
                  "challenger_auc": decision.challenger_auc}
    metrics = {**candidate.metrics, **candidate.report, "window": candidate.window, "comparison": comparison}
    return {
        "promoted": decision.promote, "decision_reason": decision.reason, "metrics_json": json.dumps(metrics),
        "threshold": candidate.model.threshold, "grade_cutoffs_json": json.dumps(candidate.model.grade_cutoffs),
        "curves_json": json.dumps(candidate.curves), "feature_importance_json": json.dumps(candidate.importance),
    }


def version_row(model_name: str, registered: RegisteredVersion, candidate: Candidate, decision: Decision) -> dict:
    """The model_versions row: holdout metrics, refit figures, window, comparison, curves and importance."""
    return {"model_name": model_name, "version": registered.version, "mlflow_run_id": registered.run_id,
            "created_at": utc_now(), "is_champion": registered.is_champion,
            **version_content(candidate, decision)}


def reconcile_versions(engine: Engine, settings: Settings) -> list[str]:
    """Make model_versions agree with MLflow: record versions it lacks, set champion flags from the alias.

    Returns the versions recorded now (a training or promotion that died between MLflow and the database)."""
    client = connect(settings)
    name = settings.model_name
    with answered(settings):
        registered = client.search_model_versions(f"name = '{name}'")
        champion = champion_version(client, name, settings) if registered else None
        missing = [v for v in registered if str(v.version) not in _recorded_versions(engine, name)]
        rows = [_recovered_row(client, v, champion) for v in missing]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(insert(store.model_versions).values(**row))
        _mark_champion(conn, name, str(champion.version) if champion else None)
    return [row["version"] for row in rows]


def _recorded_versions(engine: Engine, model_name: str) -> set[str]:
    table = store.model_versions
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.version).where(table.c.model_name == model_name)).scalars())


def _recovered_row(client: MlflowClient, version: ModelVersion, champion: ModelVersion | None) -> dict:
    """A version's row rebuilt from MLflow: the row logged with its run, else its run's metrics and params."""
    try:
        content = _read_artifact(version.run_id, VERSION_ROW_ARTIFACT, lambda path: json.loads(path.read_text()))
    except (MlflowException, OSError) as error:  # logged before the row travelled with the run
        if is_outage(error):
            raise
        content = _content_from_run(client.get_run(version.run_id), version)
    return {"model_name": version.name, "version": str(version.version), "mlflow_run_id": version.run_id,
            "created_at": datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
            "is_champion": champion is not None and str(champion.version) == str(version.version), **content}


def _content_from_run(run, version: ModelVersion) -> dict:
    """For versions logged before the row travelled with the run: what the run's metrics and params hold."""
    params, tags = run.data.params, version.tags or {}
    cutoffs = {g: float(params[f"grade_{g}_cutoff"]) for g in "ABC" if f"grade_{g}_cutoff" in params}
    return {"promoted": tags.get("decision", "").startswith("promoted"),
            "decision_reason": tags.get("decision_reason", version.description or "recovered from MLflow"),
            "metrics_json": json.dumps(run.data.metrics), "threshold": float(params.get("threshold", 0.5)),
            "grade_cutoffs_json": json.dumps(cutoffs), "curves_json": None, "feature_importance_json": None}


def _mark_champion(conn: Connection, model_name: str, version: str | None) -> None:
    """Exactly the alias's version carries is_champion (none when no version has the alias)."""
    table = store.model_versions
    flag = table.c.version == version if version is not None else False
    conn.execute(update(table).where(table.c.model_name == model_name).values(is_champion=flag))


def promote(settings: Settings, version: str, reason: str) -> None:
    """Manual promotion: move the alias first, then tag the version and record the reason in model_versions.

    If the alias move fails nothing says the version was promoted (no tag, no row change); a failure after it
    is completed by running the promotion again (and the next training reconciles the champion flag)."""
    if not reason.strip():
        raise BadInputError("a reason is required to promote a model version by hand")
    client = connect(settings)
    _require_version(client, settings, version)
    engine = store.make_engine(settings.resolved_database_url())
    try:
        reconcile_versions(engine, settings)
        with engine.begin() as conn:
            _record_manual_promotion(conn, settings.model_name, version, reason)
            with answered(settings):
                client.set_registered_model_alias(settings.model_name, CHAMPION_ALIAS, version)
                client.set_model_version_tag(settings.model_name, version, "decision", "promoted_manually")
                client.set_model_version_tag(settings.model_name, version, "decision_reason", f"manual: {reason}")
    finally:
        engine.dispose()


def _require_version(client: MlflowClient, settings: Settings, version: str) -> None:
    try:
        with answered(settings):
            client.get_model_version(settings.model_name, version)
    except MlflowException as error:
        if not is_missing(error):
            raise
        raise BadInputError(f"model {settings.model_name} has no version {version}") from error


def _record_manual_promotion(conn: Connection, model_name: str, version: str, reason: str) -> None:
    table = store.model_versions
    result = conn.execute(update(table).where(table.c.model_name == model_name, table.c.version == version)
                          .values(promoted=True, decision_reason=f"promoted by hand: {reason}"))
    if result.rowcount != 1:
        raise BadInputError(f"version {version} of {model_name} is not in the model_versions table")
    _mark_champion(conn, model_name, version)
