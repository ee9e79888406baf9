"""`basis live start|status|stop|emergency-stop|resume` (issue 13 scope 1).

`start` runs the session in this process until it is stopped or its cycles are done (the
service runs the same command in a process of its own); the other commands act on a stored
session through the store, from any process, so `basis live stop ID` in one terminal stops
the session another terminal started, within one cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.yaml_input import parse_value
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.logs import configure_json_logging
from basis_strategy.live.service import (
    LiveRequestError,
    LiveService,
    LiveStartRequest,
    LiveStatus,
    parse_venue_urls,
    validate,
)
from basis_strategy.live.session_store import SessionStore
from basis_strategy.live.trading_state import StopMode

_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    match = _INTERVAL.match(text.strip())
    if match is None:
        raise ConfigError("--interval", f"must be like 1h, 15m, 30s or seconds, was {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_limits(items: list[str]) -> dict[str, Any]:
    """`--limit NAME=VALUE` options, each value read as YAML (`0.1`, `{BTC: 50000}`)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError("--limit", f"must be NAME=VALUE, was {item!r}")
        out[name.strip()] = parse_value(text, ["risk_limits", name.strip()])
    return out


def parse_replay(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError("--replay", f"must be an ISO UTC time, was {text!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def run_live(args: argparse.Namespace, results_dir: Path) -> int:
    command = args.live_command
    if command == "start":
        return _start(args, results_dir)
    service = LiveService(results_dir, data_dir=getattr(args, "data_dir", None))
    try:
        if command == "status":
            return _status(service, args)
        if command == "resume":
            return _resume(service, args, results_dir)
        if command == "stop":
            _print(_known(service.stop, args.session_id))
        elif command == "activate":
            _print(_known(lambda sid: service.activate(sid, args.operator), args.session_id))
        else:
            mode = StopMode.FLATTEN if args.flatten else StopMode.FREEZE
            _print(_known(lambda sid: service.emergency_stop(sid, mode), args.session_id))
        return 0
    finally:
        service.close()


def _request(args: argparse.Namespace) -> LiveStartRequest:
    return LiveStartRequest(
        mode=args.mode,
        execution=args.execution,
        interval_s=parse_interval(args.interval),
        aligned=not args.not_aligned,
        max_cycles=args.cycles,
        replay_start=parse_replay(args.replay),
        speed=args.speed,
        overrides=tuple(args.sets),
        enable_live_trading=args.enable_live_trading,
        risk_limits=tuple(parse_limits(args.limits).items()),
        venue_urls=tuple(parse_venue_urls(args.venue_urls).items()),
    )


def _start(args: argparse.Namespace, results_dir: Path) -> int:
    from basis_strategy.live.runner import new_session_id, run_session

    request = _request(args)
    env = os.environ
    validate(request, env)
    if request.execution == "live":
        _live_gates(request, env)
    session_id = args.session_id or new_session_id(request)
    configure_json_logging(sys.stderr)  # alerts as JSON lines with their codes, secrets masked
    store = SessionStore(LiveService(results_dir).url)
    try:
        session = run_session(
            store, session_id, request, results_dir, args.data_dir, env,
            on_started=lambda s: print(f"live session {session_id} started", file=sys.stderr),
        )  # fmt: skip
    finally:
        store.close()
    print(f"{session_id}: {session.cycles} cycles, {len(session.stepped)} stepped, "
          f"state {session.control.state.value}", file=sys.stderr)  # fmt: skip
    print(results_dir / session_id)
    return 0


def _live_gates(request: LiveStartRequest, env: Any) -> None:
    """Live is refused unless enabled twice, with every credential in the environment and a
    passing pre-flight against the venues and, for a mode with an on-chain leg, the chain
    (LT-001, LT-002, LT-003: one line each, exit 2; `go_live.py`); past them, the session
    runs (`live/live_feed.py`)."""
    from basis_strategy.live.go_live import go_live  # ccxt and web3: live execution only

    config = load_run_config(request.mode, list(request.overrides), env=env)
    go_live(config, request.enable_live_trading, env, dict(request.venue_urls))


def _resume(service: LiveService, args: argparse.Namespace, results_dir: Path) -> int:
    from basis_strategy.live.runner import run_session

    status = _known(service.status, args.session_id)
    if status.running:
        raise ConfigError("session_id", f"{args.session_id} is running (pid alive): stop it first")
    rows = service.store.overview(args.session_id)
    request = LiveStartRequest.from_options(rows[0].options)
    if args.speed is not None:
        request = replace(request, speed=args.speed)
        validate(request, os.environ)
    session = run_session(service.store, args.session_id, request, results_dir, args.data_dir,
                          os.environ, resume=True, cold=args.cold,
                          adopt_venue_state=args.adopt_venue_state)  # fmt: skip
    print(f"{args.session_id}: {session.cycles} cycles, state {session.control.state.value}",
          file=sys.stderr)  # fmt: skip
    return 0


def _status(service: LiveService, args: argparse.Namespace) -> int:
    one = args.session_id
    statuses = [_known(service.status, one)] if one else service.sessions()
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return 0
    for status in statuses:
        _print(status)
    return 0


def _known(call: Any, session_id: str) -> LiveStatus:
    try:
        result: LiveStatus = call(session_id)
    except KeyError:
        raise ConfigError("session_id", f"no live session {session_id!r} in this store") from None
    except LiveRequestError as refused:
        raise ConfigError(refused.field, refused.message) from None
    return result


def _print(status: LiveStatus) -> None:
    equity = "-" if status.equity is None else f"{status.equity:,.2f} {status.currency}"
    running = "running" if status.running else "not running"
    print(f"{status.session_id}  {status.mode}  {status.execution}  {status.state}  "
          f"{running}  cycles {status.cycles}  equity {equity}")  # fmt: skip
