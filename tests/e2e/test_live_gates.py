"""`basis live start --execution live` refuses, one line and exit 2 each, unless enabled twice,
with credentials in the environment and a passing pre-flight against the venues (issue 13
item 7), and no credential appears in anything the command printed or wrote.

The venues are the local fakes (tests/fakes), reached through `--venue-url`; ccxt's real
clients, built by the product's own `live/clients.py`, sign every request and the fakes verify
the signatures, so "keys valid" is a real check here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake
from tests.fakes.credentials import CREDENTIALS
from tests.fakes.okx_v5 import OkxV5Fake

from basis_strategy.core.secrets import encodings

ENTRY_USDT = {"binance": 80_000, "bybit": 10_000, "okx": 10_000}  # btc_basis, 100k, m* 0.5


@pytest.fixture
def fakes() -> Iterator[dict[str, BinanceUsdmFake | BybitV5Fake | OkxV5Fake]]:
    servers = {"binance": BinanceUsdmFake(), "bybit": BybitV5Fake(), "okx": OkxV5Fake()}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def live(
    tmp_path: Path, env: dict[str, str], *args: str, fakes: dict[str, object] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    urls = [f"--venue-url={name}={f.base_url}" for name, f in (fakes or {}).items()]  # type: ignore[attr-defined]
    return subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "start", "btc_basis",
         "--execution", "live", "--results-dir", str(tmp_path), *urls, *args],
        capture_output=True, text=True, env={**clean, **env}, timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def assert_no_secret(tmp_path: Path, *outputs: str) -> None:
    """No credential, in any encoding a log or file could hold, printed or written."""
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for name, value in CREDENTIALS.items():
        for form in encodings(value):
            assert all(form not in text for text in outputs), name
            assert all(form.encode() not in blob for blob in written), name


def test_live_needs_the_flag_and_the_variable(tmp_path: Path) -> None:
    line = one_line(live(tmp_path, {**CREDENTIALS}))
    assert "LT-001" in line and "--enable-live-trading" in line
    line = one_line(live(tmp_path, {**CREDENTIALS}, "--enable-live-trading"))
    assert "LT-001" in line and "BASIS_LIVE_TRADING=enabled" in line
    wrong = {**CREDENTIALS, "BASIS_LIVE_TRADING": "yes"}
    line = one_line(live(tmp_path, wrong, "--enable-live-trading"))
    assert "LT-001" in line and "'yes'" not in line


def test_live_needs_every_credential(tmp_path: Path) -> None:
    for missing in CREDENTIALS:
        env = {k: v for k, v in CREDENTIALS.items() if k != missing}
        done = live(tmp_path, {**env, "BASIS_LIVE_TRADING": "enabled"}, "--enable-live-trading")
        line = one_line(done)
        assert "LT-002" in line and missing in line, line
        assert_no_secret(tmp_path, done.stdout, done.stderr)


def test_a_mode_with_an_on_chain_leg_needs_the_chain_in_the_environment(tmp_path: Path) -> None:
    """Its on-chain pre-flight (`chain_build`) names the first variable missing; the full
    chain pre-flight runs against a local chain in tests/chain/test_live_cli_chain.py."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env = {**clean, **CREDENTIALS, "BASIS_LIVE_TRADING": "enabled"}
    done = subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "start", "usdt_market_neutral",
         "--execution", "live", "--enable-live-trading", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    line = one_line(done)
    assert "LT-002" in line and "BASIS_ALCHEMY_RPC_URL" in line, line


def test_a_failing_pre_flight_refuses_naming_venue_check_and_amounts(
    tmp_path: Path, fakes: dict[str, object]
) -> None:
    env = {**CREDENTIALS, "BASIS_LIVE_TRADING": "enabled"}
    done = live(tmp_path, env, "--enable-live-trading", fakes=fakes)
    line = one_line(done)  # each fake holds 10 000 USDT: Binance is short of the entry
    assert "LT-003" in line and "binance balance failed" in line, line
    assert "80,000.00 needed" in line
    assert_no_secret(tmp_path, done.stdout, done.stderr)


def fund(fakes: dict[str, object]) -> None:
    """Each fake holds what the entry plan asks of its venue."""
    for name, usdt in ENTRY_USDT.items():
        fakes[name].state.wallet_balance_quote = Decimal(usdt)  # type: ignore[attr-defined]


def test_wrong_keys_fail_the_pre_flight(tmp_path: Path, fakes: dict[str, object]) -> None:
    fund(fakes)
    env = {
        **CREDENTIALS,
        "BASIS_BYBIT_API_SECRET": "not-the-secret",
        "BASIS_LIVE_TRADING": "enabled",
    }
    done = live(tmp_path, env, "--enable-live-trading", fakes=fakes)
    line = one_line(done)
    assert "LT-003" in line and "bybit keys failed" in line, line
    assert "not-the-secret" not in done.stderr


def test_a_passing_pre_flight_goes_past_every_gate(
    tmp_path: Path, fakes: dict[str, object]
) -> None:
    """Past the gates, the session is built: with no chain to read its market from (gas,
    ETH), it is refused before anything is set on a venue (a live run on the fakes and a
    chain: tests/chain/test_live_cli_chain.py)."""
    fund(fakes)
    env = {**CREDENTIALS, "BASIS_LIVE_TRADING": "enabled"}
    done = live(tmp_path, env, "--enable-live-trading", fakes=fakes)
    line = one_line(done)
    assert "RPC_URL is not set" in line and "LT-00" in line, line
    paths = [p for f in fakes.values() for p in f.paths_called()]  # type: ignore[attr-defined]
    assert paths and all(p.startswith("GET ") for p in paths), paths  # pre-flight reads only
    assert_no_secret(tmp_path, done.stdout, done.stderr)
