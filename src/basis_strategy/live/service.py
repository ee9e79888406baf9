"""LiveTradingService (issue 13, ADR-043): start, watch and stop paper and live sessions.

Why: one way to run a strategy live, whoever asks (the CLI or the API). A session runs in its
own process (`basis live start ... --session-id ID`), so a crash or a `kill -9` of one session
stops only that session, and the API server never holds a trading loop. Everything between
the processes goes through the store (the same database as backtests, `session_store.py`):

- the session process commits each completed cycle (journal, trading state, checkpoint, a
  status snapshot) and beats while it waits for its next cycle;
- `stop` and `emergency_stop` store a command; the session process polls for it at least once
  a second while it waits, and before each cycle, so a stop is honoured within one cycle;
- `status` and `sessions` read the stored rows (a session is running if its process beat
  within its heartbeat limit), `events` the tail of the session's `event_log.csv`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pandas as pd

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.errors import BasisError, ConfigError
from basis_strategy.core.logs import log_event
from basis_strategy.live.heartbeat import DEFAULT_HEARTBEAT_LIMIT_S
from basis_strategy.live.limits import RiskLimits
from basis_strategy.live.session_store import (
    ACTIVATE,
    HALT_FLATTEN,
    HALT_FREEZE,
    STOP,
    SessionRow,
    SessionStore,
)
from basis_strategy.live.trading_state import StopMode
from basis_strategy.services.store import RunStore

log = logging.getLogger(__name__)
Execution = Literal["paper", "live"]
EXECUTIONS = ("paper", "live")
START_TIMEOUT_S = 60.0  # a session process must be stored (or have failed) within this


@dataclass(frozen=True)
class LiveStartRequest:
    """What `basis live start` and `POST /api/live` take (validated by `validate`).

    `replay_start` set: the market data is the stored history replayed from that hour at
    `speed` replayed seconds per wall second (paper only); None: live feeds."""

    mode: str
    execution: Execution = "paper"
    interval_s: float = 3600.0
    aligned: bool = True
    max_cycles: int | None = None  # None: until stopped
    replay_start: datetime | None = None
    speed: float = 1.0
    overrides: tuple[str, ...] = ()
    enable_live_trading: bool = False  # the CLI's --enable-live-trading (live only)
    # the session's risk limits (`limits.RiskLimits` fields, JSON values), checked at start
    risk_limits: tuple[tuple[str, Any], ...] = ()
    # (venue, scheme://host) a venue's API is reached at instead of its own (a testnet, a
    # local fake): stored with the session, so a resume talks to the same hosts
    venue_urls: tuple[tuple[str, str], ...] = ()

    def limits(self) -> RiskLimits:
        """The validated limits (ConfigError naming `risk_limits.FIELD` on a bad one)."""
        return RiskLimits.parse(dict(self.risk_limits))

    def options(self) -> dict[str, Any]:
        """JSON-ready, as stored with the session (`SessionStore.create`)."""
        out = asdict(self)
        out["overrides"] = list(self.overrides)
        out["replay_start"] = None if self.replay_start is None else self.replay_start.isoformat()
        out["risk_limits"] = dict(self.risk_limits)
        out["venue_urls"] = dict(self.venue_urls)
        return out

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LiveStartRequest:
        start = options.get("replay_start")
        return cls(
            mode=options["mode"],
            execution=options["execution"],
            interval_s=float(options["interval_s"]),
            aligned=bool(options["aligned"]),
            max_cycles=options["max_cycles"],
            replay_start=None if start is None else datetime.fromisoformat(start),
            speed=float(options["speed"]),
            overrides=tuple(options["overrides"]),
            enable_live_trading=bool(options.get("enable_live_trading", False)),
            risk_limits=tuple(dict(options.get("risk_limits") or {}).items()),
            venue_urls=tuple(dict(options.get("venue_urls") or {}).items()),
        )

    @property
    def feed(self) -> str:
        if self.replay_start is None:
            return "live"
        return f"replay from {self.replay_start.isoformat()} at {self.speed:g}x"


def validate(request: LiveStartRequest, env: Mapping[str, str]) -> None:
    """Everything about a request that needs no data and no venue, refused with a one-line
    ConfigError naming the field (exit 2, HTTP 422). The session process checks the rest
    (data coverage of a replay, and for live the enable, credentials and pre-flight)."""
    if request.mode not in MODE_NAMES:
        raise ConfigError("mode", f"must be one of {', '.join(MODE_NAMES)}, was {request.mode!r}")
    if request.execution not in EXECUTIONS:
        raise ConfigError("execution", f"must be paper or live, was {request.execution!r}")
    if not (math.isfinite(request.interval_s) and 1.0 <= request.interval_s <= 86_400.0):
        raise ConfigError("interval", f"must be between 1 s and 24 h, was {request.interval_s!r} s")
    if request.max_cycles is not None and request.max_cycles < 1:
        raise ConfigError("cycles", f"must be at least 1, was {request.max_cycles}")
    if not (math.isfinite(request.speed) and request.speed > 0):
        raise ConfigError("speed", f"must be a finite number > 0, was {request.speed!r}")
    _validate_replay(request)
    request.limits()
    for override in request.overrides:
        if override.split("=", 1)[0].strip() in ("start", "end"):
            raise ConfigError("set", f"the window of a live session is its clock's: {override!r}")
    load_run_config(request.mode, list(request.overrides), env=env)  # the config's own checks
    parse_venue_urls([f"{venue}={url}" for venue, url in request.venue_urls])


def parse_venue_urls(items: list[str]) -> dict[str, str]:
    """`--venue-url NAME=URL` options (repeatable) as a mapping; ConfigError on a bad one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        parts = urlsplit(url.strip())
        if not sep or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("--venue-url", f"must be NAME=http(s)://host[:port], was {item!r}")
        out[name.strip()] = f"{parts.scheme}://{parts.netloc}"
    return out


def _validate_replay(request: LiveStartRequest) -> None:
    start = request.replay_start
    if start is not None:
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ConfigError("replay_start", f"must be a UTC time, was {start.isoformat()}")
        if (start.minute, start.second, start.microsecond) != (0, 0, 0):
            raise ConfigError("replay_start", f"must be a whole hour, was {start.isoformat()}")
        if request.execution == "live":
            raise ConfigError("replay_start", "a replay is paper only: live trades on live data")
    elif request.speed != 1.0:
        raise ConfigError("speed", f"only a replay can be accelerated, was {request.speed:g}")


def replay_sets(request: LiveStartRequest) -> tuple[str, ...]:
    """The config window of a replay: from its first hour; to the hour after its last cycle
    when the cycles are counted, else the mode's own end."""
    if request.replay_start is None:
        return ()
    sets = [f"start={request.replay_start.isoformat()}"]
    if request.max_cycles is not None:
        hours = math.ceil(request.max_cycles * request.interval_s / 3600.0) + 1
        sets.append(f"end={(request.replay_start + timedelta(hours=hours)).isoformat()}")
    return tuple(sets)


class LiveRequestError(ValueError):
    """A request the service refuses (HTTP 422): `field` and a one-line `message`."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class LiveStatus:
    """One session as stored (JSON-ready through `as_dict`)."""

    session_id: str
    mode: str
    execution: Execution
    feed: str  # "replay from 2025-03-01T00:00:00+00:00 at 3600x" or "live"
    running: bool  # its process beat within the heartbeat limit
    healthy: bool  # running and not silent too long
    state: str  # active | reducing | halted
    stop_mode: str | None
    reason: str
    cycles: int
    stepped: int
    skipped: int
    halted: int
    last_cycle_at: datetime | None
    heartbeat_age_s: float | None
    data_age_s: float | None
    equity: float | None  # share-class units, after the last stepped cycle
    pnl: float | None  # cumulative since start
    nav_per_share: float | None
    currency: str
    positions: dict[str, dict[str, float]] = field(default_factory=dict)  # venue -> key -> qty
    risk: dict[str, Any] = field(default_factory=dict)  # margin ratios, delta, LTV, HF, level
    venues: dict[str, bool] = field(default_factory=dict)  # venue -> reachable (live)
    alerts: list[dict[str, str]] = field(default_factory=list)  # newest last
    results_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_cycle_at"] = (
            None if self.last_cycle_at is None else self.last_cycle_at.isoformat()
        )
        return out


def status_of(
    row: SessionRow, now: datetime, limit_s: float, results_dir: Path | None = None
) -> LiveStatus:
    """A stored session as the service shows it: running while its process beats (and, on
    this machine, while that process exists: a `kill -9` shows at once)."""
    request = LiveStartRequest.from_options(row.options)
    age = None if row.beat_at is None else max(0.0, (now - row.beat_at).total_seconds())
    beating = row.finished_at is None and age is not None and age <= limit_s
    running = beating and (row.pid is None or _alive(row.pid))
    stat = row.status
    return LiveStatus(
        session_id=row.session_id,
        mode=request.mode,
        execution=request.execution,
        feed=request.feed,
        running=running,
        healthy=running or row.finished_at is not None,  # a session left unfinished is not
        state=row.control.state.value,
        stop_mode=None if row.control.stop_mode is None else row.control.stop_mode.value,
        reason=row.control.reason,
        cycles=row.cycles,
        stepped=row.kinds.get("stepped", 0),
        skipped=row.kinds.get("skipped", 0),
        halted=row.kinds.get("halted", 0),
        last_cycle_at=row.last_cycle_at,
        heartbeat_age_s=age,
        data_age_s=stat.get("data_age_s"),
        equity=stat.get("equity"),
        pnl=stat.get("pnl"),
        nav_per_share=stat.get("nav_per_share"),
        currency=stat.get("currency", ""),
        positions=stat.get("positions", {}),
        risk=stat.get("risk", {}),
        venues=stat.get("venues", {}),
        alerts=stat.get("alerts", []),
        results_dir="" if results_dir is None else str(results_dir / row.session_id),
    )


class LiveService:
    """Sessions in their own processes, watched and stopped through the store (module doc).

    `database_url`: None is `BASIS_DATABASE_URL`, else `{results_dir}/runs.sqlite` (the
    backtests' run index: one store). `python`: the interpreter of session processes."""

    def __init__(
        self,
        results_dir: str | Path,
        database_url: str | None = None,
        data_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        heartbeat_limit_s: float = DEFAULT_HEARTBEAT_LIMIT_S,
    ) -> None:
        self.results_dir = Path(results_dir)
        self.env = dict(os.environ if env is None else env)
        chosen = database_url or self.env.get("BASIS_DATABASE_URL")
        self.url = chosen or RunStore.default_url(self.results_dir)
        self.data_dir = data_dir
        self.python = python
        self.heartbeat_limit_s = heartbeat_limit_s
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.store = SessionStore(self.url)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._silent: set[str] = set()  # sessions alerted as silent (LT-004), until they beat

    def start(self, request: LiveStartRequest) -> LiveStatus:
        """Validate, spawn the session process, and return once it has stored the session;
        LiveRequestError with the process's one-line reason if it refuses to start."""
        try:
            validate(request, self.env)
        except BasisError as exc:
            raise _request_error(exc) from None
        from basis_strategy.live.runner import new_session_id

        session_id = new_session_id(request)
        args = cli_args(request, session_id, self)
        return self._spawn(session_id, args, lambda: bool(self.store.overview(session_id)))

    def resume(
        self, session_id: str, cold: bool = False, adopt_venue_state: bool = False
    ) -> LiveStatus:
        """Restart a stopped or crashed session in a new process (`basis live resume`), warm
        or `cold` (live: adopting the venues' fills, `adopt_venue_state`); returns once that
        process has taken the session over. KeyError if unknown, LiveRequestError if its
        process is still running or the resume is refused."""
        if self.status(session_id).running:
            raise LiveRequestError("session_id", f"{session_id} is running: stop it first")
        args = ["live", "resume", session_id, "--results-dir", str(self.results_dir)]
        args += ["--cold"] if cold else []
        args += ["--adopt-venue-state"] if adopt_venue_state else []
        args += ["--data-dir", str(self.data_dir)] if self.data_dir is not None else []
        holder: list[int] = []

        def taken_over() -> bool:
            rows = self.store.overview(session_id)
            return bool(rows) and rows[0].pid in holder

        return self._spawn(session_id, args, taken_over, holder)

    def _spawn(
        self,
        session_id: str,
        args: list[str],
        ready: Callable[[], bool],
        pid_holder: list[int] | None = None,
    ) -> LiveStatus:
        """Run `basis ARGS` as the session's process; the session's status once `ready`, or
        LiveRequestError with the process's one-line reason if it exits first."""
        log = self.results_dir / f".{session_id}.log"
        with log.open("wb") as err:
            process = subprocess.Popen(
                [self.python, "-m", "basis_strategy", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**self.env, "BASIS_DATABASE_URL": self.url},
                start_new_session=True,
            )
        if pid_holder is not None:
            pid_holder.append(process.pid)
        previous = self._processes.pop(session_id, None)
        if previous is not None:  # the session's earlier process (killed, or hung): reaped
            _reap_later(previous)
        self._processes[session_id] = process
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready():
                return self.status(session_id)
            if process.poll() is not None:
                break
            time.sleep(0.05)
        else:
            process.kill()
        process.wait()
        reason = _last_line(log) or f"session process exited with code {process.returncode}"
        log.unlink(missing_ok=True)
        raise _request_error(reason)

    def sessions(self) -> list[LiveStatus]:
        """Every stored session, newest first."""
        self._reap()
        now = datetime.now(UTC)
        limit, folder = self.heartbeat_limit_s, self.results_dir
        return [status_of(r, now, limit, folder) for r in self.store.overview()]

    def status(self, session_id: str) -> LiveStatus:
        """KeyError if the store has no such session."""
        self._reap()
        rows = self.store.overview(session_id)
        if not rows:
            raise KeyError(f"live session {session_id!r} not found")
        return status_of(rows[0], datetime.now(UTC), self.heartbeat_limit_s, self.results_dir)

    def health(self) -> list[LiveStatus]:
        """The sessions that should be running: not finished, stored by a process that beat.
        One silent longer than the heartbeat limit, or whose process is gone, is unhealthy
        and raises LT-004 once per silence (a new beat clears it)."""
        unfinished = [s for s in self.sessions() if not s.healthy or s.running]
        for status in unfinished:
            if status.healthy:
                self._silent.discard(status.session_id)
            elif status.session_id not in self._silent:
                self._silent.add(status.session_id)
                age = status.heartbeat_age_s
                log_event(log, "LT-004", f"live session {status.session_id} silent"
                          + ("" if age is None else f" for {age:.0f} s")
                          + ("" if status.running else ": its process is gone"),
                          strategy=status.session_id)  # fmt: skip
        return unfinished

    def stop(self, session_id: str) -> LiveStatus:
        """Stop after the current cycle (positions stay as they are)."""
        self.status(session_id)
        self.store.post_command(session_id, STOP)
        return self.status(session_id)

    def emergency_stop(self, session_id: str, mode: StopMode) -> LiveStatus:
        """HALTED at the session's next poll (within one cycle), then freeze or flatten. A
        session not running takes it when resumed, before its first cycle."""
        self.status(session_id)
        command = HALT_FLATTEN if mode is StopMode.FLATTEN else HALT_FREEZE
        self.store.post_command(session_id, command)
        return self.status(session_id)

    def activate(self, session_id: str, operator: str) -> LiveStatus:
        """Back to ACTIVE from REDUCING or HALTED at the session's next poll, in `operator`'s
        name (LT-008): leaving either takes a person. A session not running takes it when
        resumed."""
        self.status(session_id)
        if not operator.strip() or len(operator) > 100 or "\n" in operator:
            raise LiveRequestError("operator", "a name (1-100 characters, one line) is required")
        self.store.post_command(session_id, ACTIVATE + operator.strip())
        return self.status(session_id)

    def events(self, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` rows of the session's event log (oldest of them first)."""
        self.status(session_id)
        path = self.results_dir / session_id / "event_log.csv"
        if not path.exists():
            return []
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""]).tail(limit)
        frame = frame.astype(object).where(frame.notna(), None)
        return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]

    def close(self) -> None:
        """Session processes keep running (they belong to the store, not to this object);
        the ones this service started are waited for in daemon threads, so one still exiting
        is reaped rather than left a zombie."""
        for process in list(self._processes.values()):
            _reap_later(process)
        self._processes.clear()
        self.store.close()

    def _reap(self) -> None:
        for session_id, process in list(self._processes.items()):
            if process.poll() is not None:
                self._processes.pop(session_id, None)  # two requests may reap at once


def cli_args(request: LiveStartRequest, session_id: str, service: LiveService) -> list[str]:
    """`basis live start ...` arguments that run `request` as `session_id`."""
    args = ["live", "start", request.mode, "--execution", request.execution,
            "--interval", f"{request.interval_s:g}", "--session-id", session_id,
            "--results-dir", str(service.results_dir)]  # fmt: skip
    if not request.aligned:
        args.append("--not-aligned")
    if request.max_cycles is not None:
        args += ["--cycles", str(request.max_cycles)]
    if request.replay_start is not None:
        args += ["--replay", request.replay_start.isoformat(), "--speed", repr(request.speed)]
    if request.enable_live_trading:
        args.append("--enable-live-trading")
    if service.data_dir is not None:
        args += ["--data-dir", str(service.data_dir)]
    for override in request.overrides:
        args += ["--set", override]
    for name, value in request.risk_limits:
        args += ["--limit", f"{name}={json.dumps(value)}"]
    for venue, url in request.venue_urls:
        args += ["--venue-url", f"{venue}={url}"]
    return args


def _request_error(reason: BasisError | str) -> LiveRequestError:
    if isinstance(reason, ConfigError):
        return LiveRequestError(reason.field, str(reason).split(": ", 1)[-1])
    text = str(reason).removeprefix("basis: error: ")
    field, _, message = text.partition(": ")
    return LiveRequestError(field, message) if message else LiveRequestError("request", text)


def _reap_later(process: subprocess.Popen[bytes]) -> None:
    """Wait for a process in a daemon thread: reaped when it exits, never blocking."""
    threading.Thread(target=process.wait, name="live-reaper", daemon=True).start()


def _alive(pid: int) -> bool:
    """A process with this id exists (and is not a zombie) on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    return lines[-1] if lines else ""
