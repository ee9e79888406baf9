"""`basis live start MODE --execution live` for a mode with an on-chain leg runs the on-chain
pre-flight against the chain its environment names (here a local anvil with the fund's
contracts): a wrong key is refused naming the check; with the right one, eth_leveraged runs
live on the chain's own feed, cycle after cycle on the wall clock, reconciled with the chain;
the operator's key appears in nothing the command printed or wrote. Paper, the default, reads
the same feed with no key and trades the simulated venues."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.chain.anvil import Anvil
from tests.chain.fund import OPERATOR_KEY, FundChain, deploy_fund_chain
from tests.chain.live_world import chain_account, fund_env
from tests.fakes.binance_capital import BinanceCapitalFake
from tests.fakes.binance_spot import BinanceSpotFake
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake
from tests.fakes.credentials import CREDENTIALS
from tests.fakes.okx_v5 import OkxV5Fake
from tests.fakes.one_host import OneHost

from basis_strategy.core.secrets import encodings

OTHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # anvil #3


def live(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    return subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "start", "eth_leveraged",
         "--execution", "live", "--enable-live-trading", "--results-dir", str(tmp_path),
         "--set", "staking.rewards_mode=base_only", *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**clean, **env, "BASIS_LIVE_TRADING": "enabled"},
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def assert_no_key(tmp_path: Path, done: subprocess.CompletedProcess[str], key: str) -> None:
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for form in encodings(key) | encodings(key[2:]):
        assert form not in done.stdout and form not in done.stderr
        assert all(form.encode() not in blob for blob in written)


def test_the_on_chain_pre_flight_refuses_a_key_that_does_not_own_the_account(
    fund: FundChain, tmp_path: Path
) -> None:
    done = live(tmp_path, {**fund_env(fund), "BASIS_WALLET_PRIVATE_KEY": OTHER_KEY})
    line = one_line(done)
    assert "LT-003" in line and "is not the key's address" in line, line
    assert_no_key(tmp_path, done, OTHER_KEY)


@pytest.fixture(scope="module")
def live_chain() -> Iterator[Anvil]:
    """A chain on the wall clock (the session reads its feed live); a block every second once
    the fund is deployed (`live_fund`), so its feed is never older than that."""
    with Anvil() as node:
        yield node


@pytest.fixture(scope="module")
def deployed_live_fund(live_chain: Anvil) -> FundChain:
    fund = deploy_fund_chain(live_chain, capital_eth=60)  # its 2 % reserve covers the gas ETH
    live_chain.rpc("evm_setIntervalMining", [1])
    return fund


@pytest.fixture
def live_fund(live_chain: Anvil, deployed_live_fund: FundChain) -> Iterator[FundChain]:
    """The fund as deployed, for each test (each run starts from cash)."""
    snapshot_id = live_chain.snapshot()
    yield deployed_live_fund
    live_chain.revert(snapshot_id)


def test_eth_leveraged_runs_live_on_the_chain_through_the_command(
    live_fund: FundChain, tmp_path: Path
) -> None:
    fund = live_fund
    done = live(tmp_path, fund_env(fund), "--interval", "2s", "--cycles", "3",
                "--session-id", "chain-live")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "chain-live: 3 cycles, 3 stepped, state active" in done.stderr
    folder = tmp_path / "chain-live"
    with (folder / "hourly_pnl.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    with (folder / "event_log.csv").open() as handle:
        events = [row["event_type"] for row in csv.DictReader(handle)]
    assert {"Deposited", "FlashBorrowed", "Staked", "Supplied", "Borrowed"} <= set(events)
    # levered on chain, and the book of the last cycle is the chain's
    account = chain_account(fund, load_config())
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.005)
    with (folder / "balance_sheet.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    held = account.holdings()
    for key in ("aave_v3:aToken:aweETH", "aave_v3:debtToken:debtWETH"):
        assert float(last[f"qty:{key}"]) == pytest.approx(held[key], rel=1e-12)
    assert_no_key(tmp_path, done, OPERATOR_KEY)


def load_config():  # type: ignore[no-untyped-def]
    from basis_strategy.config.loader import load_run_config

    return load_run_config("eth_leveraged", ["staking.rewards_mode=base_only"], env={})


def test_kill_9_then_resume_continues_from_the_chain_with_no_instruction_twice(
    live_fund: FundChain, tmp_path: Path
) -> None:
    """The session process is killed (SIGKILL) after its entry; `basis live resume` rebuilds
    the chain venues, takes the chain's holdings as their ledger, checks the restored book
    against the chain (REC-003 would refuse) and runs the remaining cycles: one entry on chain,
    the book still the chain's."""
    fund = live_fund
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BASIS_")},
           **fund_env(fund), "BASIS_LIVE_TRADING": "enabled"}  # fmt: skip
    start = ["live", "start", "eth_leveraged", "--execution", "live", "--enable-live-trading",
             "--set", "staking.rewards_mode=base_only", "--interval", "2s"]  # fmt: skip
    killed_then_resumed(start, env, tmp_path, "k9")
    with (tmp_path / "k9" / "event_log.csv").open() as handle:
        events = [row["event_type"] for row in csv.DictReader(handle)]
    assert events.count("FlashBorrowed") == 1 and events.count("Deposited") == 1
    account = chain_account(fund, load_config())
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.005)
    with (tmp_path / "k9" / "balance_sheet.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    held = account.holdings()
    for key in ("aave_v3:aToken:aweETH", "aave_v3:debtToken:debtWETH"):
        assert float(last[f"qty:{key}"]) == pytest.approx(held[key], rel=1e-12)


def killed_then_resumed(
    start: list[str], env: dict[str, str], results: Path, sid: str, *resume: str
) -> None:
    """`basis START... --cycles 5` killed (SIGKILL) once 2 to 4 hours are written, then
    `basis live resume [RESUME...]` run to its 5 cycles."""
    process = subprocess.Popen(
        [sys.executable, "-m", "basis_strategy", *start, "--results-dir", str(results),
         "--cycles", "5", "--session-id", sid],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    hourly = results / sid / "hourly_pnl.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _rows(hourly) < 2 and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=30)
    assert 2 <= _rows(hourly) < 5, errors
    done = subprocess.run(
        [sys.executable, "-m", "basis_strategy", "live", "resume", sid,
         "--results-dir", str(results), *resume],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{sid}: 5 cycles, state active" in done.stderr


def _rows(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open() as handle:
        return max(0, sum(1 for _ in handle) - 1)


PAPER_START = ["live", "start", "eth_leveraged", "--set", "staking.rewards_mode=base_only",
               "--set", "initial_capital=40", "--interval", "2s"]  # fmt: skip


def paper_env(fund: FundChain) -> dict[str, str]:
    """The chain's RPC and addresses only: no key, no account (paper signs nothing)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    chain = {k: v for k, v in fund_env(fund).items()
             if k not in ("BASIS_WALLET_PRIVATE_KEY", "BASIS_CHAIN_ACCOUNT")}  # fmt: skip
    return {**clean, **chain}


def test_eth_leveraged_paper_trades_on_the_chains_live_feed_and_sends_nothing(
    live_fund: FundChain, tmp_path: Path
) -> None:
    """Paper, the default: the session reads its market from the chain and trades the
    simulated venues with the chain's risk parameters; the chain is left as it was, and
    nothing was signed."""
    fund = live_fund
    account = chain_account(fund, load_config())
    held, nonce = account.holdings(), fund.w3.eth.get_transaction_count(fund.operator.address)
    done = subprocess.run(
        [sys.executable, "-m", "basis_strategy", *PAPER_START, "--results-dir", str(tmp_path),
         "--cycles", "3", "--session-id", "paper-chain"],
        capture_output=True, text=True, timeout=180, check=False, env=paper_env(fund),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "paper-chain: 3 cycles, 3 stepped, state active" in done.stderr
    folder = tmp_path / "paper-chain"
    with (folder / "event_log.csv").open() as handle:
        events = list(csv.DictReader(handle))
    kinds = {row["event_type"] for row in events}
    assert {"Deposited", "FlashBorrowed", "Staked", "Supplied", "Borrowed"} <= kinds
    deposit = next(row for row in events if row["event_type"] == "Deposited")
    assert float(deposit["amount"]) == 40.0  # the config's capital: paper money
    with (folder / "balance_sheet.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    collateral = float(last["qty:aave_v3:aToken:aweETH"])
    debt = float(last["qty:aave_v3:debtToken:debtWETH"])
    assert collateral > 0 and debt > 0  # levered in the book, on the chain's indices
    assert account.holdings() == held  # the chain is as it was
    assert fund.w3.eth.get_transaction_count(fund.operator.address) == nonce


def test_a_paper_session_on_the_chains_feed_killed_resumes_from_its_checkpoint(
    live_fund: FundChain, tmp_path: Path
) -> None:
    """kill -9 after its entry, then `basis live resume`: the simulated book continues from
    the checkpoint (its venues bound again to the chain's risk), with one entry in all."""
    killed_then_resumed(PAPER_START, paper_env(live_fund), tmp_path, "pk9")
    assert _rows(tmp_path / "pk9" / "hourly_pnl.csv") == 5
    with (tmp_path / "pk9" / "event_log.csv").open() as handle:
        events = [row["event_type"] for row in csv.DictReader(handle)]
    assert events.count("FlashBorrowed") == 1 and events.count("Deposited") == 1


PAPER_MODES = {  # mode -> an event its entry books (the modes the test chain can feed)
    "btc_basis": "PerpTraded",
    "eth_basis": "PerpTraded",
    "usdt_market_neutral_no_leverage": "PerpTraded",
    "usdt_market_neutral": "PerpTraded",
    "eth_staking_only": "Staked",
}


@pytest.mark.parametrize("mode", PAPER_MODES)
def test_every_mode_paper_trades_on_the_venues_public_feed_and_the_chain(
    mode: str, live_fund: FundChain, tmp_path: Path
) -> None:
    """Paper on live feeds: marks, index price and funding from the hedge venues' public APIs
    (ccxt with no key, against the venue fakes through --venue-url), the rest from the chain;
    the simulated venues trade, nothing reaches a venue or the chain."""
    from basis_strategy.config.loader import load_run_config

    config = load_run_config(mode, [], env={})
    venues = list(config.mode.hedge.venues) if config.mode.hedge is not None else []
    staked = ["--set", "staking.rewards_mode=base_only"] if config.mode.staking else []
    held = chain_account(live_fund, load_config()).holdings()
    with BinanceUsdmFake() as binance, BybitV5Fake() as bybit, OkxV5Fake() as okx:
        fakes = {n: f for n, f in {"binance": binance, "bybit": bybit, "okx": okx}.items()
                 if n in venues}  # fmt: skip
        urls = [arg for name, fake in fakes.items()
                for arg in ("--venue-url", f"{name}={fake.base_url}")]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "basis_strategy", "live", "start", mode,
             "--results-dir", str(tmp_path), "--interval", "2s", "--cycles", "3",
             "--session-id", "paper", *staked, *urls],
            capture_output=True, text=True, timeout=180, check=False,
            env=paper_env(live_fund),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "paper: 3 cycles, 3 stepped, state active" in done.stderr, done.stderr
        assert all(not fake.state.orders_by_client_id for fake in fakes.values())
    with (tmp_path / "paper" / "event_log.csv").open() as handle:
        events = list(csv.DictReader(handle))
    booked = {row["event_type"] for row in events}
    assert PAPER_MODES[mode] in booked
    shorts = {row["venue"] for row in events if row["event_type"] == "PerpTraded"}
    assert shorts == set(fakes)  # the entry's shorts, on the simulated venues
    assert chain_account(live_fund, load_config()).holdings() == held


@pytest.fixture
def live_cex_fakes() -> Iterator[dict[str, Any]]:
    """The three venues' fakes on the wall clock, each holding what btc_basis's entry asks of
    it, Binance's three APIs on one host (as `--venue-url` points the product's clients)."""
    from basis_strategy.config.loader import load_run_config
    from basis_strategy.venues.live.build import required_usdt

    required = required_usdt(load_run_config("btc_basis", [], env={}))
    with (
        BinanceUsdmFake() as usdm,
        BinanceSpotFake(usdm.state) as spot,
        BinanceCapitalFake(usdm.state) as capital,
        BybitV5Fake() as bybit,
        OkxV5Fake() as okx,
        OneHost({"/fapi": usdm, "/api/": spot, "/sapi/v1/asset": spot,
                 "/sapi/v1/capital": capital}) as binance,
    ):  # fmt: skip
        for name, fake in (("binance", usdm), ("bybit", bybit), ("okx", okx)):
            fake.state.wallet_balance_quote = Decimal(repr(required[name]))
        yield {"binance": binance, "usdm": usdm, "spot": spot, "bybit": bybit, "okx": okx}


def cex_env(fund: FundChain, fakes: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The feed's chain (no key), the venues' credentials, live enabled; the venue URLs."""
    env = {**paper_env(fund), **CREDENTIALS, "BASIS_LIVE_TRADING": "enabled"}
    urls = [a for n in ("binance", "bybit", "okx")
            for a in ("--venue-url", f"{n}={fakes[n].base_url}")]  # fmt: skip
    return env, urls


@pytest.mark.parametrize("how", ["warm", "cold"])
def test_btc_basis_runs_live_on_the_venues_killed_and_resumed_with_no_order_twice(
    how: str, live_fund: FundChain, live_cex_fakes: dict[str, Any], tmp_path: Path
) -> None:
    """`basis live start btc_basis --execution live` on the three venue fakes (its market
    from their public endpoints and the chain): the entry buys BTC spot and shorts the three
    perps from the capital on the venues; `kill -9`, then `basis live resume` (warm, or
    `--cold`: the journal re-stepped on its journaled markets): the session continues from
    the venues (start-up reconciliation), every order sent once, every fill booked once, and
    the last book is what each venue holds."""
    fakes = live_cex_fakes
    env, urls = cex_env(live_fund, fakes)
    start = ["live", "start", "btc_basis", "--execution", "live", "--enable-live-trading",
             "--interval", "3s", *urls]  # fmt: skip
    killed_then_resumed(start, env, tmp_path, "cex9", *(["--cold"] if how == "cold" else []))
    perps = {n: fakes[k].state for n, k in (("binance", "usdm"), ("bybit", "bybit"),
                                            ("okx", "okx"))}  # fmt: skip
    orders = {n: len(s.orders_by_client_id) for n, s in perps.items()}
    assert orders == {"binance": 1, "bybit": 1, "okx": 1}  # the entry's shorts, once each
    assert len(fakes["spot"].spot.orders_by_client_id) == 1  # the spot buy, once
    with (tmp_path / "cex9" / "event_log.csv").open() as handle:
        events = list(csv.DictReader(handle))
    deposits = [row["venue"] for row in events if row["event_type"] == "Deposited"]
    assert sorted(deposits) == ["binance", "bybit", "okx"]  # the opening balances, once
    with (tmp_path / "cex9" / "balance_sheet.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    for name, state in perps.items():
        held = sum(float(p.size_base) for p in state.positions.values())
        assert held < 0 and float(last[f"qty:{name}:Perp:BTCUSDT"]) == pytest.approx(held)
    spot_btc = float(fakes["spot"].spot.balance("BTC"))
    assert float(last["qty:binance:BaseToken:BTC"]) == pytest.approx(spot_btc, rel=1e-9)
    for secret in CREDENTIALS.values():
        assert all(secret.encode() not in p.read_bytes()
                   for p in tmp_path.rglob("*") if p.is_file())  # fmt: skip


def test_usdt_market_neutral_runs_live_on_the_chain_and_the_venues_through_the_command(
    live_chain: Anvil, live_cex_fakes: dict[str, Any], tmp_path: Path
) -> None:
    """The hedged mode live through the command: its long leg bought, staked and levered on
    the chain with the account's USDT, its shorts on the three venue fakes with theirs. The
    operator key's gas ETH is the USDT run's gas buffer, deposited in kind with the opening
    deposit; every cycle is reconciled with the chain and the venues (no halt), and the book
    ends with the chain's holdings."""
    from basis_strategy.config.loader import load_run_config
    from basis_strategy.live.go_live import margin_plan

    snapshot_id = live_chain.snapshot()
    try:
        sets = ["staking.rewards_mode=base_only"]
        config = load_run_config("usdt_market_neutral", sets, env={})
        margin = dict(margin_plan(config).required_usdt)
        fund = usdt_fund(live_chain, config.mode.initial_capital - sum(margin.values()))
        fakes = live_cex_fakes
        for venue, usdt in margin.items():  # each venue holds its short's margin
            key = "usdm" if venue == "binance" else venue
            fakes[key].state.wallet_balance_quote = Decimal(repr(usdt))
        env, urls = cex_env(fund, fakes)
        env.update(fund_env(fund))  # and the key: the chain leg is executed
        done = subprocess.run(
            [sys.executable, "-m", "basis_strategy", "live", "start", "usdt_market_neutral",
             "--execution", "live", "--enable-live-trading", "--set", sets[0], *urls,
             "--interval", "3s", "--cycles", "3", "--session-id", "hedged",
             "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=180, check=False, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "hedged: 3 cycles, 3 stepped, state active" in done.stderr, done.stderr
        with (tmp_path / "hedged" / "event_log.csv").open() as handle:
            events = list(csv.DictReader(handle))
        deposits = {(row["venue"], row["instrument"]) for row in events
                    if row["event_type"] == "Deposited"}  # fmt: skip
        assert ("wallet", "wallet:BaseToken:ETH") in deposits  # the gas ETH, in kind
        shorts = {row["venue"] for row in events if row["event_type"] == "PerpTraded"}
        assert shorts == {"binance", "bybit", "okx"}
        assert {"Staked", "FlashBorrowed"} <= {row["event_type"] for row in events}
        with (tmp_path / "hedged" / "hourly_pnl.csv").open() as handle:
            hours = list(csv.DictReader(handle))
        flow = float(hours[0]["net_flow"])  # the opening: USDT and the gas ETH at its price
        assert flow == pytest.approx(config.mode.initial_capital + 0.05 * 3000, rel=1e-3)
        assert all(abs(float(h["residual"])) < 1e-6 * flow for h in hours)  # attribution adds up
        account = chain_account(fund, config)
        data = account.account_data()
        assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.01)
        with (tmp_path / "hedged" / "balance_sheet.csv").open() as handle:
            last = list(csv.DictReader(handle))[-1]
        for key, held in account.holdings().items():
            assert float(last.get(f"qty:{key}") or 0.0) == pytest.approx(held, rel=1e-9), key
    finally:
        live_chain.revert(snapshot_id)


def usdt_fund(chain: Anvil, account_usdt: float, usdt_reserve: bool = False) -> FundChain:
    """The fund's chain for a USDT run: the account holds `account_usdt` USDT and nothing
    else, the operator key the mode's gas buffer (0.05 ETH), the DEX quotes USDT and weETH
    against ETH at the oracle's 3,000 USD; `usdt_reserve`: AAVE lists USDT."""
    from tests.chain.fund import ETH
    from tests.chain.live_world import add_usdt

    from basis_strategy.venues.live.chain_calls import ETH as NATIVE_ETH

    chain.rpc("evm_setAutomine", [True])  # deployed at once, then a block a second
    fund = deploy_fund_chain(chain, capital_eth=0, usdt_reserve=usdt_reserve)
    chain.rpc("anvil_setBalance", [fund.operator.address, hex(5 * ETH // 100)])
    add_usdt(fund, account_usdt)
    assert fund.usdt is not None
    rate = int(fund.lst.functions.rate().call())
    for sell, buy, price in (
        (fund.usdt.address, NATIVE_ETH, 10**12 * ETH // 3000),
        (NATIVE_ETH, fund.usdt.address, 3000 * ETH // 10**12),
        (fund.lst.address, NATIVE_ETH, rate * 998 // 1000),
        (NATIVE_ETH, fund.lst.address, ETH * ETH // rate * 998 // 1000),
    ):
        fund.set_dex_price(sell, buy, price)
    chain.rpc("evm_setIntervalMining", [1])
    return fund


def test_pure_lending_runs_live_on_the_chain_through_the_command(
    live_chain: Anvil, tmp_path: Path
) -> None:
    """A USDT run wholly on chain: the account's USDT and the operator's gas ETH (in kind)
    are the opening deposit, the USDT is supplied to AAVE, and the book ends with the
    chain's holdings."""
    from basis_strategy.config.loader import load_run_config

    snapshot_id = live_chain.snapshot()
    try:
        fund = usdt_fund(live_chain, 100_000.0, usdt_reserve=True)
        env = {**paper_env(fund), **fund_env(fund), "BASIS_LIVE_TRADING": "enabled"}
        done = subprocess.run(
            [sys.executable, "-m", "basis_strategy", "live", "start", "pure_lending",
             "--execution", "live", "--enable-live-trading", "--interval", "3s",
             "--cycles", "3", "--session-id", "lending", "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=180, check=False, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "lending: 3 cycles, 3 stepped, state active" in done.stderr, done.stderr
        with (tmp_path / "lending" / "event_log.csv").open() as handle:
            events = list(csv.DictReader(handle))
        deposited = {row["instrument"]: float(row["amount"]) for row in events
                     if row["event_type"] == "Deposited"}  # fmt: skip
        assert deposited == {"wallet:BaseToken:USDT": 100_000.0,
                             "wallet:BaseToken:ETH": pytest.approx(0.05)}  # fmt: skip
        assert "Supplied" in {row["event_type"] for row in events}
        account = chain_account(fund, load_run_config("pure_lending", [], env={}))
        held = account.holdings()
        assert held["aave_v3:aToken:aUSDT"] > 99_000
        with (tmp_path / "lending" / "balance_sheet.csv").open() as handle:
            last = list(csv.DictReader(handle))[-1]
        for key, qty in held.items():
            assert float(last.get(f"qty:{key}") or 0.0) == pytest.approx(qty, rel=1e-9), key
    finally:
        live_chain.revert(snapshot_id)


def test_pure_lending_paper_trades_on_the_chains_live_feed(
    live_chain: Anvil, tmp_path: Path
) -> None:
    """Paper on live feeds for the one mode the shared test chain cannot feed (it lists no
    USDT): AAVE's USDT reserve read from the chain, nothing sent."""
    from basis_strategy.config.loader import load_run_config

    snapshot_id = live_chain.snapshot()
    try:
        fund = usdt_fund(live_chain, 100_000.0, usdt_reserve=True)
        account = chain_account(fund, load_run_config("pure_lending", [], env={}))
        held = account.holdings()
        done = subprocess.run(
            [sys.executable, "-m", "basis_strategy", "live", "start", "pure_lending",
             "--interval", "3s", "--cycles", "2", "--session-id", "paper-lending",
             "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=180, check=False, env=paper_env(fund),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "paper-lending: 2 cycles, 2 stepped, state active" in done.stderr
        with (tmp_path / "paper-lending" / "event_log.csv").open() as handle:
            kinds = {row["event_type"] for row in csv.DictReader(handle)}
        assert {"Deposited", "Supplied"} <= kinds
        assert account.holdings() == held  # the chain is as it was
    finally:
        live_chain.revert(snapshot_id)
