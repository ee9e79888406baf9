"""ccxt's real sync okx client against the local OKX v5 fake (USDT-margined SWAP perps).

Why: live execution goes through ccxt; these tests pin what ccxt actually does with OKX's
answers (contract sizes, acceptance-only order answers, per-order sCodes, error classes) and
that the fake books like the venue, so the live engine's tests can rely on both. Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

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
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.okx_v5 import API_KEY, API_SECRET, PASSPHRASE, OkxV5Fake, default_state, okx_client

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
BTC_ID = "BTC-USDT-SWAP"
ORDER = "POST /api/v5/trade/batch-orders"  # ccxt 4.5's create_order route
REFERENCE = Path("/work/shared/reference/ccxt_static")
RESPONSES, REQUESTS = REFERENCE / "response/okx.json", REFERENCE / "request/okx.json"


@pytest.fixture
def fake() -> Iterator[OkxV5Fake]:
    with OkxV5Fake() as server:
        yield server


@pytest.fixture
def client(fake: OkxV5Fake) -> Iterator[ccxt.okx]:
    exchange = okx_client(fake)
    exchange.load_markets()
    yield exchange
    exchange.session.close()


def buy(client: ccxt.okx, contracts: float, client_id: str, symbol: str = BTC) -> dict[str, Any]:
    """A market buy in contracts with our client order id (as the live engine will send it)."""
    return client.create_order(
        symbol, "market", "buy", contracts, params={"clientOrderId": client_id}
    )


def sell(client: ccxt.okx, contracts: float, client_id: str) -> dict[str, Any]:
    return client.create_order(
        BTC, "market", "sell", contracts, params={"clientOrderId": client_id}
    )


def by_id(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OKX lists fills newest first and ccxt sorts by ms only: order by trade id (monotonic)."""
    return sorted(trades, key=lambda t: int(t["id"]))


# -- happy paths -----------------------------------------------------------------------------


def test_load_markets_serves_swaps_with_okx_contract_sizes(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    assert sorted(client.markets) == [BTC, ETH]
    btc, eth = client.market(BTC), client.market(ETH)
    assert (btc["id"], btc["linear"], btc["swap"], btc["settle"]) == (BTC_ID, True, True, "USDT")
    assert (btc["contractSize"], eth["contractSize"]) == (0.01, 0.1)
    assert btc["precision"]["amount"] == 0.01 and btc["limits"]["amount"]["min"] == 0.01
    assert fake.paths_called() == ["GET /api/v5/public/instruments"]  # no asset/currencies


def test_server_time_serves_ccxt_clock_sync(client: ccxt.okx) -> None:
    before = int(time.time() * 1000)
    assert before - 1 <= client.fetch_time() <= int(time.time() * 1000) + 1
    client.load_time_difference()
    assert abs(client.options["timeDifference"]) < 1_000


def test_fetch_funding_rate_reports_state(client: ccxt.okx, fake: OkxV5Fake) -> None:
    fake.state.set_funding(BTC_ID, Decimal("0.00025"), 1_900_000_000_000)
    rate = client.fetch_funding_rate(BTC)
    assert rate["fundingRate"] == 0.00025
    assert rate["fundingTimestamp"] == 1_900_000_000_000
    assert rate["nextFundingTimestamp"] == 1_900_000_000_000 + 28_800_000
    assert rate["interval"] == "8h"


def test_set_leverage_and_margin_mode_reach_the_account(client: ccxt.okx, fake: OkxV5Fake) -> None:
    client.set_leverage(7, BTC)
    assert fake.state.position(BTC_ID).leverage == 7
    client.set_margin_mode("isolated", BTC, params={"leverage": 5})
    position = fake.state.position(BTC_ID)
    assert (position.leverage, position.margin_mode) == (5, "isolated")
    client.set_margin_mode("cross", BTC, params={"leverage": 5})
    assert fake.state.position(BTC_ID).margin_mode == "cross"
    with pytest.raises(ccxt.BadRequest, match="51000"):
        client.set_leverage(101, BTC)  # ccxt allows 125; the venue's maximum is 100


def test_order_answer_is_acceptance_and_the_fill_is_in_contracts(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    """OKX answers a placement with ids only; 2 contracts of 0.01 BTC book 0.02 BTC."""
    placed = buy(client, 2, "cid1")
    assert (placed["status"], placed["filled"], placed["clientOrderId"]) == (None, None, "cid1")
    assert fake.state.position(BTC_ID).size_base == Decimal("0.02")
    by_client = client.fetch_order(None, BTC, params={"clientOrderId": "cid1"})
    by_venue = client.fetch_order(placed["id"], BTC)
    assert by_client["id"] == by_venue["id"] == placed["id"]
    assert (by_venue["status"], by_venue["filled"], by_venue["amount"]) == ("closed", 2, 2)
    assert (by_venue["average"], by_venue["cost"]) == (60_000, 1_200)  # 2 × 0.01 × 60 000
    assert by_venue["fee"] == {"cost": pytest.approx(0.6), "currency": "USDT"}
    buy(client, 3, "eth1", ETH)
    assert fake.state.position("ETH-USDT-SWAP").size_base == Decimal("0.3")
    body = json.loads(fake.requests[-1][2])
    assert body == [body[0]] and (body[0]["sz"], body[0]["clOrdId"]) == ("3", "eth1")


def test_single_order_route_places_and_refuses_like_the_batch_route(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    client.options["createOrder"] = "privatePostTradeOrder"
    buy(client, 1, "single")
    with pytest.raises(ccxt.InvalidOrder, match="51016"):
        buy(client, 1, "single")
    assert fake.paths_called()[-2:] == ["POST /api/v5/trade/order"] * 2
    assert len(fake.state.orders_by_venue_id) == 1


def test_sell_through_a_long_flips_it_at_the_fill_price(client: ccxt.okx, fake: OkxV5Fake) -> None:
    buy(client, 10, "long")
    fake.state.set_mark_price(BTC_ID, Decimal(59_000))
    sell(client, 30, "flip")
    (position,) = client.fetch_positions()
    assert (position["side"], position["contracts"], position["entryPrice"]) == (
        "short",
        20,
        59_000,
    )
    assert position["info"]["pos"] == "-20"
    assert float(by_id(client.fetch_my_trades(BTC))[-1]["info"]["fillPnl"]) == pytest.approx(-100)


def test_concurrent_same_client_id_creates_one_order(fake: OkxV5Fake, client: ccxt.okx) -> None:
    """Four threads racing with one clOrdId (a retry racing the original): one order."""
    clients = [okx_client(fake) for _ in range(4)]
    outcomes: list[str] = []

    def send(racer: ccxt.okx) -> None:
        try:
            buy(racer, 1, "race")
            outcomes.append("placed")
        except ccxt.InvalidOrder:
            outcomes.append("duplicate")

    try:
        for racer in clients:
            racer.markets, racer.markets_by_id = client.markets, client.markets_by_id
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
    assert [p["contracts"] for p in client.fetch_positions()] == [1]


def test_unknown_order_is_order_not_found(client: ccxt.okx) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="51603"):
        client.fetch_order(None, BTC, params={"clientOrderId": "neverSent"})


def test_fetch_my_trades_with_fees_and_realized_pnl(client: ccxt.okx, fake: OkxV5Fake) -> None:
    buy(client, 2, "open")
    fake.state.set_mark_price(BTC_ID, Decimal(61_000))
    sell(client, 1, "reduce")
    trades = by_id(client.fetch_my_trades(BTC))
    assert [(t["side"], t["amount"], t["price"], t["cost"]) for t in trades] == [
        ("buy", 2, 60_000, 1_200),
        ("sell", 1, 61_000, 610),
    ]
    assert trades[1]["fee"] == {"currency": "USDT", "cost": pytest.approx(610 * 0.0005)}
    assert float(trades[1]["info"]["fillPnl"]) == pytest.approx(10.0)
    assert trades[1]["info"]["clOrdId"] == "reduce" and len({t["id"] for t in trades}) == 2
    assert fake.paths_called()[-1] == "GET /api/v5/trade/fills-history"
    raw = client.privateGetTradeFillsHistory({"instType": "SWAP", "instId": BTC_ID})["data"]
    assert [row["tradeId"] for row in raw] == [trades[1]["id"], trades[0]["id"]]  # newest first
    (newest,) = client.fetch_my_trades(BTC, limit=1)
    assert newest["id"] == trades[1]["id"]


def test_fetch_positions_marks_to_market(client: ccxt.okx, fake: OkxV5Fake) -> None:
    client.set_leverage(10, BTC)
    buy(client, 100, "long")  # 1 BTC
    fake.state.set_mark_price(BTC_ID, Decimal(61_000))
    (position,) = client.fetch_positions([BTC])
    assert (position["symbol"], position["side"], position["contracts"]) == (BTC, "long", 100)
    assert (position["contractSize"], position["notional"]) == (0.01, 61_000)
    assert (position["entryPrice"], position["markPrice"]) == (60_000, 61_000)
    assert position["unrealizedPnl"] == pytest.approx(1_000.0)
    assert position["initialMargin"] == pytest.approx(6_100.0)
    assert (position["marginMode"], position["hedged"], position["leverage"]) == (
        "cross",
        False,
        10,
    )
    # wallet 10 000 - 30 fee; liquidation where 9 970 + (p - 60 000) = 0.004 p
    assert position["liquidationPrice"] == pytest.approx((60_000 - 9_970) / 0.996, abs=0.01)
    assert client.fetch_position_mode(BTC)["hedged"] is False


def test_small_position_has_no_liquidation_price(client: ccxt.okx) -> None:
    """OKX sends liqPx "" when the wallet covers any move; ccxt then reports None."""
    buy(client, 10, "small")  # 0.1 BTC against 10 000 USDT
    (position,) = client.fetch_positions()
    assert position["info"]["liqPx"] == "" and position["liquidationPrice"] is None


def test_fetch_balance_books_fee_and_margin(client: ccxt.okx) -> None:
    client.set_leverage(10, BTC)
    buy(client, 10, "long")
    balance = client.fetch_balance()
    usdt, (detail,) = balance["USDT"], balance["info"]["data"][0]["details"]
    fee = 0.1 * 60_000 * 0.0005
    assert usdt["total"] == pytest.approx(10_000 - fee)
    assert usdt["used"] == pytest.approx(600)
    assert usdt["free"] == pytest.approx(10_000 - fee - 600)
    assert float(detail["availBal"]) == usdt["free"] and float(detail["cashBal"]) == usdt["total"]
    assert float(detail["frozenBal"]) == float(detail["imr"]) == 600


def test_funding_history_after_settlement(client: ccxt.okx, fake: OkxV5Fake) -> None:
    buy(client, 10, "long")
    payment = fake.state.settle_funding(BTC_ID, Decimal("0.0001"), Decimal(62_000))
    assert payment is not None
    (entry,) = client.fetch_funding_history(BTC)
    assert entry["amount"] == pytest.approx(-0.1 * 62_000 * 0.0001)
    assert (entry["code"], entry["symbol"], entry["id"]) == ("USDT", BTC, str(payment.payment_id))
    assert fake.paths_called()[-1] == "GET /api/v5/account/bills-archive"
    assert client.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 3 - 0.62)
    sell(client, 10, "close")  # a later booking (fee 3 at mark 60 000) leaves the bill alone
    (entry,) = client.fetch_funding_history(BTC)
    assert float(entry["info"]["bal"]) == pytest.approx(10_000 - 3 - 0.62)
    assert client.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 - 3 - 0.62 - 3)


# -- refusals --------------------------------------------------------------------------------


def test_duplicate_client_id_is_invalid_order_and_creates_nothing(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    buy(client, 1, "same")
    with pytest.raises(ccxt.InvalidOrder, match="51016"):
        buy(client, 1, "same")
    assert json.loads(client.last_http_response)["code"] == "1"  # the refusal is in data[0].sCode
    assert len(fake.state.orders_by_venue_id) == 1
    assert len(client.fetch_my_trades(BTC)) == 1


def test_insufficient_margin(client: ccxt.okx, fake: OkxV5Fake) -> None:
    client.set_leverage(1, BTC)
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        buy(client, 100, "tooBig")  # 1 BTC: 60 000 USDT of margin against 10 000
    assert fake.state.orders_by_venue_id == {}
    buy(client, 10, "fits")  # 6 000 fits


def test_reduce_only_without_a_position_is_refused_as_generic_exchange_error(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    """ccxt 4.5.90 has no mapping for OKX's 51169: it surfaces as a plain ExchangeError."""
    with pytest.raises(ccxt.ExchangeError, match="51169") as caught:
        client.create_order(BTC, "market", "sell", 1, params={"reduceOnly": True})
    assert type(caught.value) is ccxt.ExchangeError
    buy(client, 2, "long")
    client.create_order(BTC, "market", "sell", 1, params={"reduceOnly": True})
    assert [p["contracts"] for p in client.fetch_positions()] == [1]
    assert len(fake.state.orders_by_venue_id) == 2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sz": "0.015"}, "51121"),  # not a multiple of lotSz 0.01
        ({"clOrdId": "cid-1"}, "51000"),  # OKX client ids are alphanumeric only
        ({"posSide": "long"}, "51000"),  # hedge-mode side on a net-mode account
        ({"ordType": "limit", "px": "50000"}, "51000"),  # the fake fills market orders only
    ],
)
def test_malformed_orders_are_refused_per_order(
    client: ccxt.okx, fake: OkxV5Fake, params: dict[str, str], code: str
) -> None:
    request = {"instId": BTC_ID, "tdMode": "cross", "side": "buy", "ordType": "market"}
    request |= {"sz": "1", "clOrdId": "raw1"} | params
    with pytest.raises(ccxt.BadRequest if code == "51000" else ccxt.InvalidOrder, match=code):
        client.privatePostTradeOrder(request)
    assert fake.state.orders_by_venue_id == {}


@pytest.mark.parametrize(
    ("key", "secret", "password", "code"),
    [
        ("wrong", API_SECRET, PASSPHRASE, "50111"),
        (API_KEY, "wrong", PASSPHRASE, "50113"),
        (API_KEY, API_SECRET, "wrong", "50105"),
    ],
)
def test_wrong_credentials_are_authentication_errors(
    fake: OkxV5Fake, key: str, secret: str, password: str, code: str
) -> None:
    bad = okx_client(fake, api_key=key, secret=secret, password=password)
    try:
        bad.load_markets()  # public: works
        with pytest.raises(ccxt.AuthenticationError, match=code):
            buy(bad, 1, "auth")
        with pytest.raises(ccxt.AuthenticationError, match=code):
            bad.fetch_balance()
        assert bad.last_http_response is not None and '"code": "' + code in bad.last_http_response
    finally:
        bad.session.close()
    assert fake.state.orders_by_venue_id == {}


def test_stale_timestamp_is_invalid_nonce(client: ccxt.okx) -> None:
    """A clock 70 s behind (ccxt's timeDifference) is outside OKX's 30 s window."""
    client.options["timeDifference"] = 70_000
    with pytest.raises(ccxt.InvalidNonce, match="50102"):
        client.fetch_balance()
    client.options["timeDifference"] = 20_000  # within the window
    assert client.fetch_balance()["USDT"]["total"] == 10_000


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_answer_is_rate_limit_exceeded_with_retry_after(
    client: ccxt.okx, fake: OkxV5Fake
) -> None:
    fake.state.inject(Fault(ORDER, FaultKind.HTTP_ERROR, status=429, retry_after_s=2))
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        buy(client, 1, "limited")
    assert client.last_response_headers["Retry-After"] == "2"
    assert fake.state.orders_by_venue_id == {}
    buy(client, 1, "limited")  # the fault was one-shot
    assert len(fake.state.orders_by_venue_id) == 1


@pytest.mark.parametrize(
    ("status", "error"), [(500, ccxt.ExchangeNotAvailable), (503, ccxt.OnMaintenance)]
)
def test_server_errors(
    client: ccxt.okx, fake: OkxV5Fake, status: int, error: type[Exception]
) -> None:
    """HTML 500 → ExchangeNotAvailable (HTTP map); JSON 50001 on 503 → OnMaintenance."""
    fake.state.inject(Fault("GET /api/v5/account/balance", FaultKind.HTTP_ERROR, status=status))
    with pytest.raises(error) as caught:
        client.fetch_balance()
    assert not isinstance(caught.value, ccxt.ExchangeError)  # retryable: a NetworkError
    assert client.fetch_balance()["USDT"]["total"] == 10_000


def test_delay_beyond_timeout_is_request_timeout(fake: OkxV5Fake) -> None:
    quick = okx_client(fake, timeout_ms=300)
    try:
        quick.load_markets()
        fake.state.inject(Fault("GET /api/v5/public/funding-rate", FaultKind.DELAY, delay_s=3))
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            quick.fetch_funding_rate(BTC)
        assert time.monotonic() - started < 2
    finally:
        quick.session.close()


@pytest.mark.parametrize(
    ("status", "error"), [(None, ccxt.NetworkError), (502, ccxt.ExchangeNotAvailable)]
)
def test_lost_response_order_exists_once_and_is_found_by_client_id(
    client: ccxt.okx, fake: OkxV5Fake, status: int | None, error: type[Exception]
) -> None:
    fake.state.inject(Fault(ORDER, FaultKind.LOSE_RESPONSE, status=status))
    with pytest.raises(error):
        buy(client, 1, "lost1")
    found = client.fetch_order(None, BTC, params={"clientOrderId": "lost1"})
    assert (found["status"], found["filled"], found["clientOrderId"]) == ("closed", 1, "lost1")
    with pytest.raises(ccxt.InvalidOrder, match="51016"):  # a blind retry cannot double up
        buy(client, 1, "lost1")
    assert len(fake.state.orders_by_venue_id) == 1
    assert [p["contracts"] for p in client.fetch_positions()] == [1]


def test_partial_fills_sum_to_the_order(client: ccxt.okx, fake: OkxV5Fake) -> None:
    fake.state.inject(Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=3))
    order = buy(client, 1, "parts")
    trades = client.fetch_my_trades(BTC, params={"ordId": order["id"]})
    assert sorted(t["amount"] for t in trades) == [0.33, 0.33, 0.34]  # whole lots of 0.01
    assert {t["order"] for t in trades} == {order["id"]}
    assert client.fetch_order(order["id"], BTC)["filled"] == pytest.approx(1)


def test_partial_fill_leaves_order_partially_filled(client: ccxt.okx, fake: OkxV5Fake) -> None:
    fake.state.inject(
        Fault(ORDER, FaultKind.PARTIAL_FILL, fill_parts=2, filled_fraction=Decimal("0.5"))
    )
    order = client.fetch_order(buy(client, 10, "half")["id"], BTC)
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 5, 5)
    assert order["info"]["state"] == "partially_filled"


def test_mark_jump_liquidates_and_books_the_loss(client: ccxt.okx, fake: OkxV5Fake) -> None:
    client.set_leverage(20, BTC)
    buy(client, 200, "big")  # 2 BTC, 120 000 notional, fee 60
    assert fake.state.set_mark_price(BTC_ID, Decimal(55_300)) == []  # 540 > 442.4 maint
    assert len(fake.state.set_mark_price(BTC_ID, Decimal(55_250))) == 1  # 440 < 442 maint
    assert client.fetch_positions() == []
    expected_wallet = 10_000 - 60 - 2 * 4_750 - 2 * 55_250 * 0.0005
    assert client.fetch_balance()["USDT"]["total"] == pytest.approx(expected_wallet)
    closing = by_id(client.fetch_my_trades(BTC))[-1]
    assert (closing["side"], closing["amount"], closing["price"]) == ("sell", 200, 55_250)
    assert float(closing["info"]["fillPnl"]) == pytest.approx(-9_500)
    order = client.fetch_order(closing["order"], BTC)
    assert (order["info"]["category"], order["clientOrderId"]) == ("full_liquidation", None)


# -- conformance with recorded OKX answers and requests (ccxt's static tests) -----------------


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


def recorded(path: Path, method: str, description: str) -> dict[str, Any]:
    entries = json.loads(path.read_text())["methods"][method]
    return next(e for e in entries if e["description"] == description)


def raw_keys(answer: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Envelope keys and the first data item's keys."""
    first = answer["data"][0]
    return set(answer), set(first) | {f"details.{k}" for k in first.get("details", [{}])[0]}


def with_ltc() -> OkxV5Fake:
    """The recordings trade LTC-USDT-SWAP (ctVal 1): list it so ccxt resolves their market."""
    state = default_state()
    state.add_symbol("LTC-USDT-SWAP", Decimal(100), qty_step_base=Decimal("0.01"))
    return OkxV5Fake(state)


LTC = "LTC/USDT:USDT"
# (method, description, call, args, unified keys compared). None compares the whole structure;
# the recorded balance holds 13 currencies (compared on USDT), the trade and order were
# recorded on spot and the ledger entry is a trade bill (its referenceId is the order id; a
# funding bill has none), so those compare the fields a swap account shares with them.
SHARED = ["id", "symbol", "side", "price", "amount", "fee", "timestamp", "datetime"]
CONFORMANCE = [
    ("fetchBalance", "spot balance", "fetch_balance", [{"type": "swap"}], ["USDT", "timestamp"]),
    ("fetchPositions", "linear swap position", "fetch_positions", [[LTC]], None),
    ("fetchPosition", "fetch position", "fetch_position", [LTC], None),
    ("fetchMyTrades", "Fetch spot trade", "fetch_my_trades", [None, None, 1], [*SHARED, "order"]),
    ("fetchOrder", "fetch spot order", "fetch_order", ["ID", LTC], [*SHARED, "status", "filled"]),
    (
        "fetchLedger",
        "fetch ledger",
        "fetch_ledger",
        ["USDT", None, 1],
        ["id", "currency", "amount", "before", "after", "status", "timestamp", "account"],
    ),
    ("fetchAccounts", "Fetch accounts", "fetch_accounts", [], None),
    ("fetchTime", "Fetch time", "fetch_time", [], None),
    ("createOrder", "type2 & type3 together", "create_order", [LTC, "market", "buy", 1], None),
]


def pick(value: Any, keys: list[str] | None) -> Any:
    """The compared part of a unified structure (first item of a list)."""
    item = value[0] if isinstance(value, list) else value
    return item if keys is None else {k: item[k] for k in keys}


@pytest.mark.skipif(not RESPONSES.exists(), reason="ccxt static fixtures not in this checkout")
@pytest.mark.parametrize(("method", "description", "call", "args", "keys"), CONFORMANCE)
def test_fake_answers_parse_like_recorded_okx_answers(
    method: str, description: str, call: str, args: list[Any], keys: list[str] | None
) -> None:
    with with_ltc() as fake:
        live, replay = okx_client(fake), okx_client(fake)
        try:
            live.load_markets()
            replay.load_markets()
            placed = buy(live, 3, "conformance", LTC)
            fake.state.settle_funding("LTC-USDT-SWAP", Decimal("0.0001"))
            live_args = [placed["id"] if a == "ID" else a for a in args]
            ours = getattr(live, call)(*live_args)
            our_answer = json.loads(live.last_http_response)
            answer = recorded(RESPONSES, method, description)["httpResponse"]
            replay.fetch = lambda *a, **k: answer
            theirs = getattr(replay, call)(*live_args)
        finally:
            live.session.close()
            replay.session.close()
    envelope, raw = raw_keys(our_answer)
    recorded_envelope, recorded_raw = raw_keys(answer)
    assert recorded_envelope <= envelope and recorded_raw <= raw
    assert_same_shape(shape(pick(ours, keys)), shape(pick(theirs, keys)))


REQUEST_CONFORMANCE = [
    ("fetchPositions", "Fetch positions with a symbols argument"),
    ("fetchPositions", "Fetch positions with no arguments"),
    ("fetchMyTrades", "Swap fetch my trades"),
    ("setLeverage", "set leverage"),
    ("setMarginMode", "set margin mode cross"),
    ("fetchBalance", "spot balance"),
    ("fetchTime", "fetchTime"),
    ("fetchPositionMode", "Fetch position mode"),
    ("fetchLedger", "Fetch Ledger"),
]


@pytest.mark.skipif(not REQUESTS.exists(), reason="ccxt static fixtures not in this checkout")
@pytest.mark.parametrize(("method", "description"), REQUEST_CONFORMANCE)
def test_fake_accepts_the_requests_ccxt_recorded_against_okx(method: str, description: str) -> None:
    """The exact wire request of the recording (path, query, JSON body) is answered with code 0."""
    entry = recorded(REQUESTS, method, description)
    url = urlsplit(entry["url"])
    path = url.path.removeprefix("/api/v5/")
    params: Any = json.loads(entry["output"]) if entry.get("output") else dict(parse_qsl(url.query))
    api = "public" if path.startswith("public/") else "private"
    with with_ltc() as fake:
        client = okx_client(fake)
        try:
            answer = client.request(path, [api], "POST" if entry.get("output") else "GET", params)
        finally:
            client.session.close()
        (method_sent, path_sent, sent) = fake.requests[-1]
    assert answer["code"] == "0" and isinstance(answer["data"], list)
    assert path_sent == url.path
    if method_sent == "GET":
        assert sent == url.query
    else:
        assert json.loads(sent) == params


@pytest.mark.skipif(not REQUESTS.exists(), reason="ccxt static fixtures not in this checkout")
def test_recorded_hedge_mode_order_is_refused_on_a_net_mode_account() -> None:
    """The recorded order carries posSide long (hedge mode); in net mode OKX refuses posSide."""
    entry = recorded(REQUESTS, "createOrder", "Swap market buy with posSide = long")
    orders = json.loads(entry["output"])
    with with_ltc() as fake:
        client = okx_client(fake)
        try:
            with pytest.raises(ccxt.BadRequest, match="posSide"):
                client.privatePostTradeBatchOrders(orders)
            answer = json.loads(client.last_http_response)
        finally:
            client.session.close()
        assert fake.state.orders_by_venue_id == {}
    assert (answer["code"], answer["msg"], answer["data"][0]["sCode"]) == (
        "1",
        "All operations failed",
        "51000",
    )
    del orders[0]["posSide"]
    assert orders[0]["instId"] == "LTC-USDT-SWAP"  # without it, the same order is placed
    with with_ltc() as fake:
        client = okx_client(fake)
        try:
            assert client.privatePostTradeBatchOrders(orders)["data"][0]["sCode"] == "0"
        finally:
            client.session.close()
        assert fake.state.position("LTC-USDT-SWAP").size_base == Decimal(1)
