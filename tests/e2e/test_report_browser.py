"""The run report in a real browser: headless Debian Chromium driven by Playwright, no network.

Real backtests (a USDT hedged levered mode, short and over its full window, and an ETH mode)
write their folders; the report is rebuilt in place and `index.html` is opened from disk with
every non-file request blocked. Every plot on the page must hold traces with data, the page
must log no error, and a full-page screenshot is kept in the run folder
(`report_screenshot.png`). Chromium must be installed (`.ci/run` installs it): a missing
browser fails the test.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Request, Route

from basis_strategy.reports.build import build_report
from basis_strategy.services.backtest import run_backtest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
ALL_PLOTS = (
    "cumulative_pnl",
    "pnl_components",
    "delta_neutrality",
    "margin_ratios",
    "aave_health",
    "balance_sheet",
)
PAGE_LIMIT_BYTES = 5_000_000  # index.html + plots/plotly.min.js

# per trace on a plot: its points and how many of them are finite numbers (decoded by plotly)
TRACES_JS = """el => el._fullData.map(t => {
    const values = t.y ?? t.x ?? [];
    let finite = 0;
    for (const v of values) { if (Number.isFinite(v)) finite += 1; }
    return {name: t.name, type: t.type, points: values.length, finite: finite};
})"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert (DATA_DIR / "README.md").is_file(), f"data folder not found: {DATA_DIR}"
    out = tmp_path_factory.mktemp("report-runs")
    week = ["start=2024-06-01", "end=2024-06-08"]
    requests = {
        "usdt_week": ("usdt_market_neutral", week),
        "usdt_full": ("usdt_market_neutral", []),
        "eth_week": ("eth_leveraged", week),
    }
    return {
        key: run_backtest(mode, sets, DATA_DIR, out, env={}).path
        for key, (mode, sets) in requests.items()
    }


def open_report(browser: Browser, run_dir: Path) -> dict[str, Any]:
    """Rebuild the report, open it offline, screenshot it; return what the page showed."""
    index = build_report(run_dir)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    requested: list[str] = []
    errors: list[str] = []

    def route(r: Route) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def request(r: Request) -> None:
        requested.append(r.url)

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("request", request)
    page.goto(index.as_uri(), wait_until="load")
    # a blocked script (plotly.js from a CDN) shows here at once, not as a timeout below
    assert (blocked, errors) == ([], []), (blocked, errors)
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length"
        " === document.querySelectorAll('.plotly-graph-div').length",
        timeout=30_000,
    )
    plots = {
        element.get_attribute("id"): element.evaluate(TRACES_JS)
        for element in page.query_selector_all(".js-plotly-plot")
    }
    data_lengths = [
        e.evaluate("el => el.data.length") for e in page.query_selector_all(".js-plotly-plot")
    ]
    headers = page.locator("th").all_inner_texts()
    visible_text = page.locator("body").inner_text()
    screenshot = run_dir / "report_screenshot.png"
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return {
        "plots": plots,
        "data_lengths": data_lengths,
        "blocked": blocked,
        "requested": requested,
        "errors": errors,
        "screenshot": screenshot,
        "divs": index.read_text(encoding="utf-8").count('class="plotly-graph-div"'),
        "headers": headers,
        "text": visible_text,
    }


def assert_healthy(shown: dict[str, Any], expected: set[str]) -> None:
    assert shown["blocked"] == [], f"network requests attempted: {shown['blocked']}"
    assert all(u.startswith("file://") for u in shown["requested"]), shown["requested"]
    assert shown["errors"] == [], shown["errors"]
    assert set(shown["plots"]) == {f"{name}-plot" for name in expected}
    assert len(shown["plots"]) == shown["divs"]
    assert all(n >= 1 for n in shown["data_lengths"]), shown["data_lengths"]
    for plot, traces in shown["plots"].items():
        assert traces, f"{plot}: no traces"
        for trace in traces:
            assert trace["points"] >= 2 and trace["finite"] >= 2, (plot, trace)
    png = shown["screenshot"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 50_000, f"screenshot only {len(png)} bytes"


def test_usdt_levered_week_shows_all_plots(browser, runs):
    assert_healthy(open_report(browser, runs["usdt_week"]), set(ALL_PLOTS))


def test_usdt_levered_full_window_is_light_and_fast(browser, runs):
    run_dir = runs["usdt_full"]
    started = time.perf_counter()
    build_report(run_dir)
    seconds = time.perf_counter() - started
    assert seconds < 3.0, f"report build took {seconds:.2f} s"
    size = (run_dir / "index.html").stat().st_size
    size += (run_dir / "plots" / "plotly.min.js").stat().st_size
    assert size < PAGE_LIMIT_BYTES, f"page + plotly.min.js = {size:,} bytes"
    shown = open_report(browser, run_dir)
    assert_healthy(shown, set(ALL_PLOTS))
    # 11,608 hours drawn as at most 300 points a line
    cumulative = shown["plots"]["cumulative_pnl-plot"][0]
    assert 100 <= cumulative["points"] <= 300


def test_eth_leveraged_week_shows_its_plots(browser, runs):
    shown = open_report(browser, runs["eth_week"])
    expected = {"cumulative_pnl", "pnl_components", "aave_health", "balance_sheet"}
    assert_healthy(shown, expected)
    text = (runs["eth_week"] / "index.html").read_text(encoding="utf-8")
    assert "Not applicable to this mode" in text
    # every risk figure says how it is measured: a convention column, labelled headline rows
    daily = "daily NAV per share at 00:00 UTC"
    assert {"convention", f"max drawdown ({daily})", "apy (end to end)"} <= set(shown["headers"])
    assert f"{daily}, 365 periods/yr" in shown["text"]
    assert "End of day: the NAV per share recorded at the 00:00 UTC hour" in shown["text"]
    assert not re.search(r"\b(nan|NaN|inf|Infinity)\b", shown["text"])
