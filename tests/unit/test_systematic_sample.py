"""A run's drift sample is drawn while it scores (core.scoring.SystematicSample): at most max_rows rows, spread
evenly over the whole stream, the same rows however the stream is chunked, and never more than twice max_rows held."""

import numpy as np
import pandas as pd
import pytest

from core.scoring import SystematicSample


def _stream(rows: int, chunk: int) -> list[pd.DataFrame]:
    return [pd.DataFrame({"n": np.arange(start, min(start + chunk, rows))}) for start in range(0, rows, chunk)]


def _drawn(rows: int, chunk: int, max_rows: int) -> np.ndarray:
    sample = SystematicSample(max_rows)
    for frame in _stream(rows, chunk):
        sample.add(frame)
        assert sum(len(part) for part in sample._kept) <= 2 * max_rows + chunk  # noqa: SLF001
    return sample.frame()["n"].to_numpy()


@pytest.mark.parametrize("rows", [1, 999, 1_000, 1_001, 7_777, 100_000])
def test_at_most_max_rows_distinct_rows_spread_over_the_whole_stream(rows: int) -> None:
    drawn = _drawn(rows, chunk=3_000, max_rows=1_000)
    assert len(drawn) == min(rows, 1_000) and len(np.unique(drawn)) == len(drawn)
    assert (np.diff(drawn) > 0).all()  # in stream order
    if rows > 1_000:
        gaps = np.diff(drawn)
        assert gaps.max() <= 4 * rows / 1_000  # no stretch of the stream left out
        assert drawn[0] < 4 * rows / 1_000 and drawn[-1] > rows - 4 * rows / 1_000


def test_the_same_rows_however_the_stream_is_chunked() -> None:
    assert (_drawn(54_321, 97, 1_000) == _drawn(54_321, 5_000, 1_000)).all()
    assert (_drawn(54_321, 54_321, 1_000) == _drawn(54_321, 333, 1_000)).all()


def test_nothing_added_is_no_sample() -> None:
    assert SystematicSample(10).frame() is None
