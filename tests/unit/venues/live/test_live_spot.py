"""LiveCex spot trades (BuySpot, SellSpot) on the Binance spot fake through ccxt's real
client, with the USDⓈ-M fake serving the futures wallet of the same account, and a LiveStore
on a temporary SQLite file.

Why: a spot order must keep the perp path's rules (INTENDED before sending, query by client id
before any resend, fills booked once) and the book's one USDT balance must stay the sum of the
two Binance wallets while USDT moves between them. Each test checks what the fakes hold (how
many orders were placed, which wallet holds the USDT) and what the store booked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.binance_spot import ORDER, TRANSFER, BinanceSpotFake
from tests.fakes.binance_usdm import BinanceUsdmFake, default_state
from tests.fakes.ccxt_client import binance_client, binance_spot_client
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import COSTS_ON, cex_config, market, seed

from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import BuySpot, Leg, SellSpot, TradePerp
from basis_strategy.live.orders import OrderState, Side, new_order
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings
from basis_strategy.venues.simulated.cex import SimulatedCex

STRATEGY = "live-eth-basis-1"
QUERY = "GET /api/v3/order"
SPOT = "ETH/USDT"
USDT, ETH = "binance:BaseToken:USDT", "binance:BaseToken:ETH"
FEE_RATE = 0.001  # the fake's spot taker fee, as Binance's
REFERENCE = 2990.0  # the hour's ETH reference price; the fake fills at 3 000
MARKET = market(**{"price:ETH": REFERENCE})
BUY = BuySpot(venue="binance", action="entry_full", trigger="initial", base="ETH",
              quote_amount=1000.0)  # fmt: skip
# 1 000 USDT at 3 000 buys 0.3333 ETH (whole 0.0001 lots) for 999.9 USDT; the fee is 0.1 %
# of the ETH bought, so 0.3329667 ETH arrives
BOUGHT_ETH, PAID_USDT = 0.3333, 999.9
FEE_ETH = BOUGHT_ETH * FEE_RATE


@dataclass
class Account:
    """The two Binance wallets of one account, served by two fakes on one state."""

    futures: BinanceUsdmFake
    spot: BinanceSpotFake

    @property
    def futures_usdt(self) -> Decimal:
        return self.futures.state.wallet_balance_quote

    def spot_balance(self, asset: str) -> Decimal:
        return self.spot.spot.balance(asset)

    def sends(self) -> int:
        return self.spot.paths_called().count(ORDER)

    def transfers(self) -> list[tuple[str, str, Decimal]]:
        return [(t[1], t[2], t[3]) for t in self.spot.spot.transfers]


@pytest.fixture
def account() -> Iterator[Account]:
    state = default_state()  # 10 000 USDT in the futures wallet, the spot wallet empty
    with BinanceUsdmFake(state) as futures, BinanceSpotFake(state) as spot:
        yield Account(futures, spot)


def live(account: Account, store: LiveStore, sleeps: Sleeps | None = None, **kw: Any) -> LiveCex:
    """A prepared LiveCex for binance with its spot client (10 000 USDT opening balance)."""
    venue = LiveCex(
        cex_config("binance"),
        binance_client(account.futures),
        store,
        STRATEGY,
        settings=LiveCexSettings(poll_interval_s=0.05, **kw),
        sleep=sleeps if sleeps is not None else Sleeps(),
        opening_usdt=10_000.0,
        spot_client=binance_spot_client(account.spot),
    )
    venue.prepare()
    return venue


def assert_bought_1000_usdt_of_eth(legs: tuple[Leg, ...]) -> None:
    """The buy's legs equal its fill: 0.3333 ETH at 3 000, fee 0.0003333 ETH (valued at the
    reference price), gap to the reference 0.3333 × (3 000 - 2 990)."""
    cash, coin = legs
    fee_usdt, gap_usdt = FEE_ETH * REFERENCE, BOUGHT_ETH * (3000 - REFERENCE)
    assert (cash.instrument, cash.amount, cash.price) == (USDT, pytest.approx(-PAID_USDT), 3000)
    assert cash.pnl_native == pytest.approx(-(fee_usdt + gap_usdt))
    assert cash.detail == f"fee={fee_usdt:.12g};slippage={gap_usdt:.12g};discount=0"
    assert (coin.instrument, coin.amount, coin.price) == (
        ETH, pytest.approx(BOUGHT_ETH - FEE_ETH), 3000,
    )  # fmt: skip
    # equity at the reference price moves by exactly -cost
    assert cash.amount + coin.amount * REFERENCE == pytest.approx(cash.pnl_native)


def booked(store: LiveStore) -> list[tuple[str, float, float, float]]:
    return [(f.symbol, f.signed_qty_base, f.fee_base, f.fee_usdt)
            for f in store.ledger(STRATEGY).fills]  # fmt: skip


# -- buying and selling ----------------------------------------------------------------------


def test_buy_spends_the_quote_amount_with_the_simulated_venues_legs(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    assert venue.spot is not None
    stored_at_send: list[OrderState | None] = []
    send = venue.spot.client.create_order

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = store.order(args[5]["clientOrderId"])
        stored_at_send.append(None if found is None else found.state)
        return send(*args, **kwargs)

    venue.spot.client.create_order = spy  # type: ignore[method-assign]
    legs = venue.execute(BUY, MARKET).legs
    assert stored_at_send == [OrderState.INTENDED]  # the intent was on disk before the send
    simulated = SimulatedCex(cex_config("binance"), COSTS_ON)
    seed(simulated.ledger, {USDT: 10_000.0})

    def shape(leg: Leg) -> tuple[object, ...]:
        sign = (leg.amount > 0) - (leg.amount < 0)
        return leg.instrument, sign, leg.event_type, leg.pnl_component, leg.pnl_asset

    assert [shape(leg) for leg in legs] == [
        shape(leg) for leg in simulated.execute(BUY, MARKET).legs
    ]
    assert_bought_1000_usdt_of_eth(legs)
    (order,) = store.orders(STRATEGY)
    assert (order.state, order.symbol, order.side, order.quote_qty_usdt) == (
        OrderState.FILLED, SPOT, Side.BUY, 1000.0,
    )  # fmt: skip
    assert booked(store) == [(SPOT, BOUGHT_ETH, pytest.approx(FEE_ETH), 0.0)]
    assert venue.positions() == {ETH: pytest.approx(BOUGHT_ETH - FEE_ETH),
                                 USDT: pytest.approx(10_000 - PAID_USDT)}  # fmt: skip


def test_usdt_moves_to_spot_for_a_buy_and_back_after_it(account: Account, store: LiveStore) -> None:
    venue = live(account, store)
    venue.execute(BUY, MARKET)
    # exactly the quote amount went to spot; the unspent 0.1 came back
    assert account.transfers() == [
        ("UMFUTURE", "MAIN", Decimal(1000)), ("MAIN", "UMFUTURE", Decimal("0.1")),
    ]  # fmt: skip
    assert account.spot_balance("USDT") == 0
    assert account.futures_usdt == Decimal(10_000) - Decimal("999.9")
    assert account.spot_balance("ETH") == Decimal("0.3333") * Decimal("0.999")


def test_spot_usdt_already_in_the_spot_wallet_is_used_first(
    account: Account, store: LiveStore
) -> None:
    account.spot.spot.balances["USDT"] = Decimal(400)
    venue = LiveCex(cex_config("binance"), binance_client(account.futures), store, STRATEGY,
                    sleep=Sleeps(), opening_usdt=10_400.0,
                    spot_client=binance_spot_client(account.spot))  # fmt: skip
    venue.prepare()
    assert_bought_1000_usdt_of_eth(venue.execute(BUY, MARKET).legs)
    assert account.transfers()[0] == ("UMFUTURE", "MAIN", Decimal(600))  # the shortfall only
    assert account.spot_balance("USDT") == 0
    assert venue.positions()[USDT] == pytest.approx(10_400 - PAID_USDT)
    assert venue.reconcile(venue.positions()) == []  # the book's USDT = both wallets


def test_sell_receives_the_fills_less_the_usdt_fee_and_moves_it_to_futures(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    venue.execute(BUY, MARKET)
    account.spot.spot.add_market("ETHUSDT", "ETH", Decimal(3100), Decimal("0.0001"))
    sell = SellSpot(
        venue="binance", action="exit_full", trigger="exit", base="ETH", base_amount=0.33299
    )  # fmt: skip  (cut to the 0.0001 lot: 0.3329)
    coin, cash = venue.execute(sell, market(1, **{"price:ETH": 3105.0})).legs
    proceeds = 0.3329 * 3100
    fee, gap = proceeds * FEE_RATE, 0.3329 * (3105 - 3100)
    assert (coin.instrument, coin.amount, coin.price) == (ETH, pytest.approx(-0.3329), 3100)
    assert (cash.instrument, cash.amount) == (USDT, pytest.approx(proceeds - fee))
    assert cash.pnl_native == pytest.approx(-(fee + gap))
    assert store.orders(STRATEGY)[1].qty_base == 0.3329
    assert account.spot_balance("USDT") == 0  # the proceeds went to the futures wallet
    assert account.transfers()[-1] == (
        "MAIN",
        "UMFUTURE",
        Decimal("0.3329") * 3100 * Decimal("0.999"),
    )
    left = BOUGHT_ETH - FEE_ETH - 0.3329
    usdt_left = 10_000 - PAID_USDT + proceeds - fee
    assert venue.positions() == {ETH: pytest.approx(left), USDT: pytest.approx(usdt_left)}
    assert venue.reconcile(venue.positions()) == []


def test_perp_and_spot_share_the_book_and_reconcile(account: Account, store: LiveStore) -> None:
    venue = live(account, store)
    short = TradePerp(venue="binance", action="entry_full", trigger="initial", base="ETH",
                      size_delta=-0.3)  # fmt: skip
    venue.execute(BUY, MARKET)
    venue.execute(short, MARKET)
    perp_fee = 0.3 * 3000 * 0.0005
    assert venue.positions() == {
        "binance:Perp:ETHUSDT": -0.3,
        ETH: pytest.approx(BOUGHT_ETH - FEE_ETH),
        USDT: pytest.approx(10_000 - PAID_USDT - perp_fee),
    }
    assert venue.reconcile(venue.positions()) == []


# -- refusals --------------------------------------------------------------------------------


def test_insufficient_balance_is_rejected_and_nothing_booked(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    sell = SellSpot(
        venue="binance", action="exit_full", trigger="exit", base="ETH", base_amount=1.0
    )  # fmt: skip  (the spot wallet holds no ETH)
    with pytest.raises(ExecutionRejected, match="InsufficientFunds"):
        venue.execute(sell, MARKET)
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.REJECTED  # persisted before the send, refused after
    assert store.ledger(STRATEGY).fills == [] and account.spot.spot.orders_by_venue_id == {}
    assert account.sends() == 1  # a proven refusal is not retried
    assert venue.positions() == {USDT: 10_000.0}


def test_a_buy_the_futures_wallet_cannot_fund_is_refused_before_any_order(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    too_big = BuySpot(venue="binance", action="entry_full", trigger="initial", base="ETH",
                      quote_amount=20_000.0)  # fmt: skip
    with pytest.raises(ExecutionRejected, match="cannot fund"):
        venue.execute(too_big, MARKET)
    assert store.orders(STRATEGY) == [] and account.sends() == 0
    assert account.futures_usdt == 10_000 and account.transfers() == []


def test_below_the_minimum_notional_is_refused_before_anything_is_stored(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    dust = BuySpot(
        venue="binance", action="entry_full", trigger="initial", base="ETH", quote_amount=3.0
    )  # fmt: skip  (NOTIONAL filter: 5 USDT)
    with pytest.raises(ExecutionRejected, match="minimum notional"):
        venue.execute(dust, MARKET)
    assert store.orders(STRATEGY) == [] and account.transfers() == []


def test_a_fee_in_bnb_is_refused_not_booked(account: Account, store: LiveStore) -> None:
    account.spot.spot.fee_asset = "BNB"
    account.spot.spot.balances["BNB"] = Decimal(1)
    venue = live(account, store)
    with pytest.raises(OperationalError, match="fee in BNB"):
        venue.execute(BUY, MARKET)
    assert store.ledger(STRATEGY).fills == []
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.FILLED and venue.unadopted() == [order]  # for an operator


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 502])
def test_lost_create_answer_is_found_by_client_id_and_never_sent_twice(
    account: Account, store: LiveStore, status: int | None
) -> None:
    venue = live(account, store)
    account.spot.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    assert_bought_1000_usdt_of_eth(venue.execute(BUY, MARKET).legs)
    assert account.sends() == 1 and len(account.spot.spot.orders_by_venue_id) == 1
    assert account.spot.paths_called().count(QUERY) >= 1
    assert len(store.ledger(STRATEGY).fills) == 1


def test_rate_limit_honours_retry_after(account: Account, store: LiveStore) -> None:
    sleeps = Sleeps()
    venue = live(account, store, sleeps)
    account.spot.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=7))
    assert_bought_1000_usdt_of_eth(venue.execute(BUY, MARKET).legs)
    assert 7.0 in sleeps.calls
    # the 429 did nothing: proven absent by client id, resent with the SAME id, once
    assert account.sends() == 2 and len(account.spot.spot.orders_by_venue_id) == 1
    (order,) = store.orders(STRATEGY)
    assert list(account.spot.spot.orders_by_client_id) == [order.client_order_id]


def test_partial_fill_books_only_the_filled_part(account: Account, store: LiveStore) -> None:
    """A Binance spot market order that runs out of book EXPIRES with what filled."""
    venue = live(account, store)
    account.spot.state.inject(
        Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))
    )
    cash, coin = venue.execute(BUY, MARKET).legs
    filled = 0.1666  # half of 0.3333 cut to the lot, in two trades of 0.0833
    assert coin.amount == pytest.approx(filled * (1 - FEE_RATE))
    assert cash.amount == pytest.approx(-filled * 3000)
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.CANCELED and order.venue_filled_qty_base == filled
    assert sum(q for _, q, _, _ in booked(store)) == pytest.approx(filled)
    assert len(store.ledger(STRATEGY).fills) == 2
    assert account.sends() == 1  # the rest is not re-sent: the strategy re-plans
    assert account.spot_balance("USDT") == 0  # the unspent USDT went back to futures
    assert venue.reconcile(venue.positions()) == []


def test_lost_transfer_answer_is_checked_not_repeated(account: Account, store: LiveStore) -> None:
    venue = live(account, store)
    account.spot.state.inject(Fault(TRANSFER, FaultKind.LOSE_RESPONSE))
    assert_bought_1000_usdt_of_eth(venue.execute(BUY, MARKET).legs)
    assert [t for t in account.transfers() if t[0] == "UMFUTURE"] == [
        ("UMFUTURE", "MAIN", Decimal(1000))
    ]
    assert venue.reconcile(venue.positions()) == []


# -- restarts and reconciliation -------------------------------------------------------------


def test_restart_recovers_a_spot_order_sent_before_a_crash(
    account: Account, store: LiveStore
) -> None:
    """The INTENDED row is on disk and the venue filled the order; the answer was never saved:
    the next process finds it by client id on the SPOT client and books it once."""
    client = binance_spot_client(account.spot)
    client.load_markets()
    intent = new_order(STRATEGY, store.next_seq(STRATEGY), 0, "binance", SPOT, Side.BUY,
                       1000.0 / REFERENCE, None, MARKET.t, quote_qty_usdt=1000.0)  # fmt: skip
    store.add_orders([intent])
    client.transfer("USDT", 1000, "linear", "spot")
    sent = {"quoteOrderQty": 1000, "clientOrderId": intent.client_order_id}
    client.create_order(SPOT, "market", "buy", 1000, None, sent)
    restarted = live(account, store)
    assert [o.state for o in restarted.unadopted()] == [OrderState.FILLED]
    assert account.futures.paths_called().count("GET /fapi/v1/order") == 0  # not a perp order
    assert_bought_1000_usdt_of_eth(restarted.execute(BUY, MARKET).legs)  # adopted, not resent
    assert account.sends() == 1 and store.peek_seq(STRATEGY) == 1
    assert account.spot_balance("USDT") == 0  # the unspent rest swept back on that execute


def test_reconcile_finds_a_spot_holding_the_book_does_not_know(
    account: Account, store: LiveStore
) -> None:
    venue = live(account, store)
    venue.execute(BUY, MARKET)
    assert venue.reconcile() == []
    account.spot.spot.balances["ETH"] -= Decimal("0.1")  # withdrawn by hand
    (mismatch,) = venue.reconcile()
    assert (mismatch.key, mismatch.expected, mismatch.venue) == (
        ETH, pytest.approx(BOUGHT_ETH - FEE_ETH), pytest.approx(BOUGHT_ETH - FEE_ETH - 0.1),
    )  # fmt: skip


def test_a_failed_sweep_keeps_the_legs_and_the_usdt_counted(
    account: Account, store: LiveStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The move back to futures fails (500): logged (VEN-004), never raised: the trade's legs
    are returned, the USDT stays in the spot wallet, counted in the book, and the next spot
    order's sweep moves it."""
    account.spot.spot.balances["USDT"] = Decimal(1000)  # no funding transfer needed
    venue = LiveCex(cex_config("binance"), binance_client(account.futures), store, STRATEGY,
                    sleep=Sleeps(), opening_usdt=11_000.0,
                    spot_client=binance_spot_client(account.spot))  # fmt: skip
    venue.prepare()
    account.spot.state.inject(Fault(TRANSFER, FaultKind.HTTP_ERROR, status=500))
    with caplog.at_level(logging.WARNING):
        assert_bought_1000_usdt_of_eth(venue.execute(BUY, MARKET).legs)
    assert [r.code for r in caplog.records if hasattr(r, "code")] == ["VEN-004"]
    assert account.transfers() == [] and account.spot_balance("USDT") == Decimal("0.1")
    assert venue.reconcile(venue.positions()) == []  # 0.1 in spot + 10 000 in futures
    sell = SellSpot(venue="binance", action="exit_full", trigger="exit", base="ETH",
                    base_amount=0.1)  # fmt: skip
    venue.execute(sell, MARKET)
    assert account.spot_balance("USDT") == 0 and venue.reconcile(venue.positions()) == []


def test_only_a_binance_spot_client_is_accepted(account: Account, store: LiveStore) -> None:
    with pytest.raises(ValueError, match="only Binance spot"):
        LiveCex(cex_config("binance"), binance_client(account.futures), store, STRATEGY,
                spot_client=binance_client(account.futures))  # fmt: skip
