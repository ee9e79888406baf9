"""The web UI in a real browser: `basis serve` started as a subprocess on a free port (real
service, two worker processes, SQLite), driven in headless Debian Chromium with Playwright.

The test chooses btc_basis in the form generated from the mode's schema, sets a one-week
window and one override, submits, watches the progress bar reach 100 %, then finds the
report's plots (with data) in the results page, pages the event log, and compares two runs.
No page may log a console error or get an HTTP error. Chromium must be installed (`.ci/run`
installs it): a missing browser fails the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
# every plot on the report's page, with how many traces hold data (decoded by plotly)
PLOTS_JS = """els => els.map(el => ({
    id: el.id,
    traces: el.data.length,
    points: el._fullData.map(t => (t.y ?? t.x ?? []).length),
}))"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def basis_serve(folder: Path, workers: int) -> Iterator[str]:
    """`basis serve` in a subprocess on a free port, results under `folder`; its base URL
    once /api/health answers, then a graceful stop (SIGINT: the services stop too) that
    must exit 0."""
    assert (DATA_DIR / "README.md").is_file(), f"data folder not found: {DATA_DIR}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    command = [sys.executable, "-m", "basis_strategy.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--data-dir", str(DATA_DIR)]
    command += ["--results-dir", str(folder / "results")]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (folder / "server.log").read_text()
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "basis serve did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
    assert process.returncode == 0, (folder / "server.log").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`basis serve` (2 workers) for this module's tests."""
    with basis_serve(tmp_path_factory.mktemp("web-ui"), workers=2) as url:
        yield url


class Watched:
    """A page with its console errors, page errors and HTTP errors collected."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} {response.url}")


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    watched = Watched(browser)
    yield watched
    watched.context.close()


def submit_week(page: Page, base: str) -> str:
    """Fill and submit the new-run form for a btc_basis week; the new run's id."""
    page.goto(base + "/")
    page.wait_for_selector("#mode option[value=btc_basis]", state="attached")
    page.select_option("#mode", "btc_basis")
    # the form is generated from the mode's schema and defaults
    allocation = page.locator("#f-hedge-allocation-binance")
    allocation.wait_for()
    assert allocation.input_value() == "0.4"
    assert page.locator("#start").input_value() == "2024-05-01T00:00"
    assert page.get_by_label("Delta Tolerance").input_value() == "0.01"
    page.fill("#start", "2024-06-01T00:00")
    page.fill("#end", "2024-06-08T00:00")
    page.fill("#capital", "250000")
    page.get_by_label("Delta Tolerance").fill("0.02")
    page.click("#submit")
    page.wait_for_url("**/#/runs/*")
    return page.url.rsplit("/", 1)[1]


def test_submit_watch_progress_and_open_the_report(server: str, watched: Watched) -> None:
    page = watched.page
    run_id = submit_week(page, server)
    progress = page.locator("#run-progress")
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while page.locator("#run-status").inner_text().split(" · ")[-1] != "done":
        seen.append(int(progress.get_attribute("value") or 0))
        assert time.monotonic() < deadline, "the run did not finish within 120 s"
        assert "failed" not in page.locator("#run-status").inner_text()
        time.sleep(0.1)
    assert progress.get_attribute("value") == "100"
    assert page.locator("#run-percent").inner_text() == "100 %"
    assert seen == sorted(seen), f"progress went backwards: {seen}"

    record: dict[str, Any] = httpx.get(f"{server}/api/backtests/{run_id}").json()
    assert record["status"] == "done"
    assert record["request"]["overrides"] == {"hedge.delta_tolerance": 0.02}
    assert record["request"]["capital"] == 250000
    assert record["request"]["start"] == "2024-06-01T00:00:00Z"

    # the summary table and the report with its plots
    page.wait_for_selector("text=final_equity")
    frame = page.frame_locator("#report-frame")
    frame.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.wait_for_function(
        """() => {
            const doc = document.querySelector('#report-frame').contentDocument;
            return doc && doc.querySelectorAll('.js-plotly-plot').length > 0
                && doc.querySelectorAll('.js-plotly-plot').length
                   === doc.querySelectorAll('.plotly-graph-div').length;
        }""",
        timeout=30_000,
    )
    plots = frame.locator(".js-plotly-plot").evaluate_all(PLOTS_JS)
    ids = {p["id"] for p in plots}
    assert {"cumulative_pnl-plot", "margin_ratios-plot", "balance_sheet-plot"} <= ids, ids
    for plot in plots:
        assert plot["traces"] >= 1 and all(n >= 2 for n in plot["points"]), plot

    # the event log, paged
    events = page.locator("#events table tbody tr")
    events.first.wait_for()
    assert events.count() == 50
    first_page = page.locator("#events table tbody tr th").first.inner_text()
    page.locator("#events-title + .toolbar button", has_text="Next").click()
    page.wait_for_function(
        "first => document.querySelector('#events table tbody tr th').textContent !== first",
        arg=first_page,
    )
    assert page.locator("#events-title + .toolbar span").inner_text().startswith("rows 51–100 of ")
    assert page.locator("#balance table tbody tr").count() == 50
    assert watched.problems == [], watched.problems


def test_runs_list_and_compare_two_runs(server: str, watched: Watched) -> None:
    client = httpx.Client(base_url=server, timeout=30)
    ids = []
    for capital in (100_000, 300_000):
        body = {"mode": "btc_basis", "start": "2024-06-01T00:00:00Z", "end": "2024-06-04T00:00:00Z"}
        ids.append(client.post("/api/backtests", json={**body, "capital": capital}).json()["id"])
    for run_id in ids:
        deadline = time.monotonic() + 120
        while client.get(f"/api/backtests/{run_id}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.2)

    page = watched.page
    page.goto(server + "/#/runs")
    table = page.locator("#runs-table")
    table.wait_for()
    for run_id in ids:
        row = table.locator("tr", has=page.get_by_role("link", name=run_id))
        assert row.locator("td").nth(3).inner_text() == "done"
        row.get_by_role("checkbox").check()
    page.click("#compare-selected")
    page.wait_for_url(f"**/#/compare/{ids[0]}/{ids[1]}")
    comparison = page.locator("#comparison table")
    comparison.wait_for()
    row = comparison.locator(
        "tr", has=page.get_by_role("rowheader", name="initial_capital", exact=True)
    )
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["100,000", "300,000", "200,000"], cells
    assert watched.problems == [], watched.problems
    client.close()


def test_an_invalid_setting_is_shown_on_its_field(server: str, watched: Watched) -> None:
    page = watched.page
    before = httpx.get(f"{server}/api/backtests").json()["total"]
    page.goto(server + "/")
    allocation = page.locator("#f-hedge-allocation-binance")
    allocation.wait_for()
    allocation.fill("0.9")
    page.click("#submit")
    error = page.locator("#form-error")
    error.filter(has_text="hedge.allocation").wait_for()
    assert "must sum to 1" in error.inner_text()
    # the first control of the named section is marked and focused
    assert allocation.get_attribute("aria-invalid") == "true"
    assert allocation.evaluate("el => el === document.activeElement")
    assert page.url.endswith("/") or page.url.endswith("#/"), "stayed on the form"
    assert httpx.get(f"{server}/api/backtests").json()["total"] == before
    # the browser reports the refused request itself; nothing else went wrong
    assert [p for p in watched.problems if "422" not in p] == [], watched.problems
    assert any(p.startswith("HTTP 422") for p in watched.problems)
