"""The tight loop (ADR-001): execution manager -> venue interface manager -> venue -> event
logger / position monitor -> reconciliation; and flows priced at NAV per share (domain 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from basis_strategy.components.execution import (
    EventLogger,
    ExecutionManager,
    PositionUpdateHandler,
    Reconciliation,
    VenueInterfaceManager,
)
from basis_strategy.components.fund import FundBooks
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor
from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import (
    ExecutionResult,
    Leg,
    PayWithdrawal,
    ReceiveDeposit,
    SupplyToAave,
    TradePerp,
    Transfer,
)
from basis_strategy.data.market import FundingRate, MarketState
from basis_strategy.venues.interface import VenueInterface
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.cex import SimulatedCex
from basis_strategy.venues.simulated.chain import SimulatedWallet

T0 = datetime(2024, 6, 1, 8, tzinfo=UTC)
VALUES = {
    "price:ETH": 3000.0,
    "price:BTC": 60000.0,
    "perp:binance:BTCUSDT": 59990.0,
    "perp:bybit:BTCUSDT": 60010.0,
    "perp:okx:BTCUSDT": 60005.0,
    "gas_gwei": 10.0,
    "aave_li:USDT": 1.1,
    "aave_bi:USDT": 1.2,
    "aave_lr:USDT": 0.05,
}


def market(funding: tuple[FundingRate, ...] = ()) -> MarketState:
    return MarketState(T0, 0, dict(VALUES), funding)


class Loop:
    """An execution manager over freshly built simulated venues (btc_basis + aave_v3)."""

    def __init__(self) -> None:
        config = load_run_config(
            "btc_basis", ["venues=[binance, bybit, okx, uniswap, alchemy, aave_v3]"], env={}
        )
        self.venues: dict[str, VenueInterface] = build_simulated_venues(config)
        self.positions = PositionMonitor()
        self.exposure = ExposureMonitor(self.positions, "USDT")
        self.logger = EventLogger("USDT")
        self.shares = FundBooks("pool")
        self.reconciliation = Reconciliation(self.positions)
        updates = PositionUpdateHandler(self.positions, self.logger, self.reconciliation, "USDT")
        self.manager = ExecutionManager(
            VenueInterfaceManager(self.venues), updates, self.exposure, self.shares
        )

    def deposit(self, amount: float, asset: str = "USDT") -> None:
        self.manager.run(
            ReceiveDeposit(
                venue="wallet", action="flow", trigger="deposit", asset=asset, amount=amount
            ),
            market(),
        )

    def seed_eth(self, eth: float) -> None:
        """Put gas ETH in the wallet on both sides (venue ledger and book)."""
        leg = Leg("wallet:BaseToken:ETH", eth, "Seeded")
        wallet = self.venues["wallet"]
        assert isinstance(wallet, SimulatedWallet)
        wallet.ledger.apply((leg,))
        self.positions.apply(leg.instrument, eth, None)


def wallet_to_binance(amount: float) -> Transfer:
    return Transfer(
        venue="wallet",
        action="entry_full",
        trigger="deploy",
        destination="binance",
        asset="USDT",
        amount=amount,
    )


def test_transfer_runs_the_tight_loop() -> None:
    loop = Loop()
    loop.deposit(100_000.0)
    loop.seed_eth(0.05)
    checks = loop.reconciliation.checks
    first = len(loop.logger.events)
    loop.manager.run(wallet_to_binance(60_000.0), market())
    events = loop.logger.events[first:]
    # wallet USDT out, gas paid in ETH, then binance credits what arrived (no fee on-chain).
    assert [e.event_type for e in events] == [
        "TransferSent",
        "GasPaid:erc20_transfer",
        "TransferReceived",
    ]
    assert [e.instrument for e in events] == [
        "wallet:BaseToken:USDT",
        "wallet:BaseToken:ETH",
        "binance:BaseToken:USDT",
    ]
    assert [e.seq for e in loop.logger.events] == list(range(1, len(loop.logger.events) + 1))
    assert len({e.bundle_id for e in events}) == 1
    assert events[0].bundle_id > loop.logger.events[first - 1].bundle_id
    assert all(e.t == T0 and e.note == "entry_full:deploy" for e in events)
    assert [e.venue for e in events] == ["wallet", "wallet", "binance"]
    for event in events:
        assert event.after_qty == loop.positions.qty(event.instrument)
    assert loop.positions.qty("wallet:BaseToken:USDT") == 40_000.0
    assert loop.positions.qty("binance:BaseToken:USDT") == 60_000.0
    gas_eth = 100_000 * 10.0 * 1e-9
    assert loop.positions.qty("wallet:BaseToken:ETH") == pytest.approx(0.05 - gas_eth)
    assert events[1].pnl_component == "gas"
    assert events[1].pnl_amount == pytest.approx(-gas_eth * 3000.0)
    assert loop.logger.hour_pnl == {"gas": pytest.approx(-gas_eth * 3000.0)}
    assert loop.reconciliation.checks == checks + 2  # once per venue result
    for name in ("wallet", "binance"):
        for key, qty in loop.venues[name].positions().items():
            assert loop.positions.qty(key) == qty
    assert loop.manager.instructions == 2


def test_deposit_is_a_flow_and_mints_shares() -> None:
    loop = Loop()
    loop.deposit(100_000.0)
    (event,) = loop.logger.events
    assert (event.event_type, event.pnl_component, event.pnl_amount) == (
        "Deposited",
        "flow",
        100_000.0,
    )
    assert loop.logger.hour_flow == 100_000.0
    assert loop.logger.hour_pnl == {}
    assert loop.shares.shares == 100_000.0


def test_perp_trade_entry_is_logged() -> None:
    loop = Loop()
    loop.deposit(20_000.0)
    loop.seed_eth(0.05)
    loop.manager.run(wallet_to_binance(20_000.0), market())
    loop.manager.run(  # notional 5,999 USDT < $10k: 3 bps slippage
        TradePerp(venue="binance", action="entry_full", trigger="t", base="BTC", size_delta=-0.1),
        market(),
    )
    perp, cash = loop.logger.events[-2:]
    assert perp.bundle_id == cash.bundle_id
    assert perp.after_qty == -0.1 == loop.positions.qty("binance:Perp:BTCUSDT")
    assert perp.after_entry == loop.positions.entries["binance:Perp:BTCUSDT"]
    assert perp.after_entry == pytest.approx(59_990.0 * (1 - 0.0003))
    assert perp.pnl_component == "execution_costs"
    assert cash.after_qty == loop.positions.qty("binance:BaseToken:USDT")
    assert cash.after_entry != cash.after_entry  # NaN: no entry for a cash balance


def test_cex_withdrawal_arrives_net_of_fee() -> None:
    loop = Loop()
    loop.deposit(10_000.0)
    loop.seed_eth(0.05)
    loop.manager.run(wallet_to_binance(10_000.0), market())
    loop.manager.run(
        Transfer(
            venue="binance",
            action="exit_full",
            trigger="t",
            destination="wallet",
            asset="USDT",
            amount=5_000.0,
        ),
        market(),
    )
    assert loop.positions.qty("binance:BaseToken:USDT") == 5_000.0
    assert loop.positions.qty("wallet:BaseToken:USDT") == 4_999.0
    assert loop.logger.hour_pnl["execution_costs"] == -1.0


def test_rejected_instruction_changes_nothing_and_is_logged() -> None:
    loop = Loop()
    loop.deposit(1_000.0)
    events, quantities = len(loop.logger.events), dict(loop.positions.quantities)
    loop.manager.run(wallet_to_binance(1_000.01), market())
    assert loop.positions.quantities == quantities
    assert len(loop.logger.events) == events + 1
    refused = loop.logger.events[-1]
    assert (refused.event_type, refused.instrument, refused.amount) == (
        "InstructionRejected",
        "",
        0.0,
    )
    assert "Transfer rejected: wallet:BaseToken:USDT: needs 1000.01" in refused.note
    assert loop.manager.rejections == [f"{market().t.isoformat()} {refused.note.split(';')[1]}"]


def test_settle_logs_funding_and_reconciles() -> None:
    loop = Loop()
    loop.deposit(20_000.0)
    loop.seed_eth(0.05)
    loop.manager.run(wallet_to_binance(20_000.0), market())
    loop.manager.run(
        TradePerp(venue="binance", action="entry_full", trigger="t", base="BTC", size_delta=-0.2),
        market(),
    )
    loop.logger.start_hour()
    checks, usdt = loop.reconciliation.checks, loop.positions.qty("binance:BaseToken:USDT")
    loop.manager.settle(
        market((FundingRate("binance", "BTC", 1e-4), FundingRate("bybit", "BTC", 1e-4)))
    )
    event = loop.logger.events[-1]
    assert (event.event_type, event.note, event.pnl_component) == (
        "FundingSettled",
        "settlement",
        "funding",
    )
    assert event.pnl_amount == pytest.approx(0.2 * 59_990 * 1e-4)
    assert loop.positions.qty("binance:BaseToken:USDT") == pytest.approx(usdt + 0.2 * 59_990 * 1e-4)
    assert loop.logger.hour_pnl == {"funding": pytest.approx(0.2 * 59_990 * 1e-4)}
    assert loop.reconciliation.checks == checks + 1  # bybit has no position: nothing to settle


def test_route_credits_a_transfer_at_its_destination() -> None:
    loop = Loop()
    loop.deposit(1_000.0)
    manager = VenueInterfaceManager(loop.venues)
    order = Transfer(
        venue="wallet",
        action="entry_full",
        trigger="t",
        destination="okx",
        asset="USDT",
        amount=400.0,
    )
    done = manager.route(order, market())
    assert [venue for venue, _ in done] == [loop.venues["wallet"], loop.venues["okx"]]
    assert done[1][1].legs[0].amount == 400.0  # ERC-20 transfers arrive whole (gas is ETH)
    assert [v.name for v in manager.settling] == sorted(loop.venues)


# --- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_detects_a_tampered_ledger() -> None:
    loop = Loop()
    loop.deposit(100_000.0)
    loop.seed_eth(0.05)
    loop.manager.run(wallet_to_binance(60_000.0), market())
    binance = loop.venues["binance"]
    assert isinstance(binance, SimulatedCex)
    keys = ["binance:BaseToken:USDT"]
    loop.reconciliation.check(binance, keys)  # in sync: passes
    binance.ledger.quantities["binance:BaseToken:USDT"] += 60_000.0 * 1e-6  # within 1e-4 rel
    loop.reconciliation.check(binance, keys)
    binance.ledger.quantities["binance:BaseToken:USDT"] += 10.0
    with pytest.raises(OperationalError, match="binance:BaseToken:USDT"):
        loop.reconciliation.check(binance, keys)


def test_reconciliation_detects_a_missing_key_and_an_unknown_one() -> None:
    loop = Loop()
    loop.deposit(1_000.0)
    wallet = loop.venues["wallet"]
    assert isinstance(wallet, SimulatedWallet)
    del wallet.ledger.quantities["wallet:BaseToken:USDT"]
    with pytest.raises(OperationalError, match="wallet:BaseToken:USDT"):
        loop.reconciliation.check(wallet, ["wallet:BaseToken:USDT"])
    wallet.ledger.quantities["wallet:BaseToken:USDT"] = 1_000.0
    wallet.ledger.quantities["wallet:BaseToken:BTC"] = 1.0  # the book holds none
    with pytest.raises(OperationalError, match="wallet:BaseToken:BTC"):
        loop.reconciliation.check(wallet, ["wallet:BaseToken:USDT", "wallet:BaseToken:BTC"])


def test_tight_loop_halts_when_the_venue_disagrees() -> None:
    loop = Loop()
    loop.deposit(10_000.0)
    loop.seed_eth(0.05)
    wallet = loop.venues["wallet"]
    assert isinstance(wallet, SimulatedWallet)
    wallet.ledger.quantities["wallet:BaseToken:USDT"] += 500.0  # the venue holds more than the book
    with pytest.raises(OperationalError, match="reconciliation mismatch on wallet:BaseToken:USDT"):
        loop.manager.run(
            SupplyToAave(
                venue="aave_v3", action="entry_full", trigger="t", asset="USDT", amount=1_000.0
            ),
            market(),
        )


# --- event logger ---------------------------------------------------------------------------


def test_event_logger_converts_pnl_to_share_class_units() -> None:
    positions, logger = PositionMonitor(), EventLogger("ETH")
    at = market()
    legs = (
        Leg("okx:BaseToken:USDT", 30.0, "FundingSettled", 1.0, "funding", 30.0, "USDT"),
        Leg("wallet:BaseToken:ETH", -0.01, "GasPaid", 10.0, "gas", -0.01, "ETH"),
        Leg("wallet:BaseToken:ETH", 2.0, "Deposited", 1.0, "flow", 2.0, "ETH"),
    )
    venues = build_simulated_venues(load_run_config("btc_basis", env={}))
    updates = PositionUpdateHandler(positions, logger, Reconciliation(positions), "ETH")
    for venue, leg in zip((venues["okx"], venues["wallet"], venues["wallet"]), legs, strict=True):
        venue.ledger.apply((leg,))  # type: ignore[attr-defined]
        updates.apply(ExecutionResult((leg,)), venue, at, logger.new_bundle(), "n")
    assert [e.pnl_amount for e in logger.events] == pytest.approx([0.01, -0.01, 2.0])
    assert logger.hour_pnl == pytest.approx({"funding": 0.01, "gas": -0.01})
    assert logger.hour_flow == 2.0
    assert [e.after_qty for e in logger.events] == pytest.approx([30.0, -0.01, 1.99])
    logger.start_hour()
    assert (logger.hour_pnl, logger.hour_flow) == ({}, 0.0)
    logger.log_mark(T0, 1.5, {"wallet:BaseToken:ETH": (1.0, 1.0, 1.0)})
    mark = logger.events[-1]
    assert (mark.seq, mark.event_type, mark.amount, mark.bundle_id) == (4, "EquityMarked", 1.5, 0)
    assert mark.marks == {"wallet:BaseToken:ETH": (1.0, 1.0, 1.0)}


# --- flows ------------------------------------------------------------------------------------


def test_execution_manager_prices_flows_at_pre_flow_nav() -> None:
    loop = Loop()
    loop.deposit(100_000.0)
    # The wallet earns 10%: lift both sides by the same 10,000 USDT (as a settlement would).
    gain = Leg("wallet:BaseToken:USDT", 10_000.0, "Seeded")
    wallet = loop.venues["wallet"]
    assert isinstance(wallet, SimulatedWallet)
    wallet.ledger.apply((gain,))
    loop.positions.apply(gain.instrument, gain.amount, None)
    loop.deposit(11_000.0)  # NAV 1.1 → 10,000 shares
    assert loop.shares.shares == pytest.approx(110_000.0, rel=1e-15)
    loop.manager.run(
        PayWithdrawal(
            venue="wallet", action="flow", trigger="withdrawal", asset="USDT", amount=22_000.0
        ),
        market(),
    )
    assert loop.shares.shares == pytest.approx(90_000.0, rel=1e-15)
    assert loop.positions.qty("wallet:BaseToken:USDT") == pytest.approx(99_000.0)
    assert loop.logger.hour_flow == pytest.approx(100_000.0 + 11_000.0 - 22_000.0)
