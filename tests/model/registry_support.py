"""Helpers of the registry and serving tests: stored real leads, a real `mlflow server` that a test can stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import Engine

from core.ingest import ingest_file
from tests.paths import SHARED_DATA

DEV_FILE = SHARED_DATA / "leads_labelled_dev.csv"
MLFLOW = Path(sys.executable).parent / "mlflow"


def store_dev_leads(engine: Engine) -> int:
    """The real labelled dev sample stored through the product's ingest; returns the leads loaded."""
    return ingest_file(engine, DEV_FILE).loaded


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    """Poll url until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a server started in its own session (it has worker children), by its process group id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class MlflowServer:
    """A real `mlflow server` on a local port, backed by a SQLite file and an artifact folder in tmp."""

    def __init__(self, backend: Path, artifacts: Path, log: Path) -> None:
        self.backend, self.artifacts, self.log = backend, artifacts, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.home: Path | None = None  # the LEADSCORE_HOME of the tests that use this server

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart on the same port and store) and wait until /health answers."""
        command = [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{self.backend}",
                   "--artifacts-destination", str(self.artifacts), "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1"]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, cwd=self.backend.parent, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        try:
            wait_until_answers(f"{self.uri}/health", self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server and its workers; the port then refuses connections."""
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None
