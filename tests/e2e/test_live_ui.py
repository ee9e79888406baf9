"""The web UI's live view in a real browser: `basis serve` as a subprocess on a free port (real
backtest and live services, SQLite), driven in headless Debian Chromium with Playwright.

A paper session on a replayed feed is started from the form; the test watches its cycles
advance and its equity, positions and events render, presses the emergency stop and sees
HALTED, then stops it and compares what the page shows with the API. The live view of every
mode renders too. No page may log a console error or get an HTTP error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from api.support import stop_live_sessions
from basis_strategy.config.models import MODE_NAMES
from e2e.test_web_ui import Watched, basis_serve

REPLAY_FORM = "2025-03-01T00:00"  # inside every mode's data window
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`basis serve`; every session still running at the end is stopped through the API
    before the server stops."""
    with basis_serve(tmp_path_factory.mktemp("live-ui"), workers=1) as url:
        yield url
        with httpx.Client(base_url=url, timeout=30) as client:
            stop_live_sessions(client)


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    watched = Watched(browser)
    yield watched
    watched.context.close()


def figure(page: Page, name: str) -> str:
    """A value of the session's figures table."""
    row = page.locator("#live-figures tr", has=page.get_by_role("rowheader", name=name, exact=True))
    return row.locator("td").inner_text()


def api_status(server: str, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{server}/api/live/{session_id}", timeout=30).json()
    return found


def until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def money(value: float, currency: str) -> str:
    """As the page shows an amount: cents for USDT, six decimals for ETH."""
    return f"{value:,.{2 if currency == 'USDT' else 6}f} {currency}"


def test_start_watch_and_emergency_stop_a_paper_session(server: str, watched: Watched) -> None:
    page = watched.page
    page.goto(server + "/#/live")
    page.wait_for_selector("#live-mode option[value=eth_leveraged]", state="attached")
    page.select_option("#live-mode", "eth_leveraged")
    assert page.locator("#live-execution").input_value() == "paper"
    page.fill("#live-replay", REPLAY_FORM)
    page.fill("#live-speed", str(3600 * 2))  # two replayed hours a second
    page.fill("#live-cycles", "")  # until stopped
    page.click("#live-start")
    page.wait_for_url("**/#/live/*")
    session_id = page.url.rsplit("/", 1)[1]
    assert page.locator("#live-state").inner_text() == "ACTIVE"

    # the cycles advance, one poll at a time, and never go back
    seen: list[int] = []
    deadline = time.monotonic() + TIMEOUT_S
    while not seen or seen[-1] < 4:
        seen.append(int(figure(page, "cycles")))
        assert time.monotonic() < deadline, f"cycles stuck at {seen[-5:]}"
        time.sleep(0.2)
    assert seen == sorted(seen) and len(set(seen)) >= 3, seen
    assert figure(page, "process") == "running, healthy"

    # equity, positions per venue and the latest events are shown
    assert figure(page, "equity").endswith(" ETH"), figure(page, "equity")
    positions = page.locator("#live-positions table tbody tr")
    positions.first.wait_for()
    venues = set(positions.locator("th").all_inner_texts())
    assert venues, "no position rows"
    events = page.locator("#live-events table tbody tr")
    events.first.wait_for()
    assert events.count() >= 1

    # emergency stop (freeze): HALTED, and the halted cycles count up
    page.select_option("#live-stop-mode", "freeze")
    page.click("#live-emergency")
    page.locator("#live-state", has_text="HALTED (freeze)").wait_for(timeout=TIMEOUT_S * 1000)
    until(lambda: int(figure(page, "halted")) >= 2, "two halted cycles on the page")
    stepped = int(figure(page, "stepped"))
    until(lambda: int(figure(page, "halted")) >= 4, "two more halted cycles")
    assert int(figure(page, "stepped")) == stepped, "a HALTED session stepped"

    # stop: the process ends; the page then shows exactly what the API says
    page.click("#live-stop")
    until(lambda: figure(page, "process") == "ended", "the process to end on the page")
    assert page.locator("#live-stop").is_disabled()
    assert page.locator("#live-emergency").is_disabled()
    final = api_status(server, session_id)
    time.sleep(1.5)  # one more poll of the ended session
    assert figure(page, "cycles") == str(final["cycles"])
    assert figure(page, "stepped") == str(final["stepped"]) == str(stepped)
    assert figure(page, "equity") == money(final["equity"], final["currency"])
    assert figure(page, "cumulative P&L") == money(final["pnl"], final["currency"])
    assert venues == set(final["positions"]), (venues, final["positions"])
    rows = page.locator("#live-positions table tbody tr").count()
    assert rows == sum(len(held) for held in final["positions"].values())
    last_seq = page.locator("#live-events table tbody tr").last.locator("th").inner_text()
    tail = httpx.get(f"{server}/api/live/{session_id}/events?limit=1", timeout=30).json()
    assert last_seq == str(tail["events"][-1]["seq"])

    # resume: a new process takes the session over, still HALTED (only an operator resumes
    # trading), and its halted cycles count on
    assert page.locator("#live-resume").is_enabled()
    page.click("#live-resume")
    until(lambda: figure(page, "process") == "running, healthy", "the resumed process")
    assert page.locator("#live-resume").is_disabled()
    halted = int(figure(page, "halted"))
    until(lambda: int(figure(page, "halted")) > halted, "a halted cycle after the resume")
    assert page.locator("#live-state").inner_text() == "HALTED (freeze)"
    page.click("#live-stop")
    until(lambda: figure(page, "process") == "ended", "the resumed process to end")
    assert watched.problems == [], watched.problems


@pytest.fixture(scope="module")
def every_mode(server: str) -> dict[str, str]:
    """A three-cycle paper session of every mode, started through the API and finished."""
    ids = {}
    for mode in MODE_NAMES:
        body = {"mode": mode, "replay_start": "2025-03-01T00:00:00Z", "speed": 14400}
        response = httpx.post(f"{server}/api/live", json={**body, "max_cycles": 3}, timeout=60)
        assert response.status_code == 201, response.text
        ids[mode] = response.json()["session_id"]
    for session_id in ids.values():
        until(lambda sid=session_id: not api_status(server, sid)["running"], f"{session_id} ends")
    return ids


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_the_live_view_of_every_mode_renders(
    server: str, watched: Watched, every_mode: dict[str, str], mode: str
) -> None:
    session_id = every_mode[mode]
    final = api_status(server, session_id)
    page = watched.page
    page.goto(f"{server}/#/live/{session_id}")
    page.locator("#live-summary", has_text=mode).wait_for()
    assert page.locator("#live-state").inner_text() == "ACTIVE"
    page.locator("#live-figures table").wait_for()
    assert figure(page, "cycles") == "3"
    assert figure(page, "equity") == money(final["equity"], final["currency"])
    shown = page.locator("#live-positions table tbody tr").count()
    assert shown == sum(len(held) for held in final["positions"].values()) > 0
    page.locator("#live-events table tbody tr").first.wait_for()
    page.locator("#live-risk").wait_for()

    # the sessions list links every mode's session
    page.goto(f"{server}/#/live")
    link = page.get_by_role("link", name=session_id, exact=True)
    link.wait_for()
    row = page.locator("#sessions-table tr", has=link)
    assert row.locator("td").nth(1).inner_text() == mode
    assert row.locator("td").nth(4).inner_text() == "ended"
    assert watched.problems == [], watched.problems


def test_a_refused_start_is_shown_on_its_field(server: str, watched: Watched) -> None:
    """Live execution on a server without BASIS_LIVE_TRADING=enabled: the reason (LT-001) is
    shown and the execution control marked; nothing starts."""
    before = len(httpx.get(f"{server}/api/live", timeout=30).json())
    page = watched.page
    page.goto(server + "/#/live")
    page.wait_for_selector("#live-mode option[value=btc_basis]", state="attached")
    assert page.locator("#live-enable").is_hidden()
    page.select_option("#live-execution", "live")
    assert page.locator("#live-replay").input_value() == ""  # live trades on live data
    page.check("#live-enable")
    page.click("#live-start")
    error = page.locator("#live-form-error")
    error.filter(has_text="LT-001").wait_for()
    assert error.inner_text().startswith("execution: ")
    execution = page.locator("#live-execution")
    assert execution.get_attribute("aria-invalid") == "true"
    assert execution.evaluate("el => el === document.activeElement")
    assert page.url.endswith("#/live"), "stayed on the form"
    assert len(httpx.get(f"{server}/api/live", timeout=30).json()) == before
    # the browser reports the refused request itself; nothing else went wrong
    assert [p for p in watched.problems if "422" not in p] == [], watched.problems
    assert any(p.startswith("HTTP 422") for p in watched.problems)
