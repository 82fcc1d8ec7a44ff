"""Reading what a page shows under AppTest: charts by key, metric cards, and the absence of errors."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def charts(at: AppTest) -> dict[str, dict]:
    """The plotly figures on the page, by their Streamlit key."""
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    """Metric cards: label -> value as shown."""
    return {m.label: m.value for m in at.metric}


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
