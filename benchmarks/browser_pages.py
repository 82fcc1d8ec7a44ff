"""Each dashboard page timed in a real headless browser: `streamlit run dashboard/app.py` on a database, then per
page a fresh browser context (empty browser cache, new session) opens it (first load) and reloads it (reload).

A page counts as rendered when its script has finished, its title is shown and every chart on it is drawn.
The server is started fresh for each database, so the first page opened also pays the process's first imports.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/lib/chromium/chromium-headless-shell")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
FIRST_LOAD_BUDGET_S = 5.0
RELOAD_BUDGET_S = 2.0
PAGES = (("Leads", "", "Leads to call"), ("Channels", "channels", "Channels"), ("Model", "model", "Model"),
         ("Drift", "drift", "Drift"), ("Pipeline", "pipeline", "Pipeline health"))
RENDERED = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid=stSkeleton]')) return false;
  const plots = document.querySelectorAll('.js-plotly-plot');
  return Array.from(plots).every(p => p.querySelector('.main-svg'));
}"""


@dataclass(frozen=True)
class PageTiming:
    page: str
    first_s: float
    reload_s: float
    error: str = ""

    @property
    def within(self) -> bool:
        return not self.error and self.first_s <= FIRST_LOAD_BUDGET_S and self.reload_s <= RELOAD_BUDGET_S


def free_port() -> int:
    """A TCP port nothing listens on now (the dashboard's, for a benchmark or a browser test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    """Wait until the Streamlit server at `base` answers its health check (or its process ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {base} within {timeout} s")


@contextmanager
def served(url: str, root: Path = ROOT) -> Iterator[str]:
    """The dashboard (of the project at `root`) on a free local port, reading `url`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LEADSCORE_DASHBOARD_DATABASE_URL", "LEADSCORE_SCHEMA")}
    env["LEADSCORE_DATABASE_URL"] = url
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _rendered(tab, title: str, timeout_ms: float) -> float:
    """Seconds until the page's title is shown, its script finished and its charts are drawn."""
    start = time.perf_counter()
    tab.get_by_role("heading", name=title).first.wait_for(timeout=timeout_ms)
    tab.wait_for_function(RENDERED, timeout=timeout_ms, polling=50)
    return time.perf_counter() - start


def time_pages(url: str, timeout_s: float = 120.0, root: Path = ROOT) -> list[PageTiming]:
    """First load and reload of every page, in a fresh server for `url` (the app of the project at `root`)."""
    from playwright.sync_api import sync_playwright

    timings = []
    with served(url, root) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name, path, title in PAGES:
                timings.append(_time_page(browser, f"{base}/{path}", name, title, timeout_s * 1000))
        finally:
            browser.close()
    return timings


def _time_page(browser, address: str, name: str, title: str, timeout_ms: float) -> PageTiming:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    tab = context.new_page()
    try:
        start = time.perf_counter()
        tab.goto(address, wait_until="commit")
        _rendered(tab, title, timeout_ms)
        first = time.perf_counter() - start
        start = time.perf_counter()
        tab.reload(wait_until="commit")
        _rendered(tab, title, timeout_ms)
        reload = time.perf_counter() - start
        errors = tab.locator("[data-testid=stException], [data-testid=stAlertContentError]").all_inner_texts()
        return PageTiming(name, first, reload, "; ".join(e.splitlines()[0] for e in errors if e)[:200])
    finally:
        context.close()


def print_timings(store: str, timings: list[PageTiming]) -> bool:
    """One line per page; True when every page is within both budgets."""
    for t in timings:
        verdict = "OK" if t.within else ("ERROR " + t.error if t.error else "OVER BUDGET")
        print(f"  {store:9} {t.page:9} first load {t.first_s:5.2f} s (budget {FIRST_LOAD_BUDGET_S:.0f})  "
              f"reload {t.reload_s:5.2f} s (budget {RELOAD_BUDGET_S:.0f})  {verdict}", flush=True)
    return all(t.within for t in timings)
