"""`/api/live` over the real LiveService (issue 13): every mode runs in paper for several
cycles through the API on a replayed feed (no network), its status is checked against the
session's own files, stop and emergency stop are honoured within one cycle, and the errors
keep the API's shapes. `/api/health` lists the sessions. With every secret variable set, no
live answer, session file or log record holds one.

The server requires a token (POSTs carry it); sessions run in their own processes, the
replayed hours pass at `SPEED` replayed seconds per wall second.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import pytest

from api.support import new_service, serving, stop_live_sessions, wait_for
from api.test_secrets_never_served import SECRETS_SET, everything_written
from basis_strategy.api import create_app
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.instruments import instrument
from basis_strategy.live.session_store import SessionStore
from basis_strategy.services.store import RunStore

TOKEN = "live-api-token-4f3e2d1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPLAY = "2025-03-01T00:00:00Z"  # inside every mode's data window
# 4 replayed hours a second: a cycle every 250 ms of wall time, slow enough that a loaded
# machine does not oversleep a cycle (a missed hour would move the replay past its window)
SPEED = 3600 * 4
SLOW = SPEED  # running until stopped: 4 cycles a second, a stop lands between two cycles
CYCLES = 5


@pytest.fixture(scope="module")
def live_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live-results")


@pytest.fixture(scope="module")
def live_server(live_results: Path) -> Iterator[str]:
    with serving(create_app(new_service(live_results), api_token=TOKEN)) as url:
        yield url


@pytest.fixture(scope="module")
def http(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=60) as client:
        yield client
        stop_live_sessions(client, AUTH)


def start(http: httpx.Client, **body: Any) -> dict[str, Any]:
    request = {"mode": "btc_basis", "replay_start": REPLAY, "speed": SPEED, **body}
    response = http.post("/api/live", json=request, headers=AUTH)
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/live/{session['session_id']}"
    return session


def status(http: httpx.Client, session_id: str) -> dict[str, Any]:
    response = http.get(f"/api/live/{session_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_status(
    http: httpx.Client, session_id: str, check: Any, what: str, timeout_s: float = 120
) -> dict[str, Any]:
    """Poll the session until `check(status)` holds; that status."""

    def done() -> dict[str, Any] | None:
        found = status(http, session_id)
        return found if check(found) else None

    result: dict[str, Any] = wait_for(done, f"session {session_id}: {what}", timeout_s)
    return result


def ended(session: dict[str, Any]) -> bool:
    return not session["running"]


def error_of(response: httpx.Response, status_code: int, code: str) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def close(actual: float | None, expected: float) -> bool:
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


# --- every mode in paper --------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """One paper session of every mode, CYCLES cycles each, started together; their final
    statuses by mode."""
    ids = {mode: start(http, mode=mode, max_cycles=CYCLES)["session_id"] for mode in MODE_NAMES}
    return {
        mode: wait_status(http, session_id, ended, f"{CYCLES} cycles done")
        for mode, session_id in ids.items()
    }


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_every_mode_runs_several_paper_cycles(
    http: httpx.Client, live_results: Path, finished: dict[str, dict[str, Any]], mode: str
) -> None:
    session = finished[mode]
    assert session["mode"] == mode and session["execution"] == "paper"
    assert session["state"] == "active" and session["stop_mode"] is None
    assert session["cycles"] == CYCLES
    assert session["stepped"] + session["skipped"] + session["halted"] == CYCLES
    assert session["stepped"] >= CYCLES - 1, session  # a replayed hour may lack a print
    assert session["last_cycle_at"] is not None
    assert "replay" in session["feed"]
    folder = live_results / session["session_id"]  # the session's files, as a backtest's
    assert folder.is_dir(), session

    # equity and cumulative P&L: the last row of the session's own hourly_pnl.csv
    pnl = pd.read_csv(folder / "hourly_pnl.csv")
    assert len(pnl) == session["stepped"]
    assert close(session["equity"], float(pnl["equity"].iloc[-1])), session
    assert close(session["pnl"], float(pnl["cumulative_pnl"].iloc[-1])), session
    assert close(session["nav_per_share"], float(pnl["nav_per_share"].iloc[-1])), session

    # positions per venue: the last row of its balance sheet, every non-zero quantity
    sheet = pd.read_csv(folder / "balance_sheet.csv")
    last = sheet.iloc[-1]
    expected: dict[str, dict[str, float]] = {}
    for column in sheet.columns:
        if column.startswith("qty:") and float(last[column]) != 0.0:
            key = column.removeprefix("qty:")
            expected.setdefault(instrument(key).venue, {})[key] = float(last[column])
    assert expected, f"{mode}: no position after {CYCLES} cycles"
    assert set(session["positions"]) == set(expected)
    for venue, held in expected.items():
        assert set(session["positions"][venue]) == set(held), venue
        for key, qty in held.items():
            assert close(session["positions"][venue][key], qty), (venue, key)

    # the latest events are the tail of its event_log.csv, newest last
    log = pd.read_csv(folder / "event_log.csv", dtype=str, keep_default_na=False)
    page = http.get(f"/api/live/{session['session_id']}/events", params={"limit": 7}).json()
    assert page["limit"] == 7 and page["session_id"] == session["session_id"]
    tail = log.tail(7)
    assert [str(row["seq"]) for row in page["events"]] == list(tail["seq"])
    assert [row["event_type"] for row in page["events"]] == list(tail["event_type"])


def test_sessions_are_listed_newest_first_and_in_health(
    http: httpx.Client, finished: dict[str, dict[str, Any]]
) -> None:
    listed = http.get("/api/live").json()
    ids = [session["session_id"] for session in listed]
    ours = [finished[mode]["session_id"] for mode in MODE_NAMES]
    assert set(ours) <= set(ids)
    health = http.get("/api/health")
    body = health.json()
    entries = {entry["session_id"]: entry for entry in body["live"]}
    for mode in MODE_NAMES:
        entry = entries[finished[mode]["session_id"]]
        assert entry["mode"] == mode and entry["state"] == "active"
        assert entry["cycles"] == CYCLES and entry["running"] is False
        assert entry["problem"] is None  # ended sessions are not a problem
        assert entry["last_cycle_at"] is not None and entry["heartbeat_age_s"] is not None
    assert [e["session_id"] for e in body["live"]] == ids  # newest first, as listed
    assert health.status_code == 200 and body["status"] == "ok", body


# --- stop and emergency stop --------------------------------------------------------------


def running_session(http: httpx.Client) -> dict[str, Any]:
    """A btc_basis session running until stopped, once it has done two cycles."""
    session = start(http, speed=SLOW)
    return wait_status(http, session["session_id"], lambda s: s["cycles"] >= 2, "two cycles")


def test_stop_is_honoured_within_one_cycle(http: httpx.Client) -> None:
    session = running_session(http)
    sid = session["session_id"]
    health = http.get("/api/health").json()
    entry = next(e for e in health["live"] if e["session_id"] == sid)
    assert entry["running"] is True and entry["healthy"] is True and entry["problem"] is None
    stopped = http.post(f"/api/live/{sid}/stop", headers=AUTH)
    assert stopped.status_code == 200, stopped.text
    at_stop = stopped.json()["cycles"]
    final = wait_status(http, sid, ended, "stopped")
    assert at_stop <= final["cycles"] <= at_stop + 1, (at_stop, final)
    assert final["state"] == "active"  # a stop is not a halt: positions stay as they are
    later = status(http, sid)
    assert later["cycles"] == final["cycles"]


def still_at_risk(positions: dict[str, dict[str, float]]) -> list[str]:
    """Positions a flatten must close: perps, AAVE supply and debt, LSTs, and CEX holdings
    other than USDT (wallet tokens, the cash and the gas buffer, may remain)."""
    left = []
    for venue, held in positions.items():
        for key, qty in held.items():
            inst = instrument(key)
            cash = inst.kind == "BaseToken" and (venue == "wallet" or inst.symbol == "USDT")
            if qty != 0 and not cash:
                left.append(key)
    return left


def test_emergency_stop_freeze_halts_within_one_cycle(http: httpx.Client) -> None:
    session = running_session(http)
    sid = session["session_id"]
    assert session["positions"], session
    response = http.post(f"/api/live/{sid}/emergency-stop", json={"mode": "freeze"}, headers=AUTH)
    assert response.status_code == 200, response.text
    stepped_at_stop = response.json()["stepped"]
    halted = wait_status(http, sid, lambda s: s["halted"] >= 1, "a halted cycle")
    assert halted["state"] == "halted" and halted["stop_mode"] == "freeze", halted
    # at most the cycle in flight stepped after the request; none after the halt
    assert halted["stepped"] <= stepped_at_stop + 1, (stepped_at_stop, halted)
    later = wait_status(http, sid, lambda s: s["halted"] >= halted["halted"] + 2, "more cycles")
    assert later["stepped"] == halted["stepped"] and later["state"] == "halted"
    assert later["positions"] == halted["positions"]  # frozen: nothing was sent
    assert later["running"] is True  # halted, not ended: an operator decides what is next
    http.post(f"/api/live/{sid}/stop", headers=AUTH)
    wait_status(http, sid, ended, "stopped")


def test_emergency_stop_flatten_closes_then_freezes(http: httpx.Client) -> None:
    session = running_session(http)
    sid = session["session_id"]
    assert still_at_risk(session["positions"]), session
    response = http.post(f"/api/live/{sid}/emergency-stop", json={"mode": "flatten"}, headers=AUTH)
    assert response.status_code == 200, response.text
    last_at_stop = datetime.fromisoformat(response.json()["last_cycle_at"])
    # within one cycle, on the session's own clock: the halt (LT-005) came before the cycle
    # after the one that may have been in flight when the request was stored (the state is
    # stored at once, the alerts with the next cycle's status)
    halted = wait_status(
        http, sid, lambda s: "LT-005" in [a["code"] for a in s["alerts"]], "the LT-005 alert"
    )
    assert halted["state"] == "halted", halted
    lt005 = [a for a in halted["alerts"] if a["code"] == "LT-005"]
    assert len(lt005) == 1 and "flatten" in lt005[0]["message"], halted["alerts"]
    assert datetime.fromisoformat(lt005[0]["at"]) < last_at_stop + timedelta(hours=2), lt005
    # it closes what carries risk, then freezes (LT-010) and steps nothing more
    frozen = wait_status(http, sid, lambda s: s["halted"] >= 2, "two frozen cycles")
    assert frozen["stop_mode"] == "freeze", frozen
    assert still_at_risk(frozen["positions"]) == [], frozen["positions"]
    assert "LT-010" in [alert["code"] for alert in frozen["alerts"]], frozen["alerts"]
    later = wait_status(http, sid, lambda s: s["halted"] >= frozen["halted"] + 2, "more cycles")
    assert later["stepped"] == frozen["stepped"] and later["positions"] == frozen["positions"]
    http.post(f"/api/live/{sid}/stop", headers=AUTH)
    wait_status(http, sid, ended, "stopped")


def test_a_killed_session_makes_health_unhealthy(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`kill -9` of a running session's process: it stopped beating without finishing, so
    `/api/health` answers 503 naming it (and the session says why), until it is resumed."""
    results = tmp_path_factory.mktemp("live-killed")
    with (
        serving(create_app(new_service(results), api_token="")) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        sid = start(client, speed=SLOW)["session_id"]
        wait_status(client, sid, lambda s: s["cycles"] >= 1, "a cycle")
        healthy = client.get("/api/health")
        assert healthy.status_code == 200 and healthy.json()["problems"] == [], healthy.text
        store = SessionStore(RunStore.default_url(results))
        try:
            pid = store.overview(sid)[0].pid
        finally:
            store.close()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        dead = wait_status(client, sid, lambda s: not s["running"], "the process gone")
        assert dead["healthy"] is False and dead["state"] == "active", dead
        health = client.get("/api/health")
        body = health.json()
        assert health.status_code == 503 and body["status"] == "unhealthy", body
        entry = next(e for e in body["live"] if e["session_id"] == sid)
        assert entry["healthy"] is False and entry["running"] is False
        assert entry["cycles"] == dead["cycles"] and entry["state"] == "active"
        assert entry["problem"] and sid in entry["problem"], entry
        assert body["problems"] == [entry["problem"]]
        assert "stopped beating without finishing" in entry["problem"]
        # an operator may name herself only in one line
        bad = client.post(f"/api/live/{sid}/activate", json={"operator": "a\nb"})
        assert error_of(bad, 422, "invalid_request")["field"] == "operator"
        # resumed through the API: a new process takes it over, and health is ok again
        resumed = client.post(f"/api/live/{sid}/resume", json={"cold": False})
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["running"] is True
        again = client.post(f"/api/live/{sid}/resume", json={})
        assert error_of(again, 422, "invalid_request")["field"] == "session_id"  # it runs
        wait_status(client, sid, lambda s: s["cycles"] > dead["cycles"], "a cycle after resume")
        assert client.get("/api/health").status_code == 200
        client.post(f"/api/live/{sid}/stop", headers=AUTH)
        wait_status(client, sid, ended, "stopped")


# --- errors -----------------------------------------------------------------------------------


def test_unknown_session_is_404(http: httpx.Client) -> None:
    for response in (
        http.get("/api/live/no-such-session"),
        http.get("/api/live/no-such-session/events"),
        http.post("/api/live/no-such-session/stop", headers=AUTH),
        http.post(
            "/api/live/no-such-session/emergency-stop", json={"mode": "freeze"}, headers=AUTH
        ),
    ):
        error = error_of(response, 404, "not_found")
        assert "no-such-session" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "no_such_mode"}, "mode"),
        ({"mode": "btc_basis", "execution": "backtest"}, "execution"),
        ({"mode": "btc_basis", "interval": "2x"}, "interval"),
        ({"mode": "btc_basis", "interval": 0.5}, "interval"),
        ({"mode": "btc_basis", "interval": "2d"}, "interval"),
        ({"mode": "btc_basis", "max_cycles": 0}, "max_cycles"),
        ({"mode": "btc_basis", "max_cycles": "5"}, "max_cycles"),
        ({"mode": "btc_basis", "speed": 0}, "speed"),
        ({"mode": "btc_basis", "replay_start": 1740787200}, "replay_start"),
        ({"mode": "btc_basis", "capital": 5}, "capital"),
        # refused by the service: a venue's host must be a URL, a replay starts on a whole
        # hour, is paper only, and only a replay is accelerated
        ({"mode": "btc_basis", "venue_urls": {"binance": "ftp://x"}}, "venue_urls"),
        # refused by the session process: paper on live feeds reads the chain's RPC
        ({"mode": "btc_basis"}, "BASIS_ALCHEMY_RPC_URL"),
        ({"mode": "btc_basis", "replay_start": "2025-03-01T00:30:00Z"}, "replay_start"),
        ({"mode": "btc_basis", "execution": "live", "replay_start": REPLAY}, "replay_start"),
        ({"mode": "btc_basis", "execution": "live", "speed": 10}, "speed"),
    ],
)
def test_an_invalid_request_is_422_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    before = len(http.get("/api/live").json())
    error = error_of(http.post("/api/live", json=body, headers=AUTH), 422, "invalid_request")
    assert error["field"] == field, error
    assert len(http.get("/api/live").json()) == before  # nothing was started


def test_an_invalid_override_is_422_naming_the_key(http: httpx.Client) -> None:
    body = {
        "mode": "btc_basis",
        "replay_start": REPLAY,
        "overrides": {"hedge.allocation.binance": 0.9},
    }
    response = http.post("/api/live", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in {"invalid_config", "invalid_request"}
    assert "hedge.allocation" in error["message"] and "--set" not in error["message"]
    bad_key = {"mode": "btc_basis", "overrides": {"not a key": 1}}
    error = error_of(http.post("/api/live", json=bad_key, headers=AUTH), 422, "invalid_config")
    assert error["field"] == "overrides"


@pytest.mark.parametrize("enabled", [False, True])
def test_live_execution_is_refused_with_its_reason(http: httpx.Client, enabled: bool) -> None:
    """Not `BASIS_LIVE_TRADING=enabled` in the server's environment: refused (LT-001) before
    any order, whether the request enables live trading or not."""
    before = len(http.get("/api/live").json())
    body = {"mode": "btc_basis", "execution": "live", "enable_live_trading": enabled}
    error = error_of(http.post("/api/live", json=body, headers=AUTH), 422, "invalid_request")
    assert error["field"] == "execution", error
    assert "LT-001" in error["message"] and "\n" not in error["message"]
    assert "--" not in error["message"]  # the API's words, not the CLI's flags
    assert len(http.get("/api/live").json()) == before


def test_a_replay_outside_the_data_is_refused(http: httpx.Client) -> None:
    body = {"mode": "btc_basis", "replay_start": "2020-03-01T00:00:00Z", "max_cycles": 3}
    error = error_of(http.post("/api/live", json=body, headers=AUTH), 422, "invalid_request")
    assert "2020-03-01" in error["message"] and "covers" in error["message"], error


def test_an_emergency_stop_needs_a_known_mode(http: httpx.Client) -> None:
    for body in ({"mode": "panic"}, {}, {"mode": "freeze", "extra": 1}):
        response = http.post("/api/live/any-id/emergency-stop", json=body, headers=AUTH)
        error_of(response, 422, "invalid_request")


def test_posts_need_the_token(http: httpx.Client) -> None:
    for path in ("/api/live", "/api/live/x/stop", "/api/live/x/emergency-stop"):
        response = http.post(path, json={"mode": "freeze"})
        error_of(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer wrong"}
        error_of(http.post(path, json={"mode": "freeze"}, headers=wrong), 401, "unauthorized")
    assert http.get("/api/live").status_code == 200  # reads need none


def test_events_limit_is_bounded(http: httpx.Client) -> None:
    for limit in (0, 1001, "x"):
        response = http.get("/api/live/any/events", params={"limit": limit})
        assert error_of(response, 422, "invalid_request")["field"] == "limit"


def test_openapi_documents_the_live_routes(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/live": {"get", "post"},
        "/api/live/{session_id}": {"get"},
        "/api/live/{session_id}/stop": {"post"},
        "/api/live/{session_id}/emergency-stop": {"post"},
        "/api/live/{session_id}/events": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method]["summary"], (path, method)
    post = paths["/api/live"]["post"]
    assert {"201", "401", "422"} <= set(post["responses"])
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples["btc_basis replayed day"]["value"]["execution"] == "paper"
    assert "LiveHealth" in spec["components"]["schemas"]


# --- no secret served -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Path]]:
    """A server with every secret variable set (fake values, the API token among them)."""
    results = tmp_path_factory.mktemp("live-secret-results")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS_SET.items():
            patch.setenv(name, value)
        with (
            serving(create_app(new_service(results))) as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            yield client, results


def test_no_secret_in_any_live_response_or_file(
    secret_server: tuple[httpx.Client, Path], caplog: pytest.LogCaptureFixture
) -> None:
    client, results = secret_server
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {SECRETS_SET['BASIS_API_TOKEN']}"}
    body = {"mode": "eth_leveraged", "replay_start": REPLAY, "speed": SLOW}
    answers = [client.post("/api/live", json={**body, "max_cycles": 3}, headers=auth)]
    assert answers[0].status_code == 201, answers[0].text
    done = answers[0].json()["session_id"]
    answers.append(client.post("/api/live", json=body, headers=auth))
    running = answers[-1].json()["session_id"]
    wait_status(client, running, lambda s: s["cycles"] >= 1, "a cycle")
    answers.append(
        client.post(f"/api/live/{running}/emergency-stop", json={"mode": "flatten"}, headers=auth)
    )
    wait_status(client, running, lambda s: s["state"] == "halted", "halted")
    answers.append(client.post(f"/api/live/{running}/stop", headers=auth))
    for session_id in (done, running):
        wait_status(client, session_id, ended, "ended")
    # refusals: live execution with every credential set, a bad override, an unknown id
    refused = [
        client.post("/api/live", json={"mode": "btc_basis", "execution": "live"}, headers=auth),
        client.post("/api/live", json={**body, "overrides": {"hedge.x": 1}}, headers=auth),
        client.post(f"/api/live/{SECRETS_SET['BASIS_API_TOKEN']}/stop", headers=auth),
    ]
    assert [r.status_code for r in refused] == [422, 422, 404], [r.text for r in refused]
    reads = [
        "/api/live",
        f"/api/live/{done}",
        f"/api/live/{running}",
        f"/api/live/{done}/events?limit=1000",
        f"/api/live/{running}/events?limit=1000",
        "/api/health",
        "/openapi.json",
        "/",
        "/static/app.js",
    ]
    answers += refused + [client.get(path) for path in reads]
    served = "\n".join(f"{dict(a.headers)} {a.text}" for a in answers)
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server)
    assert f"live session {done} started" in logged  # the records were captured
    searched = {"responses": served, "files": everything_written(results), "log records": logged}
    for where, text in searched.items():
        for name, secret in SECRETS_SET.items():
            for spelling in (secret, quote(secret, safe="")):
                assert spelling not in text, f"{name} found in the {where}"
