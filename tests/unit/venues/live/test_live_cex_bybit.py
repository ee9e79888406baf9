"""LiveCex against the local Bybit v5 fake through ccxt's real bybit client, with a LiveStore on
a temporary SQLite file.

Why: the live venue was written against Binance; Bybit answers differently where it matters
for booking once (venues/live/dialects.py): a create only acknowledges, ccxt's unified query
by client id returns whatever order is open (possibly another one), funding is signed the
other way, unchanged leverage is an error, a flat symbol is reported as an empty position.
Each test injects one fault or difference and checks both sides: what the fake holds (how
many orders were really placed) and what the store booked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.fakes.bybit_v5 import BybitV5Fake, bybit_client
from tests.fakes.bybit_v5_wire import wire_id
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import COSTS_ON, cex_config, market

from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import Leg, TradePerp
from basis_strategy.live.orders import OrderState, Side, new_order
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.ccxt_orders import OrderUnresolvedError
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings
from basis_strategy.venues.live.dialects import BYBIT, dialect_for
from basis_strategy.venues.simulated.cex import SimulatedCex

STRATEGY = "live-eth-basis-bybit"
ORDER = "POST /v5/order/create"
REALTIME = "GET /v5/order/realtime"
HISTORY = "GET /v5/order/history"
ETH = "ETH/USDT:USDT"
PERP = "bybit:Perp:ETHUSDT"
USDT = "bybit:BaseToken:USDT"
SHORT = TradePerp(venue="bybit", action="entry_full", trigger="initial", base="ETH",
                  size_delta=-1.0)  # fmt: skip
MARKET = market()  # perp:bybit:ETHUSDT = 2999; the fake fills at its mark, 3000
FEE = 1.0 * 3000 * 0.00055
GAP = -1.0 * (3000 - 2999)  # sold 1 above the hour's mark: a gain of 1 USDT against mark
PARTIAL = Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))


@pytest.fixture
def fake() -> Iterator[BybitV5Fake]:
    with BybitV5Fake() as server:
        yield server


def live(
    fake: BybitV5Fake,
    store: LiveStore,
    sleeps: Sleeps | None = None,
    timeout_ms: int = 3_000,
    **settings: Any,
) -> LiveCex:
    """A prepared LiveCex (markets, cross margin, leverage 3, recovery) on the fake."""
    venue = LiveCex(
        cex_config("bybit"),
        bybit_client(fake, timeout_ms=timeout_ms),
        store,
        STRATEGY,
        settings=LiveCexSettings(poll_interval_s=0.01, **settings),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    venue.prepare()
    return venue


def sends(fake: BybitV5Fake) -> int:
    return fake.paths_called().count(ORDER)


def booked_qty(store: LiveStore) -> float:
    return sum(f.signed_qty_base for f in store.ledger(STRATEGY).fills)


def assert_short_one_eth(legs: tuple[Leg, ...]) -> None:
    perp, cash = legs
    assert (perp.instrument, perp.amount, perp.price, perp.entry_after) == (PERP, -1.0, 3000, 3000)
    assert perp.pnl_native == pytest.approx(-(FEE + GAP))
    assert (cash.instrument, cash.amount) == (USDT, pytest.approx(-FEE))


def place_other_open_order(fake: BybitV5Fake) -> str:
    """An order someone else placed that stays open (half filled): the one ccxt's unified
    query by client id would wrongly return. Its client id."""
    fake.state.place_market_order("ETHUSDT", "BUY", Decimal("0.4"), "by-hand", fault=PARTIAL)
    return "by-hand"


# -- the dialect -----------------------------------------------------------------------------


def test_the_dialect_is_chosen_by_the_ccxt_client_id(fake: BybitV5Fake) -> None:
    assert dialect_for(bybit_client(fake)) is BYBIT
    with pytest.raises(ValueError, match="no live dialect"):
        dialect_for(ccxt.kraken())


def test_a_contract_size_other_than_one_base_unit_is_refused(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """ccxt's amounts are contracts (OKX: 0.1 ETH each); LiveCex sends and books base units."""
    client = bybit_client(fake)
    client.load_markets()
    client.markets[ETH]["contractSize"] = 0.1
    venue = LiveCex(cex_config("bybit"), client, store, STRATEGY, sleep=Sleeps())
    with pytest.raises(OperationalError, match=r"contract size 0\.1"):
        venue.prepare()
    assert sends(fake) == 0


def test_lookup_returns_our_order_while_another_is_open(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """The bug of ccxt's fetch_order_with_client_order_id on Bybit: it returns the open
    order. Ours is found by orderLinkId; an id the venue does not have is None, not the
    open order."""
    venue = live(fake, store)
    place_other_open_order(fake)
    venue.client.create_order(ETH, "market", "sell", 0.5, params={"clientOrderId": "ours"})
    found = BYBIT.find_order(venue.client, "ours", ETH)
    assert found is not None and found["clientOrderId"] == "ours"
    assert (found["status"], found["filled"]) == ("closed", 0.5)
    assert BYBIT.find_order(venue.client, "never-sent", ETH) is None


def test_lookup_falls_back_to_order_history(
    fake: BybitV5Fake, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bybit's realtime list forgets old final orders; the history still has them. A list
    that ignored the orderLinkId filter (only other orders in it) is no answer either."""
    venue = live(fake, store)
    place_other_open_order(fake)
    venue.client.create_order(ETH, "market", "sell", 0.5, params={"clientOrderId": "old"})
    open_orders = venue.client.fetch_open_orders(ETH)
    assert [o["clientOrderId"] for o in open_orders] == ["by-hand"]
    monkeypatch.setattr(venue.client, "fetch_open_orders", lambda *args, **kwargs: open_orders)
    found = BYBIT.find_order(venue.client, "old", ETH)
    assert found is not None and found["clientOrderId"] == "old"
    assert fake.paths_called()[-1] == HISTORY


# -- the happy path and its shape ------------------------------------------------------------


def test_trade_perp_opens_a_short_with_the_simulated_venues_legs(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """Bybit's create answer is only an acknowledgement: the fill comes from the query."""
    venue = live(fake, store)
    legs = venue.execute(SHORT, MARKET).legs
    simulated = SimulatedCex(cex_config("bybit"), COSTS_ON).execute(SHORT, MARKET).legs

    def shape(leg: Leg) -> tuple[object, ...]:
        sign = (leg.amount > 0) - (leg.amount < 0)
        entry = leg.entry_after is not None
        return leg.instrument, sign, leg.event_type, leg.pnl_component, leg.pnl_asset, entry

    assert [shape(leg) for leg in legs] == [shape(leg) for leg in simulated]
    assert_short_one_eth(legs)
    assert fake.state.position("ETHUSDT").size_base == Decimal("-1.00")
    assert fake.state.position("ETHUSDT").leverage == 3
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.FILLED and order.venue_order_id is not None
    assert list(fake.state.orders_by_client_id) == [order.client_order_id]
    assert REALTIME in fake.paths_called()  # the fill was read by orderLinkId
    assert venue.positions() == {PERP: -1.0, USDT: pytest.approx(-FEE)}
    assert venue.reconcile() == []


def test_prepare_twice_tolerates_unchanged_leverage(fake: BybitV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    venue.prepare()  # leverage 3 again: Bybit 110043 "leverage not modified" (BadRequest)
    assert fake.state.position("ETHUSDT").leverage == 3


def test_flat_symbols_reported_as_empty_positions_reconcile_clean(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """fetch_positions([symbol]) on Bybit answers a 0-contract position when flat (and takes
    one symbol per call): flat is no mismatch, and a closed trade leaves none."""
    venue = live(fake, store)
    assert venue.reconcile() == []
    venue.execute(SHORT, MARKET)
    close = TradePerp(venue="bybit", action="exit_full", trigger="exit", base="ETH",
                      size_delta=1.0)  # fmt: skip
    venue.execute(close, MARKET)
    assert venue.positions()[PERP] == 0.0
    assert venue.reconcile() == []


def test_an_acknowledged_order_the_venue_then_rejects_is_rejected(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """Bybit can acknowledge a create and reject the order afterwards: the acknowledgement
    must not be read as "open" (an open order cannot become rejected)."""

    def rejecting(client: Any, client_order_id: str, symbol: str) -> dict[str, Any]:
        return {"id": "x", "clientOrderId": client_order_id, "status": "rejected", "filled": 0}

    venue = LiveCex(cex_config("bybit"), bybit_client(fake), store, STRATEGY, sleep=Sleeps(),
                    dialect=replace(BYBIT, find_order=rejecting))  # fmt: skip
    venue.prepare()
    with pytest.raises(ExecutionRejected, match="refused"):
        venue.execute(SHORT, MARKET)
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.REJECTED and store.ledger(STRATEGY).fills == []


# -- refusals --------------------------------------------------------------------------------


def test_insufficient_margin_is_rejected_and_nothing_booked(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    too_big = TradePerp(
        venue="bybit", action="entry_full", trigger="initial", base="ETH", size_delta=-20.0
    )  # fmt: skip  (60 000 notional at 3x: 20 000 margin against 10 000)
    with pytest.raises(ExecutionRejected, match="InsufficientFunds"):
        venue.execute(too_big, MARKET)
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.REJECTED
    assert store.ledger(STRATEGY).fills == [] and fake.state.orders_by_venue_id == {}
    assert venue.positions() == {USDT: 0.0}
    assert sends(fake) == 1


# -- faults on the create call ---------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 502])
def test_lost_create_answer_is_found_by_link_id_and_booked_once(
    fake: BybitV5Fake, store: LiveStore, status: int | None
) -> None:
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -1.0
    assert store.orders(STRATEGY)[0].state is OrderState.FILLED


def test_lost_create_answer_while_another_order_is_open_books_ours(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """With ccxt's unified query the open hand-placed order would be taken for ours."""
    venue = live(fake, store)
    place_other_open_order(fake)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    (order,) = store.orders(STRATEGY)
    ours = fake.state.orders_by_client_id[order.client_order_id]
    assert order.venue_order_id == wire_id(ours.venue_order_id)
    assert order.state is OrderState.FILLED
    assert {f.trade_id for f in store.ledger(STRATEGY).fills} == {
        wire_id(f.trade_id) for f in fake.state.fills if f.venue_order_id == ours.venue_order_id
    }
    assert booked_qty(store) == -1.0 and sends(fake) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_before_the_send_resends_with_the_same_link_id(
    fake: BybitV5Fake, store: LiveStore, status: int
) -> None:
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=status))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    (order,) = store.orders(STRATEGY)
    assert (order.state, order.attempts) == (OrderState.FILLED, 2)
    assert sends(fake) == 2 and list(fake.state.orders_by_client_id) == [order.client_order_id]
    assert booked_qty(store) == -1.0


def test_timeout_on_create_places_one_order(fake: BybitV5Fake, store: LiveStore) -> None:
    venue = live(fake, store, Sleeps(cap_s=0.15), timeout_ms=200)
    fake.state.inject(Fault(ORDER, FaultKind.DELAY, delay_s=0.5))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    time.sleep(0.6)  # let the delayed original finish (placed, or refused as a duplicate)
    assert len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -1.0
    assert fake.state.position("ETHUSDT").size_base == Decimal("-1.00")


def test_rate_limit_retcode_10006_waits_for_the_reset_and_places_one_order(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """Bybit's per-UID limit is HTTP 200 + retCode 10006, no Retry-After, the window's end in
    X-Bapi-Limit-Reset-Timestamp (2 s ahead here): waited for, then the order is queried,
    found absent and resent with the same id."""
    sleeps = Sleeps()
    venue = live(fake, store, sleeps)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=2))
    assert_short_one_eth(venue.execute(SHORT, MARKET).legs)
    assert [s for s in sleeps.calls if 1.0 < s <= 2.0]  # until the reset, not a 0.5 s backoff
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1


# -- restarts --------------------------------------------------------------------------------


def test_restart_recovers_an_unresolved_order_instead_of_sending_again(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    first = live(fake, store, max_queries=4)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    for _ in range(4):
        fake.state.inject(Fault(REALTIME, FaultKind.HTTP_ERROR, status=500))
    with pytest.raises(OrderUnresolvedError):
        first.execute(SHORT, MARKET)
    assert store.ledger(STRATEGY).fills == []
    second = live(fake, store)  # a new process: same store, same strategy id
    assert [o.state for o in second.unadopted()] == [OrderState.FILLED]
    assert_short_one_eth(second.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -1.0 and second.unadopted() == []


def test_resend_refused_as_duplicate_110072_is_recovered(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """Lookups wrongly say "not found" (a lagging venue), the order is LOST and resent with the
    same orderLinkId; Bybit refuses it (110072), which proves it exists: booked once."""
    client = bybit_client(fake)
    client.load_markets()
    intent = new_order(STRATEGY, store.next_seq(STRATEGY), 0, "bybit", ETH, Side.SELL, 1.0,
                       None, MARKET.t)  # fmt: skip
    store.add_orders([intent])
    client.create_order(ETH, "market", "sell", 1.0, None, {"clientOrderId": intent.client_order_id})
    misses = iter(range(4))  # recovery: 3 misses (LOST, no resend there); execute: 1 more

    def lagging(client: Any, client_order_id: str, symbol: str) -> Any:
        if next(misses, None) is not None:
            return None
        return BYBIT.find_order(client, client_order_id, symbol)

    restarted = LiveCex(cex_config("bybit"), bybit_client(fake), store, STRATEGY, sleep=Sleeps(),
                        dialect=replace(BYBIT, find_order=lagging))  # fmt: skip
    restarted.prepare()
    assert [o.state for o in restarted.unadopted()] == [OrderState.LOST]
    assert_short_one_eth(restarted.execute(SHORT, MARKET).legs)
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1  # the resend: refused
    assert booked_qty(store) == -1.0
    assert store.order(intent.client_order_id).attempts == 2  # type: ignore[union-attr]


# -- fills -----------------------------------------------------------------------------------


def test_partial_fill_books_only_the_filled_part(fake: BybitV5Fake, store: LiveStore) -> None:
    venue = live(fake, store, max_queries=2)
    fake.state.inject(PARTIAL)
    perp, cash = venue.execute(SHORT, MARKET).legs
    assert perp.amount == pytest.approx(-0.5) and cash.amount == pytest.approx(-0.5 * FEE)
    assert len(store.ledger(STRATEGY).fills) == 2 and booked_qty(store) == pytest.approx(-0.5)
    (order,) = store.orders(STRATEGY, open_only=True)
    assert order.state is OrderState.PARTIALLY_FILLED and order.qty_base == 1.0
    assert venue.positions()[PERP] == pytest.approx(-0.5)
    assert sends(fake) == 1


# -- funding ---------------------------------------------------------------------------------


def test_funding_is_booked_once_with_the_sign_of_who_paid(
    fake: BybitV5Fake, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A positive rate: the short receives 1 x 3000 x 0.0001 = 0.3 (the fake's wallet grows by
    it); Bybit's execFee and ccxt's amount say -0.3. Booked +0.3, once."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    wallet = fake.state.wallet_balance_quote
    fake.state.settle_funding("ETHUSDT", Decimal("0.0001"), Decimal(3000))
    received = float(fake.state.wallet_balance_quote - wallet)
    (leg,) = venue.settle(MARKET).legs
    assert (leg.instrument, leg.event_type, leg.pnl_component) == (USDT, "FundingSettled",
                                                                    "funding")  # fmt: skip
    assert leg.amount == leg.pnl_native == pytest.approx(received) == pytest.approx(0.3)
    assert venue.settle(MARKET).legs == ()
    restarted = live(fake, store)
    restarted.restore_book_mark(venue.book_mark())  # what its checkpoint restores
    history = restarted.client.fetch_funding_history

    def ignoring_since(symbol: str, since: int | None = None) -> Any:
        return history(symbol)

    monkeypatch.setattr(restarted.client, "fetch_funding_history", ignoring_since)
    assert restarted.settle(MARKET).legs == ()
    assert len(store.ledger(STRATEGY).funding) == 1
    assert venue.positions()[USDT] == pytest.approx(0.3 - FEE)


def test_funding_paid_by_a_long_is_negative(fake: BybitV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    long = TradePerp(venue="bybit", action="entry_full", trigger="initial", base="ETH",
                     size_delta=1.0)  # fmt: skip
    venue.execute(long, MARKET)
    fake.state.settle_funding("ETHUSDT", Decimal("0.0001"), Decimal(3000))
    (leg,) = venue.settle(MARKET).legs
    assert leg.amount == pytest.approx(-0.3)


# -- reconciliation --------------------------------------------------------------------------


def test_reconcile_finds_a_position_changed_behind_our_back(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    assert venue.reconcile() == []
    fake.state.place_market_order("ETHUSDT", "BUY", Decimal("0.4"), "by-hand")
    (mismatch,) = venue.reconcile()
    assert (mismatch.key, mismatch.expected, mismatch.venue) == (PERP, -1.0, pytest.approx(-0.6))


def test_a_liquidation_is_found_among_the_unbooked_trades(
    fake: BybitV5Fake, store: LiveStore
) -> None:
    """Bybit lists liquidation fills as execType=BustTrade, which ccxt's default trade list
    omits: the reconciler sees the position gone AND the fill that explains it."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    fake.state.place_market_order("BTCUSDT", "BUY", Decimal("0.001"), "by-hand")
    (by_hand,) = venue.unbooked_trades()  # our own fills are booked: only the hand trade
    assert (by_hand["symbol"], by_hand["amount"]) == ("BTC/USDT:USDT", 0.001)
    liquidated = fake.state.set_mark_price("ETHUSDT", Decimal(13_000))
    bust = next(f for f in liquidated if f.symbol == "ETHUSDT")
    trades = {t["symbol"]: t for t in venue.unbooked_trades()}
    trade = trades[ETH]
    assert (trade["id"], trade["side"], trade["amount"], trade["price"]) == (
        wire_id(bust.trade_id),
        "buy",
        1.0,
        13_000,
    )
    assert trade["info"]["execType"] == "BustTrade"
    assert [(m.key, m.expected, m.venue) for m in venue.reconcile() if m.key == PERP] == [
        (PERP, -1.0, 0.0)
    ]
