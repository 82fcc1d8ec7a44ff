"""The nightly run's predictor: the champion's LightGBM trees compiled to machine code by lleaves.

LightGBM's own predict walks 300 small trees at ~17 us per lead here (1,000,000 leads: ~17 s of CPU); the same
trees compiled by lleaves (LLVM) take ~1.2 us and give the same probabilities to within 1e-15. Compiling takes
a few seconds, so the compiled forest is cached on disk per model and per machine under LEADSCORE_CACHE_DIR (the key covers the model
text, the compiler versions and the host CPU) and training warms the cache for its new version. Every compiled
forest is checked against LightGBM on the first leads it scores; a mismatch, or a compiler that will not load
or run, falls back to LightGBM with one logged line: the scores never depend on the compiler being present.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import lightgbm
import numpy as np

CHECK_ROWS = 512  # leads scored by both predictors before the compiled one is trusted
CHECK_TOLERANCE = 1e-9
COMPILE_OPTIONS = {"fblocksize": 34, "finline": True}
log = logging.getLogger(__name__)


class ForestPredictor:
    """Probabilities of a booster's trees for a float64 feature matrix: compiled when possible, else LightGBM."""

    def __init__(self, booster: lightgbm.Booster, cache_dir: Path) -> None:
        self.booster = booster
        self.cache_dir = cache_dir
        self._compiled = None
        self._checked = False
        self._load_compiled()

    @property
    def compiled(self) -> bool:
        """Whether the compiled trees score (False: LightGBM does)."""
        return self._compiled is not None

    def predict(self, matrix: np.ndarray, threads: int = 1) -> np.ndarray:
        """One probability per row of the matrix (columns in the model's feature order)."""
        matrix = np.ascontiguousarray(matrix, dtype="float64")
        if self._compiled is not None and not self._checked:
            self._check_against_lightgbm(matrix[:CHECK_ROWS])
        if self._compiled is None:
            return self.booster.predict(matrix, num_threads=threads)
        return self._compiled.predict(matrix, n_jobs=threads)

    def _load_compiled(self) -> None:
        try:
            self._compiled = compiled_forest(self.booster, self.cache_dir)
        except Exception as error:  # noqa: BLE001 - the compiler is an accelerator: LightGBM gives the same scores
            log.warning("compiled trees unavailable (%s: %s); scoring with LightGBM", type(error).__name__, error)

    def _check_against_lightgbm(self, sample: np.ndarray) -> None:
        expected = self.booster.predict(sample, num_threads=1)
        got = self._compiled.predict(sample, n_jobs=1)
        self._checked = True
        if not np.allclose(got, expected, rtol=0, atol=CHECK_TOLERANCE):
            log.warning("compiled trees disagree with LightGBM (max difference %.3g); scoring with LightGBM",
                        float(np.max(np.abs(got - expected))))
            self._compiled = None


def compiled_forest(booster: lightgbm.Booster, cache_dir: Path):
    """The booster compiled by lleaves, loaded from the cache or compiled into it (an atomic rename, so
    processes compiling the same model at once never read a half-written file)."""
    import lleaves  # a compiler import costs start-up time: only the scoring run pays it

    model_text = booster.model_to_string()
    key = forest_cache_key(model_text)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_file, binary = cache_dir / f"{key}.txt", cache_dir / f"{key}.o"
    if not model_file.exists():
        _write_atomically(model_file, model_text.encode())
    forest = lleaves.Model(model_file=str(model_file))
    if binary.exists():
        forest.compile(cache=str(binary), **COMPILE_OPTIONS)
        return forest
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        fresh = Path(scratch) / binary.name
        forest.compile(cache=str(fresh), **COMPILE_OPTIONS)
        os.replace(fresh, binary)
    return forest


def forest_cache_key(model_text: str) -> str:
    """What the machine code depends on: the trees, the compiler's versions, the CPU it was built for."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    parts = [model_text, version("lleaves"), version("llvmlite"), llvm.get_host_cpu_name(),
             llvm.get_host_cpu_features().flatten(), repr(sorted(COMPILE_OPTIONS.items()))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


def default_cache_dir() -> Path:
    """LEADSCORE_CACHE_DIR (else LEADSCORE_HOME/cache) / forests: every process of one machine shares it."""
    from core.config import load_settings

    return load_settings().resolved_cache_dir() / "forests"


def warm_forest_cache(booster: lightgbm.Booster, cache_dir: Path | None = None) -> bool:
    """Compile a new model's trees ahead of its first nightly run; False when the compiler is unavailable."""
    return ForestPredictor(booster, cache_dir or default_cache_dir()).compiled
