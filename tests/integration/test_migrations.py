"""Alembic migrations on the real stores: a database built by the previous release (3306d7e, before lead
schemas and before Alembic) upgrades in place with every row kept and the shape of a new database; a new
database migrates to head; upgrading again changes nothing; two processes opening a new database at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text

from core import migrate, store
from core.clock import as_utc
from core.lead_schema import BUILTIN_SCHEMA, load_schema
from core.schema import validate_file
from tests.paths import PROJECT_ROOT, SHARED_DATA
from tests.samples import real_sample, write_sample

RELEASE = "3306d7e"  # the release before lead schemas and Alembic: its tables are revision 0001
EXAMPLE_SCHEMA = BUILTIN_SCHEMA.parent / "example_crm.yaml"

# Run by the previous release's code (PYTHONPATH = its exported `core`): ingest files through its ingest,
# then add two scoring runs, their scores, a model version and a drift report with plain SQL through its
# tables. On Postgres run 1's scores sit in their own attached partition (as that release's scoring wrote
# them), run 2's in the default partition.
FILL_WITH_RELEASE = textwrap.dedent('''
    import sys
    from datetime import datetime
    from pathlib import Path

    from sqlalchemy import insert, select, text

    from core import store
    from core.ingest import ingest_file

    url, *files = sys.argv[1:]
    print("release code:", store.__file__)
    engine = store.make_engine(url)
    for path in files:
        print(ingest_file(engine, Path(path)).line())
    now = datetime(2026, 11, 1, 2, 0, 0)
    with engine.begin() as conn:
        leads = conn.execute(select(store.leads).order_by(store.leads.c.lead_id).limit(6)).mappings().all()
        conn.execute(insert(store.scoring_runs), [
            {"model_name": "lead-scoring", "model_version": str(v), "started_at": now, "finished_at": now,
             "status": "succeeded", "leads_scored": 4, "duration_s": 1.5, "error": None} for v in (1, 2)])
        if store.is_postgres(conn):
            conn.execute(text("CREATE TABLE lead_scores_run_1 (LIKE lead_scores INCLUDING DEFAULTS)"))
            conn.execute(text("ALTER TABLE lead_scores ATTACH PARTITION lead_scores_run_1 FOR VALUES IN (1)"))
        rows = []
        for run_id, chosen in ((1, leads[:4]), (2, leads[2:6])):
            for rank, lead in enumerate(chosen, start=1):
                rows.append({
                    "lead_id": lead["lead_id"], "run_id": run_id, "model_version": str(run_id),
                    "score": 0.9 - rank / 10 - run_id / 100, "grade": "ABCD"[rank - 1], "rank": rank,
                    "predicted": int(rank <= 2), "previous_score": 0.5 if run_id == 2 and rank <= 2 else None,
                    "trend": "up" if run_id == 2 and rank <= 2 else None,
                    "reasons_positive": '["referred by a student"]', "reasons_negative": "[]",
                    "is_current": run_id == 2 or rank <= 2, "created_date": lead["created_date"],
                    "city_tier": 1 + rank % 3, "first_platform_c": lead["first_platform_c"],
                    "first_utm_medium_c": lead["first_utm_medium_c"],
                    "first_utm_source_c": lead["first_utm_source_c"], "referred_lead": rank % 2, "scored_at": now,
                })
        conn.execute(insert(store.lead_scores), rows)
        conn.execute(insert(store.model_versions).values(
            model_name="lead-scoring", version="1", mlflow_run_id="abc123", created_at=now, is_champion=True,
            promoted=True, decision_reason="clears the bars", metrics_json='{"auc": 0.77}', threshold=0.31,
            grade_cutoffs_json="[0.6, 0.4, 0.2]", curves_json=None, feature_importance_json='{"city_tier": 3}'))
        conn.execute(insert(store.drift_reports).values(
            run_id=1, created_at=now, rows_current=4, rows_reference=100, share_drifted_columns=0.25,
            dataset_drift=False, predicted_positive_share=0.5, reference_positive_share=0.4,
            column_scores='{"city_tier": 0.1}', snapshot_json="{}"))
''')

OPEN_DATABASE = textwrap.dedent('''
    import sys
    from core.store import make_engine
    make_engine(sys.argv[1]).dispose()
''')

FILLED_COUNTS = {"ingest_batches": 2, "leads": 104, "rejected_leads": 2, "scoring_runs": 2, "lead_scores": 8,
                 "model_versions": 1, "drift_reports": 1, "run_lock": 0}
NEW_TABLES = ("lead_outcomes", "live_performance", "retrain_decisions", "score_aggregate_runs",
              "score_aggregates")  # created empty by later revisions


# ---------------------------------------------------------------- the previous release, run for real


@pytest.fixture(scope="session")
def release_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's `core`, exported from git into a folder of its own."""
    found = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", "--quiet", f"{RELEASE}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        message = (f"release {RELEASE} is not in this checkout's git history (a shallow clone or no .git): the "
                   f"migration test needs it to build a database with that release's code; fetch it "
                   f"(git fetch --unshallow) or clone fully")
        if os.environ.get("LEADSCORE_REQUIRE_POSTGRES", "") not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp(f"release-{RELEASE}")
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", RELEASE, "core"], capture_output=True,
                             check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _fill_with_release(release_code: Path, url: str, files: list[Path]) -> str:
    env = {**os.environ, "PYTHONPATH": str(release_code)}
    done = subprocess.run([sys.executable, "-c", FILL_WITH_RELEASE, url, *map(str, files)], cwd=release_code,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def release_files(tmp_path: Path) -> list[Path]:
    """The course's test file (100 leads) and a small file with 4 good rows and 2 bad ones."""
    mixed = real_sample(6)
    mixed["created_date"] = pd.Series([f"2022-01-0{i + 1} 10:00:00" for i in range(6)])  # new leads
    mixed.loc[1, "referred_lead"] = "7"
    mixed.loc[4, "created_date"] = "not a date"
    return [SHARED_DATA / "leadscoring_test.csv", write_sample(tmp_path / "mixed.csv", mixed)]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on the embedded default or on the real Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadscore.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def release_database(database_url: str, release_code: Path, release_files: list[Path]) -> str:
    """A database built and filled by the previous release's code."""
    output = _fill_with_release(release_code, database_url, release_files)
    assert f"release code: {release_code / 'core' / 'store.py'}" in output
    assert "in 100 / loaded 100 / duplicate 0 / rejected 0" in output
    assert "in 6 / loaded 4 / duplicate 0 / rejected 2" in output
    return database_url


# ---------------------------------------------------------------- reading a database


def _plain_engine(url: str) -> Engine:
    """An engine that only reads (no migration)."""
    return create_engine(url)


def _user_tables(engine: Engine) -> list[str]:
    """Tables of the product, without Alembic's and without lead_scores' per-run partitions."""
    names = inspect(engine).get_table_names()
    return sorted(n for n in names if n != "alembic_version" and not n.startswith("lead_scores_run_"))


def _rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every product table, as (column, value) pairs sorted, rows sorted; a moment as its UTC
    instant (a naive value is one: revision 0005 keeps each as that instant, in timestamptz on Postgres)."""
    meta = MetaData()
    meta.reflect(engine, only=[n for n in _user_tables(engine) if not n.startswith("lead_scores_")])  # partitions
    out = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            rows = [tuple(sorted((k, _instant(v)) for k, v in row._mapping.items())) for row in conn.execute(select(table))]
            out[name] = sorted(rows, key=repr)
    return out


def _instant(value: object) -> object:
    return as_utc(value) if isinstance(value, datetime) else value


def _shape(engine: Engine, foreign_keys: bool = True) -> dict[str, dict]:
    """Columns (name -> type, nullable), primary key, foreign keys and indexes (with their WHERE) per table."""
    inspector = inspect(engine)
    shape = {}
    for name in _user_tables(engine):
        shape[name] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)},
            "primary_key": sorted(inspector.get_pk_constraint(name)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i.get("unique")), _where(i))
                              for i in inspector.get_indexes(name)),
        }
        if foreign_keys:
            shape[name]["foreign_keys"] = sorted((tuple(f["constrained_columns"]), f["referred_table"])
                                                 for f in inspector.get_foreign_keys(name))
    return shape


def _without_is_current(rows: list[tuple]) -> list[tuple]:
    """Score rows as revision 0004 keeps them: without the is_current flag."""
    return sorted((tuple(pair for pair in row if pair[0] != "is_current") for row in rows), key=repr)


def _where(index: dict) -> str:
    options = index.get("dialect_options", {})
    where = options.get("postgresql_where") or options.get("sqlite_where")
    return str(getattr(where, "text", where) or "")


def _revision(url: str) -> str | None:
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            return migrate.current_revision(conn)
    finally:
        engine.dispose()


def _fresh_head_shape(url: str, schema=None) -> dict:
    engine = store.make_engine(url, schema)
    try:
        return _shape(engine)
    finally:
        engine.dispose()


@pytest.fixture
def second_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Another empty database of the same kind."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    admin = request.getfixturevalue("postgres_admin")
    name = database_url.rsplit("/", 1)[1] + "_b"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    request.addfinalizer(lambda: _drop_database(admin, name))
    return database_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------- the release's database upgrades in place


def test_release_database_upgrades_in_place_with_every_row_kept(release_database: str, second_url: str):
    before_engine = _plain_engine(release_database)
    before = _rows(before_engine)
    before_engine.dispose()
    assert _revision(release_database) is None  # built before Alembic
    assert {name: len(rows) for name, rows in before.items()} == FILLED_COUNTS

    engine = store.make_engine(release_database)
    after = _rows(engine)
    shape = _shape(engine)
    engine.dispose()

    assert _revision(release_database) == migrate.head_revision()
    schema_info = after.pop("schema_info")
    assert [dict(row)["name"] for row in schema_info] == ["CodePro"]
    added = {name: len(after.pop(name)) for name in NEW_TABLES}
    assert added == dict.fromkeys(NEW_TABLES, 0)
    current = after.pop("current_scores")
    assert {name: len(rows) for name, rows in after.items()} == FILLED_COUNTS
    for name in FILLED_COUNTS:
        expected = before[name] if name != "lead_scores" else _without_is_current(before[name])
        assert after[name] == expected, f"rows of {name} changed in the upgrade"
    # revision 0004: the rows flagged is_current became current_scores, and the flag left the history
    flagged = [row for row in before["lead_scores"] if dict(row)["is_current"]]
    assert len(flagged) == 6 and sorted(current, key=repr) == sorted(_without_is_current(flagged), key=repr)
    assert shape == _fresh_head_shape(second_url), "the upgraded database differs from a new one"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_release_scores_stay_in_their_postgres_partitions(release_database: str):
    store.make_engine(release_database).dispose()
    engine = _plain_engine(release_database)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM lead_scores GROUP BY 1")).all())
        strategy = conn.execute(text("SELECT partstrat FROM pg_partitioned_table "
                                     "WHERE partrelid = 'lead_scores'::regclass")).scalar_one()
    engine.dispose()
    assert counts == {"lead_scores_run_1": 4, "lead_scores_default": 4}
    assert strategy == "l"  # LIST (run_id)


def test_upgraded_release_database_works_with_this_release(release_database: str, tmp_path: Path):
    from core.ingest import ingest_file

    engine = store.make_engine(release_database)
    further = pd.read_csv(SHARED_DATA / "leadscoring_inference.csv", dtype=str, keep_default_na=False).head(50)
    stored_before = set(store.read_frame(engine, "SELECT lead_id FROM leads")["lead_id"])
    new_ids = set(validate_file(write_sample(tmp_path / "further.csv", further), datetime(2026, 1, 1)).good["lead_id"])
    summary = ingest_file(engine, tmp_path / "further.csv")
    assert (summary.rows_in, summary.loaded + summary.duplicate + summary.rejected) == (50, 50)
    assert summary.loaded == len(new_ids - stored_before) > 0
    tables = store.schema_tables(store.engine_schema(engine))
    with engine.connect() as conn:
        scores = conn.execute(select(tables.current_scores).order_by(tables.current_scores.c.score.desc()))\
            .mappings().all()
        leads = conn.execute(select(tables.leads.c.lead_id)).all()
    engine.dispose()
    assert len(leads) == FILLED_COUNTS["leads"] + summary.loaded
    assert [(row["run_id"], row["grade"]) for row in scores] == [(1, "A"), (2, "A"), (1, "B"), (2, "B"),
                                                                 (2, "C"), (2, "D")]
    assert [row["city_tier"] for row in scores] == [float(1 + row["rank"] % 3) for row in scores]  # as written


def test_release_database_refuses_another_lead_schema_after_upgrading(release_database: str):
    with pytest.raises(store.SchemaMismatchError, match="CodePro"):
        store.make_engine(release_database, load_schema(EXAMPLE_SCHEMA))
    engine = store.make_engine(release_database)  # the CodePro data is intact and served
    assert len(_rows(engine)["leads"]) == FILLED_COUNTS["leads"]
    engine.dispose()


def test_revision_0001_is_exactly_the_release_tables(database_url: str, second_url: str, release_code: Path):
    done = subprocess.run([sys.executable, "-c", OPEN_DATABASE, database_url], cwd=release_code,
                          env={**os.environ, "PYTHONPATH": str(release_code)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    engine = create_engine(second_url)
    with migrate._migration_lock(engine) as conn:
        config = migrate.alembic_config()
        config.attributes["connection"] = conn
        config.attributes[migrate.LEAD_SCHEMA_KEY] = load_schema()
        command.upgrade(config, "0001")
    migrated = _shape(engine)
    engine.dispose()
    release = _plain_engine(database_url)
    assert migrated == _shape(release)
    release.dispose()
    assert _revision(second_url) == "0001"


# ---------------------------------------------------------------- new databases


@pytest.mark.parametrize("schema_path", [BUILTIN_SCHEMA, EXAMPLE_SCHEMA], ids=["codepro", "example_crm"])
def test_new_database_migrates_to_head_with_the_declared_tables(database_url: str, second_url: str, schema_path):
    schema = load_schema(schema_path)
    engine = store.make_engine(database_url, schema)
    migrated = _shape(engine, foreign_keys=False)
    with engine.connect() as conn:
        recorded = conn.execute(select(store.schema_info.c.name, store.schema_info.c.fingerprint)).all()
    engine.dispose()
    assert _revision(database_url) == migrate.head_revision() == "0006"
    assert recorded == [(schema.name, schema.fingerprint)]
    assert migrated == _declared_shape(second_url, schema), "the migrations and core/store.py disagree"


def _declared_shape(url: str, schema) -> dict:
    """The tables core/store.py declares, made by create_all (foreign keys aside: see the report on leads)."""
    engine = create_engine(url)
    store.metadata.create_all(engine)
    store.schema_tables(schema).metadata.create_all(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE lead_scores_default PARTITION OF lead_scores DEFAULT"))
    try:
        return _shape(engine, foreign_keys=False)
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(database_url: str):
    store.make_engine(database_url).dispose()
    engine = _plain_engine(database_url)
    shape, rows = _shape(engine), _rows(engine)
    with engine.begin() as conn:  # past the make_engine shortcut: Alembic itself finds nothing to do
        config = migrate.alembic_config()
        config.attributes["connection"] = conn
        config.attributes[migrate.LEAD_SCHEMA_KEY] = load_schema()
        command.upgrade(config, "head")
    store.make_engine(database_url).dispose()
    assert (_shape(engine), _rows(engine)) == (shape, rows)
    assert _revision(database_url) == migrate.head_revision()
    engine.dispose()


def test_two_processes_opening_a_new_database_at_once_migrate_it_once(database_url: str):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_DATABASE, database_url], cwd=PROJECT_ROOT, env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    engine = _plain_engine(database_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        schemas = conn.execute(text("SELECT name FROM schema_info")).scalars().all()
    engine.dispose()
    assert (versions, schemas) == ([migrate.head_revision()], ["CodePro"])


def test_a_failed_migration_leaves_the_database_untouched(database_url: str):
    """A failing migration leaves nothing behind (one transaction), and the next start migrates fully."""
    engine = create_engine(database_url)
    with pytest.raises(RuntimeError), migrate._migration_lock(engine) as conn:
        config = migrate.alembic_config()
        config.attributes["connection"] = conn
        config.attributes[migrate.LEAD_SCHEMA_KEY] = load_schema()
        command.upgrade(config, "0001")
        raise RuntimeError("crash after revision 0001")
    assert _user_tables(engine) == [] and _revision(database_url) is None
    engine.dispose()
    store.make_engine(database_url).dispose()
    assert _revision(database_url) == migrate.head_revision()


def test_a_database_of_a_newer_release_is_refused_in_one_line(database_url: str):
    store.make_engine(database_url).dispose()
    engine = _plain_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(migrate.DatabaseTooNewError, match="revision 9999, written by a newer release"):
        store.make_engine(database_url)


def test_migrations_find_their_folder_from_any_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    migrate.head_revision.cache_clear()
    assert migrate.head_revision() == "0006"


def test_newest_revision_downgrades_to_the_one_before_and_upgrades_again(database_url: str):
    """Revision 0006's downgrade removes what its upgrade added (its tables and indexes), and the upgrade works again."""
    engine = store.make_engine(database_url, load_schema())
    added = {"score_aggregates", "score_aggregate_runs"}
    assert added <= set(_user_tables(engine))

    def migrate_to(revision: str, step) -> None:
        with migrate._migration_lock(engine) as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            config.attributes[migrate.LEAD_SCHEMA_KEY] = load_schema()
            step(config, revision)

    migrate_to("0005", command.downgrade)
    indexes = {i["name"] for i in inspect(engine).get_indexes("current_scores")}
    assert not added & set(_user_tables(engine)) and not {"ix_current_scores_new", store.LIST_INDEX} & indexes
    migrate_to("head", command.upgrade)
    assert added <= set(_user_tables(engine)) and _revision(database_url) == migrate.head_revision()
    engine.dispose()
