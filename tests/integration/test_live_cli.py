"""`basis live` end to end, each command a real process (issue 13 scope 1, acceptance: "every
mode runs in paper for several cycles through the CLI"; "emergency stop halts within one
cycle ... in both the freeze and the flatten variant"; "kill -9 ... then a restart").

Sessions paper trade a replayed real day at an accelerated clock. Their files are compared,
byte for byte, with the backtest of the same hours: the same code steps the same market states
(test_paper_replay.py explains why no tolerance is needed). The operator commands run in other
processes than the session, as an operator's terminal would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.integration.conftest import DATA_DIR

from basis_strategy.config.models import MODE_NAMES
from basis_strategy.services.backtest import run_backtest

REPLAY = "2025-03-01T00:00:00+00:00"
FILES = ("hourly_pnl.csv", "event_log.csv", "balance_sheet.csv")


def basis(*args: str | Path, results: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env.update(BASIS_DATA_DIR=str(DATA_DIR), BASIS_RESULTS_DIR=str(results))
    done = subprocess.run(
        [sys.executable, "-m", "basis_strategy", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"basis {' '.join(map(str, args))}: {done.returncode}\n{done.stderr}")
    return done


def spawn(*args: str, results: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env.update(BASIS_DATA_DIR=str(DATA_DIR), BASIS_RESULTS_DIR=str(results))
    return subprocess.Popen(
        [sys.executable, "-m", "basis_strategy", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def status(results: Path, session_id: str) -> dict[str, Any]:
    out = basis("live", "status", session_id, "--json", results=results).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows[0]


def wait_for(
    results: Path,
    session_id: str,
    what: Any,
    timeout_s: float = 60.0,
    process: subprocess.Popen[str] | None = None,
) -> dict[str, Any]:
    """The session's status once `what` holds; fails at once if its `process` has ended."""
    deadline = time.monotonic() + timeout_s
    refused = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the session ended ({process.returncode}): "
                                 f"{process.communicate()[1][-2000:]}")  # fmt: skip
        try:
            now = status(results, session_id)
        except AssertionError as exc:  # not stored yet
            now, refused = None, str(exc)
        if now is not None and what(now):
            return now
        time.sleep(0.1)
    raise AssertionError(f"timed out; last status {now}; last refusal {refused[-2000:]}")


def backtest(mode: str, hours: int, out: Path) -> Path:
    end = pd.Timestamp(REPLAY) + pd.Timedelta(hours=hours - 1)
    sets = [f"start={REPLAY}", f"end={end.isoformat()}"]
    return run_backtest(mode, sets, DATA_DIR, out, env={}).path


def assert_same_files(session_dir: Path, backtest_dir: Path) -> None:
    for name in FILES:
        got, want = (session_dir / name).read_bytes(), (backtest_dir / name).read_bytes()
        assert got == want, f"{name} differs from the backtest's"


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_every_mode_paper_trades_through_the_cli_as_its_backtest(mode: str, tmp_path: Path) -> None:
    sid = f"cli-{mode}"
    done = basis("live", "start", mode, "--replay", REPLAY, "--speed", "36000", "--cycles", "4",
                 "--session-id", sid, results=tmp_path)  # fmt: skip
    folder = Path(done.stdout.strip())
    assert folder == tmp_path / sid
    assert_same_files(folder, backtest(mode, 4, tmp_path / "backtest"))
    assert {"summary.json", "index.html"} <= {p.name for p in folder.iterdir()}
    final = status(tmp_path, sid)
    assert (final["cycles"], final["stepped"], final["state"]) == (4, 4, "active")
    assert not final["running"]
    hourly = pd.read_csv(folder / "hourly_pnl.csv")
    assert final["equity"] == pytest.approx(hourly["equity"].iloc[-1], rel=1e-14)  # 15 digits
    assert final["pnl"] == pytest.approx(hourly["pnl"].sum(), rel=1e-12, abs=1e-9)
    balance = pd.read_csv(folder / "balance_sheet.csv").iloc[-1]
    held = {k: v for venue in final["positions"].values() for k, v in venue.items()}
    written = {c[4:]: balance[c] for c in balance.index if c.startswith("qty:") and balance[c]}
    assert held == pytest.approx(written, rel=1e-14)  # the CSV keeps 15 digits


@pytest.fixture
def processes() -> Any:
    """Session processes a test started; killed if the test left one running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _started(
    processes: list[subprocess.Popen[str]], results: Path, sid: str, *extra: str
) -> subprocess.Popen[str]:
    """A btc_basis session at one replayed hour per 0.5 s (time for the commands of other
    processes on a loaded machine), once it has stepped 3 cycles."""
    process = spawn("live", "start", "btc_basis", "--replay", REPLAY, "--speed", "7200",
                    "--session-id", sid, *extra, results=results)  # fmt: skip
    processes.append(process)
    wait_for(results, sid, lambda s: s["stepped"] >= 3, process=process)
    return process


def _cycles_when_posted(done: subprocess.CompletedProcess[str]) -> int:
    """The session's cycle count printed by the command, read when it stored the command."""
    return int(done.stdout.split("cycles ")[1].split()[0])


@pytest.mark.parametrize("flatten", [False, True], ids=["freeze", "flatten"])
def test_emergency_stop_from_another_process_halts_within_one_cycle(
    flatten: bool, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    sid = "halt-" + ("flatten" if flatten else "freeze")
    process = _started(processes, tmp_path, sid)
    posted = basis("live", "emergency-stop", sid, *(["--flatten"] if flatten else []),
                   results=tmp_path)  # fmt: skip
    before = _cycles_when_posted(posted)  # every cycle so far was stepped (none skipped)
    halted = wait_for(tmp_path, sid, lambda s: s["state"] == "halted" and s["halted"] >= 2)
    if flatten:  # the flatten cycle steps the engine once more, then the state freezes
        assert halted["stop_mode"] == "freeze"
        assert halted["stepped"] <= before + 2
        perps = [k for v in halted["positions"].values() for k in v if ":Perp:" in k]
        assert perps == []
        assert not [k for k in halted["positions"].get("binance", {}) if k.endswith(":BTC")]
    else:
        assert halted["stop_mode"] == "freeze"
        assert halted["stepped"] <= before + 1
        assert any(":Perp:" in k for v in halted["positions"].values() for k in v)
    basis("live", "stop", sid, results=tmp_path)
    assert process.wait(timeout=60) == 0, process.communicate()[1]
    events = pd.read_csv(tmp_path / sid / "event_log.csv")
    trades = events[events["event_type"].isin(["PerpTraded", "SpotSold", "SpotBought"])]
    last_step = pd.Timestamp(halted["last_cycle_at"])
    if flatten:
        assert (trades["note"].str.startswith("exit_full")).any()
    else:  # nothing traded after the halt
        assert (pd.to_datetime(trades["timestamp"]) <= last_step).all()


def test_stop_ends_the_session_and_a_resume_continues_it(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    sid = "stop-resume"
    process = _started(processes, tmp_path, sid, "--cycles", "30")
    basis("live", "stop", sid, results=tmp_path)
    assert process.wait(timeout=60) == 0
    stopped = status(tmp_path, sid)
    assert not stopped["running"] and 3 <= stopped["cycles"] < 30
    basis("live", "resume", sid, "--speed", "36000", results=tmp_path)
    final = status(tmp_path, sid)
    assert final["cycles"] == 30 and final["stepped"] == 30
    assert_same_files(tmp_path / sid, backtest("btc_basis", 30, tmp_path / "backtest"))


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_kill_9_then_resume_gives_the_uninterrupted_files(
    cold: bool, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    sid = "killed-" + ("cold" if cold else "warm")
    process = _started(processes, tmp_path, sid, "--cycles", "30")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not status(tmp_path, sid)["running"]  # its process is gone: shown at once
    cold_args = ["--cold"] if cold else []
    basis("live", "resume", sid, "--speed", "36000", *cold_args, results=tmp_path)
    final = status(tmp_path, sid)
    assert (final["cycles"], final["stepped"]) == (30, 30)
    assert_same_files(tmp_path / sid, backtest("btc_basis", 30, tmp_path / "backtest"))


def test_bad_requests_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = [
        (["live", "start", "nope", "--replay", REPLAY], "mode"),
        (["live", "start", "btc_basis", "--replay", "2025-03-01T00:30Z"], "replay_start"),
        (["live", "start", "btc_basis", "--replay", REPLAY, "--interval", "fast"], "--interval"),
        (["live", "start", "btc_basis", "--replay", REPLAY, "--cycles", "0"], "cycles"),
        (["live", "start", "btc_basis"], "BASIS_ALCHEMY_RPC_URL"),  # live feeds read the chain
        (["live", "start", "btc_basis", "--venue-url", "binance=ftp://x"], "--venue-url"),
        (["live", "start", "btc_basis", "--replay", "2030-01-01T00:00Z", "--cycles", "2"], ""),
        (
            ["live", "start", "btc_basis", "--replay", REPLAY, "--limit", "max_drawdown=2"],
            "risk_limits.max_drawdown",
        ),
        (["live", "start", "btc_basis", "--replay", REPLAY, "--limit", "nonsense"], "--limit"),
        (["live", "status", "no-such-session"], "session_id"),
        (["live", "stop", "no-such-session"], "session_id"),
    ]
    for args, field in cases:
        done = basis(*args, results=tmp_path, check=False)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (args, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("basis: error: " + field), (args, lines)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no session folder was made


def test_no_credential_in_anything_a_paper_session_wrote(tmp_path: Path) -> None:
    from tests.e2e.test_live_gates import CREDENTIALS, assert_no_secret

    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env.update(CREDENTIALS, BASIS_DATA_DIR=str(DATA_DIR), BASIS_RESULTS_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "start", "eth_basis", "--replay", REPLAY,
         "--speed", "36000", "--cycles", "3", "--session-id", "secrets"],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    status_out = basis("live", "status", "--json", results=tmp_path).stdout
    assert (tmp_path / "secrets" / "summary.json").exists()
    assert_no_secret(tmp_path, done.stdout, done.stderr, status_out)


def test_a_cold_resume_after_a_flatten_rebuilds_the_same_book(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """The journal says which cycles flattened: re-stepping them flattens again, so the
    rebuilt files start with exactly what the first life wrote."""
    sid = "flatten-cold"
    process = _started(processes, tmp_path, sid, "--cycles", "40")
    basis("live", "emergency-stop", sid, "--flatten", results=tmp_path)
    wait_for(tmp_path, sid, lambda s: s["stop_mode"] == "freeze" and s["halted"] >= 1)
    basis("live", "stop", sid, results=tmp_path)
    assert process.wait(timeout=60) == 0
    before = {name: (tmp_path / sid / name).read_bytes() for name in FILES}
    basis("live", "resume", sid, "--cold", "--speed", "36000", results=tmp_path)
    final = status(tmp_path, sid)
    assert final["cycles"] == 40 and final["state"] == "halted"
    for name in ("hourly_pnl.csv", "event_log.csv"):
        assert (tmp_path / sid / name).read_bytes().startswith(before[name]), name


def test_risk_limits_given_on_the_command_line_bind_the_session(tmp_path: Path) -> None:
    """`--limit max_order_notional_usd=50000`: the 66k spot buy of the entry is refused, so
    nothing is traded and the session is REDUCING, with the breach among its alerts."""
    basis("live", "start", "btc_basis", "--replay", REPLAY, "--speed", "36000", "--cycles", "2",
          "--session-id", "limited", "--limit", "max_order_notional_usd=50000",
          results=tmp_path)  # fmt: skip
    final = status(tmp_path, "limited")
    assert final["state"] == "reducing"
    assert {"RISK-001", "RISK-005"} <= {a["code"] for a in final["alerts"]}
    assert not [k for held in final["positions"].values() for k in held if ":Perp:" in k]


def test_only_an_operator_returns_a_halted_session_to_active(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    sid = "activated"
    process = _started(processes, tmp_path, sid, "--cycles", "60")
    basis("live", "emergency-stop", sid, results=tmp_path)
    halted = wait_for(tmp_path, sid, lambda s: s["state"] == "halted" and s["halted"] >= 2)
    refused = basis("live", "activate", sid, "--operator", " ", results=tmp_path, check=False)
    assert refused.returncode == 2 and "--operator" in refused.stderr  # a name is required
    basis("live", "activate", sid, "--operator", "alice", results=tmp_path)
    active = wait_for(tmp_path, sid, lambda s: s["state"] == "active"
                      and s["stepped"] > halted["stepped"])  # fmt: skip
    assert any(a["code"] == "LT-008" and "alice" in a["message"] for a in active["alerts"])
    basis("live", "stop", sid, results=tmp_path)
    assert process.wait(timeout=60) == 0
