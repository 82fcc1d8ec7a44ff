"""How grades, trends and shares look everywhere in the app, so every page reads the same."""

from __future__ import annotations

import math
from functools import cache

import plotly.graph_objects as go

GRADES = ("A", "B", "C", "D")
GRADE_COLOURS = {"A": "#1a9850", "B": "#91cf60", "C": "#fdae61", "D": "#d73027"}
GRADE_TEXT = {"A": "#ffffff", "B": "#1f2d10", "C": "#3b2406", "D": "#ffffff"}
TRENDS = {"improving": "▲ improving", "steady": "▬ steady", "declining": "▼ declining"}
NEW_TREND = "● new"
CHART_HEIGHT = 360


def grade_css(grade: object) -> str:
    """Cell style of a grade badge: its colour as background (for a pandas Styler)."""
    colour = GRADE_COLOURS.get(str(grade))
    if colour is None:
        return ""
    return f"background-color: {colour}; color: {GRADE_TEXT[str(grade)]}; font-weight: 700; text-align: center"


def trend(value: object) -> str:
    """An arrow and word for a score trend; a lead scored for the first time is 'new'."""
    return TRENDS.get(str(value), NEW_TREND) if isinstance(value, str) else NEW_TREND


def share(value: object, digits: int = 1) -> str:
    """A fraction as a percentage, or n/a when it is unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value) * 100:.{digits}f}%"


@cache
def white_layout() -> go.layout.Template:
    """Plotly's `plotly_white` look without its per-trace defaults: a chart copies its template, and copying the
    whole of plotly_white cost about 14 ms of CPU per chart (a third of the Model page's script)."""
    import plotly.io as pio

    return go.layout.Template(layout=pio.templates["plotly_white"].layout)


def tidy(figure: go.Figure, height: int = CHART_HEIGHT) -> go.Figure:
    """The common chart look: white background, legend on top, small margins."""
    figure.update_layout(template=white_layout(), height=height, margin={"l": 10, "r": 10, "t": 80, "b": 10},
                         title={"y": 0.97, "yanchor": "top", "x": 0, "xanchor": "left", "font": {"size": 16}},
                         legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0, "title_text": ""})
    return figure
