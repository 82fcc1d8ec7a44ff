"""store.bulk_insert and store.bulk_load (narrow and wide parts; SQLite: through an ADBC scratch file) round-trip
every column type the product writes, on SQLite and Postgres."""

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, MetaData, SmallInteger, Table, Text

from core import store


def _table(engine) -> Table:
    table = Table("roundtrip", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer),
                  Column("flag", SmallInteger), Column("x", Float), Column("ok", Boolean), Column("arrow_text", Text),
                  Column("object_text", Text), Column("at", DateTime), Column("sparse", Float),
                  Column("sparse_with_default", Float, server_default="5"))
    table.create(engine)
    return table


def _texts(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


def _frame() -> pd.DataFrame:
    rows = 250_001  # more than one slice
    sparse = np.full(rows, np.nan)
    sparse[[30, 200_000]] = [1.5, 2.5]
    return pd.DataFrame({
        "id": np.arange(rows),
        "n": pd.array([None if i % 5 == 0 else i for i in range(rows)], dtype="Int64"),
        "flag": pd.array([1, 0, None] * (rows // 3) + [1] * (rows % 3), dtype="Int8"),
        "x": np.where(np.arange(rows) % 7 == 0, np.nan, np.arange(rows) / 4),
        "ok": np.arange(rows) % 2 == 0,
        "arrow_text": pd.Series([None if i % 3 == 0 else f"t{i}" for i in range(rows)], dtype="str"),
        "object_text": pd.Series([None if i % 4 == 0 else f"o{i}" for i in range(rows)], dtype=object),
        "at": pd.Series(pd.to_datetime(["2021-07-01 07:32:25.123456", None] * (rows // 2) + ["2022-01-01 00:00:00"],
                                       format="ISO8601")),
        "sparse": sparse,
        "sparse_with_default": sparse,  # empty in most rows: written as NULL, never left to its default
    })


@pytest.mark.parametrize("write", [store.bulk_insert, store.bulk_load])
def test_bulk_writes_round_trip_types_nulls_and_order(engine, write):
    _table(engine)
    frame = _frame()
    order = np.arange(len(frame))[::-1][: len(frame) - 10]  # a subset, written in reverse
    assert len(order) >= store.LARGE_BATCH_ROWS  # bulk_load: the large-batch way
    with store.write_transaction(engine) as conn:
        write(conn, "roundtrip", frame, order)
    back = store.read_frame(engine, "SELECT * FROM roundtrip ORDER BY id", parse_dates=["at"])
    expected = frame.iloc[np.sort(order)].reset_index(drop=True)
    assert len(back) == len(expected)
    assert back["n"].isna().sum() == expected["n"].isna().sum()
    assert back["n"].dropna().astype(int).tolist() == expected["n"].dropna().astype(int).tolist()
    assert back["flag"].isna().sum() == expected["flag"].isna().sum()
    assert back["x"].isna().sum() == expected["x"].isna().sum()
    assert np.allclose(back["x"].dropna(), expected["x"].dropna())
    assert back["ok"].astype(bool).tolist() == expected["ok"].tolist()
    for name in ("arrow_text", "object_text"):
        assert _texts(back[name]) == _texts(expected[name])
    assert back["at"].isna().sum() == expected["at"].isna().sum()
    assert back["at"].dropna().tolist() == expected["at"].dropna().tolist()  # microseconds kept
    assert back["sparse"].dropna().tolist() == back["sparse_with_default"].dropna().tolist() == [1.5, 2.5]
