"""eth_leveraged runs live on the local chain (issue 14 acceptance): the paper session's loop on
the on-chain venues, at an accelerated clock, the chain driven through replayed history, every
instruction reconciled with the chain, and files of the same shape as a backtest's."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.chain.aave_market import send
from tests.chain.anvil import Anvil
from tests.chain.fund import ETH, FundChain, deploy_fund_chain, pay
from tests.chain.live_world import ChainReplay, chain_account, chain_venues

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.logs import HEALTH
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.replay import AcceleratedClock, SleptWall
from basis_strategy.live.session import PaperSession
from basis_strategy.live.trading_state import TradingState
from basis_strategy.services.backtest import resolve_data_dir
from basis_strategy.venues.live.chain import ChainAccount

START = datetime(2025, 3, 1, tzinfo=UTC)
CYCLES = 6
CAPITAL_ETH = 60  # in the account; the operator's 1 ETH of gas is the fund's too


@pytest.fixture(scope="module")
def past_chain() -> Iterator[Anvil]:
    """A chain whose clock starts two days before the replayed window."""
    genesis = int((START - timedelta(days=2)).timestamp())
    with Anvil("--timestamp", str(genesis)) as node:
        yield node


@pytest.fixture(scope="module")
def fund(past_chain: Anvil) -> FundChain:
    return deploy_fund_chain(past_chain, capital_eth=CAPITAL_ETH)


def config_for(capital: float) -> RunConfig:
    end = START + timedelta(hours=CYCLES)
    return load_run_config(
        "eth_leveraged",
        [f"start={START.isoformat()}", f"end={end.isoformat()}",
         "staking.rewards_mode=base_only", f"initial_capital={capital!r}"],
        env={},
    )  # fmt: skip


@pytest.fixture(autouse=True)
def clean(past_chain: Anvil, fund: FundChain) -> Iterator[None]:
    snapshot_id = past_chain.snapshot()
    yield
    past_chain.revert(snapshot_id)


@dataclass
class LiveRun:
    engine: EventDrivenStrategyEngine
    session: PaperSession
    account: ChainAccount
    replay: ChainReplay
    history: HistoricalDataProvider
    config: RunConfig
    checked: list[int] = field(default_factory=list)


def live_run(fund: FundChain) -> LiveRun:
    """eth_leveraged on the fund's account, its session at 0.01 s per replayed hour; every
    cycle ends with the chain read against the book; a CRITICAL log halts it (as the
    session process does)."""
    capital = (
        sum(fund.w3.eth.get_balance(a) for a in (fund.account.address, fund.operator.address))
        / 1e18
    )
    config = config_for(capital)
    history = HistoricalDataProvider(config, resolve_data_dir(None, os.environ))
    account = chain_account(fund, config)
    engine = EventDrivenStrategyEngine(config, history, dict(chain_venues(account)))
    wall = SleptWall()
    clock = AcceleratedClock(START - timedelta(minutes=1), 3600 / 0.01, wall, wall.sleep)
    replay = ChainReplay(fund, history, account, clock.now)
    checked: list[int] = []

    def reconcile(e: EventDrivenStrategyEngine) -> None:
        account.confirm_book(e.parts.positions.quantities)
        checked.append(len(account.mined))

    session = PaperSession(
        engine, replay, clock.now, clock.sleep_until,
        HeartbeatRegistry(clock.now), name="live-chain", reconcile=reconcile,
    )  # fmt: skip
    return LiveRun(engine, session, account, replay, history, config, checked)


def test_eth_leveraged_runs_live_on_chain_reconciled_every_cycle(
    fund: FundChain, tmp_path: Path
) -> None:
    run = live_run(fund)
    engine, session, account, checked = run.engine, run.session, run.account, run.checked
    config, history = run.config, run.history
    session.run(max_cycles=CYCLES)
    assert session.cycles == CYCLES and len(checked) == CYCLES
    assert engine.parts.execution.rejections == []
    # levered on chain at the target: AAVE's own account data
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.005)
    # the book is the chain's, to the wei of every holding
    held = account.holdings()
    book = engine.parts.positions.quantities
    for key, amount in held.items():
        # (float sums of legs of ~1e3 ETH: exact to ~1e-13)
        assert book.get(key, 0.0) == pytest.approx(amount, rel=1e-12, abs=1e-12), key
    # files of the same shape as a backtest's of the same window
    live_dir = engine.write(tmp_path / "live", "live")
    backtest = EventDrivenStrategyEngine(config, history, _simulated(config, history))
    backtest.run()
    back_dir = backtest.write(tmp_path / "backtest", "backtest")
    for name in ("hourly_pnl.csv", "event_log.csv"):
        assert _header(live_dir / name) == _header(back_dir / name), name
    # a column per holding: live also holds the LST dust a bundle leaves (module chain.py)
    extra = set(_header(live_dir / "balance_sheet.csv")) - set(
        _header(back_dir / "balance_sheet.csv")
    )
    assert set(_header(back_dir / "balance_sheet.csv")) <= set(
        _header(live_dir / "balance_sheet.csv")
    )
    assert all("weETH" in column for column in extra), extra
    live_summary = json.loads((live_dir / "summary.json").read_text())
    back_summary = json.loads((back_dir / "summary.json").read_text())
    assert set(live_summary) == set(back_summary)
    events = _column(live_dir / "event_log.csv", "event_type")
    assert {"Deposited", "FlashBorrowed", "Staked", "Supplied", "Borrowed", "FlashRepaid"} <= set(
        events
    )
    assert sum(1 for e in events if e.startswith("GasPaid")) == len(account.mined)
    assert_attribution_adds_up(live_dir)


def assert_attribution_adds_up(folder: Path) -> None:
    """Every hour's P&L components add up to its balance P&L: the residual is float dust (at
    most 1e-12 of equity, measured ~2e-15) although the chain mints, lends and swaps at its own
    rates and indices, seconds after the market read (index corrections, mint discounts and
    swap outcomes are booked where they arise)."""
    equity = [float(v) for v in _column(folder / "hourly_pnl.csv", "equity")]
    residual = [float(v) for v in _column(folder / "hourly_pnl.csv", "residual")]
    assert all(abs(r) <= 1e-12 * e for r, e in zip(residual, equity, strict=True)), residual


def _simulated(config: object, history: HistoricalDataProvider) -> dict[str, object]:
    from basis_strategy.venues.simulated.build import build_simulated_venues

    return build_simulated_venues(config, history.aave_risk)  # type: ignore[arg-type]


def _header(path: Path) -> list[str]:
    with path.open() as handle:
        return next(csv.reader(handle))


def _column(path: Path, name: str) -> list[str]:
    with path.open() as handle:
        return [row[name] for row in csv.DictReader(handle)]


def drop_lst_price(fund: FundChain, fraction: float) -> None:
    """The LST's oracle price falls by `fraction` (a depeg): AAVE values the collateral less."""
    fund.market.set_price("weETH", int(fund.market.price("weETH") * (1.0 - fraction)))


def liquidate(fund: FundChain) -> None:
    """A liquidator repays as much of our WETH debt as AAVE lets it, for our weETH."""
    w3, liquidator = fund.w3, fund.anvil.accounts[2]
    pay(w3, fund.weth.functions.deposit(), liquidator, 1_000 * ETH)
    send(w3, fund.weth.functions.approve(fund.market.pool.address, 2**255), liquidator)
    call = fund.market.pool.functions.liquidationCall(
        fund.lst.address, fund.weth.address, fund.account.address, 2**256 - 1, False
    )
    send(w3, call, liquidator)


def test_health_factor_below_the_floor_deleverages(
    fund: FundChain, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """3 % off the LST's price takes the LTV from 0.91 to ~0.938, above ltv_critical 0.93 (HF
    below the floor LT / ltv_critical): CHAIN-002, and the strategy's deleverage bundle runs
    on chain in the same cycle."""
    run = live_run(fund)
    assert run.account.policy.hf_floor == pytest.approx(0.95 / 0.93)  # the chain's LT / critical
    shock_at = START + timedelta(hours=2)
    run.replay.events[shock_at] = lambda: drop_lst_price(fund, 0.03)
    run.session.run(max_cycles=4)
    assert "CHAIN-002" in {getattr(r, "code", None) for r in caplog.records}
    kinds = [e.event_type for e in run.engine.parts.logger.events if e.t == shock_at]
    assert "FlashBorrowed" in kinds and "Repaid" in kinds and "Withdrawn" in kinds
    data = run.account.account_data()
    assert data["debt_base"] / data["collateral_base"] < 0.93
    assert data["health_factor"] > 0.95 / 0.93
    assert run.engine.parts.execution.rejections == []
    assert len(run.checked) == 4  # reconciled every cycle
    assert_attribution_adds_up(run.engine.write(tmp_path, "deleveraged"))


def test_a_liquidation_on_chain_is_booked_and_halts(fund: FundChain, tmp_path: Path) -> None:
    """6 % off the LST's price: HF ~0.98 < 1, a liquidator takes half the debt (close factor
    0.5 above HF 0.95) with the e-mode bonus. The next settlement books it from the chain
    (Liquidated legs, the loss as liquidation_penalty), CHAIN-001 (CRITICAL) halts the session,
    and the book is still the chain's."""
    run = live_run(fund)
    shock_at = START + timedelta(hours=2)
    debt_before: list[float] = []

    def shock() -> None:
        drop_lst_price(fund, 0.06)
        debt_before.append(run.account.holdings()["aave_v3:debtToken:debtWETH"])
        liquidate(fund)

    run.replay.events[shock_at] = shock
    session = run.session
    remove = HEALTH.on_critical(
        lambda code, message, fields: session.emergency_stop(f"{code}: {message}")
    )
    try:
        session.run(max_cycles=4)
    finally:
        remove()
    assert session.control.state is TradingState.HALTED
    assert len(run.account.liquidations) == 1
    liquidated = [e for e in run.engine.parts.logger.events if e.event_type == "Liquidated"]
    assert len(liquidated) == 2 and all(e.t == shock_at for e in liquidated)
    book = run.engine.parts.positions.quantities
    held = run.account.holdings()
    assert book["aave_v3:debtToken:debtWETH"] == pytest.approx(
        held["aave_v3:debtToken:debtWETH"], rel=1e-12
    )
    debt_leg = next(e for e in liquidated if "debtToken" in e.instrument)
    assert -debt_leg.amount == pytest.approx(debt_before[0] / 2, rel=1e-6)  # close factor 0.5
    # the halt takes the next cycle (the gate of a cycle is the state it started in, as
    # journaled for restarts); this cycle's decision was made on the booked liquidation
    assert session.halted == [START + timedelta(hours=3)]
    assert all(e.t <= shock_at for e in run.engine.parts.logger.events
               if e.event_type != "EquityMarked")  # fmt: skip
    penalty = sum(e.pnl_amount for e in liquidated if e.pnl_component == "liquidation_penalty")
    repaid_eth = -debt_leg.amount * debt_leg.price  # scaled × borrow index
    # the loss is the e-mode bonus (1 %) on the debt repaid, in ETH
    assert -penalty == pytest.approx(0.01 * repaid_eth, rel=1e-6)
    run.account.confirm_book(book)
    assert_attribution_adds_up(run.engine.write(tmp_path, "liquidated"))


def test_a_bundle_that_reverts_on_chain_changes_nothing_and_is_one_rejection(
    fund: FundChain,
) -> None:
    """The LST's price falls 3 % (the strategy deleverages), but after the market was read
    the DEX's price falls 5 % more: the bundle's swap gets less than its minimum and the
    whole bundle reverts on chain. Nothing changes on chain or in the book, the engine logs
    one InstructionRejected with the decoded reason, and the next hour the deleverage goes
    through at the DEX's restored price (the depeg lasting)."""
    run = live_run(fund)
    shock_at, after = START + timedelta(hours=2), START + timedelta(hours=3)
    seen: dict[str, dict[str, float]] = {}

    def cut_dex_price() -> None:
        weth, lst = fund.weth.address, fund.lst.address
        price = int(fund.dex.functions.price(lst, weth).call())
        send(fund.w3, fund.dex.functions.setPrice(lst, weth, price * 95 // 100), fund.admin)
        seen["chain before"] = run.account.holdings()
        seen["book before"] = dict(run.engine.parts.positions.quantities)

    def next_hour() -> None:
        seen["chain after"] = run.account.holdings()
        seen["book after"] = dict(run.engine.parts.positions.quantities)
        drop_lst_price(fund, 0.03)  # the depeg lasts

    run.replay.events[shock_at] = lambda: drop_lst_price(fund, 0.03)
    run.replay.after_read[shock_at] = cut_dex_price
    run.replay.events[after] = next_hour
    run.session.run(max_cycles=4)
    at_shock = [e for e in run.engine.parts.logger.events
                if e.t == shock_at and e.event_type != "EquityMarked"]  # fmt: skip
    assert [e.event_type for e in at_shock] == ["InstructionRejected"]
    assert "FlashBundle rejected" in at_shock[0].note and "BelowMinimum" in at_shock[0].note
    assert seen["chain after"] == seen["chain before"]  # untouched by the reverted bundle
    assert seen["book after"] == seen["book before"]
    later = {e.event_type for e in run.engine.parts.logger.events if e.t == after}
    assert {"FlashBorrowed", "Repaid", "Swapped", "FlashRepaid"} <= later
    data = run.account.account_data()
    assert data["debt_base"] / data["collateral_base"] < 0.93
    assert len(run.checked) == 4
