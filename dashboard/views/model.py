"""Model (data team): the champion, its holdout evaluation, every version with why it was or wasn't promoted,
how each version does on the outcomes that came back (live), and the retraining decisions with their reasons."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from core.lead_schema import DEFAULT_BARS
from dashboard import db, empty_states, live_figures, queries, stored_json, style
from dashboard.evidently_report import show_snapshot
from dashboard.schema_view import SchemaView

CARDS = (("AUC", "auc"), ("Precision", "precision"), ("Recall", "recall"), ("F1", "f1"),
         ("Accuracy", "accuracy"), ("PR AUC", "pr_auc"), ("Brier score", "brier"))


def version_label(row: pd.Series) -> str:
    """'v3 · champion' / 'v2 · promoted' / 'v4 · not promoted'."""
    status = "champion" if row["is_champion"] else ("promoted" if row["promoted"] else "not promoted")
    return f"version {row['version']} · {status} · {row['created_at']:%Y-%m-%d %H:%M}"


def champion_banner(versions: pd.DataFrame) -> None:
    """Who is serving the nightly scores, and why."""
    champions = versions[versions["is_champion"]]
    if champions.empty:
        st.warning("No champion: no version has cleared the mission bars yet, so nothing scores leads.",
                   icon=":material/warning:")
        return
    top = champions.iloc[0]
    st.success(f"Champion: **{top['model_name']} version {top['version']}** (MLflow run `{top['mlflow_run_id']}`), "
               f"registered {top['created_at']:%Y-%m-%d %H:%M}. Decision: {top['decision_reason']}",
               icon=":material/trophy:")


def metric_cards(metrics: dict[str, object], bars: dict[str, float]) -> None:
    """Holdout metrics; the three business bars (the version's own, else the defaults) show their margin."""
    cards = st.columns(len(CARDS))
    for card, (label, key) in zip(cards, CARDS, strict=True):
        value, bar = metrics.get(key), bars.get(key)
        delta = f"{value - bar:+.3f} vs bar {bar}" if bar is not None and isinstance(value, int | float) else None
        card.metric(label, stored_json.show(value), delta=delta)


def facts(row: pd.Series, metrics: dict[str, object], view: SchemaView) -> None:
    """Threshold, expected recall on new leads, grade cut-offs, holdout, data window and the MLflow run."""
    cutoffs = stored_json.grade_cutoffs(row["grade_cutoffs_json"])
    cutoff_text = ", ".join(f"{g} ≥ {v:.3f}" for g, v in sorted(cutoffs.items())) or "n/a"
    _, success = view.outcome_words()
    interval = stored_json.recall_interval(row["metrics_json"])
    expected = f" · **Expected recall on new leads** {interval[0]:.3f}-{interval[1]:.3f}" if interval else ""
    st.markdown(
        f"**Threshold** {row['threshold']:.3f} (a lead at or above it is predicted {success}){expected} · "
        f"**Grades** {cutoff_text} · **Training rows** {stored_json.show(metrics['train_rows'])} · "
        f"**Holdout rows** {stored_json.show(metrics['holdout_rows'])} ({_holdout(row, metrics)}) · "
        f"**Refit on** {stored_json.show(metrics['refit_rows'])} rows · "
        f"**Compared with** {_compared_with(metrics)} · **MLflow run** `{row['mlflow_run_id']}`")


def _holdout(row: pd.Series, metrics: dict[str, object]) -> str:
    """How the holdout was chosen: the stored method, else the time window older versions recorded."""
    method = stored_json.holdout_method(row["metrics_json"])
    if method:
        return f"holdout: {method}"
    return (f"the most recent leads, from {stored_json.show(metrics['holdout_start'])} to "
            f"{stored_json.show(metrics['holdout_end'])}")


def leakage_warnings(row: pd.Series) -> None:
    """Features that alone separate the outcomes almost perfectly, as training reported them."""
    for line in stored_json.leakage(row["metrics_json"]):
        st.warning(line, icon=":material/report:")


def _compared_with(metrics: dict[str, object]) -> str:
    """The champion this version was measured against on the same holdout."""
    if metrics["champion_version"] is None:
        return "no champion (first version)"
    return f"version {metrics['champion_version']} (AUC {stored_json.show(metrics['champion_auc'])})"


def confusion_chart(matrix: list[list[int]] | None, view: SchemaView) -> go.Figure | None:
    """The holdout confusion matrix at the threshold."""
    if matrix is None:
        return None
    labels = list(view.outcome_words())
    figure = px.imshow(matrix, x=[f"predicted {x}" for x in labels], y=[f"actual: {y}" for y in labels],
                       text_auto=",", color_continuous_scale="Blues", title="Confusion matrix (holdout)")
    figure.update_coloraxes(showscale=False)
    return style.tidy(figure)


def curve_chart(raw: object, name: str, title: str, x_label: str, y_label: str, diagonal: bool) -> go.Figure | None:
    """ROC, precision-recall or calibration curve, with the chance/perfect line where it helps."""
    points = stored_json.curve(raw, name)
    if points is None:
        return None
    figure = go.Figure(go.Scatter(x=points.x, y=points.y, mode="lines+markers" if len(points.x) < 30 else "lines",
                                  name=title, line={"color": "#4575b4"}))
    if diagonal:
        figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="reference",
                                    line={"dash": "dash", "color": "#999"}))
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, showlegend=False)
    figure.update_xaxes(range=[0, 1])
    figure.update_yaxes(range=[0, 1.02])
    return style.tidy(figure)


def importance_chart(raw: object, view: SchemaView) -> go.Figure | None:
    """The features the model leans on most, under the schema's labels."""
    frame = stored_json.feature_importance(raw).head(20)
    if frame.empty:
        return None
    frame["feature"] = frame["feature"].map(view.label_of)
    figure = px.bar(frame.sort_values("importance"), x="importance", y="feature", orientation="h",
                    title="Feature importance", color_discrete_sequence=["#4575b4"])
    figure.update_yaxes(title=None)
    return style.tidy(figure, height=max(300, 24 * len(frame) + 80))


def show_charts(row: pd.Series, view: SchemaView) -> None:
    """The evaluation charts in a grid; a chart the producer did not store says so."""
    charts = [
        ("confusion_chart", confusion_chart(stored_json.confusion_matrix(row["curves_json"], row["metrics_json"]), view)),
        ("roc_chart", curve_chart(row["curves_json"], "roc", "ROC curve", "false positive rate",
                                  "true positive rate", True)),
        ("pr_chart", curve_chart(row["curves_json"], "pr", "Precision-recall curve", "recall", "precision", False)),
        ("calibration_chart", curve_chart(row["curves_json"], "calibration", "Calibration", "mean predicted score",
                                          "share that converted", True)),
    ]
    for start in range(0, len(charts), 2):
        for column, (key, figure) in zip(st.columns(2), charts[start:start + 2], strict=False):
            if figure is None:
                column.caption(f"{key.replace('_chart', '').upper()}: n/a (not stored for this version)")
            else:
                column.plotly_chart(figure, key=key)
    figure = importance_chart(row["feature_importance_json"], view)
    if figure is None:
        st.caption("Feature importance: n/a (not stored for this version)")
    else:
        st.plotly_chart(figure, key="importance_chart")


def versions_chart(history: pd.DataFrame, bars: dict[str, float]) -> go.Figure:
    """AUC, precision and recall of every version against the business bars."""
    ordered = history.iloc[::-1]
    names = [f"v{v}" + (" (champion)" if c else "" if p else " (not promoted)")
             for v, c, p in zip(ordered["version"], ordered["champion"], ordered["promoted"], strict=True)]
    figure = go.Figure([go.Bar(x=names, y=ordered[m], name=m, marker_color=colour)
                        for m, colour in (("AUC", "#4575b4"), ("precision", "#91bfdb"), ("recall", "#fdae61"))])
    for bar, label in bar_lines(bars):
        figure.add_hline(y=bar, line_dash="dash", line_color="#777777", annotation_text=label,
                         annotation_position="top left")
    figure.update_layout(barmode="group", title="Holdout metrics by version")
    figure.update_yaxes(range=[0, 1])
    figure.update_xaxes(type="category")
    return style.tidy(figure, height=340)


def bar_lines(bars: dict[str, float]) -> list[tuple[float, str]]:
    """One dashed line per distinct bar value, naming the metrics it applies to ('AUC / recall bar 0.75')."""
    names = {"auc": "AUC", "precision": "precision", "recall": "recall"}
    by_value: dict[float, list[str]] = {}
    for key in ("auc", "precision", "recall"):
        by_value.setdefault(bars[key], []).append(names[key])
    return [(value, f"{' / '.join(metrics)} bar {value:g}") for value, metrics in by_value.items()]


def history_table(versions: pd.DataFrame) -> pd.DataFrame:
    """Every version, newest first: promoted or not, why, and its headline metrics."""
    metrics = [stored_json.metrics(raw) for raw in versions["metrics_json"]]
    return pd.DataFrame({
        "version": versions["version"], "registered": versions["created_at"],
        "champion": versions["is_champion"], "promoted": versions["promoted"],
        "decision": versions["decision_reason"],
        "AUC": [m["auc"] for m in metrics], "precision": [m["precision"] for m in metrics],
        "recall": [m["recall"] for m in metrics], "threshold": versions["threshold"],
        "MLflow run": versions["mlflow_run_id"],
    })


def exclusions(live: pd.DataFrame) -> None:
    """Outcomes left out of the live figures, as the newest evaluation counted them."""
    newest = live.sort_values("computed_at").iloc[-1]
    never, after = int(newest["excluded_never_scored"] or 0), int(newest["excluded_scored_after_outcome"] or 0)
    st.caption(f"Evaluated {newest['computed_at']:%Y-%m-%d %H:%M}. Excluded from the live figures: "
               f"**{never:,}** outcomes of leads never scored, **{after:,}** of leads scored only after their "
               "outcome arrived.")


def needed_notes(live: pd.DataFrame) -> None:
    """Versions whose live outcomes are still too few of one class for figures."""
    for row in live[live["needed"] > 0].itertuples():
        st.info(f"Version {row.model_version}: {row.n_labelled:,} live outcomes so far; "
                f"{live_figures.needed_text(row.needed)} before live figures are shown.",
                icon=":material/hourglass_empty:")


def live_cards(row: pd.Series | None, metrics: dict[str, object]) -> None:
    """The chosen version's live figures, each against its holdout figure."""
    if row is None:
        st.caption("This version has no live outcomes yet (it scored no lead whose outcome came back later).")
        return
    cards = st.columns(len(live_figures.SIDE_BY_SIDE) + 1)
    for card, (label, key) in zip(cards, live_figures.SIDE_BY_SIDE, strict=False):
        value, holdout = row[key], metrics.get(key)
        known = value is not None and not pd.isna(value)
        delta = f"{value - holdout:+.3f} vs holdout {holdout:.3f}" if known and isinstance(holdout, int | float) else None
        card.metric(f"Live {label}", stored_json.show(value if known else None), delta=delta)
    cards[-1].metric("Live outcomes", f"{int(row['n_labelled']):,}")


def weekly_charts(weekly: pd.DataFrame, version: str) -> None:
    """Live AUC per week for every version, and the chosen version's completion per grade per week."""
    if weekly.empty:
        st.caption("No weekly live figures yet.")
        return
    left, right = st.columns(2)
    left.plotly_chart(live_figures.weekly_auc_chart(weekly), key="live_weekly_chart")
    left.caption("A week without a point has too few outcomes of one class for figures yet (column `needed` in "
                 "the numbers by week).")
    completion = live_figures.grade_completion(weekly, version)
    if completion.empty:
        right.caption(f"Version {version}: no week has enough outcomes of both classes for completion per grade.")
    else:
        right.plotly_chart(live_figures.grade_chart(completion, version), key="live_grade_chart")
    with st.expander("Numbers by week (live)"):
        st.dataframe(weekly.drop(columns=["computed_at"]), hide_index=True, key="live_weekly_numbers")


def live_calibration(row: pd.Series | None, version: str) -> None:
    """The chosen version's calibration on live outcomes."""
    bins = live_figures.calibration(None if row is None else row["calibration"])
    if bins.empty:
        return
    left, _ = st.columns(2)
    left.plotly_chart(live_figures.calibration_chart(bins, version), key="live_calibration_chart")


def live_report(engine: Engine, version: str) -> None:
    """Evidently's classification report on the live outcomes, rendered from its stored snapshot when asked."""
    if not st.toggle("Show the full Evidently classification report (live outcomes)", key="show_live_report"):
        return
    snapshot = queries.live_snapshot(engine, version)
    if not snapshot:
        st.info(f"Version {version} has no stored classification report (one is stored with each evaluation "
                "that gives a version live figures).")
        return
    show_snapshot(snapshot, "classification report", "The figures above are unaffected.")


def live_section(engine: Engine, present: set[str], versions: pd.DataFrame, row: pd.Series) -> None:
    """Holdout vs live per version, live figures over the weeks, calibration and the classification report."""
    st.subheader("Holdout vs live outcomes")
    if "live_performance" not in present:
        st.info(empty_states.NO_OUTCOMES, icon=":material/hourglass_empty:")
        return
    st.caption("Live: each version judged on the leads it scored before their outcome came back, with the "
               "score it gave them then (`python -m flows.evaluate`, and after every ingest that records outcomes).")
    live = queries.live_overall(engine)
    exclusions(live)
    needed_notes(live)
    side_by_side = live_figures.holdout_vs_live(versions, live)
    three_places = {name: st.column_config.NumberColumn(format="%.3f") for name in side_by_side.columns
                    if name.startswith(("holdout ", "live ")) and name not in ("live outcomes", "live status")}
    st.dataframe(side_by_side, hide_index=True, key="holdout_vs_live", column_config=three_places)
    version = str(row["version"])
    chosen = live.set_index("model_version").loc[version] if version in set(live["model_version"]) else None
    st.markdown(f"**Version {version} on live outcomes**")
    live_cards(chosen, stored_json.metrics(row["metrics_json"]))
    weekly_charts(queries.live_weekly(engine), version)
    live_calibration(chosen, version)
    live_report(engine, version)


def decisions_section(present: set[str], engine: Engine) -> None:
    """Every nightly retraining decision, newest first, with its one-line reason and what retraining did."""
    st.subheader("Retraining decisions")
    if "retrain_decisions" not in present:
        st.info(empty_states.NO_DECISIONS, icon=":material/hourglass_empty:")
        return
    decisions = queries.retrain_decisions(engine).rename(columns={"decided_at": "decided",
                                                                   "champion_version": "champion"})
    st.dataframe(decisions, hide_index=True, key="retrain_decisions")


def main() -> None:
    """The page."""
    st.title("Model")
    engine, _ = empty_states.require(("model_versions",), empty_states.NO_MODEL)
    view = db.schema_view()
    versions = queries.model_versions(engine)
    champion_banner(versions)
    by_version = versions.set_index("version", drop=False)
    labels = {version: version_label(row) for version, row in by_version.iterrows()}
    champions = list(by_version.index[by_version["is_champion"]])
    default = champions[0] if champions else by_version.index[0]
    chosen = st.selectbox("Version", list(labels), index=list(labels).index(default), format_func=labels.get,
                          key="version")
    row = by_version.loc[chosen]
    st.caption(f"Decision on this version: {row['decision_reason']}")
    leakage_warnings(row)
    metrics = stored_json.metrics(row["metrics_json"])
    bars = stored_json.bars(row["metrics_json"], DEFAULT_BARS)
    metric_cards(metrics, bars)
    facts(row, metrics, view)
    show_charts(row, view)
    st.subheader("All versions")
    history = history_table(versions)
    st.plotly_chart(versions_chart(history, bars), key="versions_chart")
    st.dataframe(history, hide_index=True, key="versions_table")
    with st.expander("Stored metrics JSON of this version"):
        st.json(stored_json.loads(row["metrics_json"]) or {})
    present = queries.live_tables_with_rows(engine)
    live_section(engine, present, versions, row)
    decisions_section(present, engine)


main()
