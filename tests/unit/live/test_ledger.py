"""The fill and funding ledger: idempotent by key, order-independent, positions from fills
only (a partial fill then cancel books the partial), hand-worked average entry and P&L."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.ledger import (
    ConflictingEntryError,
    Fill,
    FundingPayment,
    Ledger,
    position_from,
)
from basis_strategy.live.orders import (
    OrderState,
    SendAcked,
    Side,
    VenueReport,
    VenueStatus,
    apply,
    new_order,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
PERP = "BTC/USDT:USDT"


def fill(
    trade_id: str, side: Side, qty: float, price: float, minute: int = 0, fee: float = 0.0,
    client_id: str | None = "c1", symbol: str = PERP,
) -> Fill:  # fmt: skip
    at = T0 + timedelta(minutes=minute)
    return Fill("binance", symbol, trade_id, client_id, side, qty, price, fee, at)


FILLS = [
    fill("1", Side.BUY, 1.0, 100.0, 0, fee=0.05),
    fill("2", Side.BUY, 1.0, 110.0, 1, fee=0.055),
    fill("3", Side.SELL, 0.5, 120.0, 2, fee=0.03),
    fill("4", Side.SELL, 2.0, 90.0, 3, fee=0.09),
]


def test_average_entry_realised_pnl_and_fees_by_hand() -> None:
    ledger = Ledger(FILLS[:2])
    assert ledger.position("binance", PERP).avg_entry_price_usdt == pytest.approx(105.0)
    ledger.add_fill(FILLS[2])  # reduce: the average stays, 0.5 x (120 - 105) is realised
    after = ledger.position("binance", PERP)
    assert after.qty_base == pytest.approx(1.5) and after.avg_entry_price_usdt == 105.0
    assert after.realized_pnl_usdt == pytest.approx(7.5)
    ledger.add_fill(FILLS[3])  # cross zero: close 1.5 at 90 (-22.5), open 0.5 short at 90
    short = ledger.position("binance", PERP)
    assert short.qty_base == pytest.approx(-0.5) and short.avg_entry_price_usdt == 90.0
    assert short.realized_pnl_usdt == pytest.approx(-15.0)
    assert short.fees_usdt == pytest.approx(0.225)


def test_a_short_closed_at_a_lower_price_realises_a_gain_and_is_flat() -> None:
    fills = [fill("1", Side.SELL, 2.0, 100.0), fill("2", Side.BUY, 2.0, 90.0, 1)]
    position = position_from("binance", PERP, fills)
    assert position.flat and position.qty_base == 0.0 and position.avg_entry_price_usdt == 0.0
    assert position.realized_pnl_usdt == pytest.approx(20.0)


def test_float_residue_of_a_closed_position_is_flat() -> None:
    fills = [fill(str(n), Side.BUY, 0.1, 100.0, n) for n in range(3)]
    position = position_from("binance", PERP, [*fills, fill("9", Side.SELL, 0.3, 100.0, 9)])
    assert position.qty_base == 0.0 and position.flat


def test_replaying_every_fill_twice_changes_nothing() -> None:
    ledger = Ledger(FILLS)
    before = ledger.position("binance", PERP)
    assert [ledger.add_fill(f) for f in FILLS] == [False] * len(FILLS)
    assert ledger.position("binance", PERP) == before and len(ledger.fills) == len(FILLS)


def test_the_arrival_order_of_fills_does_not_matter() -> None:
    expected = Ledger(FILLS).position("binance", PERP)
    for seed in range(5):
        shuffled = FILLS[:]
        random.Random(seed).shuffle(shuffled)
        assert Ledger(shuffled).position("binance", PERP) == expected


def test_fills_of_one_millisecond_apply_in_numeric_trade_id_order() -> None:
    """Trade ids 8, 9, 10 at the same time: bought 1 at 100 and 1 at 120, then sold 1 at
    110 (nothing realised at the 110 average). In text order "10" < "8" the sale would come
    first and realise +10 on a short."""
    fills = [fill("10", Side.SELL, 1.0, 110.0), fill("9", Side.BUY, 1.0, 120.0),
             fill("8", Side.BUY, 1.0, 100.0)]  # fmt: skip
    position = position_from("binance", PERP, fills)
    assert position.qty_base == 1.0
    assert position.realized_pnl_usdt == 0.0 and position.avg_entry_price_usdt == 110.0
    assert [f.trade_id for f in Ledger(fills).fills] == ["8", "9", "10"]


def test_a_different_fill_under_a_booked_key_is_an_error() -> None:
    ledger = Ledger(FILLS[:1])
    with pytest.raises(ConflictingEntryError, match="fill"):
        ledger.add_fill(fill("1", Side.BUY, 2.0, 100.0, 0, fee=0.05))
    assert ledger.position("binance", PERP).qty_base == 1.0


def test_the_same_trade_id_on_two_symbols_is_two_fills() -> None:
    # Binance and OKX number trades per instrument
    ledger = Ledger([fill("77", Side.BUY, 1.0, 100.0), fill("77", Side.SELL, 3.0, 2000.0,
                                                            symbol="ETH/USDT:USDT")])  # fmt: skip
    assert ledger.position("binance", PERP).qty_base == 1.0
    assert ledger.position("binance", "ETH/USDT:USDT").qty_base == -3.0


def test_a_partial_fill_then_cancel_books_only_the_partial() -> None:
    order = new_order("live-1", 0, 0, "binance", PERP, Side.BUY, 2.0, 100.0, T0)
    order = apply(order, SendAcked("v-1"), T0)
    order = apply(order, VenueReport(VenueStatus.PARTIALLY_FILLED, 0.6), T0)
    order = apply(order, VenueReport(VenueStatus.CANCELED, 0.6), T0)
    ledger = Ledger([fill("5", Side.BUY, 0.6, 100.0, client_id=order.client_order_id)])
    assert order.state is OrderState.CANCELED and order.qty_base == 2.0
    assert ledger.filled_qty_base(order.client_order_id) == pytest.approx(0.6)
    assert ledger.position("binance", PERP).qty_base == pytest.approx(0.6)
    assert ledger.unbooked_qty_base(order) == pytest.approx(0.0)


def test_fills_the_venue_reports_but_the_ledger_lacks_are_visible_not_booked() -> None:
    order = new_order("live-1", 0, 0, "binance", PERP, Side.BUY, 2.0, 100.0, T0)
    order = apply(order, VenueReport(VenueStatus.FILLED, 2.0), T0)
    ledger = Ledger([fill("5", Side.BUY, 0.5, 100.0, client_id=order.client_order_id)])
    assert ledger.unbooked_qty_base(order) == pytest.approx(1.5)
    assert ledger.position("binance", PERP).qty_base == pytest.approx(0.5)


def test_funding_is_booked_once_per_venue_symbol_and_time() -> None:
    paid = FundingPayment("bybit", PERP, T0, -1.25)
    ledger = Ledger(funding=[paid, FundingPayment("bybit", PERP, T0 + timedelta(hours=8), 0.5)])
    assert ledger.add_funding(paid) is False
    assert ledger.position("bybit", PERP).funding_usdt == pytest.approx(-0.75)
    assert ledger.position("bybit", PERP).qty_base == 0.0
    with pytest.raises(ConflictingEntryError, match="funding"):
        ledger.add_funding(FundingPayment("bybit", PERP, T0, -1.5))
    assert set(ledger.positions()) == {("bybit", PERP)}


def test_entries_refuse_naive_times_and_nonsense_quantities() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Fill("okx", PERP, "1", None, Side.BUY, 1.0, 100.0, 0.0, datetime(2025, 3, 1))
    with pytest.raises(ValueError, match="qty_base and price_usdt must be > 0"):
        fill("1", Side.BUY, 0.0, 100.0)
    with pytest.raises(ValueError, match="trade_id"):
        fill("", Side.BUY, 1.0, 100.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        FundingPayment("okx", PERP, datetime(2025, 3, 1), 1.0)
