"""LiveCex against the local OKX v5 fake through ccxt's real okx client, with a LiveStore on a
temporary SQLite file.

Why: OKX swap amounts are CONTRACTS (ETH-USDT-SWAP 0.1 ETH, BTC-USDT-SWAP 0.01 BTC each) while
the ledger, the order records and the legs are base units: a missed conversion opens a tenth
of the position or books ten times the fill. Each test checks both sides: what the fake holds
(in contracts on the wire, base units in its state) and what the store booked (base units).
OKX also only acknowledges a create, refuses a reused clOrdId with 51016, says 51603 for an
unknown one, and signs funding bills as the wallet's change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.okx_v5 import OkxV5Fake, okx_client
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import COSTS_ON, cex_config, market

from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import Leg, TradePerp
from basis_strategy.live.client_ids import OKX_CLIENT_ID_RE
from basis_strategy.live.orders import OrderState, QueryNotFound, Side, new_order
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.amounts import lot_contracts
from basis_strategy.venues.live.ccxt_orders import OrderUnresolvedError, query_failure
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings
from basis_strategy.venues.live.dialects import OKX, dialect_for
from basis_strategy.venues.simulated.cex import SimulatedCex

STRATEGY = "live-eth-basis-okx"
ORDER = "POST /api/v5/trade/batch-orders"  # ccxt 4.5's create_order route
QUERY = "GET /api/v5/trade/order"
FILLS = "GET /api/v5/trade/fills-history"
ETH, BTC = "ETH/USDT:USDT", "BTC/USDT:USDT"
ETH_ID, BTC_ID = "ETH-USDT-SWAP", "BTC-USDT-SWAP"
PERP = "okx:Perp:ETHUSDT"
USDT = "okx:BaseToken:USDT"
# 3.5 contracts of 0.1 ETH
SHORT = TradePerp(venue="okx", action="entry_full", trigger="initial", base="ETH",
                  size_delta=-0.35)  # fmt: skip
MARKET = market(**{"perp:okx:ETHUSDT": 2999.0, "perp:okx:BTCUSDT": 60_010.0})
FEE = 0.35 * 3000 * 0.0005  # the fake fills at its mark, 3000, taker 5 bp
GAP = -0.35 * (3000 - 2999)  # sold 1 above the hour's mark: a gain of 0.35 USDT against mark
PARTIAL = Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))


def short(size_base: float, base: str = "ETH") -> TradePerp:
    return TradePerp(venue="okx", action="entry_full", trigger="initial", base=base,
                     size_delta=-size_base)  # fmt: skip


@pytest.fixture
def fake() -> Iterator[OkxV5Fake]:
    with OkxV5Fake() as server:
        yield server


def live(
    fake: OkxV5Fake,
    store: LiveStore,
    sleeps: Sleeps | None = None,
    timeout_ms: int = 3_000,
    **settings: Any,
) -> LiveCex:
    """A prepared LiveCex (markets, cross margin, leverage 3, recovery) on the fake."""
    venue = LiveCex(
        cex_config("okx"),
        okx_client(fake, timeout_ms=timeout_ms),
        store,
        STRATEGY,
        settings=LiveCexSettings(poll_interval_s=0.01, **settings),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    venue.prepare()
    return venue


def sends(fake: OkxV5Fake) -> int:
    return fake.paths_called().count(ORDER)


def sent_sizes(fake: OkxV5Fake) -> list[str]:
    """`sz` (contracts, as OKX reads them) of every create request."""
    return [json.loads(body)[0]["sz"] for method, path, body in fake.requests
            if f"{method} {path}" == ORDER]  # fmt: skip


def fake_contracts(fake: OkxV5Fake, inst_id: str = ETH_ID) -> Decimal:
    """The fake's signed position in contracts (its state books base units)."""
    return fake.state.position(inst_id).size_base / fake.contract_value(inst_id)


def booked_qty(store: LiveStore) -> float:
    return sum(f.signed_qty_base for f in store.ledger(STRATEGY).fills)


def assert_short_035_eth(legs: tuple[Leg, ...]) -> None:
    perp, cash = legs
    assert (perp.instrument, perp.amount, perp.price, perp.entry_after) == (PERP, -0.35, 3000, 3000)
    assert perp.pnl_native == pytest.approx(-(FEE + GAP))
    assert (cash.instrument, cash.amount) == (USDT, pytest.approx(-FEE))


def place_other_open_order(fake: OkxV5Fake) -> str:
    """An order someone else placed that stays open (half filled). Its client id."""
    fake.state.place_market_order(ETH_ID, "BUY", Decimal("0.04"), "byhand", fault=PARTIAL)
    return "byhand"


# -- the dialect and the set-up --------------------------------------------------------------


def test_the_okx_dialect_is_chosen_and_declares_contract_amounts(fake: OkxV5Fake) -> None:
    assert dialect_for(okx_client(fake)) is OKX
    assert OKX.contract_amounts and OKX.order_trades_param == "ordId"


def test_prepare_sets_cross_margin_and_leverage_and_tolerates_it_unchanged(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    venue.prepare()  # the same leverage again: OKX accepts it
    for inst_id in (ETH_ID, BTC_ID):
        position = fake.state.position(inst_id)
        assert (position.leverage, position.margin_mode) == (3, "cross")
    bodies = [json.loads(body) for method, path, body in fake.requests
              if path == "/api/v5/account/set-leverage"]  # fmt: skip
    assert len(bodies) == 8  # margin mode, then leverage, per perp, per prepare
    assert {(b["lever"], b["mgnMode"]) for b in bodies} == {(3, "cross")}
    assert {b["instId"] for b in bodies} == {ETH_ID, BTC_ID}


def test_an_inverse_contract_is_refused_before_any_set_up(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    """Sized in USD and margined in the coin: no conversion to base units here."""
    client = okx_client(fake)
    client.load_markets()
    client.markets[ETH] |= {"inverse": True, "linear": False}
    venue = LiveCex(cex_config("okx"), client, store, STRATEGY, sleep=Sleeps())
    with pytest.raises(OperationalError, match="not a linear contract"):
        venue.prepare()
    assert fake.paths_called() == ["GET /api/v5/public/instruments"]


# -- the happy path, in contracts on the wire and base units in the book ---------------------


def test_a_short_of_035_eth_is_35_contracts_on_okx_and_035_eth_in_our_book(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    legs = venue.execute(SHORT, MARKET).legs
    simulated = SimulatedCex(cex_config("okx"), COSTS_ON).execute(SHORT, MARKET).legs

    def shape(leg: Leg) -> tuple[object, ...]:
        sign = (leg.amount > 0) - (leg.amount < 0)
        entry = leg.entry_after is not None
        return leg.instrument, sign, leg.event_type, leg.pnl_component, leg.pnl_asset, entry

    assert [shape(leg) for leg in legs] == [shape(leg) for leg in simulated]
    assert_short_035_eth(legs)
    assert sent_sizes(fake) == ["3.5"]
    assert fake_contracts(fake) == Decimal("-3.5")
    (position,) = venue.client.fetch_positions([ETH])
    assert (position["contracts"], position["side"]) == (3.5, "short")
    (order,) = store.orders(STRATEGY)
    assert (order.state, order.qty_base, order.venue_filled_qty_base) == (
        OrderState.FILLED, 0.35, 0.35,
    )  # fmt: skip
    assert [f.qty_base for f in store.ledger(STRATEGY).fills] == [0.35]
    assert venue.positions() == {PERP: -0.35, USDT: pytest.approx(-FEE)}
    assert venue.reconcile() == []
    assert OKX_CLIENT_ID_RE.fullmatch(order.client_order_id)  # alphanumeric, <= 32
    assert fake.state.orders_by_client_id[order.client_order_id].qty_base == Decimal("0.35")
    assert f"ordId={order.venue_order_id}" in fake.requests[fake.paths_called().index(FILLS)][2]


def test_btc_contracts_of_001_btc(fake: OkxV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    (perp, _) = venue.execute(short(0.015, "BTC"), MARKET).legs
    assert perp.amount == -0.015 and sent_sizes(fake) == ["1.5"]
    assert fake_contracts(fake, BTC_ID) == Decimal("-1.5")
    assert venue.reconcile() == []


def test_float_noise_in_the_size_is_not_a_remainder(fake: OkxV5Fake, store: LiveStore) -> None:
    """0.1 x 3.5 is 0.35000000000000003 in floats: still 3.5 contracts (float division would
    give 3.4999999999999996, which ccxt truncates to 3.49)."""
    venue = live(fake, store)
    (perp, _) = venue.execute(short(0.1 * 3.5), MARKET).legs
    assert sent_sizes(fake) == ["3.5"] and perp.amount == -0.35
    assert fake_contracts(fake) == Decimal("-3.5")


@pytest.mark.parametrize(("size_base", "sent"), [(0.3505, "3.5"), (0.3509, "3.5"), (0.01, "0.1")])
def test_a_size_off_the_lot_is_cut_toward_zero_to_the_lot(
    fake: OkxV5Fake, store: LiveStore, size_base: float, sent: str
) -> None:
    """0.3505 ETH is 3.505 contracts and the lot is 0.01 contract: 3.50 contracts are sent
    and booked; the remainder below one lot is left for the next cycle."""
    venue = live(fake, store)
    (perp, _) = venue.execute(short(size_base), MARKET).legs
    assert sent_sizes(fake) == [sent]
    assert perp.amount == pytest.approx(-float(sent) * 0.1, rel=1e-12)
    assert fake_contracts(fake) == -Decimal(sent)


def test_a_size_below_one_lot_is_refused_before_anything_is_stored(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    with pytest.raises(ExecutionRejected, match="rounds to 0"):
        venue.execute(short(0.0005), MARKET)
    assert store.orders(STRATEGY) == [] and sends(fake) == 0
    assert store.next_seq(STRATEGY) == 0  # no sequence taken either (the first is 0)


# -- refusals --------------------------------------------------------------------------------


def test_insufficient_margin_51008_is_rejected_and_nothing_booked(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    with pytest.raises(ExecutionRejected, match="InsufficientFunds"):
        venue.execute(short(20.0), MARKET)  # 200 contracts: 60 000 notional on 10 000 at 3x
    (order,) = store.orders(STRATEGY)
    assert order.state is OrderState.REJECTED
    assert store.ledger(STRATEGY).fills == [] and fake.state.orders_by_venue_id == {}
    assert venue.positions() == {USDT: 0.0}
    assert sent_sizes(fake) == ["200"]


# -- lookup by clOrdId -----------------------------------------------------------------------


def test_lookup_returns_our_order_while_another_is_open(fake: OkxV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    place_other_open_order(fake)
    venue.client.create_order(ETH, "market", "sell", 5, params={"clientOrderId": "ours"})
    found = OKX.find_order(venue.client, "ours", ETH)
    assert found is not None and found["clientOrderId"] == "ours"
    assert (found["status"], found["filled"]) == ("closed", 5)  # contracts, as ccxt gives them
    assert "clOrdId=ours" in fake.requests[-1][2]


def test_an_unknown_client_id_is_51603_not_found(fake: OkxV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    place_other_open_order(fake)
    with pytest.raises(ccxt.OrderNotFound, match="51603") as raised:
        OKX.find_order(venue.client, "neverSent", ETH)
    assert isinstance(query_failure(raised.value), QueryNotFound)


# -- faults on the create call ---------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 502])
def test_lost_create_answer_is_found_by_client_id_and_sent_once(
    fake: OkxV5Fake, store: LiveStore, status: int | None
) -> None:
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    assert_short_035_eth(venue.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -0.35 and fake_contracts(fake) == Decimal("-3.5")
    assert store.orders(STRATEGY)[0].state is OrderState.FILLED


def test_lost_create_answer_while_another_order_is_open_books_ours(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store)
    place_other_open_order(fake)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    assert_short_035_eth(venue.execute(SHORT, MARKET).legs)
    (order,) = store.orders(STRATEGY)
    ours = fake.state.orders_by_client_id[order.client_order_id]
    assert order.venue_order_id == str(ours.venue_order_id)
    assert {f.trade_id for f in store.ledger(STRATEGY).fills} == {
        str(f.trade_id) for f in fake.state.fills if f.venue_order_id == ours.venue_order_id
    }
    assert booked_qty(store) == -0.35 and sends(fake) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_before_the_send_resends_with_the_same_client_id(
    fake: OkxV5Fake, store: LiveStore, status: int
) -> None:
    venue = live(fake, store)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=status))
    assert_short_035_eth(venue.execute(SHORT, MARKET).legs)
    (order,) = store.orders(STRATEGY)
    assert (order.state, order.attempts) == (OrderState.FILLED, 2)
    assert sent_sizes(fake) == ["3.5", "3.5"]
    assert list(fake.state.orders_by_client_id) == [order.client_order_id]
    assert booked_qty(store) == -0.35


def test_timeout_on_create_places_one_order(fake: OkxV5Fake, store: LiveStore) -> None:
    venue = live(fake, store, Sleeps(cap_s=0.15), timeout_ms=200)
    fake.state.inject(Fault(ORDER, FaultKind.DELAY, delay_s=0.5))
    assert_short_035_eth(venue.execute(SHORT, MARKET).legs)
    time.sleep(0.6)  # let the delayed original finish (placed, or refused as a duplicate)
    assert len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -0.35 and fake_contracts(fake) == Decimal("-3.5")


def test_rate_limit_50011_waits_retry_after_and_places_one_order(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    sleeps = Sleeps()
    venue = live(fake, store, sleeps)
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=2))
    assert_short_035_eth(venue.execute(SHORT, MARKET).legs)
    assert 2.0 in sleeps.calls  # the venue's Retry-After, not a 0.5 s backoff
    assert sends(fake) == 2 and len(fake.state.orders_by_venue_id) == 1


# -- restarts and duplicates -----------------------------------------------------------------


def test_restart_recovers_an_unresolved_order_instead_of_sending_again(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    first = live(fake, store, max_queries=4)
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE))
    for _ in range(4):
        fake.state.inject(Fault(QUERY, FaultKind.HTTP_ERROR, status=500))
    with pytest.raises(OrderUnresolvedError):
        first.execute(SHORT, MARKET)
    assert store.ledger(STRATEGY).fills == []
    second = live(fake, store)  # a new process: same store, same strategy id
    assert [o.state for o in second.unadopted()] == [OrderState.FILLED]
    assert_short_035_eth(second.execute(SHORT, MARKET).legs)
    assert sends(fake) == 1 and len(fake.state.orders_by_venue_id) == 1
    assert booked_qty(store) == -0.35 and second.unadopted() == []


def test_resend_refused_as_duplicate_51016_is_recovered(fake: OkxV5Fake, store: LiveStore) -> None:
    """Lookups wrongly say "not found" (a lagging venue), the order is LOST and resent with the
    same clOrdId; OKX refuses it (51016), which proves it exists: booked once."""
    client = okx_client(fake)
    client.load_markets()
    intent = new_order(STRATEGY, store.next_seq(STRATEGY), 0, "okx", ETH, Side.SELL, 0.35,
                       None, MARKET.t)  # fmt: skip
    store.add_orders([intent])
    client.create_order(ETH, "market", "sell", 3.5, None, {"clientOrderId": intent.client_order_id})
    misses = iter(range(4))  # recovery: 3 misses (LOST, no resend there); execute: 1 more

    def lagging(client: Any, client_order_id: str, symbol: str) -> Any:
        if next(misses, None) is not None:
            return None
        return OKX.find_order(client, client_order_id, symbol)

    restarted = LiveCex(cex_config("okx"), okx_client(fake), store, STRATEGY, sleep=Sleeps(),
                        dialect=replace(OKX, find_order=lagging))  # fmt: skip
    restarted.prepare()
    assert [o.state for o in restarted.unadopted()] == [OrderState.LOST]
    assert_short_035_eth(restarted.execute(SHORT, MARKET).legs)
    assert sent_sizes(fake) == ["3.5", "3.5"]  # ours by hand, then the resend: refused
    assert len(fake.state.orders_by_venue_id) == 1 and fake_contracts(fake) == Decimal("-3.5")
    assert booked_qty(store) == -0.35
    assert store.order(intent.client_order_id).attempts == 2  # type: ignore[union-attr]


# -- fills -----------------------------------------------------------------------------------


def test_partial_fill_books_only_the_filled_part_in_base_units(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    venue = live(fake, store, max_queries=2)
    fake.state.inject(PARTIAL)
    perp, cash = venue.execute(SHORT, MARKET).legs
    assert fake_contracts(fake) == Decimal("-1.75")
    assert perp.amount == pytest.approx(-0.175) and cash.amount == pytest.approx(-0.5 * FEE)
    assert len(store.ledger(STRATEGY).fills) == 2 and booked_qty(store) == pytest.approx(-0.175)
    (order,) = store.orders(STRATEGY, open_only=True)
    assert order.state is OrderState.PARTIALLY_FILLED
    assert (order.qty_base, order.venue_filled_qty_base) == (0.35, pytest.approx(0.175))
    assert store.ledger(STRATEGY).unbooked_qty_base(order) == pytest.approx(0.0)
    assert venue.positions()[PERP] == pytest.approx(-0.175) and venue.reconcile() == []
    assert sends(fake) == 1


# -- funding ---------------------------------------------------------------------------------


def test_funding_is_booked_once_with_the_sign_of_who_paid(
    fake: OkxV5Fake, store: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A positive rate: the short receives 0.35 x 3000 x 0.0001 = 0.105 (the fake's wallet
    grows by it); OKX's bill balChg and ccxt's amount say +0.105. Booked +0.105, once."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    wallet = fake.state.wallet_balance_quote
    fake.state.settle_funding(ETH_ID, Decimal("0.0001"), Decimal(3000))
    received = float(fake.state.wallet_balance_quote - wallet)
    (leg,) = venue.settle(MARKET).legs
    assert (leg.instrument, leg.event_type, leg.pnl_component) == (USDT, "FundingSettled",
                                                                    "funding")  # fmt: skip
    assert leg.amount == leg.pnl_native == pytest.approx(received) == pytest.approx(0.105)
    assert "GET /api/v5/account/bills-archive" in fake.paths_called()
    assert venue.settle(MARKET).legs == ()
    restarted = live(fake, store)
    restarted.restore_book_mark(venue.book_mark())  # what its checkpoint restores
    history = restarted.client.fetch_funding_history

    def ignoring_since(symbol: str, since: int | None = None) -> Any:
        return history(symbol)

    monkeypatch.setattr(restarted.client, "fetch_funding_history", ignoring_since)
    assert restarted.settle(MARKET).legs == ()
    assert len(store.ledger(STRATEGY).funding) == 1
    assert venue.positions()[USDT] == pytest.approx(0.105 - FEE)


def test_funding_paid_by_a_long_is_negative(fake: OkxV5Fake, store: LiveStore) -> None:
    venue = live(fake, store)
    venue.execute(short(-0.35), MARKET)  # a long of 0.35 ETH
    fake.state.settle_funding(ETH_ID, Decimal("0.0001"), Decimal(3000))
    (leg,) = venue.settle(MARKET).legs
    assert leg.amount == pytest.approx(-0.105)


# -- reconciliation --------------------------------------------------------------------------


def test_reconcile_finds_a_position_changed_behind_our_back(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    """The venue says 2.5 contracts short; our book says 0.35 ETH: compared as 0.25 ETH."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    assert venue.reconcile() == []
    fake.state.place_market_order(ETH_ID, "BUY", Decimal("0.1"), "byhand")  # 1 contract
    (position,) = venue.client.fetch_positions([ETH])
    assert position["contracts"] == 2.5
    (mismatch,) = venue.reconcile()
    assert (mismatch.key, mismatch.expected, mismatch.venue) == (PERP, -0.35, pytest.approx(-0.25))


def test_an_unbooked_trade_carries_its_size_in_base_units(
    fake: OkxV5Fake, store: LiveStore
) -> None:
    """A hand-placed fill: ccxt's amount is 1 contract, `amount_base` 0.1 ETH."""
    venue = live(fake, store)
    venue.execute(SHORT, MARKET)
    assert venue.unbooked_trades() == []
    fake.state.place_market_order(ETH_ID, "BUY", Decimal("0.1"), "byhand")
    (trade,) = venue.unbooked_trades()
    assert (trade["symbol"], trade["side"], trade["amount"], trade["amount_base"]) == (
        ETH, "buy", 1.0, 0.1,
    )  # fmt: skip


def test_the_lot_is_read_from_ccxts_precision(fake: OkxV5Fake) -> None:
    """TICK_SIZE: the step itself (0.01 contract); DECIMAL_PLACES: 10^-digits."""
    client = okx_client(fake)
    client.load_markets()
    assert lot_contracts(client, ETH) == Decimal("0.01")
    client.precisionMode = ccxt.DECIMAL_PLACES
    client.markets[ETH]["precision"]["amount"] = 3
    assert lot_contracts(client, ETH) == Decimal("0.001")
