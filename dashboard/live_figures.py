"""Live figures as the pages show them: holdout next to live per version, weekly lines, calibration.

The frames come from dashboard.queries (live_overall, live_weekly); the JSON columns (completion_by_grade,
calibration) are read tolerantly through dashboard.stored_json.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import stored_json, style

SIDE_BY_SIDE = (("AUC", "auc"), ("precision", "precision"), ("recall", "recall"), ("PR-AUC", "pr_auc"))
VERSION_COLOURS = ("#4575b4", "#fdae61", "#1a9850", "#d73027", "#762a83", "#999999")


def needed_text(needed: int) -> str:
    """What a version without live figures is waiting for."""
    return f"{int(needed):,} more outcomes of the scarcer class needed"


def status(row: pd.Series | None) -> str:
    """'figures', 'N more outcomes of the scarcer class needed', or 'no outcomes yet'."""
    if row is None:
        return "no live outcomes yet"
    return needed_text(row["needed"]) if int(row["needed"]) > 0 else "live figures"


def holdout_vs_live(versions: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """One row per version: each holdout figure next to the same figure on live outcomes, the number of
    live outcomes and what is missing (live figures are empty until enough outcomes came back)."""
    by_version = live.set_index("model_version")
    rows = []
    for version, raw in zip(versions["version"], versions["metrics_json"], strict=True):
        holdout = stored_json.metrics(raw)
        row = by_version.loc[version] if version in by_version.index else None
        figures: dict[str, object] = {"version": str(version)}
        for label, key in SIDE_BY_SIDE:
            figures[f"holdout {label}"] = _number(holdout.get(key))
            figures[f"live {label}"] = None if row is None else _number(row[key])
        figures["live outcomes"] = 0 if row is None else int(row["n_labelled"])
        figures["live status"] = status(row)
        rows.append(figures)
    return pd.DataFrame(rows)


def _number(value: object) -> float | None:
    if value is None or not isinstance(value, int | float) or pd.isna(value):
        return None
    return float(value)


def weekly_auc_chart(weekly: pd.DataFrame) -> go.Figure:
    """Live AUC per week of lead creation, one line per version (gaps: weeks with too few outcomes)."""
    figure = go.Figure()
    for i, (version, part) in enumerate(weekly.groupby("model_version", sort=True)):
        figure.add_trace(go.Scatter(
            x=list(part["period"]), y=[_number(v) for v in part["auc"]], mode="lines+markers", name=f"v{version}",
            connectgaps=False, line={"color": VERSION_COLOURS[i % len(VERSION_COLOURS)]},
            customdata=list(zip(part["n_labelled"], part["needed"], strict=True)),
            hovertemplate="week of %{x}: AUC %{y:.3f} on %{customdata[0]} outcomes<extra></extra>"))
    figure.update_layout(title="Live AUC per week of lead creation", xaxis_title="week starting",
                         yaxis_title="live AUC")
    figure.update_xaxes(type="category")
    figure.update_yaxes(range=[0, 1])
    return style.tidy(figure)


def grade_completion(weekly: pd.DataFrame, version: str) -> pd.DataFrame:
    """One version's completion rate per grade and week (columns week, grade, completion); weeks without
    figures have no rows."""
    part = weekly[weekly["model_version"] == str(version)]
    rows = [(period, grade, rate) for period, raw in zip(part["period"], part["completion_by_grade"], strict=True)
            for grade, rate in _rates(raw).items()]
    return pd.DataFrame(rows, columns=["week", "grade", "completion"])


def _rates(raw: object) -> dict[str, float | None]:
    data = stored_json.loads(raw)
    if not isinstance(data, dict):
        return {}
    return {str(g): _number(v) for g, v in data.items()}


def grade_chart(completion: pd.DataFrame, version: str) -> go.Figure:
    """Completion per grade over the weeks: A above B above C above D when the grades mean something."""
    figure = go.Figure()
    for grade in style.GRADES:
        part = completion[completion["grade"] == grade]
        figure.add_trace(go.Scatter(x=list(part["week"]), y=list(part["completion"]), mode="lines+markers",
                                    name=f"grade {grade}", line={"color": style.GRADE_COLOURS[grade]}))
    figure.update_layout(title=f"Version {version}: share completed per grade, by week (live outcomes)",
                         xaxis_title="week starting", yaxis_title="share completed")
    figure.update_xaxes(type="category")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return style.tidy(figure)


def calibration(raw: object) -> pd.DataFrame:
    """The stored calibration bins (predicted, observed, leads); empty when none were stored."""
    data = stored_json.loads(raw)
    if not isinstance(data, dict) or not data.get("predicted"):
        return pd.DataFrame(columns=["predicted", "observed", "leads"])
    return pd.DataFrame({key: data.get(key) for key in ("predicted", "observed", "leads")})


def calibration_chart(bins: pd.DataFrame, version: str) -> go.Figure:
    """Mean score against the share that completed, per score band: on the diagonal when the score is a
    probability one can trust."""
    figure = go.Figure([
        go.Scatter(x=list(bins["predicted"]), y=list(bins["observed"]), mode="lines+markers", name="live",
                   customdata=list(bins["leads"]), line={"color": "#4575b4"},
                   hovertemplate="mean score %{x:.3f}: %{y:.1%} completed of %{customdata} leads<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash", "color": "#999"}),
    ])
    figure.update_layout(title=f"Version {version}: live calibration", xaxis_title="mean score",
                         yaxis_title="share completed", showlegend=False)
    figure.update_xaxes(range=[0, 1])
    figure.update_yaxes(range=[0, 1.02])
    return style.tidy(figure)
