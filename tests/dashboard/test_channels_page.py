"""The sales manager's channel page: volumes, grade mix, actual conversion and score bands match the seeded rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.dashboard.reading import assert_clean, charts, metrics
from tests.dashboard.seed import Seeded


def with_outcomes(seeded: Seeded) -> pd.DataFrame:
    """Current scores joined with the stored outcome, as the page's SQL does."""
    outcomes = seeded.leads[["lead_id", "app_complete_flag"]]
    return seeded.current.merge(outcomes, on="lead_id", how="left")


def by_trace(figure: dict) -> dict[str, dict]:
    return {trace["name"]: dict(zip(trace["y"], trace["x"], strict=True)) for trace in figure["data"]}


def test_headline_and_channel_charts_by_source(seeded: Seeded, open_page) -> None:
    at = open_page("channels")

    assert_clean(at)
    frame = with_outcomes(seeded)
    known = frame["app_complete_flag"].notna()
    shown = metrics(at)
    assert shown["Leads"] == f"{len(frame):,}"
    assert shown["Leads with a known outcome"] == f"{known.sum():,}"
    assert shown["Actual conversion"] == f"{frame.loc[known, 'app_complete_flag'].mean() * 100:.1f}%"
    assert shown["Mean score"] == f"{frame['score'].mean():.3f}"

    figures = charts(at)
    volume = by_trace(figures["volume_chart"])
    for grade in "ABCD":
        expected = frame[frame["grade"] == grade].groupby("first_utm_source_c").size()
        assert {k: v for k, v in volume[grade].items() if v} == expected.to_dict()
    conversion = by_trace(figures["conversion_chart"])
    l2ac = frame[known].groupby("first_utm_source_c")["app_complete_flag"].mean()
    assert conversion["actual conversion"] == pytest.approx(l2ac.to_dict())
    mean_score = frame.groupby("first_utm_source_c")["score"].mean()
    assert conversion["mean score"] == pytest.approx(mean_score.to_dict())
    junk_trace = figures["junk_chart"]["data"][0]
    junk = dict(zip(junk_trace["y"], junk_trace["x"], strict=True))
    by_source = frame.assign(d=frame["grade"] == "D").groupby("first_utm_source_c")["d"].agg(["mean", "size"])
    sizeable = by_source[by_source["size"] >= 30]  # small channels are left out of the junk chart
    assert 0 < len(sizeable) < len(by_source)
    assert junk == pytest.approx(sizeable["mean"].to_dict())


def test_score_bands_show_the_score_separates_good_from_junk(seeded: Seeded, open_page) -> None:
    at = open_page("channels")

    bands = charts(at)["band_chart"]["data"][0]
    frame = with_outcomes(seeded)
    frame = frame[frame["app_complete_flag"].notna()]
    band = np.minimum((frame["score"] * 10).astype(int), 9)
    expected = frame.groupby(band)["app_complete_flag"].mean()
    labels = [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in expected.index]
    assert dict(zip(bands["x"], bands["y"], strict=True)) == pytest.approx(dict(zip(labels, expected, strict=True)))
    assert bands["y"][-1] > bands["y"][0] + 0.5  # the seeded score works: top band converts far more


def test_city_tier_breakdown_and_date_window(seeded: Seeded, open_page) -> None:
    at = open_page("channels")
    at.radio(key="dimension").set_value("city_tier")
    at.date_input(key="window").set_value((date(2021, 12, 1), date(2022, 1, 31)))
    at.run()

    assert_clean(at)
    frame = with_outcomes(seeded)
    window = frame[(frame["created_date"] >= "2021-12-01") & (frame["created_date"] < "2022-02-01")]
    assert metrics(at)["Leads"] == f"{len(window):,}"
    volume = by_trace(charts(at)["volume_chart"])
    tiers = ("City tier 1", "City tier 2", "City tier 3")
    totals = {tier: sum(volume[g].get(tier, 0) for g in "ABCD") for tier in tiers}
    expected = window.groupby("city_tier").size()
    assert totals == {f"City tier {t:g}": n for t, n in expected.items()}
    weekly = charts(at)["weekly_volume_chart"]["data"]
    assert sum(sum(trace["y"]) for trace in weekly) == len(window)


def test_numbers_behind_the_charts_are_one_click_away(seeded: Seeded, open_page) -> None:
    at = open_page("channels")

    labels = [e.label for e in at.expander]
    assert labels[0].startswith("Numbers by utm source")
    table = at.dataframe[0].value
    frame = with_outcomes(seeded)
    assert table.set_index("channel")["leads"].to_dict() == frame.groupby("first_utm_source_c").size().to_dict()
    assert int(table["known outcomes"].sum()) == int(frame["app_complete_flag"].notna().sum())
