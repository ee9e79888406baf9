"""ccxt's real sync binance (spot) client against the local Binance spot fake.

Why: the live spot path goes through ccxt; these tests pin what ccxt does with Binance spot's
answers (quoteOrderQty buys, fees in the coin bought, -2010 meaning both "duplicate" and "no
balance", the universal transfer between the futures and spot wallets), and that the fake's
answers parse like recorded Binance spot answers, so the live tests can rely on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.fakes.binance_spot import ORDER, TRANSFER, BinanceSpotFake
from tests.fakes.binance_usdm import BinanceUsdmFake, default_state
from tests.fakes.ccxt_client import FakeRoutedBinanceSpot, binance_spot_client
from tests.fakes.cex_state import Fault, FaultKind, SpotOrderStatus
from tests.unit.venues.live_fakes.test_binance_fake import assert_same_shape, shape

BTC = "BTC/USDT"
STATIC = Path("/work/shared/reference/ccxt_static/response/binance.json")


@pytest.fixture
def fake() -> Iterator[BinanceSpotFake]:
    """The spot fake, with 1 000 USDT already in the spot wallet (futures: 10 000)."""
    with BinanceSpotFake() as server:
        server.spot.balances["USDT"] = Decimal(1_000)
        yield server


@pytest.fixture
def client(fake: BinanceSpotFake) -> Iterator[FakeRoutedBinanceSpot]:
    exchange = binance_spot_client(fake)
    exchange.load_markets()
    yield exchange
    exchange.session.close()


def buy_for(client: FakeRoutedBinanceSpot, usdt: float, client_id: str) -> dict[str, Any]:
    """A market buy spending `usdt` (quoteOrderQty), as the live spot path sends it."""
    return client.create_order(BTC, "market", "buy", usdt, None,
                               {"quoteOrderQty": usdt, "clientOrderId": client_id})  # fmt: skip


# -- orders ----------------------------------------------------------------------------------


def test_load_markets_lists_spot_only_with_binance_filters(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    assert sorted(client.markets) == [BTC, "ETH/USDT"]
    market = client.market(BTC)
    assert (market["id"], market["spot"], market["contract"]) == ("BTCUSDT", True, False)
    assert market["precision"]["amount"] == 0.00001 and market["precision"]["price"] == 0.01
    assert market["limits"]["cost"]["min"] == 5
    assert fake.paths_called() == ["GET /api/v3/exchangeInfo"]  # no /sapi call on load


def test_quote_buy_fills_whole_lots_and_takes_the_fee_in_the_coin(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    placed = buy_for(client, 500, "quote-buy")
    # 500 / 60 000 = 0.0083333.. BTC, cut to the 0.00001 lot: 0.00833 BTC for 499.8 USDT
    assert (placed["status"], placed["filled"], placed["cost"]) == ("closed", 0.00833, 499.8)
    assert placed["fee"] == {"currency": "BTC", "cost": pytest.approx(0.00833 * 0.001)}
    (trade,) = client.fetch_my_trades(BTC, None, None, {"orderId": placed["id"]})
    assert (trade["order"], trade["side"], trade["amount"], trade["price"]) == (
        placed["id"], "buy", 0.00833, 60_000,
    )  # fmt: skip
    assert fake.spot.balances["BTC"] == Decimal("0.00833") * Decimal("0.999")
    assert fake.spot.balances["USDT"] == Decimal("500.2")
    found = client.fetch_order_with_client_order_id("quote-buy", BTC)
    assert (found["id"], found["clientOrderId"], found["status"]) == (
        placed["id"], "quote-buy", "closed",
    )  # fmt: skip
    balance = client.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(0.00833 * 0.999)
    assert balance["USDT"]["free"] == pytest.approx(500.2)


def test_sell_by_quantity_takes_the_fee_in_usdt(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    fake.spot.balances["BTC"] = Decimal("0.01")
    placed = client.create_order(BTC, "market", "sell", 0.004, None, {"clientOrderId": "s"})
    assert (placed["filled"], placed["cost"], placed["fee"]["currency"]) == (0.004, 240, "USDT")
    assert fake.spot.balances["USDT"] == Decimal(1_000) + Decimal(240) * Decimal("0.999")
    assert fake.spot.balances["BTC"] == Decimal("0.006")


def test_result_and_ack_answers(client: FakeRoutedBinanceSpot) -> None:
    ack = client.create_order(BTC, "market", "buy", 50, None,
                              {"quoteOrderQty": 50, "newOrderRespType": "ACK"})  # fmt: skip
    assert ack["status"] is None and not ack["filled"]  # an acknowledgement only
    result = client.create_order(BTC, "market", "buy", 50, None,
                                 {"quoteOrderQty": 50, "newOrderRespType": "RESULT"})  # fmt: skip
    assert (result["status"], result["filled"], result["trades"]) == ("closed", 0.00083, [])


# -- refusals --------------------------------------------------------------------------------


def test_duplicate_client_id_is_invalid_order_and_creates_nothing(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    buy_for(client, 100, "dup")
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        buy_for(client, 100, "dup")
    assert len(fake.spot.orders_by_venue_id) == 1


def test_insufficient_balance_is_insufficient_funds(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    with pytest.raises(ccxt.InsufficientFunds):  # -2010 with the balance text
        buy_for(client, 2_000, "too-big")
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(BTC, "market", "sell", 0.001, None, {"clientOrderId": "no-btc"})
    assert fake.spot.orders_by_venue_id == {} and fake.spot.balances == {"USDT": Decimal(1_000)}


def test_filter_failures_are_refusals(client: FakeRoutedBinanceSpot, fake: BinanceSpotFake) -> None:
    fake.spot.balances["BTC"] = Decimal(1)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.privatePostOrder({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                 "quantity": "0.000015"})  # fmt: skip
    with pytest.raises(ccxt.BaseError, match="NOTIONAL"):
        buy_for(client, 3, "dust")
    assert fake.spot.orders_by_venue_id == {}


def test_unknown_client_id_is_order_not_found(client: FakeRoutedBinanceSpot) -> None:
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order_with_client_order_id("never-sent", BTC)


def test_wrong_secret_is_an_authentication_error(fake: BinanceSpotFake) -> None:
    client = binance_spot_client(fake, secret="not-the-secret")
    client.load_markets()
    with pytest.raises(ccxt.AuthenticationError):
        client.fetch_balance()


# -- the two wallets -------------------------------------------------------------------------


def test_transfer_moves_usdt_between_the_futures_and_spot_wallets() -> None:
    state = default_state()
    with BinanceUsdmFake(state), BinanceSpotFake(state) as spot:
        client = binance_spot_client(spot)
        client.load_markets()
        client.transfer("USDT", 1_500, "linear", "spot")
        assert (state.wallet_balance_quote, spot.spot.balances["USDT"]) == (8_500, 1_500)
        client.transfer("USDT", 500.25, "spot", "linear")
        assert (state.wallet_balance_quote, spot.spot.balances["USDT"]) == (
            Decimal("9000.25"), Decimal("999.75"),
        )  # fmt: skip
        with pytest.raises(ccxt.InsufficientFunds):  # -5013: more than the futures wallet has
            client.transfer("USDT", 20_000, "linear", "spot")
        assert [(t[1], t[2], t[3]) for t in spot.spot.transfers] == [
            ("UMFUTURE", "MAIN", Decimal(1_500)), ("MAIN", "UMFUTURE", Decimal("500.25")),
        ]  # fmt: skip


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_is_ddos_protection_with_retry_after(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=9))
    with pytest.raises(ccxt.DDoSProtection):
        buy_for(client, 100, "limited")
    assert client.last_response_headers["Retry-After"] == "9"
    assert fake.spot.orders_by_venue_id == {}  # refused before doing anything


@pytest.mark.parametrize("status", [None, 502])
def test_lost_answer_order_exists_once_and_is_found_by_client_id(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake, status: int | None
) -> None:
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    with pytest.raises(ccxt.OperationFailed):
        buy_for(client, 100, "lost")
    assert client.fetch_order_with_client_order_id("lost", BTC)["status"] == "closed"
    assert len(fake.spot.orders_by_venue_id) == 1


def test_lost_transfer_answer_moved_the_money(fake: BinanceSpotFake) -> None:
    client = binance_spot_client(fake)
    client.load_markets()
    fake.state.inject(Fault(TRANSFER, FaultKind.LOSE_RESPONSE))
    with pytest.raises(ccxt.NetworkError):
        client.transfer("USDT", 100, "linear", "spot")
    assert fake.spot.balances["USDT"] == Decimal(1_100)


def test_partial_fill_expires_with_the_filled_part(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    fake.state.inject(
        Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))
    )
    placed = buy_for(client, 600, "half")  # 0.01 BTC ordered, 0.005 filled in two trades
    assert (placed["status"], placed["filled"], placed["cost"]) == ("expired", 0.005, 300)
    assert len(client.fetch_my_trades(BTC, None, None, {"orderId": placed["id"]})) == 2
    assert fake.spot.find_order(None, "half").status is SpotOrderStatus.EXPIRED


def test_fees_in_bnb_are_reported_in_bnb(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake
) -> None:
    fake.spot.fee_asset, fake.spot.balances["BNB"] = "BNB", Decimal(1)
    placed = buy_for(client, 600, "bnb")
    assert placed["fee"]["currency"] == "BNB"
    assert placed["fee"]["cost"] == pytest.approx(600 * 0.001 * 0.75 / 600)
    assert fake.spot.balances["BTC"] == Decimal("0.01")  # the coin bought comes in whole


# -- conformance with recorded Binance spot answers ------------------------------------------


def recorded(method: str, description: str) -> Any:
    entries = json.loads(STATIC.read_text())["methods"][method]
    (entry,) = [e for e in entries if e["description"] == description]
    return entry["httpResponse"]


def raw_keys(raw: Any) -> set[str]:
    return set(raw[0] if isinstance(raw, list) else raw)


CONFORMANCE = [
    ("fetchOrder", "Fetch spot closed order", "fetch_order"),
    ("fetchMyTrades", "Spot private trade", "fetch_my_trades"),
    ("fetchBalance", "Spot balance", "fetch_balance"),
    ("createOrder", "spot +selfTradePrevention +iceberg", "create_order"),
]
# keys Binance sends only for the kind of order recorded (an iceberg limit order)
ORDER_KIND_KEYS = {"createOrder": {"icebergQty"}}


@pytest.mark.parametrize(("method", "description", "call"), CONFORMANCE)
def test_fake_answers_parse_like_recorded_binance_spot_answers(
    client: FakeRoutedBinanceSpot, fake: BinanceSpotFake, method: str, description: str, call: str
) -> None:
    """Each fake answer, parsed by ccxt, has the keys and value kinds of the recorded Binance
    answer parsed by ccxt; the raw answer has every recorded raw key."""
    placed = buy_for(client, 500, "shape")
    ours: Any = {
        "fetch_order": lambda: client.fetch_order(placed["id"], BTC),
        "fetch_my_trades": lambda: client.fetch_my_trades(BTC, None, 1),
        "fetch_balance": client.fetch_balance,
        "create_order": lambda: placed,
    }[call]()
    answer = recorded(method, description)
    market = client.market(BTC)
    theirs: Any
    if method == "fetchMyTrades":
        theirs = client.parse_trades(answer, market)
    elif method == "fetchBalance":  # ccxt parses balances inside fetch_balance only
        replay = binance_spot_client(fake)
        replay.load_markets()
        replay.fetch = lambda *args, **kwargs: answer  # type: ignore[method-assign]
        theirs = replay.fetch_balance()
    else:
        theirs = client.parse_order(answer, market)
    raw_ours = ours["info"] if isinstance(ours, dict) else ours[0]["info"]
    assert raw_keys(answer) - ORDER_KIND_KEYS.get(method, set()) <= raw_keys(raw_ours)
    if method == "fetchBalance":  # keyed by the coins held: compare one coin both hold
        ours, theirs = coin_view(ours, "BTC"), coin_view(theirs, "BTC")
    assert_same_shape(shape(ours), shape(theirs))


def coin_view(balance: dict[str, Any], coin: str) -> dict[str, Any]:
    """A ccxt balance reduced to its timestamps and one coin (in every view of it)."""
    views = {view: {coin: balance[view][coin]} for view in ("free", "used", "total")}
    return {"timestamp": balance["timestamp"], "datetime": balance["datetime"],
            coin: balance[coin], **views}  # fmt: skip
