"""A model trained once on the real labelled leads, for scoring tests (no MLflow needed here)."""

from datetime import datetime

import pandas as pd
import pytest

from core.model import LeadModel, ModelConfig, train_candidate
from core.schema import validate_file
from tests.paths import SHARED_DATA


def real_leads(name: str) -> pd.DataFrame:
    return validate_file(SHARED_DATA / name, datetime(2026, 1, 1)).good


@pytest.fixture(scope="session")
def dev_model() -> LeadModel:
    """The refit model of one training on leads_labelled_dev.csv."""
    return train_candidate(real_leads("leads_labelled_dev.csv"), ModelConfig(num_boost_round=150)).model


@pytest.fixture(scope="session")
def course_model() -> LeadModel:
    """A second, different model (course features only), to check rescoring and trends."""
    config = ModelConfig(num_boost_round=60, feature_set="course")
    return train_candidate(real_leads("leads_labelled_dev.csv"), config).model
