"""LiveCex against the local Binance USDⓈ-M fake through ccxt's real client, with a LiveStore
on a temporary SQLite file.

Why: the live venue must book what the venue did, once, whatever the network does (docs/live.md
section 1). Each test injects one fault the fake can produce and checks both sides: what the
fake holds (how many orders were really placed) and what the store booked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.ccxt_client import binance_client
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import COSTS_ON, cex_config, market

from basis_strategy.core.instructions import BuySpot, Leg, TradePerp
from basis_strategy.data.market import MarketState
from basis_strategy.live.orders import OrderState, Side, new_order
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.ccxt_orders import OrderUnresolvedError, VenueBackoffError
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings
from basis_strategy.venues.simulated.cex import SimulatedCex

STRATEGY = "live-eth-basis-1"
ORDER = "POST /fapi/v1/order"
QUERY = "GET /fapi/v1/order"
ETH = "ETH/USDT:USDT"
PERP = "binance:Perp:ETHUSDT"
USDT = "binance:BaseToken:USDT"
SHORT = TradePerp(venue="binance", action="entry_full", trigger="initial", base="ETH",
                  size_delta=-1.0)  # fmt: skip
MARKET = market()  # perp:binance:ETHUSDT = 3001.5; the fake fills at its mark, 3000
FEE = 1.0 * 3000 * 0.0005
GAP = -1.0 * (3000 - 3001.5)  # sold 1.5 below the hour's mark: a cost of 1.5 USDT


@pytest.fixture
def fake() -> Iterator[BinanceUsdmFake]:
    with BinanceUsdmFake() as server:
        yield server


def live(
    fake: BinanceUsdmFake,
    store: LiveStore,
    sleeps: Sleeps | None = None,
    timeout_ms: int = 3_000,
    **settings: Any,
) -> LiveCex:
    """A prepared LiveCex (markets, margin mode, leverage 3, recovery) on the fake."""
    venue = LiveCex(
        cex_config("binance"),
        binance_client(fake, timeout_ms=timeout_ms),
        store,
        STRATEGY,
        settings=LiveCexSettings(poll_interval_s=0.05, **settings),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    venue.prepare()
    return venue


def sends(fake: BinanceUsdmFake) -> int:
    return fake.paths_called().count(ORDER)


def booked_qty(store: LiveStore) -> float:
    return sum(f.signed_qty_base for f in store.ledger(STRATEGY).fills)


def assert_short_one_eth(legs: tuple[Leg, ...]) -> None:
    perp, cash = legs
    assert (perp.instrument, perp.amount, perp.price, perp.entry_after) == (PERP, -1.0, 3000, 3000)
    assert perp.pnl_native == pytest.approx(-(FEE + GAP))
    assert (cash.instrument, cash.amount) == (USDT, pytest.approx(-FEE))


# -- the happy path and its shape ------------------------------------------------------------


def test_trade_perp_opens_a_short_with_the_simulated_venues_legs(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store)
    stored_at_send: list[OrderState | None] = []
    send = venue.client.create_order

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = store.order(kwargs["params"]["clientOrderId"])
        stored_at_send.append(None if found is None else found.state)
        return send(*args, **kwargs)

    venue.client.create_order = spy  # type: ignore[method-assign]
    legs = venue.execute(SHORT, MARKET).legs
    assert stored_at_send == [OrderState.INTENDED]  # the intent was on disk before the send
    simulated = SimulatedCex(cex_config("binance"), COSTS_ON).execute(SHORT, MARKET).legs

    def shape(leg: Leg) -> tuple[object, ...]:
        """Everything but the prices: the simulated fill is mark less modelled slippage."""
        sign = (leg.amount > 0) - (leg.amount < 0)
        entry = leg.entry_after is not None
        return leg.instrument, sign, leg.event_type, leg.pnl_component, leg.pnl_asset, entry

    assert [shape(leg) for leg in legs] == [shape(leg) for leg in simulated]
    assert_short_one_eth(legs)
    assert legs[0].detail == "fee=1.5;slippage=1.5;discount=0"
    assert fake.state.position("ETHUSDT").size_base == Decimal("-1.000")
    assert fake.state.position("ETHUSDT").leverage == 3
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.FILLED
    assert list(fake.state.orders_by_client_id) == [order.client_order_id]
    assert venue.positions() == {PERP: -1.0, USDT: pytest.approx(-FEE)}


def test_prepare_twice_tolerates_already_set_margin_mode(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store)
    venue.prepare()  # cross again: Binance -4046 "No need to change margin type."
    assert fake.state.position("ETHUSDT").margin_mode == "cross"


def test_spot_without_a_spot_client_is_refused_clearly(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store)
    buy = BuySpot(venue="binance", action="entry_full", trigger="initial", base="ETH",
                  quote_amount=100.0)  # fmt: skip
    with pytest.raises(ExecutionRejected, match="no spot client"):
        venue.execute(buy, MARKET)
    assert sends(fake) == 0


def test_closing_realises_pnl_from_the_fills_and_leaves_entry_zero(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    """Bought back at 2 900 against the hour's mark 2 901: realised 100, fee 1.45, and a gap
    of -1 USDT (filled better than mark): the cost is 0.45, as value at mark says."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    fake.state.set_mark_price("ETHUSDT", Decimal(2900))
    close = TradePerp(venue="binance", action="exit_full", trigger="exit", base="ETH",
                      size_delta=1.0)  # fmt: skip
    perp, cash = venue.execute(close, market(1, **{"perp:binance:ETHUSDT": 2901.0})).legs
    assert (perp.amount, perp.price, perp.entry_after) == (1.0, 2900, 0.0)
    assert perp.pnl_native == pytest.approx(-(2900 * 5e-4 - 1.0))
    assert cash.amount == pytest.approx(100 - 2900 * 5e-4)
    assert venue.positions() == {PERP: 0.0, USDT: pytest.approx(100 - FEE - 1.45)}
    assert venue.reconcile() == []


def test_amount_below_the_lot_size_is_refused_before_anything_is_stored(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store)
    dust = TradePerp(
        venue="binance", action="sell_dust", trigger="delta", base="ETH", size_delta=-0.0004
    )  # fmt: skip  (lot size 0.001)
    with pytest.raises(ExecutionRejected, match="lot size"):
        venue.execute(dust, MARKET)
    assert store.orders(STRATEGY) == [] and sends(fake) == 0


# -- refusals --------------------------------------------------------------------------------


def test_insufficient_margin_is_rejected_and_nothing_booked(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store)
    too_big = TradePerp(
        venue="binance", action="entry_full", trigger="initial", base="ETH", size_delta=-20.0
    )  # fmt: skip  (60 000 notional at 3x: 20 000 margin)
    with pytest.raises(ExecutionRejected, match="InsufficientFunds"):
        venue.execute(too_big, MARKET)
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.REJECTED  # persisted before the send, refused after
    assert store.ledger(STRATEGY).fills == []
    assert fake.state.orders_by_venue_id == {}
    assert venue.positions() == {USDT: 0.0}
    assert sends(fake) == 1  # a proven refusal is not retried


# -- faults on the create call ---------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 502])
def test_lost_create_answer_is_found_by_client_id_and_booked_once(
    fake: BinanceUsdmFake, store: LiveStore, status: int | None
) -> None:
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert QUERY in fake.paths_called()
    assert booked_qty(store) == -1.0
    assert store.orders(STRATEGY)[0].state is OrderState.FILLED


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_before_the_send_resends_with_the_same_client_id(
    fake: BinanceUsdmFake, store: LiveStore, status: int
) -> None:
    """A 5xx proves nothing: queried until LOST (3 x not found), then resent, same id."""
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=status))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    (order,) = store.orders(STRATEGY)
    assert (order.state, order.attempts) == (OrderState.FILLED, 2)
    assert fake.paths_called().count(QUERY) >= 3
    assert sends(fake) == 2 and list(fake.state.orders_by_client_id) == [order.client_order_id]
    assert booked_qty(store) == -1.0


def test_timeout_on_create_places_one_order(fake: BinanceUsdmFake, store: LiveStore) -> None:
    """The fake answers after the client gave up and still places the order: whether our
    query finds it or a resend races it, the venue holds one order and we book it once."""
    venue = live(fake, store, Sleeps(cap_s=0.15), timeout_ms=200)
    fake.state.inject(Fault(ORDER, FaultKind.DELAY, delay_s=0.5))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    time.sleep(0.6)  # let the delayed original finish (placed, or refused as a duplicate)
    assert len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -1.0
    assert fake.state.position("ETHUSDT").size_base == Decimal("-1.000")


def test_rate_limit_honours_retry_after(fake: BinanceUsdmFake, store: LiveStore) -> None:
    sleeps = Sleeps()
    venue = live(fake, store, sleeps)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=7))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    assert 7.0 in sleeps.calls
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1


def test_ban_longer_than_the_bound_stops_without_sending_again(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    sleeps = Sleeps()
    venue = live(fake, store, sleeps, max_wait_s=30.0)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=418, retry_after_s=120))
    with pytest.raises(VenueBackoffError, match="120"):
        venue.execute(SHORT, MARKET)
    assert 120 not in sleeps.calls and sends(fake) == 1
    (order,) = store.orders(STRATEGY, open_only=True)
    assert order.state is OrderState.AMBIGUOUS  # kept for recovery, never called rejected
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)  # retried: the SAME order resolved
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1
    assert [o.client_order_id for o in store.orders(STRATEGY)] == [order.client_order_id]


# -- restarts --------------------------------------------------------------------------------


def test_restart_recovers_an_unresolved_order_instead_of_sending_again(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    first = live(fake, store, max_queries=4)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    for _ in range(4):
        fake.state.inject(Fault(QUERY, FaultKind.HTTP_ERROR, status=500))
    with pytest.raises(OrderUnresolvedError):
        first.execute(SHORT, MARKET)
    assert store.ledger(STRATEGY).fills == []
    assert [o.state for o in first.unadopted()] == [OrderState.AMBIGUOUS]
    second = live(fake, store)  # a new process: same store, same strategy id
    assert [o.state for o in second.unadopted()] == [OrderState.FILLED]
    assert_short_one_eth(second.execute(SHORT, MARKET).legs)  # the same instruction, re-run
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -1.0 and second.unadopted() == []


def test_retry_in_the_same_process_resolves_the_unresolved_order(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = live(fake, store, max_queries=2)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    for _ in range(2):
        fake.state.inject(Fault(QUERY, FaultKind.HTTP_ERROR, status=500))
    with pytest.raises(OrderUnresolvedError):
        venue.execute(SHORT, MARKET)
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(store.orders(STRATEGY)) == 1
    assert booked_qty(store) == -1.0


def test_restart_after_kill_between_send_and_save(fake: BinanceUsdmFake, store: LiveStore) -> None:
    """The INTENDED row is on disk and the venue has the order; the answer was never saved."""
    client = binance_client(fake)
    client.load_markets()
    now = MARKET.t
    intent = new_order(STRATEGY, store.next_seq(STRATEGY), 0, "binance", ETH, Side.SELL, 1.0,
                       None, now)  # fmt: skip
    store.add_orders([intent])
    client.create_order(
        ETH, "market", "sell", 1.0, params={"clientOrderId": intent.client_order_id}
    )
    restarted = live(fake, store)
    assert_short_one_eth(restarted.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert store.order(intent.client_order_id).state is OrderState.FILLED  # type: ignore[union-attr]
    assert store.peek_seq(STRATEGY) == 1  # no new sequence: nothing new was intended
    restarted.execute(SHORT, MARKET)  # a NEW instruction after adoption is a new order
    assert sends(fake) == 2 and booked_qty(store) == -2.0


def test_resend_of_an_order_the_venue_has_is_refused_as_duplicate_and_recovered(
    fake: BinanceUsdmFake, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue's duplicate-id check is the last guard: queries wrongly say "not found"
    (lagging or archived order), the order becomes LOST and is resent with the same id; the
    venue refuses it (-4116), which proves the order exists: AMBIGUOUS, queried, booked once."""
    client = binance_client(fake)
    client.load_markets()
    intent = new_order(STRATEGY, store.next_seq(STRATEGY), 0, "binance", ETH, Side.SELL, 1.0,
                       None, MARKET.t)  # fmt: skip
    store.add_orders([intent])
    client.create_order(
        ETH, "market", "sell", 1.0, params={"clientOrderId": intent.client_order_id}
    )
    restarted = LiveCex(cex_config("binance"), binance_client(fake), store, STRATEGY,
                        sleep=Sleeps())  # fmt: skip
    query = restarted.client.fetch_order_with_client_order_id
    misses = iter(range(4))  # recovery: 3 misses (LOST, no resend there); execute: 1 more

    def lagging(*args: Any, **kwargs: Any) -> Any:
        if next(misses, None) is not None:
            raise ccxt.OrderNotFound('binanceusdm {"code":-2013,"msg":"Order does not exist."}')
        return query(*args, **kwargs)

    monkeypatch.setattr(restarted.client, "fetch_order_with_client_order_id", lagging)
    restarted.prepare()
    assert [o.state for o in restarted.unadopted()] == [OrderState.LOST]
    assert sends(fake) == 1  # recovery never resends
    assert_short_one_eth(restarted.execute(SHORT, MARKET).legs)
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1  # the resend: refused
    assert booked_qty(store) == -1.0
    assert store.order(intent.client_order_id).attempts == 2  # type: ignore[union-attr]


# -- fills -----------------------------------------------------------------------------------


def test_partial_fill_books_only_the_filled_part(fake: BinanceUsdmFake, store: LiveStore) -> None:
    venue = live(fake, store, max_queries=2)
    fake.state.inject(
        Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))
    )
    perp, cash = venue.execute(SHORT, MARKET).legs
    assert perp.amount == pytest.approx(-0.5) and cash.amount == pytest.approx(-0.5 * 3000 * 5e-4)
    assert len(store.ledger(STRATEGY).fills) == 2 and booked_qty(store) == pytest.approx(-0.5)
    (order,) = store.orders(STRATEGY, open_only=True)  # the remainder: left to the reconciler
    assert order.state is OrderState.PARTIALLY_FILLED and order.qty_base == 1.0
    assert venue.positions()[PERP] == pytest.approx(-0.5)
    assert sends(fake) == 1  # no follow-up order for the remainder


# -- funding ---------------------------------------------------------------------------------


def test_funding_is_booked_once_across_settles_and_restarts(
    fake: BinanceUsdmFake, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    fake.state.settle_funding("ETHUSDT", Decimal("0.0001"), Decimal(3000))
    (leg,) = venue.settle(MARKET).legs
    assert (leg.instrument, leg.event_type, leg.pnl_component) == (
        USDT,
        "FundingSettled",
        "funding",
    )
    assert leg.amount == leg.pnl_native == pytest.approx(0.3)  # a short receives
    assert venue.settle(MARKET).legs == ()
    restarted = live(fake, store)
    restarted.restore_book_mark(venue.book_mark())  # what its checkpoint restores
    assert restarted.settle(MARKET).legs == ()
    history = restarted.client.fetch_funding_history

    def ignoring_since(symbol: str, since: int | None = None) -> Any:
        return history(symbol)  # a venue that ignores startTime answers all of it again

    monkeypatch.setattr(restarted.client, "fetch_funding_history", ignoring_since)
    assert restarted.settle(MARKET).legs == ()
    assert len(store.ledger(STRATEGY).funding) == 1
    assert venue.positions()[USDT] == pytest.approx(0.3 - FEE)


def test_funding_a_crashed_cycle_booked_is_returned_again_after_its_checkpoint(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    """The cycle that booked the payment in the ledger died before its checkpoint: the
    restarted venue, back at the checkpoint's mark, returns the payment's leg again (once),
    so the redone cycle's book has it; a mark taken after it returns nothing."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    before = venue.book_mark()  # the last checkpoint
    fake.state.settle_funding("ETHUSDT", Decimal("0.0001"), Decimal(3000))
    (leg,) = venue.settle(MARKET).legs  # booked in the ledger, then the process is killed
    restarted = live(fake, store)
    restarted.restore_book_mark(before)
    paid_at = store.ledger(STRATEGY).funding[0].funding_at
    earlier = MarketState(paid_at - timedelta(hours=1), 0, dict(MARKET.values), ())
    assert restarted.settle(earlier).legs == ()  # a cycle re-stepped before it: not known
    at_payment = MarketState(paid_at, 1, dict(MARKET.values), ())
    (again,) = restarted.settle(at_payment).legs
    assert again.amount == leg.amount == pytest.approx(0.3)
    assert restarted.settle(at_payment).legs == ()
    assert len(store.ledger(STRATEGY).funding) == 1
