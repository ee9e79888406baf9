"""The strategies' LST leg builds the domain 10 flash bundles; the real venues execute them.

Each test asks `LstLeg` for a recipe, runs it through the simulated venues of the mode
(`build_simulated_venues`), mirrors the legs into a position monitor, and checks the book.
"""

from __future__ import annotations

import math
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
from basis_strategy.core.instructions import FlashBundle, Instruction, ReceiveDeposit, SetEmode
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.math.leverage import flash_entry
from basis_strategy.strategies.lst import LstLeg
from basis_strategy.venues.simulated.build import build_simulated_venues

EMODE = AaveRisk(max_ltv=0.93, liquidation_threshold=0.95, liquidation_bonus=0.01)
RHO = 1.05
A_WEETH = "aave_v3:aToken:aweETH"
DEBT = "aave_v3:debtToken:debtWETH"
WALLET_ETH = "wallet:BaseToken:ETH"


def market(**changes: float) -> MarketState:
    values = {
        "price:ETH": 3000.0,
        "lst_rate:weETH": RHO,
        "lst_market:weETH": RHO,
        "aave_li:weETH": 1.0,
        "aave_bi:WETH": 1.0,
        "gas_gwei": 10.0,
        **changes,
    }
    return MarketState(datetime(2024, 8, 1, tzinfo=UTC), 0, values, ())


class Book:
    """The eth_leveraged venues and a position monitor kept in step with them."""

    def __init__(self, *sets: str) -> None:
        config = load_run_config("eth_leveraged", list(sets), env={})
        self.venues = build_simulated_venues(config, lambda asset, emode: EMODE)
        self.positions = PositionMonitor()
        self.leg = LstLeg(config, self.positions)

    def run(self, instructions, m: MarketState) -> list[Instruction]:
        done = []
        for instruction in instructions:  # a generator: each step sees the book left before
            result = self.venues[instruction.venue].execute(instruction, m)
            for leg in result.legs:
                self.positions.apply(leg.instrument, leg.amount, leg.entry_after)
            done.append(instruction)
        return done

    def fund(self, eth: float) -> None:
        self.positions.apply(WALLET_ETH, eth, None)
        self.venues["wallet"].ledger.quantities[WALLET_ETH] = eth  # type: ignore[attr-defined]


NO_COSTS = ("costs.gas=false", "costs.execution=false")


def test_entry_with_ten_eth_matches_domain_10_1() -> None:
    """E = 10 ETH, λ 0.91, ρ 1.05, no fees or gas: flash = debt = 101.11 WETH, collateral
    worth 111.11 ETH (105.82 weETH), HF = 1.044."""
    book = Book(*NO_COSTS)
    book.fund(10.0)
    m = market()
    done = book.run(book.leg.enter(10.0, "entry_full", "deploy", m), m)
    assert isinstance(done[0], SetEmode)
    bundle = done[1]
    assert isinstance(bundle, FlashBundle) and bundle.kind == "entry"
    assert bundle.amount == pytest.approx(10 * 0.91 / 0.09, rel=1e-12)
    assert round(bundle.amount, 2) == 101.11
    debt = book.positions.qty(DEBT)
    assert round(debt, 2) == 101.11 and debt == pytest.approx(bundle.amount, rel=1e-12)
    collateral_units = book.positions.qty(A_WEETH)
    assert round(collateral_units, 2) == 105.82
    assert round(collateral_units * RHO, 2) == 111.11
    hf = 0.95 * collateral_units * RHO / debt
    assert round(hf, 3) == 1.044
    assert book.positions.qty(WALLET_ETH) == pytest.approx(0.0, abs=1e-12)
    assert book.leg.ltv(m) == pytest.approx(0.91, rel=1e-12)


def test_deleverage_relever_partial_and_full_exit_keep_their_targets() -> None:
    book = Book(*NO_COSTS)
    book.fund(10.0)
    m = market()
    book.run(book.leg.enter(10.0, "entry_full", "deploy", m), m)
    shocked = market(**{"lst_rate:weETH": RHO * 0.975, "lst_market:weETH": RHO * 0.975})
    assert book.leg.ltv(shocked) == pytest.approx(0.91 / 0.975, rel=1e-12)
    equity = book.leg.net_eth(shocked)
    book.run(book.leg.deleverage(0.91, "ltv_critical", shocked), shocked)
    assert book.leg.ltv(shocked) == pytest.approx(0.91, rel=1e-9)
    assert book.leg.net_eth(shocked) + book.positions.qty(WALLET_ETH) == pytest.approx(equity)
    up = market(**{"lst_rate:weETH": RHO * 1.03, "lst_market:weETH": RHO * 1.03})
    book.run(book.leg.relever("ltv_band", up), up)
    assert book.leg.ltv(up) == pytest.approx(0.91, rel=1e-9)
    before = book.leg.net_eth(up)
    wallet = book.positions.qty(WALLET_ETH)
    book.run(book.leg.release(2.0, "exit_partial", "withdrawal", up), up)
    assert book.positions.qty(WALLET_ETH) - wallet == pytest.approx(2.0, rel=1e-9)
    assert book.leg.net_eth(up) == pytest.approx(before - 2.0, rel=1e-9)
    assert book.leg.ltv(up) == pytest.approx(0.91, rel=1e-9)
    book.run(book.leg.close("exit_full", "withdrawal", up), up)
    assert book.positions.qty(DEBT) == pytest.approx(0.0, abs=1e-12)
    assert book.positions.qty(A_WEETH) == pytest.approx(0.0, abs=1e-12)
    assert book.positions.qty(WALLET_ETH) == pytest.approx(before, rel=1e-9)


def test_with_costs_the_sale_is_sized_so_the_flash_is_repaid() -> None:
    """With pool fee and slippage, a deleverage sells at p' < ρ_mkt; the recipe sizes the
    sale with the same costs the DEX charges, so the bundle is never refused."""
    book = Book()
    book.fund(100.0)
    m = market(**{"lst_market:weETH": RHO * 0.997})
    book.run(book.leg.enter(100.0, "entry_full", "deploy", m), m)
    assert book.leg.ltv(m) == pytest.approx(0.91, rel=1e-12)
    shocked = market(**{"lst_rate:weETH": RHO * 0.97, "lst_market:weETH": RHO * 0.967})
    done = book.run(book.leg.deleverage(0.91, "ltv_critical", shocked), shocked)
    assert isinstance(done[0], FlashBundle)  # a Wrap of leftover WETH dust may follow
    assert book.leg.ltv(shocked) == pytest.approx(0.91, abs=1e-6)
    assert not math.isnan(book.positions.qty(WALLET_ETH))


def test_a_bundle_the_venues_refuse_is_logged_and_changes_nothing() -> None:
    """A flash entry sized for λ 0.95 borrows above the e-mode max LTV (0.93): the whole
    bundle is refused, the book is untouched, and the event log holds one
    InstructionRejected row naming the failing step (ADR-020)."""
    config = load_run_config("eth_leveraged", list(NO_COSTS), env={})
    venues = build_simulated_venues(config, lambda asset, emode: EMODE)
    positions = PositionMonitor()
    logger = EventLogger("ETH")
    updates = PositionUpdateHandler(positions, logger, Reconciliation(positions), "ETH")
    exposure = ExposureMonitor(positions, "ETH")
    manager = ExecutionManager(VenueInterfaceManager(venues), updates, exposure, FundBooks("pool"))
    m = market()
    manager.run(
        ReceiveDeposit(venue="wallet", action="flow", trigger="deposit", asset="ETH", amount=10),
        m,
    )
    leg = LstLeg(config, positions)
    too_far = flash_entry(10.0, 0.95, RHO, 0.95).flash_weth
    steps = leg.lever_steps(10.0 + too_far, too_far, "entry_full", "deploy", m)
    book_before, events_before = dict(positions.quantities), len(logger.events)
    manager.run(leg.bundle("entry", too_far, steps, "atomic_entry", "entry_full", "deploy"), m)
    assert positions.quantities == book_before
    assert len(logger.events) == events_before + 1
    refused = logger.events[-1]
    assert refused.event_type == "InstructionRejected" and refused.venue == "morpho"
    assert "entry bundle rejected at step" in refused.note and "Borrow" in refused.note
    assert manager.rejections and "FlashBundle rejected" in manager.rejections[0]
