"""The registered model as any MLflow client sees it: raw leads in (text, as a lead file holds them), scores out.

The model is logged with the `core` package as its code (`code_paths`), so `mlflow models serve` and
`mlflow.pyfunc.load_model` work in any folder, without this repository. Its only artifact is the saved
LeadModel folder, read back with LeadModel.load: whatever the model keeps there travels with it.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from core.clock import utc_now
from core.model import LeadModel
from core.schema import validate_leads

LEAD_MODEL_ARTIFACT = "lead_model"
SERVED_PACKAGES = ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "pyarrow", "pyyaml")
OUTPUT = Schema([ColSpec("double", "score"), ColSpec("string", "grade"), ColSpec("long", "predicted"),
                 ColSpec("string", "problem", required=False)])


class LeadScorer(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: probability, grade A-D and predicted flag of each raw lead (problem: why a row has none)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Read the LeadModel folder logged as the model's artifact."""
        self.lead_model = LeadModel.load(Path(context.artifacts[LEAD_MODEL_ARTIFACT]))

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        """One output row per input row, in the input's order."""
        return score_raw_leads(self.lead_model, model_input)


def leads_as_received(frame: pd.DataFrame, na_values: tuple[str, ...]) -> pd.DataFrame:
    """Every cell as the text a lead file holds; the schema's missing-value tokens ("", "nan", "NULL"...) are missing."""
    named = frame.rename(columns=lambda name: str(name).strip()).reset_index(drop=True)
    kept = [c for c in named.columns if c != "" and not c.startswith("Unnamed: 0")]  # a file's unnamed index column
    return pd.DataFrame({name: _as_text(named[name], na_values) for name in kept})


def _as_text(column: pd.Series, na_values: tuple[str, ...]) -> pd.Series:
    text = column.astype("str")  # numbers sent as JSON numbers become their text; missing stays missing
    return text.where(~text.isin([*na_values, "nan", "None", "<NA>"]))


def score_raw_leads(model: LeadModel, raw: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """Validate as ingest does, then score the valid rows; a refused row keeps no score and says why."""
    schema = model.schema
    leads = leads_as_received(raw, schema.na_values).drop(columns=[schema.label.column], errors="ignore")
    validated = validate_leads(leads, now or utc_now(), schema)
    output = pd.DataFrame({"score": np.full(len(leads), np.nan), "grade": pd.Series([None] * len(leads), dtype=object),
                           "predicted": pd.array([pd.NA] * len(leads), dtype="Int64"),
                           "problem": pd.Series([None] * len(leads), dtype=object)})
    if len(validated.good):
        scores = np.asarray(model.predict_proba(validated.good), dtype="float64")
        rows = validated.good.index.to_numpy()
        output.loc[rows, "score"] = scores
        output.loc[rows, "grade"] = model.grades(scores)
        output.loc[rows, "predicted"] = model.predicted(scores).astype("int64")
    refused = validated.rejected.dropna(subset=["row_number"])
    output.loc[refused["row_number"].astype(int).to_numpy() - 1, "problem"] = refused["reason"].to_numpy()
    return output


def raw_signature(required: list[str], optional: list[str]) -> ModelSignature:
    """Input: the lead file's columns as text (optional ones may be left out); output: score, grade, predicted."""
    columns = [ColSpec("string", name) for name in required]
    columns += [ColSpec("string", name, required=False) for name in optional]
    return ModelSignature(inputs=Schema(columns), outputs=OUTPUT)


def served_requirements() -> list[str]:
    """The packages the served model imports, pinned to the versions it was trained with."""
    return [f"{name}=={version(name)}" for name in SERVED_PACKAGES]


def copy_core_package(folder: Path) -> Path:
    """A clean copy of the `core` package (no caches) to travel with the model as its code."""
    source = Path(__file__).resolve().parent
    target = folder / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def log_lead_model(model: LeadModel, name: str, signature: ModelSignature,
                   input_example: pd.DataFrame | None, folder: Path) -> str:
    """Log the LeadModel as a self-contained pyfunc model (code, signature, raw example); returns its URI."""
    model.save(folder / LEAD_MODEL_ARTIFACT)
    info = mlflow.pyfunc.log_model(
        name=name, python_model=LeadScorer(), artifacts={LEAD_MODEL_ARTIFACT: str(folder / LEAD_MODEL_ARTIFACT)},
        code_paths=[str(copy_core_package(folder / "code"))], signature=signature, input_example=input_example,
        pip_requirements=served_requirements())
    return info.model_uri
