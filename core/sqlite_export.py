"""A SQLite query's rows read by a child process and streamed back as Arrow batches, so the scoring process
scores one chunk while the next is read (on the other core).

The child opens the database read-only with ADBC's SQLite driver (a second SQLite library, safe in its own
process: only two libraries in one process break each other's locks), runs the query, and writes an Arrow IPC
stream to its stdout; the request (query, column types, chunk size) arrives on its stdin. A run's write lock
never blocks it (WAL readers read the last commit). `python core/sqlite_export.py DATABASE` is the child (it imports nothing of the project).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as pa_ipc


class ExportFailed(RuntimeError):
    """The reading child ended without sending every row (its last error line is the message)."""


def rows_as_tables(cursor: sqlite3.Cursor, chunk_rows: int, types: dict[str, pa.DataType | None]) -> Iterator[pa.Table]:
    """The cursor's tuples turned into Arrow columns of the given types (a column not named is inferred)."""
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(chunk_rows):
        columns = [pa.array(values, types.get(name), from_pandas=True) for name, values in
                   zip(names, zip(*rows, strict=True), strict=True)]
        yield pa.Table.from_arrays(columns, names=names)


def read_in_child(database: Path, sql: str, chunk_rows: int, types: dict[str, pa.DataType]) -> Iterator[pa.Table]:
    """The query's rows (its values written in, no parameters) in tables of chunk_rows, read by a child process
    while the caller works on the last one."""
    request = json.dumps({"sql": sql, "chunk_rows": chunk_rows,
                          "types": base64.b64encode(pa.schema(list(types.items())).serialize()).decode()})
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, __file__, str(database)],  # needs only the stdlib, pyarrow and ADBC
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
        try:
            child.stdin.write(request.encode())
            child.stdin.close()
            with pa_ipc.open_stream(child.stdout) as stream:
                yield from _tables(stream)
            if child.wait() != 0:
                raise ExportFailed(_last_line(errors) or f"the reading process ended with code {child.returncode}")
        except (pa.ArrowInvalid, OSError) as error:  # a child that died mid-stream (killed, out of memory)
            child.wait()
            raise ExportFailed(_last_line(errors) or f"the reading process stopped mid-stream: {error}") from error
        finally:
            if child.poll() is None:  # the caller stopped early (a failed chunk): the child is not needed
                child.kill()
                child.wait()
            child.stdout.close()


def _tables(stream: pa_ipc.RecordBatchStreamReader) -> Iterator[pa.Table]:
    for batch in stream:
        yield pa.Table.from_batches([batch])


def _last_line(errors) -> str:
    errors.seek(0)
    lines = [line for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def export(database: str, request: dict, out) -> None:
    """The child's work: the query's rows as one Arrow IPC stream of chunk_rows batches, read by ADBC's SQLite
    driver (values into Arrow columns in C: 1M leads in ~1.5 s of CPU against ~5 s through Python's tuples). This
    process holds no other SQLite library, and separate processes share a database through its file locks."""
    import adbc_driver_sqlite.dbapi as adbc

    types = dict(zip(*_schema_fields(request["types"]), strict=True))
    with closing(adbc.connect(f"{Path(database).resolve().as_uri()}?mode=ro")) as connection, \
            closing(connection.cursor()) as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        names = _column_names(cursor, request["sql"])
        # one stream has one layout: a column not typed by the caller is SQLite text (stored times)
        layout = pa.schema([(name, types.get(name, pa.string())) for name in names])
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(ADBC_BATCH_ROWS)})
        cursor.execute(_typed_first_row_sql(layout) + f" UNION ALL SELECT * FROM ({request['sql']})")
        with pa_ipc.new_stream(out, layout) as writer:
            for table in rechunked(_typed_batches(cursor.fetch_record_batch(), layout), int(request["chunk_rows"]),
                                   layout):
                writer.write_table(table)


BUSY_TIMEOUT_MS = 60_000
ADBC_BATCH_ROWS = 65_536


def _column_names(cursor, sql: str) -> list[str]:
    cursor.execute(f"SELECT * FROM ({sql}) LIMIT 0")
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    return names


def _typed_first_row_sql(layout: pa.Schema) -> str:
    """A first row of non-null values of the layout's types: ADBC types each column from the first rows it reads,
    and a column empty there would be taken for integers and fail on its first text. The row is dropped after."""
    literals = {pa.string(): "''", pa.float64(): "0.0", pa.int64(): "0"}
    return "SELECT " + ", ".join(f'{literals[field.type]} AS "{field.name}"' for field in layout)


def rechunked(batches: Iterable[pa.RecordBatch], chunk_rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Tables of exactly chunk_rows rows (the last one shorter), whatever size the batches have."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, chunk_rows).combine_chunks()
            pending, held = table.slice(chunk_rows).to_batches(), held - chunk_rows
    if held:
        yield pa.Table.from_batches(pending, schema=schema).combine_chunks()


def _typed_batches(reader: pa.RecordBatchReader, layout: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The reader's batches in the layout's types, the typing row left out."""
    for index, batch in enumerate(reader):
        yield (batch.slice(1) if index == 0 else batch).cast(layout)


def _schema_fields(encoded: str) -> tuple[list[str], list[pa.DataType]]:
    schema = pa_ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))
    return schema.names, schema.types


def main(argv: list[str]) -> int:
    try:
        export(argv[0], json.loads(sys.stdin.read()), sys.stdout.buffer)
    except BrokenPipeError:  # the parent stopped reading: nothing to report
        return 1
    except Exception as error:  # noqa: BLE001 - the parent shows this line as the run's error
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""  # ADBC adds the query on more lines
        print(f"reading the leads failed: {type(error).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
