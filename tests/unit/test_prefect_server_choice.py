"""Commands use a Prefect server that answers at PREFECT_API_URL; an unreachable one is set aside so Prefect
starts its temporary server instead (a running server is exercised for real in tests/e2e/test_production_path)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.cli import prefect_server_answers, prefect_server_settings


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        ok = self.path == "/api/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"true" if ok else b"")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def answering_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_api() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def test_a_server_answering_its_health_check_is_used(answering_api: str, capsys) -> None:
    assert prefect_server_answers(answering_api)
    with temporary_settings(updates={PREFECT_API_URL: answering_api}), prefect_server_settings():
        assert PREFECT_API_URL.value() == answering_api
    assert capsys.readouterr().err == ""


def test_an_unreachable_server_is_set_aside_with_one_warning(dead_api: str, capsys) -> None:
    assert not prefect_server_answers(dead_api, timeout=0.5)
    with temporary_settings(updates={PREFECT_API_URL: dead_api}), prefect_server_settings():
        assert not PREFECT_API_URL.value()  # Prefect starts its temporary server for this command
    assert capsys.readouterr().err.splitlines() == [
        f"warning: no Prefect server answers at {dead_api}; starting a temporary one for this command"]


def test_a_url_that_is_not_a_prefect_api_does_not_count(answering_api: str) -> None:
    assert not prefect_server_answers(answering_api.removesuffix("/api") + "/elsewhere")
