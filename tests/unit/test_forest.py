"""The compiled trees (core/forest.py): the same probabilities as LightGBM, cached per model, and LightGBM
whenever the compiler cannot be trusted."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest

from core import forest
from core.forest import ForestPredictor, warm_forest_cache

ROWS = 4_000


@pytest.fixture(scope="module")
def booster_and_matrix() -> tuple[lightgbm.Booster, np.ndarray]:
    """A booster with numeric and categorical splits and missing values, like the lead model's."""
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(ROWS, 6))
    matrix[:, 0] = rng.integers(0, 12, ROWS)  # a categorical code
    matrix[rng.random((ROWS, 6)) < 0.05] = np.nan
    labels = (np.nan_to_num(matrix[:, 1]) + (matrix[:, 0] % 3 == 0) + rng.normal(0, 0.5, ROWS) > 0.5).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "verbose": -1, "seed": 1,
              "categorical_column": [0], "num_threads": 1}
    return lightgbm.train(params, lightgbm.Dataset(matrix, labels), num_boost_round=60), matrix


def test_compiled_trees_give_lightgbms_probabilities(booster_and_matrix, tmp_path):
    booster, matrix = booster_and_matrix
    predictor = ForestPredictor(booster, tmp_path)
    assert predictor.compiled
    expected = booster.predict(matrix, num_threads=1)
    got = predictor.predict(matrix, threads=2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert not np.array_equal(got, np.full_like(got, got[0]))  # a real spread of scores, not a constant


def test_a_second_predictor_loads_the_cached_binary_instead_of_compiling(booster_and_matrix, tmp_path, monkeypatch):
    booster, matrix = booster_and_matrix
    assert warm_forest_cache(booster, tmp_path)
    binaries = list(tmp_path.glob("*.o"))
    assert len(binaries) == 1
    import lleaves.compiler

    def refuse(*args, **kwargs):
        raise AssertionError("compiled again although the binary was cached")

    monkeypatch.setattr(lleaves.compiler, "compile_to_module", refuse)
    predictor = ForestPredictor(booster, tmp_path)
    assert predictor.compiled
    np.testing.assert_allclose(predictor.predict(matrix), booster.predict(matrix), rtol=0, atol=1e-12)


def test_another_model_gets_its_own_binary(booster_and_matrix, tmp_path):
    booster, matrix = booster_and_matrix
    other = lightgbm.train({"objective": "binary", "num_leaves": 3, "verbose": -1},
                           lightgbm.Dataset(np.nan_to_num(matrix), (matrix[:, 2] > 0).astype(int)), 10)
    warm_forest_cache(booster, tmp_path)
    warm_forest_cache(other, tmp_path)
    assert len(list(tmp_path.glob("*.o"))) == 2


def test_a_compiler_that_fails_leaves_lightgbm_scoring(booster_and_matrix, tmp_path, monkeypatch, caplog):
    booster, matrix = booster_and_matrix

    def broken(booster, cache_dir: Path):
        raise OSError("no LLVM on this machine")

    monkeypatch.setattr(forest, "compiled_forest", broken)
    predictor = ForestPredictor(booster, tmp_path)
    assert not predictor.compiled
    np.testing.assert_array_equal(predictor.predict(matrix), booster.predict(matrix, num_threads=1))
    assert "scoring with LightGBM" in caplog.text and "no LLVM" in caplog.text


def test_compiled_trees_that_disagree_are_dropped_for_lightgbm(booster_and_matrix, tmp_path, caplog):
    booster, matrix = booster_and_matrix
    predictor = ForestPredictor(booster, tmp_path)
    assert predictor.compiled

    class Wrong:
        def predict(self, data, n_jobs=None):
            return np.full(len(data), 0.5)

    predictor._compiled = Wrong()
    got = predictor.predict(matrix)
    np.testing.assert_array_equal(got, booster.predict(matrix, num_threads=1))
    assert not predictor.compiled and "disagree" in caplog.text
