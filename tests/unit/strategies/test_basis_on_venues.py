"""btc_basis started from capital on the venues (a live CEX run, `Basis.start_on_venues`):
the deposit is booked where the cash is, the entry spends it there without a transfer, scaled
to the venue that holds the least of its share, and an exit leaves the cash on the venues.

Why: a live CEX run has no on-chain wallet; a Transfer from "wallet" or to it would be an
instruction no live venue can execute. The decisions are read without executing them (the
book is seeded), so each test sees exactly what the strategy asks for.
"""

from __future__ import annotations

import pytest
from tests.unit.components.ticket_venues import market_at

from basis_strategy.components.fund import FundBooks
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor, RiskMonitor
from basis_strategy.config.loader import load_run_config
from basis_strategy.core.instructions import (
    BuySpot,
    EndGroup,
    ReceiveDeposit,
    SellSpot,
    StartFlow,
    TradePerp,
    Transfer,
)
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.strategies.basis import Basis
from basis_strategy.strategies.factory import build_strategy

BTC_USD = 60_000.0
VENUES = ("binance", "bybit", "okx")
MARKET = market_at(
    0, **{f"perp:{v}:BTCUSDT": BTC_USD for v in VENUES}, **{"price:BTC": BTC_USD, "gas_gwei": 10.0}
)


def strategy_with(cash: dict[str, float]) -> Basis:
    config = load_run_config("btc_basis", env={})
    hedge = config.mode.hedge
    assert hedge is not None
    positions = PositionMonitor()
    exposure = ExposureMonitor(positions, "USDT")
    bands = (hedge.margin_ratio_critical, hedge.margin_ratio_warning, hedge.excess)
    risk = RiskMonitor(exposure, tuple(hedge.venues), bands)
    strategy = build_strategy(config, positions, exposure, risk, FundBooks("pool").register)
    assert isinstance(strategy, Basis)
    for venue, usdt in cash.items():
        positions.apply(cash_key(venue, "USDT"), usdt, None)
    strategy.start_on_venues(cash)
    return strategy


def test_the_initial_deposit_is_booked_at_each_venue_and_spent_there() -> None:
    cash = {"binance": 80_000.0, "bybit": 10_000.0, "okx": 10_000.0}
    decided = list(strategy_with(cash).receive(100_000.0, MARKET))
    assert isinstance(decided[0], StartFlow) and decided[0].amount == 100_000.0
    deposits = [(i.venue, i.amount) for i in decided if isinstance(i, ReceiveDeposit)]
    assert deposits == list(cash.items())
    assert not [i for i in decided if isinstance(i, Transfer)]  # nothing to move
    (buy,) = [i for i in decided if isinstance(i, BuySpot)]
    assert (buy.venue, buy.quote_amount) == ("binance", pytest.approx(100_000 / 1.5))
    assert isinstance(decided[-1], EndGroup)


def test_the_entry_is_scaled_to_the_venue_holding_least_of_its_share() -> None:
    cash = {"binance": 80_000.0, "bybit": 10_000.0, "okx": 5_000.0}
    (buy,) = [i for i in strategy_with(cash).deploy(MARKET) if isinstance(i, BuySpot)]
    long_usdt = 95_000 / 1.5
    okx_share = 0.3 * 0.5 * long_usdt  # its margin: 9 500, it holds 5 000
    assert buy.quote_amount == pytest.approx(long_usdt * 5_000 / okx_share)


def test_an_exit_closes_the_legs_and_leaves_the_cash_on_the_venues() -> None:
    strategy = strategy_with({"binance": 20_000.0, "bybit": 10_000.0, "okx": 10_000.0})
    positions = strategy.positions
    positions.apply(cash_key("binance", "BTC"), 1.0, None)
    for venue, size in {"binance": -0.4, "bybit": -0.3, "okx": -0.3}.items():
        positions.apply(perp_key(venue, "BTC"), size, BTC_USD)
    decided = list(strategy.flatten(MARKET))
    assert [type(i) for i in decided] == [SellSpot, TradePerp, TradePerp, TradePerp]
    assert sum(i.size_delta for i in decided if isinstance(i, TradePerp)) == pytest.approx(1.0)
