"""ccxt's real sync bybit client against the local Bybit v5 fake (linear perps, unified account).

Why: live execution goes through ccxt; these tests pin what ccxt actually does with Bybit's
answers (which calls it makes, parsing, error classes, headers) and that the fake books like
the venue, so the live engine's tests can rely on both. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pytest
import requests
from tests.fakes.bybit_v5 import API_KEY, API_SECRET, BybitV5Fake, bybit_client
from tests.fakes.cex_state import Fault, FaultKind

BTC = "BTC/USDT:USDT"
CREATE = "POST /v5/order/create"
STATIC = Path("/work/shared/reference/ccxt_static")
FEE_RATE = 0.00055


@pytest.fixture
def fake() -> Iterator[BybitV5Fake]:
    with BybitV5Fake() as server:
        yield server


@pytest.fixture
def client(fake: BybitV5Fake) -> Iterator[ccxt.bybit]:
    exchange = bybit_client(fake)
    exchange.load_markets()
    yield exchange
    exchange.session.close()


def buy(client: ccxt.bybit, amount: float, client_id: str) -> dict[str, Any]:
    """A market buy with our client order id (ccxt sends it as orderLinkId)."""
    return client.create_order(BTC, "market", "buy", amount, params={"clientOrderId": client_id})


def by_link_id(client: ccxt.bybit, client_id: str) -> dict[str, Any]:
    """The one order with this orderLinkId, of any status (/v5/order/realtime by id)."""
    (order,) = client.fetch_open_orders(BTC, params={"orderLinkId": client_id})
    return order


# -- happy paths -----------------------------------------------------------------------------


def test_load_markets_serves_only_configured_linear_perps(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    assert sorted(client.markets) == [BTC, "ETH/USDT:USDT"]
    market = client.market(BTC)
    assert (market["id"], market["linear"], market["swap"], market["settle"]) == (
        "BTCUSDT",
        True,
        True,
        "USDT",
    )
    assert (market["precision"]["amount"], market["precision"]["price"]) == (0.001, 0.1)
    assert client.market("ETH/USDT:USDT")["precision"]["amount"] == 0.01
    assert market["limits"]["cost"]["min"] == 5 and market["limits"]["leverage"]["max"] == 100
    # ccxt asks for trading instruments and for pre-launch ones; no coin/query-info call
    assert [q for _, _, q in fake.requests] == [
        "category=linear&limit=1000",
        "category=linear&limit=1000&status=PreLaunch",
    ]


def test_server_time_serves_ccxt_clock_sync(client: ccxt.bybit) -> None:
    before = int(time.time() * 1000)
    assert before - 1 <= client.fetch_time() <= int(time.time() * 1000) + 1
    client.load_time_difference()
    assert abs(client.options["timeDifference"]) < 1_000


def test_fetch_funding_rate_reports_state(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    fake.state.set_funding("BTCUSDT", Decimal("0.00025"), 1_900_000_000_000)
    fake.state.set_mark_price("BTCUSDT", Decimal(61_234))
    rate = client.fetch_funding_rate(BTC)
    assert rate["fundingRate"] == 0.00025
    assert rate["fundingTimestamp"] == 1_900_000_000_000
    assert rate["markPrice"] == 61_234
    assert fake.paths_called()[-1] == "GET /v5/market/tickers"


def test_set_leverage_and_account_wide_margin_mode(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    client.set_leverage(7, BTC)
    assert fake.state.position("BTCUSDT").leverage == 7
    with pytest.raises(ccxt.BadRequest, match="110043"):  # unchanged leverage is an error
        client.set_leverage(7, BTC)
    client.set_margin_mode("isolated", BTC)
    assert {fake.state.position(s).margin_mode for s in ("BTCUSDT", "ETHUSDT")} == {"isolated"}
    client.set_margin_mode("cross")
    assert fake.state.position("ETHUSDT").margin_mode == "cross"
    # ccxt learns once that the account is unified, then sets the account's margin mode
    assert fake.paths_called().count("GET /v5/user/query-api") == 1
    assert fake.paths_called().count("GET /v5/account/info") == 1
    assert fake.paths_called()[-1] == "POST /v5/account/set-margin-mode"


def test_create_acknowledges_and_the_fill_is_found_by_link_id(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    placed = buy(client, 0.01, "cid-1")
    assert placed["info"] == {"orderId": placed["id"], "orderLinkId": "cid-1"}
    assert (placed["clientOrderId"], placed["status"], placed["filled"]) == ("cid-1", None, None)
    found = by_link_id(client, "cid-1")
    (closed,) = client.fetch_closed_orders(BTC, params={"orderLinkId": "cid-1"})
    by_id = client.fetch_order(placed["id"], BTC, params={"acknowledged": True})
    assert found["id"] == closed["id"] == by_id["id"] == placed["id"]
    assert (by_id["status"], by_id["filled"], by_id["average"], by_id["cost"]) == (
        "closed",
        0.01,
        60_000,
        600,
    )
    assert by_id["clientOrderId"] == "cid-1"
    assert by_id["fee"] == {"cost": pytest.approx(600 * FEE_RATE), "currency": "USDT"}
    query = dict(parse_qsl(fake.requests[-1][2]))
    assert query["orderId"] == placed["id"]


def test_fetch_order_needs_acknowledged_and_ignores_unified_client_order_id(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    """ccxt's fetch_order_with_client_order_id sends `clientOrderId`, which Bybit ignores: the
    realtime query then lists open orders, so it can return a different order. Query by
    `orderLinkId` instead."""
    with pytest.raises(ccxt.ArgumentsRequired):
        client.fetch_order(None, BTC)
    fake.state.inject(Fault(CREATE, FaultKind.PARTIAL_FILL, filled_fraction=Decimal("0.5")))
    buy(client, 0.02, "still-open")
    buy(client, 0.01, "wanted")
    wrong = client.fetch_order_with_client_order_id("wanted", BTC, {"acknowledged": True})
    assert wrong["clientOrderId"] == "still-open"
    assert "clientOrderId=wanted" in fake.requests[-1][2]
    assert by_link_id(client, "wanted")["clientOrderId"] == "wanted"


def test_sell_through_a_long_flips_it_at_the_fill_price(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    buy(client, 0.1, "long")
    fake.state.set_mark_price("BTCUSDT", Decimal(59_000))
    client.create_order(BTC, "market", "sell", 0.3, params={"clientOrderId": "flip"})
    (position,) = client.fetch_positions()
    assert (position["side"], position["contracts"], position["entryPrice"]) == (
        "short",
        0.2,
        59_000,
    )
    flip = next(t for t in client.fetch_my_trades(BTC) if t["side"] == "sell")
    assert flip["info"]["closedSize"] == "0.1"


def test_concurrent_same_link_id_creates_one_order(fake: BybitV5Fake, client: ccxt.bybit) -> None:
    """Four threads racing with one orderLinkId (a retry racing the original): one order."""
    client.fetch_balance()  # learn the account type once; the racers copy it
    clients = [bybit_client(fake) for _ in range(4)]
    outcomes: list[str] = []

    def send(racer: ccxt.bybit) -> None:
        try:
            buy(racer, 0.01, "race")
            outcomes.append("placed")
        except ccxt.InvalidOrder:
            outcomes.append("duplicate")
        except ccxt.BaseError as err:  # any other answer fails the assertion below, not a thread
            outcomes.append(type(err).__name__)

    try:
        for racer in clients:
            racer.markets, racer.markets_by_id = client.markets, client.markets_by_id
            racer.options.update(
                {k: client.options[k] for k in ("enableUnifiedMargin", "enableUnifiedAccount")}
            )
        threads = [threading.Thread(target=send, args=(racer,)) for racer in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for racer in clients:
            racer.session.close()
    assert sorted(outcomes) == ["duplicate"] * 3 + ["placed"]
    assert len(fake.state.orders_by_venue_id) == 1
    assert [p["contracts"] for p in client.fetch_positions()] == [0.01]


def test_unknown_order_is_an_empty_list_or_order_not_found(client: ccxt.bybit) -> None:
    assert client.fetch_open_orders(BTC, params={"orderLinkId": "never-sent"}) == []
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("00000000-0000-0000-0000-000000000001", BTC, {"acknowledged": True})


def test_fetch_my_trades_with_fees_and_closed_size(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    buy(client, 0.02, "open")
    fake.state.set_mark_price("BTCUSDT", Decimal(61_000))
    client.create_order(BTC, "market", "sell", 0.01, params={"clientOrderId": "reduce"})
    trades = sorted(client.fetch_my_trades(BTC), key=lambda t: t["side"])
    assert [(t["side"], t["amount"], t["price"]) for t in trades] == [
        ("buy", 0.02, 60_000),
        ("sell", 0.01, 61_000),
    ]
    assert trades[1]["fee"] == {
        "currency": "USDT",
        "cost": pytest.approx(0.01 * 61_000 * FEE_RATE),
        "rate": FEE_RATE,
    }
    assert [t["info"]["closedSize"] for t in trades] == ["0", "0.01"]
    assert [t["info"]["orderLinkId"] for t in trades] == ["open", "reduce"]
    assert len({t["id"] for t in trades}) == 2
    (position,) = client.fetch_positions([BTC])
    fees = (0.02 * 60_000 + 0.01 * 61_000) * FEE_RATE
    assert float(position["info"]["cumRealisedPnl"]) == pytest.approx(10 - fees)


def test_fetch_positions_marks_to_market(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    assert client.fetch_positions() == []
    (flat,) = client.fetch_positions([BTC])  # by symbol Bybit answers an empty position
    assert (flat["contracts"], flat["side"]) == (0, None)
    client.set_leverage(10, BTC)
    buy(client, 0.1, "long")
    fake.state.set_mark_price("BTCUSDT", Decimal(61_000))
    (position,) = client.fetch_positions()
    assert (position["symbol"], position["side"], position["contracts"]) == (BTC, "long", 0.1)
    assert (position["entryPrice"], position["markPrice"], position["leverage"]) == (
        60_000,
        61_000,
        10,
    )
    assert position["unrealizedPnl"] == pytest.approx(100.0)
    assert position["initialMargin"] == pytest.approx(610.0)
    assert position["maintenanceMargin"] == pytest.approx(0.1 * 61_000 * 0.004)


def test_fetch_balance_books_fee_and_margin(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    client.set_leverage(10, BTC)
    buy(client, 0.1, "long")
    usdt = client.fetch_balance()["USDT"]
    fee = 0.1 * 60_000 * FEE_RATE
    assert usdt["total"] == pytest.approx(10_000 - fee)
    assert usdt["used"] == pytest.approx(600)
    assert usdt["free"] == pytest.approx(10_000 - fee - 600)
    assert "accountType=UNIFIED" in fake.requests[-1][2]


def test_funding_history_amount_is_positive_when_paid(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    """Bybit's execFee is positive when the account pays: ccxt's amount has the opposite sign
    of Binance's income, which is negative when paid."""
    buy(client, 0.1, "long")
    payment = fake.state.settle_funding("BTCUSDT", Decimal("0.0001"), Decimal(62_000))
    assert payment is not None
    (entry,) = client.fetch_funding_history(BTC)
    assert entry["amount"] == pytest.approx(0.1 * 62_000 * 0.0001)
    assert (entry["code"], entry["symbol"], entry["rate"]) == ("USDT", BTC, 0.0001)
    assert (entry["info"]["execQty"], entry["info"]["execPrice"]) == ("0.1", "62000")
    assert client.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 3.3 - 0.62)
    assert [t["info"]["execType"] for t in client.fetch_my_trades(BTC)] == ["Trade"]


# -- refusals --------------------------------------------------------------------------------


def test_duplicate_link_id_is_invalid_order_and_creates_nothing(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    buy(client, 0.01, "same")
    with pytest.raises(ccxt.InvalidOrder, match="110072"):
        buy(client, 0.01, "same")
    assert len(fake.state.orders_by_venue_id) == 1
    assert len(client.fetch_my_trades(BTC)) == 1


def test_insufficient_margin(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    client.set_leverage(1, BTC)
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        buy(client, 1.0, "too-big")  # 60 000 USDT of margin against 10 000
    assert fake.state.orders_by_venue_id == {}
    buy(client, 0.1, "fits")  # 6 000 fits


def test_reduce_only_without_a_position_is_invalid_order(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="110017"):
        client.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})
    buy(client, 0.02, "long")
    client.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})
    assert [p["contracts"] for p in client.fetch_positions()] == [0.01]
    assert len(fake.state.orders_by_venue_id) == 2


@pytest.mark.parametrize(
    ("key", "secret", "code"), [(API_KEY, "wrong", "10004"), ("wrong", API_SECRET, "10003")]
)
def test_wrong_credentials_are_authentication_errors(
    fake: BybitV5Fake, key: str, secret: str, code: str
) -> None:
    bad = bybit_client(fake, api_key=key, secret=secret)
    try:
        bad.load_markets()  # public: works
        with pytest.raises(ccxt.AuthenticationError, match=code):
            buy(bad, 0.01, "auth")
        bad.options.update({"enableUnifiedMargin": False, "enableUnifiedAccount": True})
        with pytest.raises(ccxt.AuthenticationError, match=code):
            buy(bad, 0.01, "auth")
    finally:
        bad.session.close()
    assert fake.state.orders_by_venue_id == {}
    assert bad.last_http_response is not None
    assert bad.last_response_headers is not None


def test_stale_timestamp_is_invalid_nonce(client: ccxt.bybit) -> None:
    """A clock 70 s behind (ccxt's timeDifference) falls outside the 5 s recvWindow."""
    client.options["timeDifference"] = 70_000
    with pytest.raises(ccxt.InvalidNonce, match="10002"):
        client.fetch_balance()


def signed_get(fake: BybitV5Fake, path: str, signed_query: str, sent_query: str) -> Any:
    """A raw v5 GET signed over `signed_query` but sending `sent_query`."""
    timestamp, window = str(int(time.time() * 1000)), "5000"
    origin = timestamp + API_KEY + window + signed_query
    sign = hmac.new(API_SECRET.encode(), origin.encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-BAPI-API-KEY": API_KEY,
        "X-BAPI-TIMESTAMP": timestamp,
        "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN": sign,
    }
    with requests.get(f"{fake.base_url}{path}?{sent_query}", headers=headers, timeout=3) as answer:
        return answer.json()


def test_signature_covers_timestamp_key_window_and_query(fake: BybitV5Fake) -> None:
    """The fake recomputes the v5 HMAC: a tampered query fails with 10004."""
    path, query = "/v5/position/list", "category=linear&symbol=BTCUSDT"
    assert signed_get(fake, path, query, query)["retCode"] == 0
    tampered = signed_get(fake, path, query, "category=linear&symbol=ETHUSDT")
    assert (tampered["retCode"], tampered["result"]) == (10004, {})


# -- faults ----------------------------------------------------------------------------------


def test_uid_rate_limit_is_http_200_retcode_10006_with_reset_header(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    client.fetch_balance()  # account type known: the next request is the order itself
    fake.state.inject(Fault(CREATE, FaultKind.HTTP_ERROR, status=429, retry_after_s=2))
    with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
        buy(client, 0.01, "limited")
    headers = client.last_response_headers
    reset_ms = int(headers["X-Bapi-Limit-Reset-Timestamp"])
    assert 1_000 < reset_ms - time.time() * 1000 <= 2_000
    assert (headers["X-Bapi-Limit-Status"], client.last_http_response.startswith("{")) == (
        "0",
        True,
    )
    assert fake.state.orders_by_venue_id == {}
    buy(client, 0.01, "limited")  # the fault was one-shot
    assert by_link_id(client, "limited")["status"] == "closed"


def test_ip_rate_limit_is_http_403_rate_limit_exceeded(
    client: ccxt.bybit, fake: BybitV5Fake
) -> None:
    fake.state.inject(Fault("GET /v5/market/tickers", FaultKind.HTTP_ERROR, status=403))
    with pytest.raises(ccxt.RateLimitExceeded, match="403"):
        client.fetch_funding_rate(BTC)
    assert client.fetch_funding_rate(BTC)["fundingRate"] == 0.0001


@pytest.mark.parametrize(
    ("fault_status", "wire_status", "body_start"),
    [(429, 200, '{"retCode": 10006'), (403, 403, "<")],
)
def test_rate_limit_wire_format(
    fake: BybitV5Fake, fault_status: int, wire_status: int, body_start: str
) -> None:
    """What Bybit sends (ccxt raises RateLimitExceeded for both, so only the wire shows it):
    the UID limit is HTTP 200 with retCode 10006, the IP limit a bare HTTP 403 page."""
    fake.state.inject(Fault("GET /v5/market/time", FaultKind.HTTP_ERROR, status=fault_status))
    with requests.get(f"{fake.base_url}/v5/market/time", timeout=3) as answer:
        assert (answer.status_code, answer.text[: len(body_start)]) == (wire_status, body_start)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ccxt.ExchangeNotAvailable),
        (503, ccxt.ExchangeNotAvailable),
        (504, ccxt.RequestTimeout),
    ],
)
def test_server_errors(
    client: ccxt.bybit, fake: BybitV5Fake, status: int, error: type[Exception]
) -> None:
    fake.state.inject(Fault("GET /v5/account/wallet-balance", FaultKind.HTTP_ERROR, status=status))
    with pytest.raises(error, match=str(status)) as caught:
        client.fetch_balance()
    assert not isinstance(caught.value, ccxt.ExchangeError)
    assert client.fetch_balance()["USDT"]["total"] == 10_000


def test_delay_beyond_timeout_is_request_timeout(fake: BybitV5Fake) -> None:
    quick = bybit_client(fake, timeout_ms=300)
    try:
        quick.load_markets()
        fake.state.inject(Fault("GET /v5/market/tickers", FaultKind.DELAY, delay_s=3))
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            quick.fetch_funding_rate(BTC)
        assert time.monotonic() - started < 2
    finally:
        quick.session.close()


@pytest.mark.parametrize(
    ("status", "error"), [(None, ccxt.NetworkError), (502, ccxt.ExchangeNotAvailable)]
)
def test_lost_response_order_exists_once_and_is_found_by_link_id(
    client: ccxt.bybit, fake: BybitV5Fake, status: int | None, error: type[Exception]
) -> None:
    fake.state.inject(Fault(CREATE, FaultKind.LOSE_RESPONSE, status=status))
    with pytest.raises(error):
        buy(client, 0.01, "lost-1")
    found = by_link_id(client, "lost-1")
    assert (found["status"], found["filled"]) == ("closed", 0.01)
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # a blind retry cannot double up
        buy(client, 0.01, "lost-1")
    assert len(fake.state.orders_by_venue_id) == 1
    assert [p["contracts"] for p in client.fetch_positions()] == [0.01]


def test_partial_fills_sum_to_the_order(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    fake.state.inject(Fault(CREATE, FaultKind.PARTIAL_FILL, fill_parts=3))
    order = buy(client, 0.1, "parts")
    trades = client.fetch_my_trades(BTC, params={"orderId": order["id"]})
    assert len(trades) == 3
    assert sum(t["amount"] for t in trades) == pytest.approx(0.1)
    assert {t["order"] for t in trades} == {order["id"]}
    assert by_link_id(client, "parts")["filled"] == pytest.approx(0.1)


def test_partial_fill_leaves_order_partially_filled(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    fake.state.inject(
        Fault(CREATE, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))
    )
    buy(client, 0.1, "half")
    order = by_link_id(client, "half")
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.05, 0.05)
    assert order["info"]["orderStatus"] == "PartiallyFilled"
    assert [o["clientOrderId"] for o in client.fetch_open_orders(BTC)] == ["half"]


def test_mark_jump_liquidates_as_bust_trade(client: ccxt.bybit, fake: BybitV5Fake) -> None:
    """Liquidation fills are execType=BustTrade: ccxt's fetch_my_trades (execType=Trade) omits
    them; positions and wallet show the loss."""
    assert fake.state.position("BTCUSDT").leverage == 20  # the account's default
    buy(client, 2, "big")  # 120 000 notional, fee 66
    assert fake.state.set_mark_price("BTCUSDT", Decimal(55_300)) == []  # 534 > 442.4 maint
    assert len(fake.state.set_mark_price("BTCUSDT", Decimal(55_200))) == 1  # 334 < 441.6
    assert client.fetch_positions() == []
    expected_wallet = 10_000 - 66 - 2 * 4_800 - 2 * 55_200 * FEE_RATE
    assert client.fetch_balance()["USDT"]["total"] == pytest.approx(expected_wallet)
    assert [t["side"] for t in client.fetch_my_trades(BTC)] == ["buy"]
    (bust,) = client.fetch_my_trades(BTC, params={"execType": "BustTrade"})
    assert (bust["side"], bust["amount"], bust["price"]) == ("sell", 2, 55_200)
    assert (bust["info"]["closedSize"], bust["info"]["createType"]) == ("2", "CreateByLiq")


# -- conformance with recorded Bybit answers and requests ------------------------------------


def shape(value: Any) -> Any:
    """Keys and value kinds of a unified structure ("info" left out: it is the raw answer)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k != "info"}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return None if value is None else type(value).__name__


def assert_same_shape(fake_shape: Any, recorded_shape: Any, path: str = "") -> None:
    """Same keys everywhere; where the recorded value is set, the fake's is of the same kind."""
    if isinstance(recorded_shape, dict):
        assert isinstance(fake_shape, dict), path
        assert set(fake_shape) == set(recorded_shape), path
        for key, kind in recorded_shape.items():
            assert_same_shape(fake_shape[key], kind, f"{path}.{key}")
    elif isinstance(recorded_shape, list):
        assert isinstance(fake_shape, list) and len(fake_shape) >= len(recorded_shape), path
        for fake_item, recorded_item in zip(fake_shape, recorded_shape, strict=False):
            assert_same_shape(fake_item, recorded_item, path + "[]")
    elif recorded_shape is not None:
        assert fake_shape == recorded_shape, path


def recorded(kind: str, method: str, description: str) -> dict[str, Any]:
    entries = json.loads((STATIC / kind / "bybit.json").read_text())["methods"][method]
    (entry,) = [e for e in entries if e["description"] == description]
    return entry


def raw_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    result = answer["result"]
    return result.get("list", [result])


def as_btc(value: Any) -> Any:
    """Recorded calls use LTC, which the fake does not list: the same call on BTC."""
    text = json.dumps(value).replace("LTC/USDT:USDT", BTC).replace("LTCUSDT", "BTCUSDT")
    return json.loads(text)


_TOTALS = ("free", "used", "total", "debt")
CONFORMANCE = [
    ("fetchPositions", "Fetch linear position", "fetch_positions", [[BTC]]),
    ("fetchBalance", "balance after availableToWithdraw update", "fetch_balance", []),
    ("fetchMyTrades", "Swap private trade", "fetch_my_trades", [BTC, None, 1]),
    ("fetchFundingHistory", "linear funding history", "fetch_funding_history", [BTC]),
    ("fetchFundingRate", "fetchFundingRate", "fetch_funding_rate", [BTC]),
    ("fetchClosedOrders", "Fetch swap closed orders by the symbol", "fetch_closed_orders", [BTC]),
]


@pytest.mark.skipif(not STATIC.exists(), reason="ccxt static fixtures not in this checkout")
@pytest.mark.parametrize(("method", "description", "call", "args"), CONFORMANCE)
def test_fake_answers_parse_like_recorded_bybit_answers(
    fake: BybitV5Fake, method: str, description: str, call: str, args: list[Any]
) -> None:
    live, replay = bybit_client(fake), bybit_client(fake)
    try:
        live.load_markets()
        live.set_leverage(25, BTC)
        buy(live, 3, "conformance")  # large enough to have a liquidation price
        fake.state.settle_funding("BTCUSDT", Decimal("0.0001"))
        ours = getattr(live, call)(*args)
        replay.load_markets()
        replay.options.update({"enableUnifiedMargin": False, "enableUnifiedAccount": True})
        answer = recorded("response", method, description)["httpResponse"]
        replay.fetch = lambda *a, **kw: answer  # every HTTP call answers the recording
        theirs = getattr(replay, call)(*args)
    finally:
        live.session.close()
        replay.session.close()
    raw_ours = ours["info"] if isinstance(ours, dict) else ours[0]["info"]
    if method == "fetchBalance":  # the recording holds seven coins, the fake's account USDT
        assert set(raw_rows(answer)[0]) == set(raw_ours["result"]["list"][0])
        assert set(raw_rows(answer)[0]["coin"][0]) == set(raw_ours["result"]["list"][0]["coin"][0])
        coins = set(theirs["total"]) - set(ours["total"])
        theirs = {k: v for k, v in theirs.items() if k not in coins}
        theirs |= {k: {c: v for c, v in theirs[k].items() if c not in coins} for k in _TOTALS}
    else:  # ccxt writes "timestamp" into the raw tickers it parses (so into the recording)
        recorded_keys = set(raw_rows(answer)[0]) - {"nextPageCursor", "timestamp"}
        assert recorded_keys <= set(raw_ours)
    assert_same_shape(shape(ours), shape(theirs))


REQUESTS = [
    ("fetchPositions", "Swap fetchPositions", "fetch_positions"),
    ("fetchBalance", "fetch default balance", "fetch_balance"),
    ("fetchMyTrades", "Swap fetchMyTrades", "fetch_my_trades"),
    ("fetchFundingHistory", "funding history linear", "fetch_funding_history"),
    ("fetchClosedOrders", "Swap fetchClosedOrders", "fetch_closed_orders"),
    ("setLeverage", "Set leverage swap linear", "set_leverage"),
    ("setMarginMode", "set margin mode to isolated margin", "set_margin_mode"),
]


@pytest.mark.skipif(not STATIC.exists(), reason="ccxt static fixtures not in this checkout")
@pytest.mark.parametrize(("method", "description", "call"), REQUESTS)
def test_fake_serves_the_recorded_requests(
    client: ccxt.bybit, fake: BybitV5Fake, method: str, description: str, call: str
) -> None:
    """The fake answers (retCode 0) the path and parameters ccxt's recorded requests use."""
    entry = as_btc(recorded("request", method, description))
    getattr(client, call)(*entry["input"])
    url = urlsplit(entry["url"])
    method_seen, path_seen, query_seen = fake.requests[-1]
    assert path_seen == url.path
    wanted = dict(parse_qsl(url.query)) | json.loads(entry.get("output") or "{}")
    assert method_seen == ("POST" if entry.get("output") else "GET")
    sent = json.loads(client.last_request_body) if method_seen == "POST" else {}
    assert wanted.items() <= (dict(parse_qsl(query_seen)) | sent).items()
    assert json.loads(client.last_http_response)["retCode"] == 0
