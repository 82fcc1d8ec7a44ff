"""The scoring spill knows whether its rows came in lead-id order (SQLite then inserts them as they are, else
sorted first: the staging table's key takes rows in its order 2-3x faster)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.lead_schema import load_schema
from core.score_store import ScoreSpill, global_ranks, score_arrow_schema


def scored_rows(lead_ids: list[str]) -> pd.DataFrame:
    layout = score_arrow_schema(load_schema())
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    known = {"lead_id": lead_ids, "run_id": 0, "model_version": "1", "score": 0.5, "grade": "B", "rank": 0,
             "predicted": 1, "created_date": moment, "scored_at": moment}
    columns = {field.name: pa.array(lead_ids if field.name == "lead_id" else [known.get(field.name)] * len(lead_ids),
                                    field.type) for field in layout}
    return pa.table(columns, schema=layout).to_pandas()


@pytest.mark.parametrize(("chunks", "in_order"), [
    ([["a1", "a2"], ["b1"]], True),
    ([["a1"], [], ["a2", "b"]], True),
    ([["a1", "c"], ["b"]], False),  # each chunk sorted, the second starts before the first ends
    ([["b", "a"]], False),
    ([["a", "a"]], False),  # a repeated id is not strictly after the one before it
    ([["Z", "a", "é"]], True),  # byte order of UTF-8, as SQLite's BINARY collation sorts
])
def test_spill_knows_whether_rows_came_in_lead_id_order(tmp_path, chunks, in_order) -> None:
    spill = ScoreSpill(tmp_path, score_arrow_schema(load_schema()))
    for ids in chunks:
        spill.append(scored_rows(ids))
    assert spill.in_key_order is in_order
    assert spill.rows == sum(len(ids) for ids in chunks)


def test_ranks_of_rows_in_lead_id_order_equal_the_ranks_sorting_lead_ids(tmp_path) -> None:
    """In lead-id order the ranks come from a stable sort of the scores alone: equal scores (frequent with trees)
    must still be ranked by lead id, exactly as global_ranks ranks them."""
    rng = np.random.default_rng(5)
    ids = sorted(f"L{value:06d}" for value in rng.choice(10**6, size=3000, replace=False))
    scores = rng.choice([0.1, 0.25, 0.5, 0.75, 0.9], size=len(ids))  # five values: ties everywhere
    spill = ScoreSpill(tmp_path, score_arrow_schema(load_schema()))
    for start in range(0, len(ids), 1000):
        spill.append(scored_rows(ids[start:start + 1000]).assign(score=scores[start:start + 1000]))
    assert spill.in_key_order
    written = pa.Table.from_batches(list(spill.ranked_batches(run_id=7)))
    expected = global_ranks(pa.chunked_array([pa.array(scores)]), pa.chunked_array([pa.array(ids)]))
    assert written.column("rank").to_numpy().tolist() == expected.tolist()
    assert set(written.column("run_id").to_pylist()) == {7}
