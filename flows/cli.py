"""The shared command-line contract of the flows: exit 0 on success, one-line reason otherwise."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import NoReturn

from sqlalchemy.exc import OperationalError

from core.errors import BadInputError, NoChampionError, RegistryUnavailableError

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3  # a service (MLflow, the database) did not answer: try again later


def quiet_prefect_defaults() -> None:
    """Local runs: the temporary API server Prefect starts reports no analytics."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def prefect_server_answers(api_url: str, timeout: float = 2.0) -> bool:
    """True when the Prefect API at api_url answers its health check."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def prefect_server_settings() -> AbstractContextManager:
    """A running server (PREFECT_API_URL answering /health) is used and nothing starts; without one, Prefect
    starts its temporary local server as before (an unreachable PREFECT_API_URL is set aside, with a warning)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api_url = PREFECT_API_URL.value()
    if not api_url or prefect_server_answers(api_url):
        return nullcontext()
    print(f"warning: no Prefect server answers at {api_url}; starting a temporary one for this command",
          file=sys.stderr)
    return temporary_settings(restore_defaults={PREFECT_API_URL})


def run_command(body: Callable[[], object], precheck: Callable[[], object] | None = None) -> int:
    """Run a flow for the command line; refusals (found by precheck before Prefect starts) are one line."""
    quiet_prefect_defaults()
    try:
        if precheck is not None:
            precheck()
        with prefect_server_settings():
            body()
    except (BadInputError, NoChampionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RegistryUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except OperationalError as error:  # the database went away or refused, after the tasks' own retries
        print(f"error: {database_failure_line(error)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def exit_promptly(code: int) -> NoReturn:
    """End a command as the interpreter would, without its teardown of every imported module (measured after the
    commands' work: ~0.8 s for an ingest, ~1.9 s for a scoring run, whose Prefect, MLflow and Evidently modules hold
    millions of objects). What a normal exit does that matters is done, in its order: threading's exit hooks
    (Prefect's log and event workers send what they hold to its API) and the wait for non-daemon threads (SQLite's
    background checkpoint, core/store.py), then atexit's handlers (logging, a temporary Prefect server's stop),
    then stdio is flushed."""
    threading._shutdown()  # what Py_FinalizeEx runs first  # noqa: SLF001
    atexit._run_exitfuncs()  # noqa: SLF001
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def database_failure_line(error: OperationalError) -> str:
    """The driver's first line (its message runs over several), without SQLAlchemy's statement and link."""
    cause = error.orig if error.orig is not None else error
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    return f"the database failed: {first}; run the command again once it answers"


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Prefect retry condition: transient failures retry; refusals of bad input, and MLflow outages (already
    retried within the call, bounded), do not."""
    try:
        state.result()
    except (BadInputError, NoChampionError, RegistryUnavailableError):
        return False
    except Exception:  # noqa: BLE001 - anything else may be transient (database, MLflow)
        return True
    return True
