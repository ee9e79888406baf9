"""A local fake of Bybit v5 REST (linear USDT perps, unified account) for ccxt's real client.

Why: Bybit's testnet cannot be reached offline and no simulator exists. This server speaks the
v5 wire format (paths, `X-BAPI-*` headers, HMAC-SHA256 over timestamp + key + recvWindow +
payload, the `{"retCode", "retMsg", "result", "retExtInfo", "time"}` envelope, Bybit's retCodes
and answer shapes as recorded from the venue) and books into the venue-neutral
`CexAccountState` shared with the Binance fake, so ccxt's signing, parsing and error mapping run
for real. Faults queued in the state are applied per endpoint key, e.g. "POST /v5/order/create".

Bybit differs from Binance in ways the live engine must respect, and the fake reproduces them:
most refusals come with HTTP 200 and a non-zero retCode; order ids are UUID strings; a created
order is only acknowledged (`{"orderId", "orderLinkId"}`), its fill is seen by a later query;
funding payments are executions (`execType=Funding`, positive `execFee` = paid); liquidation
fills are `execType=BustTrade`, so a `execType=Trade` query does not list them.

The raw record shapes (orders, executions, positions, instruments) are in bybit_v5_wire.py.

Usage:
    with BybitV5Fake() as fake:
        client = bybit_client(fake)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
from tests.fakes.bybit_v5_wire import (
    CHAINS,
    OPEN_STATUSES,
    STATUS_WIRE,
    SYMBOL_SPECS,
    WIRE_CHAIN,
    closed_sizes,
    deposit_address_json,
    deposit_json,
    exec_row,
    fill_json,
    instrument_json,
    internal_id,
    num,
    order_json,
    position_json,
    same,
    size_before,
    wire_id,
    withdrawal_json,
)
from tests.fakes.ccxt_client import rewrite_urls
from tests.fakes.cex_state import (
    ZERO,
    CexAccountState,
    Fault,
    FaultKind,
    RejectReason,
    VenueRejection,
)
from tests.fakes.http_fake import FakeServer, QuietHandler

API_KEY = "fake-bybit-key"
API_SECRET = "fake-bybit-secret"
DEFAULT_RECV_WINDOW_MS = 5_000
RATE_LIMIT_PER_S = 10  # the order endpoints' per-UID limit, as sent in X-Bapi-Limit

# Bybit v5 retCodes and texts (bybit-exchange.github.io/docs/v5/error). Bad keys come with
# HTTP 401; every other refusal with HTTP 200 and the code in the body.
INVALID_API_KEY = (401, 10003, "API key is invalid.")
BAD_SIGNATURE = (200, 10004, "error sign! origin_string[{}]")
BAD_TIMESTAMP = (
    200,
    10002,
    "invalid request, please check your server timestamp or recv_window param. "
    "req_timestamp[{}],server_timestamp[{}],recv_window[{}]",
)
PARAM_ERROR = (200, 10001, "params error: {}")
NO_SUCH_ENDPOINT = (404, 10017, "route not found")
TOO_MANY_VISITS = (10006, "Too many visits!")
LEVERAGE_NOT_MODIFIED = (200, 110043, "leverage not modified")
REJECTIONS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (110072, "OrderLinkedID is duplicate"),
    RejectReason.INSUFFICIENT_MARGIN: (110007, "ab not enough for new order"),
    RejectReason.UNKNOWN_SYMBOL: (10001, "params error: symbol invalid"),
    RejectReason.UNKNOWN_ORDER: (110001, "order not exists or too late to cancel"),
    RejectReason.INVALID_QUANTITY: (10001, "params error: qty invalid"),
    RejectReason.REDUCE_ONLY_REJECTED: (
        110017,
        "current position is zero, cannot fix reduce-only order qty",
    ),
}
# withdrawals refuse with the asset API's own codes
WITHDRAW_REJECTIONS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.INSUFFICIENT_MARGIN: (131212, "Insufficient balance"),
    RejectReason.INVALID_QUANTITY: (131002, "Withdraw amount is less than the minimum"),
    RejectReason.UNKNOWN_SYMBOL: (131002, "Parameter error: chain"),
}


class ApiError(Exception):
    """An error answer: HTTP status, retCode and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class BybitV5Fake(FakeServer):
    """The BybitV5 HTTP server plus the account it serves (`FakeServer`)."""

    def __init__(
        self,
        state: CexAccountState | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
    ) -> None:
        super().__init__(state or default_state())
        self.api_key, self.api_secret = api_key, api_secret
        self.margin_mode = "REGULAR_MARGIN"  # UTA: one margin mode for the whole account


def default_state() -> CexAccountState:
    """10 000 USDT, BTCUSDT at 60 000 and ETHUSDT at 3 000, funding 0.01 % at the next 8 h."""
    state = CexAccountState(wallet_balance_quote=Decimal(10_000), taker_fee_rate=Decimal("0.00055"))
    next_ms = (int(time.time() * 1000) // 28_800_000 + 1) * 28_800_000
    state.add_symbol(
        "BTCUSDT", Decimal(60_000), funding_rate=Decimal("0.0001"), next_funding_ms=next_ms
    )
    state.add_symbol(
        "ETHUSDT",
        Decimal(3_000),
        funding_rate=Decimal("0.0001"),
        next_funding_ms=next_ms,
        maint_margin_rate=Decimal("0.005"),
        qty_step_base=Decimal("0.01"),
    )
    return state


def bybit_client(
    fake: BybitV5Fake,
    api_key: str = API_KEY,
    secret: str = API_SECRET,
    timeout_ms: int = 3_000,
    enable_rate_limit: bool = False,
) -> ccxt.bybit:
    """A sync ccxt bybit client talking only to `fake`, limited to linear markets.

    Unlike binanceusdm, ccxt's bybit maps errors by retCode alone (no per-host tables), so
    the plain class works once `urls['api']` points at the fake. `fetchCurrencies` is off: with
    a key ccxt would call /v5/asset/coin/query-info during load_markets.
    """
    client = ccxt.bybit(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
            "options": {"fetchMarkets": {"types": ["linear"]}},
        }
    )
    client.urls["api"] = rewrite_urls(client.urls["api"], fake.base_url, {})
    client.has["fetchCurrencies"] = False
    return client


Route = Callable[["_Handler", dict[str, Any]], Any]


class _Handler(QuietHandler):
    """Routes one request: fault, signature check, then the endpoint's answer."""

    fake: BybitV5Fake
    fill_fault: Fault | None = None  # a PARTIAL_FILL fault for this request's order

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        key = f"{method} {url.path}"
        self.fake.requests.append((method, url.path, url.query))
        fault = self.fake.state.take_fault(key)
        if fault is not None and self._pre_fault(fault):
            return
        try:
            route = ROUTES.get(key)
            if route is None:
                raise ApiError(*NO_SUCH_ENDPOINT)
            fn, signed = route
            params: dict[str, Any] = dict(parse_qsl(url.query))
            if method == "POST":
                params |= _json_object(body)
            if signed:
                self._check_signed(url.query if method == "GET" else body)
            self.fill_fault = fault if fault and fault.kind is FaultKind.PARTIAL_FILL else None
            result = fn(self, params)
        except ApiError as err:
            self._send(err.status, _envelope(err.code, err.msg, {}))
            return
        except VenueRejection as rej:
            asset_api = url.path.startswith("/v5/asset/")
            code, msg = (WITHDRAW_REJECTIONS if asset_api else REJECTIONS)[rej.reason]
            self._send(200, _envelope(code, msg, {}))
            return
        if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
            self._lose(fault)
            return
        self._send(200, _envelope(0, "OK", result))

    def _pre_fault(self, fault: Fault) -> bool:
        """Apply a fault that acts before the request is handled; True when answered.

        429 is the per-UID limit: Bybit answers HTTP 200, retCode 10006 and the limit headers.
        403 is the IP limit: a bare "access too frequent" page from the gateway. Other 5xx are
        HTML pages from the gateway (nothing was done).
        """
        if fault.kind is FaultKind.DELAY:
            self.fake.stopping.wait(fault.delay_s)
            return False
        if fault.kind is not FaultKind.HTTP_ERROR:
            return False
        status = fault.status or 500
        if status == 429:
            now_ms = int(time.time() * 1000)
            reset_ms = now_ms + 1000 * (fault.retry_after_s or 1)
            headers = {
                "X-Bapi-Limit": str(RATE_LIMIT_PER_S),
                "X-Bapi-Limit-Status": "0",
                "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
            }
            self._send(200, _envelope(*TOO_MANY_VISITS, {}), headers)
        elif status == 403:
            self._send(403, "<html><body>access too frequent</body></html>")
        else:
            self._send(status, f"<html><body><h1>{status} Server Error</h1></body></html>")
        return True

    def _lose(self, fault: Fault) -> None:
        """The request took effect; the client gets a cut connection or a gateway error."""
        if fault.status is None:
            self.close_connection = True
            return
        self._send(fault.status, "<html><body><h1>502 Bad Gateway</h1></body></html>")

    def _check_signed(self, payload: str) -> None:
        """Key, then timestamp within recvWindow, then HMAC-SHA256 (hex) of the v5 string."""
        key = self.headers.get("X-BAPI-API-KEY")
        if key != self.fake.api_key:
            raise ApiError(*INVALID_API_KEY)
        timestamp = self.headers.get("X-BAPI-TIMESTAMP") or ""
        recv_window = self.headers.get("X-BAPI-RECV-WINDOW") or str(DEFAULT_RECV_WINDOW_MS)
        now_ms = int(time.time() * 1000)
        if not (timestamp.isdigit() and recv_window.isdigit()) or not (
            now_ms - int(recv_window) <= int(timestamp) < now_ms + 1000
        ):
            status, code, msg = BAD_TIMESTAMP
            raise ApiError(status, code, msg.format(timestamp, now_ms, recv_window))
        origin = timestamp + key + recv_window + payload
        expected = hmac.new(
            self.fake.api_secret.encode(), origin.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-BAPI-SIGN") or ""):
            status, code, msg = BAD_SIGNATURE
            raise ApiError(status, code, msg.format("***" + payload))  # key and time masked

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        data = raw.encode()
        try:
            self.send_response(status)
            ctype = "text/html" if isinstance(payload, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout fault): nothing to tell it
            self.close_connection = True


def _envelope(code: int, msg: str, result: Any) -> dict[str, Any]:
    return {
        "retCode": code,
        "retMsg": msg,
        "result": result,
        "retExtInfo": {},
        "time": int(time.time() * 1000),
    }


def _json_object(body: str) -> dict[str, Any]:
    """POST bodies are JSON objects; anything else is Bybit's 10001 parameter error."""
    try:
        parsed = json.loads(body or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("request body is not a JSON object"))
    return parsed


def _require(params: dict[str, Any], name: str) -> str:
    if params.get(name) in (None, ""):
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format(f"{name} is required"))
    return str(params[name])


def _linear(params: dict[str, Any]) -> None:
    """The fake serves only category=linear (what the live engine trades)."""
    if _require(params, "category") != "linear":
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("category only supports linear here"))


# -- public endpoints -----------------------------------------------------------------------


def _instruments(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    _linear(params)
    wanted = [s for s in h.fake.state.symbols if s in SYMBOL_SPECS]
    if params.get("status") not in (None, "Trading") or params.get("symbol") not in (None, *wanted):
        wanted = []  # nothing in PreLaunch / Delivering here
    elif params.get("symbol"):
        wanted = [params["symbol"]]
    return {
        "category": "linear",
        "list": [instrument_json(s) for s in wanted],
        "nextPageCursor": "",
    }


def _time(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    now_ns = time.time_ns()
    return {"timeSecond": str(now_ns // 10**9), "timeNano": str(now_ns)}


def _tickers(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    _linear(params)
    state = h.fake.state
    symbols = [params["symbol"]] if params.get("symbol") else list(state.symbols)
    rows = []
    for symbol in symbols:
        market = state.symbol_state(symbol)
        mark = num(market.mark_price)
        rows.append(
            {
                **same(
                    "0",
                    "price24hPcnt openInterest openInterestValue "
                    "turnover24h volume24h deliveryTime",
                ),
                **same(
                    "",
                    "predictedDeliveryPrice basisRate deliveryFeeRate "
                    "basis preOpenPrice preQty curPreListingPhase",
                ),
                "symbol": symbol,
                "lastPrice": mark,
                "indexPrice": mark,
                "markPrice": mark,
                "prevPrice24h": mark,
                "highPrice24h": mark,
                "lowPrice24h": mark,
                "prevPrice1h": mark,
                "fundingRate": num(market.funding_rate),
                "nextFundingTime": str(market.next_funding_ms),
                "ask1Size": "1",
                "bid1Price": mark,
                "ask1Price": mark,
                "bid1Size": "1",
            }
        )
    return {"category": "linear", "list": rows}


# -- account set-up -------------------------------------------------------------------------


def _query_api(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """ccxt asks this (and /v5/account/info) once to learn the account is unified (uta=1)."""
    return {
        **same("", "secret expiredAt rsaPublicKey"),
        "id": "1",
        "note": "fake",
        "apiKey": h.fake.api_key,
        "readOnly": 0,
        "permissions": {"ContractTrade": ["Order", "Position"], "Wallet": ["AccountTransfer"]},
        "ips": ["*"],
        "type": 1,
        "deadlineDay": 90,
        "createdAt": "2025-01-01T00:00:00Z",
        "unified": 0,
        "uta": 1,
        "userID": 1,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "isMaster": True,
    }


def _account_info(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "marginMode": h.fake.margin_mode,
        "updatedTime": str(int(time.time() * 1000)),
        "unifiedMarginStatus": 6,  # UTA 2.0 Pro
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }


def _set_leverage(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    _linear(params)
    symbol = _require(params, "symbol")
    buy, sell = Decimal(_require(params, "buyLeverage")), Decimal(_require(params, "sellLeverage"))
    if buy != sell or not 1 <= buy <= 100 or buy != buy.to_integral_value():
        status, code, msg = PARAM_ERROR  # one-way mode: both sides equal; the state is integer
        raise ApiError(status, code, msg.format("buyLeverage invalid"))
    if h.fake.state.position(symbol).leverage == int(buy):
        raise ApiError(*LEVERAGE_NOT_MODIFIED)
    h.fake.state.set_leverage(symbol, int(buy))
    return {}


def _set_margin_mode(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """UTA: account-wide; every symbol's positions follow (portfolio margin not modelled)."""
    wire = _require(params, "setMarginMode")
    mode = {"REGULAR_MARGIN": "cross", "ISOLATED_MARGIN": "isolated"}.get(wire)
    if mode is None:
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("setMarginMode invalid"))
    h.fake.margin_mode = wire
    for symbol in list(h.fake.state.symbols):
        h.fake.state.set_margin_mode(symbol, mode)
    return {"reasons": []}


# -- orders and executions ------------------------------------------------------------------


def _create_order(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """Market orders only; the answer acknowledges, the fill is seen by a query (as Bybit)."""
    _linear(params)
    symbol, side = _require(params, "symbol"), _require(params, "side")
    if _require(params, "orderType") != "Market" or side not in ("Buy", "Sell"):
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("only Market Buy/Sell orders in the fake"))
    link_id = str(params.get("orderLinkId") or "")
    if len(link_id) > 36:
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("orderLinkId is longer than 36 characters"))
    order = h.fake.state.place_market_order(
        symbol,
        side.upper(),
        Decimal(_require(params, "qty")),
        link_id or f"__fake-{time.time_ns()}",  # the state keys by client id; Bybit allows none
        reduce_only=params.get("reduceOnly") in (True, "true"),
        fault=h.fill_fault,
    )
    return {"orderId": wire_id(order.venue_order_id), "orderLinkId": link_id}


def _orders(h: _Handler, params: dict[str, Any], realtime: bool) -> dict[str, Any]:
    """/v5/order/realtime and /v5/order/history: orderId > orderLinkId > symbol, newest first.

    realtime without an id lists open orders only (openOnly=0), with an id any recent order;
    history lists every order, optionally filtered by orderStatus.
    """
    _linear(params)
    state = h.fake.state
    with state._lock:
        orders = list(state.orders_by_venue_id.values())
    if params.get("orderId"):
        orders = [o for o in orders if o.venue_order_id == internal_id(params["orderId"])]
    elif params.get("orderLinkId"):
        orders = [o for o in orders if o.client_order_id == params["orderLinkId"]]
    elif realtime:
        orders = [o for o in orders if o.status in OPEN_STATUSES]
    if params.get("symbol"):
        orders = [o for o in orders if o.symbol == params["symbol"]]
    if not realtime and params.get("orderStatus"):
        orders = [o for o in orders if STATUS_WIRE[o.status] == params["orderStatus"]]
    orders.sort(key=lambda o: o.venue_order_id, reverse=True)
    limit = int(params.get("limit") or 20)
    rows = [order_json(state, o) for o in orders[:limit]]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def _executions(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """Trades (Trade), liquidation fills (BustTrade) and funding (Funding), newest first."""
    _linear(params)
    state = h.fake.state
    with state._lock:
        fills, payments = list(state.fills), list(state.funding_payments)
        liquidated = {f.trade_id for f in state.liquidations}
        orders = dict(state.orders_by_venue_id)
    rows: list[tuple[int, dict[str, Any]]] = []
    closed = closed_sizes(fills)
    for fill in fills:
        kind = "BustTrade" if fill.trade_id in liquidated else "Trade"
        order = orders[fill.venue_order_id]
        rows.append((fill.trade_id, fill_json(state, fill, order, kind, closed[fill.trade_id])))
    for pay in payments:
        size = abs(size_before(fills, pay.symbol, pay.payment_id))
        value = abs(pay.amount_quote / pay.rate) if pay.rate else ZERO
        price = value / size if size else ZERO
        row = exec_row(pay.symbol, "Funding", wire_id(pay.payment_id), pay.time_ms)
        row |= {
            "side": "Buy" if pay.amount_quote * pay.rate <= 0 else "Sell",  # the position's
            "execQty": num(size),
            "execPrice": num(price),
            "markPrice": num(price),
            "execValue": num(value),
            "execFee": num(-pay.amount_quote),  # Bybit: positive = paid
            "feeRate": num(pay.rate),
        }
        rows.append((pay.payment_id, row))
    wanted = [
        row
        for _, row in sorted(rows, key=lambda pair: pair[0], reverse=True)
        if params.get("execType") in (None, row["execType"])
        and params.get("symbol") in (None, row["symbol"])
        and params.get("orderId") in (None, row["orderId"])
        and params.get("orderLinkId") in (None, row["orderLinkId"])
    ]
    limit = int(params.get("limit") or params.get("size") or 50)
    return {"category": "linear", "list": wanted[:limit], "nextPageCursor": ""}


# -- positions and wallet -------------------------------------------------------------------


def _positions(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """With a symbol Bybit lists its (possibly empty) position; by settleCoin only open ones."""
    _linear(params)
    state = h.fake.state
    if params.get("symbol"):
        state.symbol_state(params["symbol"])
        rows = [position_json(state, params["symbol"])]
    else:
        _require(params, "settleCoin")
        with state._lock:
            symbols = [s for s, p in state.positions.items() if p.size_base != 0]
        rows = [position_json(state, s) for s in symbols]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def _wallet_balance(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """UNIFIED only; USDT is the one coin. availableToWithdraw is "" as Bybit now sends it."""
    if _require(params, "accountType") != "UNIFIED":
        status, code, msg = PARAM_ERROR
        raise ApiError(status, code, msg.format("accountType only supports UNIFIED"))
    state = h.fake.state
    with state._lock:
        symbols = [s for s, p in state.positions.items() if p.size_base != 0]
        wallet, available = state.wallet_balance_quote, state.available_balance_quote()
        initial = sum((state.initial_margin_quote(s) for s in symbols), ZERO)
        maint = sum((state.maint_margin_quote(s) for s in symbols), ZERO)
        upnl = sum((state.unrealized_pnl_quote(s) for s in symbols), ZERO)
        realized = sum((f.realized_pnl_quote - f.fee_quote for f in state.fills), ZERO)
        realized += sum((p.amount_quote for p in state.funding_payments), ZERO)
    equity = wallet + upnl
    coin = {
        **same("0", "bonus accruedInterest totalOrderIM spotHedgingQty locked"),
        "availableToBorrow": "",
        "availableToWithdraw": "",
        "equity": num(equity),
        "totalPositionMM": num(maint),
        "usdValue": num(equity),
        "unrealisedPnl": num(upnl),
        "collateralSwitch": True,
        "borrowAmount": "0.000000000000000000",
        "totalPositionIM": num(initial),
        "walletBalance": num(wallet),
        "cumRealisedPnl": num(realized),
        "marginCollateral": True,
        "coin": "USDT",
    }
    account = {
        "totalEquity": num(equity),
        "accountIMRate": num((initial / equity).quantize(Decimal("0.0001"))) if equity else "0",
        "totalMarginBalance": num(equity),
        "totalInitialMargin": num(initial),
        "accountType": "UNIFIED",
        "totalAvailableBalance": num(available),
        "accountMMRate": num((maint / equity).quantize(Decimal("0.0001"))) if equity else "0",
        "totalPerpUPL": num(upnl),
        "totalWalletBalance": num(wallet),
        "accountLTV": "0",
        "totalMaintenanceMargin": num(maint),
        "coin": [coin],
    }
    return {"list": [account]}


# -- wallet: withdrawals and deposits (transfer_network.py sets `fake.wallet`) --------------


def _chain(chain: str) -> str:
    if chain not in CHAINS:
        raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, chain)
    return CHAINS[chain]


def _withdraw(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """feeType=1 takes the fee out of `amount`; feeType=0 (default) charges it on top."""
    for name in ("coin", "address", "amount", "timestamp", "accountType"):
        if params.get(name) in (None, ""):
            status, code, msg = PARAM_ERROR
            raise ApiError(status, code, msg.format(name))
    wallet = h.fake.wallet
    if str(params.get("feeType", "0")) != "1":
        raise ApiError(200, 10001, "params error: this fake serves feeType=1 only")
    made = wallet.withdraw(params["coin"], _chain(str(params.get("chain", "ETH"))),
                           params["address"], Decimal(str(params["amount"])),
                           params.get("requestId"))  # fmt: skip
    return {"id": made.withdrawal_id}


def _window(time_ms: int, params: dict[str, Any]) -> bool:
    start, end = params.get("startTime"), params.get("endTime")
    return (start is None or time_ms >= int(start)) and (end is None or time_ms <= int(end))


def _withdrawals(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    rows = [withdrawal_json(made, now) for made, now in reversed(h.fake.wallet.withdrawals_now())
            if params.get("coin") in (None, made.coin) and _window(made.created_ms, params)
            and params.get("withdrawID") in (None, made.withdrawal_id)]  # fmt: skip
    return {"rows": rows[: int(params.get("limit", 50))], "nextPageCursor": ""}


def _deposits(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    rows = [deposit_json(deposit, now) for deposit, now in reversed(h.fake.wallet.deposits_now())
            if params.get("coin") in (None, deposit.coin) and _window(deposit.seen_ms, params)
            and params.get("txID") in (None, deposit.txid)]  # fmt: skip
    return {"rows": rows[: int(params.get("limit", 50))], "nextPageCursor": ""}


def _deposit_address(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    coin, wallet = str(params.get("coin", "")), h.fake.wallet
    wanted = params.get("chainType")
    chains = [deposit_address_json(c, network, address)
              for (c, network), address in wallet.addresses.items()
              if c == coin and wanted in (None, WIRE_CHAIN[network])]  # fmt: skip
    return {"coin": coin, "chains": chains}


ROUTES: dict[str, tuple[Route, bool]] = {
    "GET /v5/market/instruments-info": (_instruments, False),
    "GET /v5/market/time": (_time, False),
    "GET /v5/market/tickers": (_tickers, False),
    "GET /v5/user/query-api": (_query_api, True),
    "GET /v5/account/info": (_account_info, True),
    "POST /v5/position/set-leverage": (_set_leverage, True),
    "POST /v5/account/set-margin-mode": (_set_margin_mode, True),
    "POST /v5/order/create": (_create_order, True),
    "GET /v5/order/realtime": (lambda h, p: _orders(h, p, realtime=True), True),
    "GET /v5/order/history": (lambda h, p: _orders(h, p, realtime=False), True),
    "GET /v5/execution/list": (_executions, True),
    "GET /v5/position/list": (_positions, True),
    "GET /v5/account/wallet-balance": (_wallet_balance, True),
    "POST /v5/asset/withdraw/create": (_withdraw, True),
    "GET /v5/asset/withdraw/query-record": (_withdrawals, True),
    "GET /v5/asset/deposit/query-record": (_deposits, True),
    "GET /v5/asset/deposit/query-address": (_deposit_address, True),
}


BybitV5Fake.handler = _Handler
