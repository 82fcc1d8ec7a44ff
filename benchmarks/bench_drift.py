"""Drift report on 100,000 vs 100,000 scored leads (budget 30 s): python -m benchmarks.bench_drift [ROWS]."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from benchmarks import harness
from core.drift import build_drift_report, render_report_html
from core.lead_schema import OTHERS, Feature, load_schema

BUDGET_S = 30.0


def scored_leads(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Readable model inputs of the built-in schema plus scores; shift moves channels, counts, hours and scores."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f.key: _values(rng, f, rows, shift) for f in load_schema().features})
    frame["score"] = rng.beta(2 + shift, 2, rows)
    frame["predicted"] = (frame["score"] >= 0.5).astype("int64")
    return frame


def _values(rng: np.random.Generator, feature: Feature, rows: int, shift: float) -> np.ndarray:
    if feature.type == "category":
        return _levels(rng, [f"Level{i}" for i in range(12)] + [OTHERS], rows, shift)
    if feature.type == "lookup":
        choices = sorted(set(feature.lookup.values()) | {feature.default})
        return _levels(rng, choices, rows, shift).astype("float64" if feature.numeric else object)
    if feature.type == "flag":
        return (rng.random(rows) < 0.032 + 0.02 * shift).astype("float64")
    if feature.type == "number":
        return rng.poisson(1.65 + shift, rows).astype("float64")
    if feature.type == "sum":
        return np.where(rng.random(rows) < 0.002, rng.integers(1, 4, rows), 0).astype("float64")
    if feature.type == "hour":
        return (rng.normal(14 + 3 * shift, 5, rows).round() % 24).astype("float64")
    return rng.integers(0, 7, rows).astype("float64")


def _levels(rng: np.random.Generator, levels: list[str], rows: int, shift: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(levels) + 1)
    weights[-1] += shift * weights.sum()  # a shifted batch brings more unseen codes, folded into others
    return rng.choice(levels, rows, p=weights / weights.sum())


def timed(label: str, work):
    """Run work, print its wall time, return its result and the seconds."""
    result, seconds = harness.timed(work)
    print(f"{label}: {seconds:.2f} s")
    return result, seconds


def main(rows: int = 100_000) -> None:
    reference, current = scored_leads(rows, seed=1, shift=0.0), scored_leads(rows, seed=2, shift=0.5)
    print(f"{rows:,} reference rows vs {rows:,} current rows, {reference.shape[1]} columns")
    timed("import evidently (once per process)", lambda: __import__("evidently.presets"))
    summary, sampled_s = timed("report, default max_rows=50,000 (sampled)",
                               lambda: build_drift_report(reference=reference, current=current))
    full, full_s = timed(f"report, max_rows={rows:,} (every row)",
                         lambda: build_drift_report(reference=reference, current=current, max_rows=rows))
    html, _ = timed("render HTML from the stored snapshot", lambda: render_report_html(full.snapshot_json))
    print(f"share of drifted columns {full.share_drifted_columns:.2f}, dataset drift {full.dataset_drift}, "
          f"sampled run share {summary.share_drifted_columns:.2f}")
    print(f"snapshot JSON {len(full.snapshot_json) / 1e3:.0f} KB, HTML {len(html) / 1e6:.1f} MB")
    print(f"peak RSS {harness.peak_rss_mb():.0f} MB")
    verdict = "within" if max(sampled_s, full_s) <= BUDGET_S else "OVER"
    print(f"budget {BUDGET_S:.0f} s per report: {verdict}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
