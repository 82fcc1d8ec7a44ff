"""A SQLite query's rows read by a child process and streamed back as Arrow batches, so the scoring process
scores one chunk while the next is read (on SQLite, building Python rows is the run's slowest step: ~5 s of
CPU for 1M leads, now on the other core).

The child opens the database read-only with Python's own sqlite3 (the same SQLite library as the parent:
never a second one on a file the parent holds), runs the query, and writes an Arrow IPC stream to its
stdout; the request (query, parameters, column types, chunk size) arrives on its stdin. A run's write lock
never blocks it (WAL readers read the last commit). `python core/sqlite_export.py DATABASE` is the child (it imports nothing of the project).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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


def read_in_child(database: Path, sql: str, params: dict, chunk_rows: int,
                  types: dict[str, pa.DataType]) -> Iterator[pa.Table]:
    """The query's rows in tables of chunk_rows, read by a child process while the caller works on the last one."""
    request = json.dumps({"sql": sql, "params": params, "chunk_rows": chunk_rows,
                          "types": base64.b64encode(pa.schema(list(types.items())).serialize()).decode()})
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, __file__, str(database)],  # needs only the stdlib and pyarrow
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
    """The child's work: the query's rows as one Arrow IPC stream of chunk_rows batches."""
    types = dict(zip(*_schema_fields(request["types"]), strict=True))
    connection = sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        cursor = connection.execute(request["sql"], request["params"])
        # one stream has one layout: a column not typed by the caller is SQLite text (stored times)
        layout = pa.schema([(d[0], types.get(d[0], pa.string())) for d in cursor.description])
        with pa_ipc.new_stream(out, layout) as writer:
            for table in rows_as_tables(cursor, int(request["chunk_rows"]), dict(zip(layout.names, layout.types,
                                                                                    strict=True))):
                writer.write_table(table)
    finally:
        connection.close()


def _schema_fields(encoded: str) -> tuple[list[str], list[pa.DataType]]:
    schema = pa_ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))
    return schema.names, schema.types


def main(argv: list[str]) -> int:
    try:
        export(argv[0], json.loads(sys.stdin.read()), sys.stdout.buffer)
    except BrokenPipeError:  # the parent stopped reading: nothing to report
        return 1
    except Exception as error:  # noqa: BLE001 - the parent shows this line as the run's error
        print(f"reading the leads failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
