"""LiveService's view of stored sessions, without spawning one: running while beating, dead at
once when its process is gone, LT-004 once per silence, commands stored for the session
process to take once, events read from the session's folder, requests validated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.logs import HEALTH
from basis_strategy.live.service import (
    LiveService,
    LiveStartRequest,
    LiveStatus,
    replay_sets,
    validate,
)
from basis_strategy.live.session_store import (
    HALT_FLATTEN,
    STOP,
    SessionRequest,
    paper_sessions,
)
from basis_strategy.live.trading_state import Control, StopMode

REPLAY = datetime(2025, 3, 1, tzinfo=UTC)
REQUEST = LiveStartRequest("btc_basis", replay_start=REPLAY, speed=3600.0, max_cycles=5)


@pytest.fixture
def service(tmp_path: Path) -> LiveService:
    url = sa.URL.create("sqlite", database=str(tmp_path / "runs.sqlite")).render_as_string()
    live = LiveService(tmp_path, url, env={})
    yield live
    live.close()


def stored(service: LiveService, sid: str, *, beat_age_s: float | None, pid: int | None) -> None:
    service.store.create(sid, SessionRequest("btc_basis"), Control(), REQUEST.options())
    if beat_age_s is not None:
        at = datetime.now(UTC) - timedelta(seconds=beat_age_s)
        with service.store.engine.begin() as conn:
            key = paper_sessions.c.session_id == sid
            conn.execute(paper_sessions.update().where(key).values(beat_at=at, pid=pid))


def test_a_beating_session_with_a_live_process_is_running(service: LiveService) -> None:
    stored(service, "s1", beat_age_s=1.0, pid=os.getpid())
    status = service.status("s1")
    assert isinstance(status, LiveStatus)
    assert (status.running, status.healthy, status.state) == (True, True, "active")
    assert status.feed == "replay from 2025-03-01T00:00:00+00:00 at 3600x"
    assert status.heartbeat_age_s == pytest.approx(1.0, abs=0.5)


def test_a_dead_process_shows_at_once_and_alerts_once(service: LiveService) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stored(service, "dead", beat_age_s=1.0, pid=int(gone.stdout))
    stored(service, "silent", beat_age_s=1_000.0, pid=os.getpid())
    stored(service, "fine", beat_age_s=1.0, pid=os.getpid())
    HEALTH.reset()
    first = {s.session_id: s for s in service.health()}
    assert {k: (v.running, v.healthy) for k, v in first.items()} == {
        "dead": (False, False), "silent": (False, False), "fine": (True, True),
    }  # fmt: skip
    service.health()
    assert HEALTH.counts()["LT-004"] == 2  # one per silent session, not per look


def test_a_finished_session_is_healthy_and_not_listed_by_health(service: LiveService) -> None:
    stored(service, "done", beat_age_s=1.0, pid=os.getpid())
    service.store.finish("done")
    assert service.status("done").healthy and not service.status("done").running
    assert service.health() == []


def test_commands_are_stored_for_the_session_to_take_once(service: LiveService) -> None:
    stored(service, "s1", beat_age_s=1.0, pid=os.getpid())
    service.stop("s1")
    assert service.store.take_command("s1") == STOP
    assert service.store.take_command("s1") is None
    service.stop("s1")
    service.emergency_stop("s1", StopMode.FLATTEN)  # an emergency stop overrides a stop
    assert service.store.take_command("s1") == HALT_FLATTEN
    with pytest.raises(KeyError):
        service.stop("nobody")


def test_events_are_the_tail_of_the_session_event_log(service: LiveService, tmp_path: Path) -> None:
    stored(service, "s1", beat_age_s=1.0, pid=os.getpid())
    assert service.events("s1") == []
    (tmp_path / "s1").mkdir()
    rows = ["seq,timestamp,event_type,amount,note"] + [
        f"{i},2025-03-01T0{i}:00:00+00:00,EquityMarked,{100 + i},{'' if i % 2 else 'x'}"
        for i in range(6)
    ]
    (tmp_path / "s1" / "event_log.csv").write_text("\n".join(rows) + "\n")
    tail = service.events("s1", limit=2)
    assert [e["seq"] for e in tail] == [4, 5]
    assert tail[1]["note"] is None and tail[0]["note"] == "x"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "nope"}, "mode"),
        ({"execution": "sim"}, "execution"),
        ({"interval_s": 0.5}, "interval"),
        ({"interval_s": float("nan")}, "interval"),
        ({"max_cycles": 0}, "cycles"),
        ({"speed": float("inf")}, "speed"),
        ({"replay_start": datetime(2025, 3, 1, 0, 30, tzinfo=UTC)}, "replay_start"),
        ({"replay_start": datetime(2025, 3, 1)}, "replay_start"),
        ({"venue_urls": (("binance", "ftp://127.0.0.1:1"),)}, "--venue-url"),
        ({"replay_start": None, "speed": 10.0}, "speed"),
        ({"execution": "live"}, "replay_start"),
        ({"overrides": ("start=2024-01-01",)}, "set"),
        ({"overrides": ("reserve_ratio=2",)}, "reserve_ratio"),
        ({"risk_limits": (("max_drawdown", 2.0),)}, "risk_limits.max_drawdown"),
        ({"risk_limits": (("max_orders", 3),)}, "risk_limits.max_orders"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    request = LiveStartRequest(**{**REQUEST.__dict__, **change})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as refused:
        validate(request, {})
    assert refused.value.field == field
    assert "\n" not in str(refused.value)


def test_the_request_round_trips_through_its_stored_options() -> None:
    assert LiveStartRequest.from_options(REQUEST.options()) == REQUEST
    limited = LiveStartRequest(**{**REQUEST.__dict__, "risk_limits": (("max_drawdown", 0.1),)})  # type: ignore[arg-type]
    assert LiveStartRequest.from_options(limited.options()) == limited
    assert limited.limits().max_drawdown == 0.1
    hosts = (("binance", "http://127.0.0.1:8001"), ("okx", "https://www.okx.com"))
    pointed = LiveStartRequest(**{**REQUEST.__dict__, "venue_urls": hosts})  # type: ignore[arg-type]
    assert LiveStartRequest.from_options(pointed.options()) == pointed
    assert replay_sets(REQUEST) == (
        "start=2025-03-01T00:00:00+00:00",
        "end=2025-03-01T06:00:00+00:00",
    )
