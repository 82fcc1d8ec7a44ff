"""Ingest into the real stores (SQLite and Postgres): accounting, idempotence, labels, atomicity."""

import tempfile
import threading
from contextlib import ExitStack
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from core import ingest as ingest_module
from core import store
from core.errors import BadInputError
from core.ingest import ingest_file
from core.lead_schema import load_schema
from tests.paths import SHARED_DATA
from tests.samples import real_sample, write_sample

LEADS = store.schema_tables(load_schema()).leads
BATCH_COLUMNS = ("batch_id", "label_batch_id")


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _table_counts(engine: Engine) -> tuple[int, int, int]:
    return _count(engine, LEADS), _count(engine, store.rejected_leads), _count(engine, store.ingest_batches)


def test_real_inference_file_every_row_accounted_for(engine):
    summary = ingest_file(engine, SHARED_DATA / "leadscoring_inference.csv")
    assert summary.rows_in == 24_991
    assert summary.loaded + summary.duplicate + summary.rejected == summary.rows_in
    assert (summary.loaded, summary.duplicate, summary.rejected) == (24_983, 8, 0)
    assert _count(engine, LEADS) == summary.loaded
    frame = store.read_frame(engine, "SELECT city_mapped, referred_lead FROM leads")
    assert frame["city_mapped"].isna().sum() == 952  # 954 in the file ("" or "nan"), 2 of them among the 8 duplicates
    assert frame["referred_lead"].isin([0.0, 1.0]).all()


def test_same_file_twice_changes_nothing(engine):
    path = SHARED_DATA / "leadscoring_test.csv"
    first = ingest_file(engine, path)
    before = _table_counts(engine)
    second = ingest_file(engine, path)
    assert second.already_ingested and second.batch_id == first.batch_id
    assert _table_counts(engine) == before == (100, 0, 1)


def test_bad_rows_are_quarantined_with_raw_row_and_reason(engine, tmp_path):
    frame = real_sample(6)
    frame.loc[1, "referred_lead"] = "7"
    frame.loc[4, "created_date"] = "not a date"
    summary = ingest_file(engine, write_sample(tmp_path / "mixed.csv", frame))
    assert (summary.rows_in, summary.loaded, summary.rejected) == (6, 4, 2)
    rejected = store.read_frame(engine, "SELECT row_number, raw_row, reason FROM rejected_leads ORDER BY row_number")
    assert rejected["row_number"].tolist() == [2, 5]
    assert rejected["reason"].tolist() == ["referred_lead must be 0 or 1, got 7",
                                           "created_date is not a date: 'not a date'"]
    assert '"referred_lead": "7"' in rejected["raw_row"].iloc[0]


def test_labels_arrive_later_and_are_never_erased(engine, tmp_path):
    labelled = real_sample(8)
    unlabelled = labelled.drop(columns=["app_complete_flag"])
    ingest_file(engine, write_sample(tmp_path / "new.csv", unlabelled))
    assert store.read_frame(engine, "SELECT count(*) AS n FROM leads WHERE app_complete_flag IS NOT NULL")["n"][0] == 0
    outcome = ingest_file(engine, write_sample(tmp_path / "outcomes.csv", labelled))
    assert (outcome.loaded, outcome.duplicate, outcome.labels_recorded) == (0, 8, 8)
    again = unlabelled.copy()
    again.to_csv(tmp_path / "again.csv", index=False, lineterminator="\r\n")
    ingest_file(engine, tmp_path / "again.csv")
    stored = store.read_frame(engine, "SELECT app_complete_flag, label_recorded_at FROM leads ORDER BY row_number")
    assert stored["app_complete_flag"].tolist() == labelled["app_complete_flag"].astype(int).tolist()  # each its own
    assert stored["label_recorded_at"].notna().all()


def test_file_lead_id_is_the_identity(engine, tmp_path):
    frame = real_sample(4)
    frame.loc[2] = frame.loc[0]  # the same lead again, unchanged: a duplicate
    frame.insert(0, "lead_id", ["A-1", "A-2", "A-1", "A-2"])  # row 4: A-2 with other content
    summary = ingest_file(engine, write_sample(tmp_path / "ids.csv", frame))
    assert (summary.loaded, summary.duplicate, summary.rejected) == (2, 1, 1)
    ids = store.read_frame(engine, "SELECT lead_id, created_date FROM leads ORDER BY lead_id")
    assert ids["lead_id"].tolist() == ["A-1", "A-2"]
    assert str(ids["created_date"].iloc[1])[:19] == frame.loc[1, "created_date"]  # the first row won
    rejected = store.read_frame(engine, "SELECT row_number, raw_row, reason FROM rejected_leads")
    assert rejected["reason"].tolist() == ["lead_id A-2 appears earlier in this file with different content (row 2)"]
    assert rejected["row_number"].tolist() == [4]
    assert frame.loc[3, "created_date"] in rejected["raw_row"].iloc[0]  # the later content is kept


def test_bad_file_leaves_database_untouched(engine, tmp_path):
    ingest_file(engine, SHARED_DATA / "leadscoring_test.csv")
    before = _table_counts(engine)
    broken = real_sample(3).drop(columns=["first_utm_source_c"])
    with pytest.raises(BadInputError, match="missing required columns: first_utm_source_c"):
        ingest_file(engine, write_sample(tmp_path / "broken.csv", broken))
    assert _table_counts(engine) == before


def _disk_full(*_args, **_kwargs):
    raise RuntimeError("disk full (injected)")


def test_crash_during_write_rolls_back_everything(engine, tmp_path, monkeypatch):
    path = write_sample(tmp_path / "crash.csv", real_sample(20))

    monkeypatch.setattr(ingest_module, "_rejected_rows", _disk_full)  # after the leads are written
    with pytest.raises(RuntimeError, match="injected"):
        ingest_file(engine, path)
    assert _table_counts(engine) == (0, 0, 0)
    monkeypatch.undo()
    summary = ingest_file(engine, path)
    assert (summary.loaded, summary.already_ingested) == (20, False)


def test_created_dates_round_trip(engine):
    ingest_file(engine, SHARED_DATA / "leadscoring_test.csv")
    dates = store.read_frame(engine, "SELECT created_date FROM leads", parse_dates=["created_date"])["created_date"]
    assert dates.min() == pd.Timestamp("2021-07-01 07:32:25")
    assert dates.max() < pd.Timestamp(datetime(2022, 3, 1))


def test_indexes_are_in_place_after_a_first_load_and_a_later_one(engine, tmp_path):
    from sqlalchemy import inspect

    def index_names() -> set[str]:
        return {index["name"] for index in inspect(engine).get_indexes("leads")}

    def foreign_keys() -> list[tuple]:
        return sorted((tuple(key["constrained_columns"]), key["referred_table"], tuple(key["referred_columns"]))
                      for key in inspect(engine).get_foreign_keys("leads"))

    expected = {index.name for index in LEADS.indexes}
    assert expected == {"ix_leads_batch_id", "ix_leads_created_date"}
    keys = foreign_keys()
    assert keys == [(("batch_id",), "ingest_batches", ("batch_id",))]  # revision 0001's
    ingest_file(engine, SHARED_DATA / "leadscoring_test.csv")  # into an empty table: built after the load
    assert index_names() >= expected and foreign_keys() == keys
    ingest_file(engine, write_sample(tmp_path / "later.csv", real_sample(3).assign(created_date="2021-08-01 10:00:00")))
    assert index_names() >= expected and foreign_keys() == keys
    plan = store.read_frame(engine, "SELECT count(*) AS n FROM leads WHERE created_date >= '2021-08-01'")
    assert plan["n"][0] >= 3


def _stored_leads(engine: Engine) -> list[tuple]:
    """Every stored value with its storage type (SQLite) or text (Postgres), in key order; of the batch columns,
    whether they are set (each ingest has its own batch)."""
    with engine.connect() as conn:
        names = [column.name for column in LEADS.columns if column.name not in BATCH_COLUMNS]
        if store.is_postgres(conn):
            cells = ", ".join(f'CAST("{name}" AS text)' for name in names)
        else:
            cells = ", ".join(f'typeof("{name}"), "{name}"' for name in names)
        cells += "".join(f', "{name}" IS NULL' for name in BATCH_COLUMNS)
        return [tuple(row) for row in conn.exec_driver_sql(f"SELECT {cells} FROM leads ORDER BY lead_id")]


@pytest.fixture
def as_large_batches(monkeypatch):
    """Every bulk_load goes the large-batch way (narrow and wide parts; SQLite: an ADBC scratch file)."""
    monkeypatch.setattr(store, "LARGE_BATCH_ROWS", 1)


@pytest.mark.parametrize("scratch_part_rows", [store.SCRATCH_PART_ROWS, 7])
def test_a_large_batch_is_stored_as_a_small_one(engine, tmp_path, monkeypatch, scratch_part_rows):
    """The large-batch load (narrow and wide parts; SQLite: through scratch files, each part in row parts copied
    while the next is written) stores the same values, types and NULLs as a small one (prepared inserts on SQLite,
    one COPY on Postgres), moments as UTC instants."""
    monkeypatch.setattr(store, "SCRATCH_PART_ROWS", scratch_part_rows)  # 7: the narrow part in 4 files, all attached
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Europe/Berlin")  # lead times read as Berlin wall-clock times
    now = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)  # both ingests: the same label_recorded_at
    frame = real_sample(100)  # the whole real test file
    frame.loc[3, "referred_lead"] = "7"  # rejected
    frame.loc[7] = frame.loc[5]  # a duplicate
    frame.loc[[20, 60], "chat_clicked"] = ["2", "1"]  # two rows with an interaction (a column empty in most rows)
    path = write_sample(tmp_path / "leads.csv", frame)
    monkeypatch.setattr(store, "LARGE_BATCH_ROWS", 10**9)
    small = ingest_file(engine, path, now)
    stored_small = _stored_leads(engine)
    with engine.begin() as conn:
        for table in ("leads", "rejected_leads", "ingest_batches"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    monkeypatch.setattr(store, "LARGE_BATCH_ROWS", 1)
    large = ingest_file(engine, path, now)
    assert (large.loaded, large.duplicate, large.rejected) == (small.loaded, small.duplicate, small.rejected) == \
        (98, 1, 1)
    assert _stored_leads(engine) == stored_small
    stored = store.read_frame(engine, "SELECT created_date, label_recorded_at FROM leads WHERE row_number = 1",
                              parse_dates=["created_date", "label_recorded_at"])
    written = pd.Timestamp(frame.loc[0, "created_date"]).tz_localize("Europe/Berlin").tz_convert(None)
    assert (stored["created_date"][0], stored["label_recorded_at"][0]) == (written, pd.Timestamp(now).tz_convert(None))


def test_crash_after_a_large_batch_rolls_back_and_lets_the_scratch_file_go(engine, tmp_path, monkeypatch,
                                                                           as_large_batches):
    path = write_sample(tmp_path / "crash.csv", real_sample(20))
    scratch_folders = tmp_path / "temporary"
    scratch_folders.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_folders))  # where the scratch file is made
    rejected_rows = ingest_module._rejected_rows

    monkeypatch.setattr(ingest_module, "_rejected_rows", _disk_full)  # after the leads are written
    with pytest.raises(RuntimeError, match="injected"):
        ingest_file(engine, path)
    assert _table_counts(engine) == (0, 0, 0)
    assert list(scratch_folders.iterdir()) == []
    monkeypatch.setattr(ingest_module, "_rejected_rows", rejected_rows)
    summary = ingest_file(engine, path)
    assert (summary.loaded, summary.already_ingested) == (20, False)
    assert list(scratch_folders.iterdir()) == []
    if not store.is_postgres(engine):  # every pooled connection (5 taken at once): nothing left attached
        with ExitStack() as stack:
            connections = [stack.enter_context(engine.connect()) for _ in range(5)]
            for conn in connections:
                assert {row[1] for row in conn.exec_driver_sql("PRAGMA database_list")} <= {"main", "temp"}


def test_a_first_load_beside_a_reader_neither_waits_for_it_nor_drops_what_it_reads(postgres_engine):
    """Postgres: a dashboard transaction that has read ingest_batches holds its lock; the first load into the empty
    leads table then keeps its indexes and foreign key (no ACCESS EXCLUSIVE lock to wait for: no deadlock with a
    reader that goes on to read leads) and commits while the reader is still open."""
    with postgres_engine.connect() as reader:
        reader.execute(select(func.count()).select_from(store.ingest_batches)).scalar_one()  # its lock is kept
        done: list = []
        worker = threading.Thread(target=lambda: done.append(
            ingest_file(postgres_engine, SHARED_DATA / "leadscoring_inference.csv")))
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "the ingest waited for the reader's lock"
        assert reader.execute(select(func.count()).select_from(LEADS)).scalar_one() == 24_983  # read committed
    assert done[0].loaded == 24_983


@pytest.mark.parametrize("stored_ids", ["read", "staged"])
def test_stored_leads_are_found_whether_their_ids_are_read_or_the_files_staged(engine, tmp_path, monkeypatch,
                                                                               stored_ids):
    """A file larger than half the stored leads reads every stored id; a smaller one stages its own ids: the same
    leads are found either way (duplicates counted, their outcomes recorded, new leads loaded)."""
    monkeypatch.setattr("core.ingest.READ_STORED_IDS_FACTOR", 10**9 if stored_ids == "read" else 0)
    labelled = real_sample(12)
    ingest_file(engine, write_sample(tmp_path / "first.csv", labelled.iloc[:8].drop(columns=["app_complete_flag"])))
    outcome = ingest_file(engine, write_sample(tmp_path / "later.csv", labelled.iloc[4:]))
    assert (outcome.loaded, outcome.duplicate, outcome.labels_recorded) == (4, 4, 4)
    stored = store.read_frame(engine, "SELECT app_complete_flag FROM leads ORDER BY batch_id, row_number")
    assert stored["app_complete_flag"].notna().sum() == 8 and len(stored) == 12
