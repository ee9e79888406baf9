"""A local fake of Binance USDⓈ-M futures REST on 127.0.0.1, for running ccxt's real client.

Why: no Binance simulator exists and its testnet is unreachable offline. This server speaks the
wire format (paths, HMAC-SHA256 signatures, `X-MBX-APIKEY`, recvWindow, error codes and answer
shapes as Binance sends them) and keeps the account in a venue-neutral `CexAccountState`, so
ccxt's signing, request building, parsing and error mapping all run for real. Faults queued in
the state (rate limits, 5xx, delays, lost answers, partial fills) are applied per endpoint.

Usage:
    with BinanceUsdmFake() as fake:
        client = binance_client(fake)      # tests/fakes/ccxt_client.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.cex_state import (
    CexAccountState,
    Fault,
    FaultKind,
    Order,
    RejectReason,
    VenueRejection,
)
from tests.fakes.http_fake import FakeServer, QuietHandler

API_KEY = "fake-binance-key"
API_SECRET = "fake-binance-secret"
RECV_WINDOW_MAX_MS = 60_000

# Binance error codes and texts (developers.binance.com, USDⓈ-M "Error Codes").
INVALID_API_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")
BAD_TIMESTAMP = (400, -1021, "Timestamp for this request is outside of the recvWindow.")
MISSING_PARAM = (400, -1102, "Mandatory parameter '{}' was not sent, was empty/null, or malformed.")
NO_SUCH_ENDPOINT = (404, -5000, "Path {} not found")
TOO_MANY_REQUESTS = (
    -1003,
    "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
)
BANNED = (
    -1003,
    "Way too many requests; IP(127.0.0.1) banned until {}. Please use WebSocket "
    "Streams for live updates to avoid bans.",
)
INTERNAL_ERROR = (-1001, "Internal error; unable to process your request. Please try again.")
NO_MARGIN_TYPE_CHANGE = (400, -4046, "No need to change margin type.")
REJECTIONS: dict[RejectReason, tuple[int, int, str]] = {
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (400, -4116, "ClientOrderId is duplicated."),
    RejectReason.INSUFFICIENT_MARGIN: (400, -2019, "Margin is insufficient."),
    RejectReason.UNKNOWN_SYMBOL: (400, -1121, "Invalid symbol."),
    RejectReason.UNKNOWN_ORDER: (400, -2013, "Order does not exist."),
    RejectReason.INVALID_QUANTITY: (400, -4003, "Quantity less than or equal to zero."),
    RejectReason.REDUCE_ONLY_REJECTED: (400, -2022, "ReduceOnly Order is rejected."),
}

# Static per-symbol facts, in the shape of exchangeInfo's entries (as of 2025).
SYMBOL_SPECS: dict[str, dict[str, str]] = {
    "BTCUSDT": {
        "base": "BTC",
        "tick": "0.10",
        "step": "0.001",
        "min_notional": "100",
        "onboard_ms": "1569398400000",
        "price_precision": "2",
        "qty_precision": "3",
    },
    "ETHUSDT": {
        "base": "ETH",
        "tick": "0.01",
        "step": "0.001",
        "min_notional": "20",
        "onboard_ms": "1569398400000",
        "price_precision": "2",
        "qty_precision": "3",
    },
}


def _fmt(value: Decimal, places: int = 8) -> str:
    """Binance sends decimals as fixed-point strings."""
    return f"{value:.{places}f}"


class ApiError(Exception):
    """An error answer: HTTP status, Binance code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class BinanceUsdmFake(FakeServer):
    """The BinanceUsdm HTTP server plus the account it serves (`FakeServer`)."""

    def __init__(
        self,
        state: CexAccountState | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
    ) -> None:
        super().__init__(state or default_state())
        self.api_key, self.api_secret = api_key, api_secret


def default_state() -> CexAccountState:
    """10 000 USDT, BTCUSDT at 60 000 and ETHUSDT at 3 000, funding 0.01 % in the next hour."""
    state = CexAccountState(wallet_balance_quote=Decimal(10_000))
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
    )
    return state


Route = Callable[["_Handler", dict[str, str]], Any]


class _Handler(QuietHandler):
    """Routes one request: signature check, fault, then the endpoint's answer."""

    fake: BinanceUsdmFake
    fill_fault: Fault | None = None  # a PARTIAL_FILL fault for this request's order
    # the endpoints and error answers served (the spot fake serves its own with this plumbing)
    routes: ClassVar[dict[str, tuple[Route, bool]]]
    rejections: ClassVar[dict[RejectReason, tuple[int, int, str]]]

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- plumbing ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        key = f"{method} {url.path}"
        self.fake.requests.append((method, url.path))
        route = self.routes.get(key)
        fault = self.fake.state.take_fault(key)
        if fault is not None and self._pre_fault(fault):
            return
        try:
            if route is None:
                status, code, msg = NO_SUCH_ENDPOINT
                raise ApiError(status, code, msg.format(url.path))
            fn, signed = route
            params = dict(parse_qsl(url.query)) | dict(parse_qsl(body))
            if signed:
                self._check_signed(url.query, body, params)
            self.fill_fault = fault if fault and fault.kind is FaultKind.PARTIAL_FILL else None
            answer = fn(self, params)
        except ApiError as err:
            self._send(err.status, {"code": err.code, "msg": err.msg})
            return
        except VenueRejection as rej:
            status, code, msg = self.rejections[rej.reason]
            self._send(status, {"code": code, "msg": msg})
            return
        if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
            self._lose(fault)
            return
        self._send(200, answer)

    def _pre_fault(self, fault: Fault) -> bool:
        """Apply a fault that acts before the request is handled; True when answered."""
        if fault.kind is FaultKind.DELAY:
            self.fake.stopping.wait(fault.delay_s)
            return False
        if fault.kind is not FaultKind.HTTP_ERROR:
            return False
        status = fault.status or 500
        headers = {}
        if fault.retry_after_s is not None:
            headers["Retry-After"] = str(fault.retry_after_s)
        if status == 429:
            code, msg = TOO_MANY_REQUESTS
        elif status == 418:
            code, msg = BANNED[0], BANNED[1].format(int(time.time() * 1000) + 120_000)
        elif status == 503:  # the matching engine answers in JSON: outcome unknown
            code, msg = INTERNAL_ERROR
        else:  # a gateway in front of it answers in HTML
            self._send(status, f"<html><body><h1>{status} Server Error</h1></body></html>")
            return True
        self._send(status, {"code": code, "msg": msg}, headers)
        return True

    def _lose(self, fault: Fault) -> None:
        """The request took effect; the client gets a cut connection or a gateway error."""
        if fault.status is None:
            self.close_connection = True
            return
        self._send(fault.status, "<html><body><h1>502 Bad Gateway</h1></body></html>")

    def _check_signed(self, query: str, body: str, params: dict[str, str]) -> None:
        """X-MBX-APIKEY, then HMAC-SHA256 of query+body, then timestamp within recvWindow."""
        if self.headers.get("X-MBX-APIKEY") != self.fake.api_key:
            raise ApiError(*INVALID_API_KEY)
        total = query + body
        signed_part, sep, signature = total.rpartition("&signature=")
        if not sep:
            raise ApiError(*_missing("signature"))
        expected = hmac.new(
            self.fake.api_secret.encode(), signed_part.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.split("&")[0]):
            raise ApiError(*BAD_SIGNATURE)
        if "timestamp" not in params:
            raise ApiError(*_missing("timestamp"))
        recv_window_ms = min(int(params.get("recvWindow", 5000)), RECV_WINDOW_MAX_MS)
        lag_ms = int(time.time() * 1000) - int(params["timestamp"])
        if lag_ms > recv_window_ms or lag_ms < -1000:
            raise ApiError(*BAD_TIMESTAMP)

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


def _missing(param: str) -> tuple[int, int, str]:
    status, code, msg = MISSING_PARAM
    return status, code, msg.format(param)


def _require(params: dict[str, str], name: str) -> str:
    if not params.get(name):
        raise ApiError(*_missing(name))
    return params[name]


# -- public endpoints -----------------------------------------------------------------------


def _exchange_info(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    symbols = [_symbol_info(s) for s in h.fake.state.symbols if s in SYMBOL_SPECS]
    return {
        "timezone": "UTC",
        "serverTime": now,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 2400,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    }


def _symbol_info(symbol: str) -> dict[str, Any]:
    spec = SYMBOL_SPECS[symbol]
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": int(spec["onboard_ms"]),
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec["base"],
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": int(spec["price_precision"]),
        "quantityPrecision": int(spec["qty_precision"]),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spec["tick"],
                "maxPrice": "4529764",
                "tickSize": spec["tick"],
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec["step"],
                "maxQty": "1000",
                "stepSize": spec["step"],
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": spec["step"],
                "maxQty": "120",
                "stepSize": spec["step"],
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": spec["min_notional"]},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSet": ["GRID", "COPY"],
    }


def _time(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    return {"serverTime": int(time.time() * 1000)}


def _premium_index(h: _Handler, params: dict[str, str]) -> Any:
    symbols = [params["symbol"]] if "symbol" in params else list(h.fake.state.symbols)
    answers = [_premium_one(h.fake.state, s) for s in symbols]
    return answers[0] if "symbol" in params else answers


def _premium_one(state: CexAccountState, symbol: str) -> dict[str, Any]:
    market = state.symbol_state(symbol)
    return {
        "symbol": symbol,
        "markPrice": _fmt(market.mark_price),
        "indexPrice": _fmt(market.mark_price),
        "estimatedSettlePrice": _fmt(market.mark_price),
        "lastFundingRate": _fmt(market.funding_rate),
        "interestRate": "0.00010000",
        "nextFundingTime": market.next_funding_ms,
        "time": int(time.time() * 1000),
    }


# -- signed endpoints -----------------------------------------------------------------------


def _leverage(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    symbol, leverage = _require(params, "symbol"), int(_require(params, "leverage"))
    if not 1 <= leverage <= 125:
        raise ApiError(400, -4028, f"Leverage {leverage} is not valid")
    h.fake.state.set_leverage(symbol, leverage)
    return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": symbol}


def _margin_type(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    symbol, wire_mode = _require(params, "symbol"), _require(params, "marginType")
    mode = {"ISOLATED": "isolated", "CROSSED": "cross"}.get(wire_mode.upper())
    if mode is None:
        raise ApiError(400, -1116, "Invalid marginType.")
    if not h.fake.state.set_margin_mode(symbol, mode):
        raise ApiError(*NO_MARGIN_TYPE_CHANGE)
    return {"code": 200, "msg": "success"}


def _new_order(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    symbol, side = _require(params, "symbol"), _require(params, "side")
    if _require(params, "type") != "MARKET":
        raise ApiError(400, -1116, "Invalid orderType.")  # the fake fills market orders only
    order = h.fake.state.place_market_order(
        symbol,
        side,
        Decimal(_require(params, "quantity")),
        params.get("newClientOrderId") or f"fake-{time.time_ns()}",
        reduce_only=params.get("reduceOnly") == "true",
        fault=h.fill_fault,
    )
    answer = _order_json(order)
    del answer["time"]
    answer["cumQty"] = answer["executedQty"]
    if params.get("newOrderRespType", "ACK") == "ACK":  # ACK: only accepted, nothing filled yet
        answer |= {
            "status": "NEW",
            "executedQty": "0.000",
            "cumQty": "0.000",
            "cumQuote": "0.00000",
            "avgPrice": "0.00",
        }
    return answer


def _query_order(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "symbol")
    venue_id = int(params["orderId"]) if params.get("orderId") else None
    client_id = params.get("origClientOrderId")
    if venue_id is None and client_id is None:
        raise ApiError(
            400,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    return _order_json(h.fake.state.find_order(venue_id, client_id))


def _order_json(order: Order) -> dict[str, Any]:
    return {
        "orderId": order.venue_order_id,
        "symbol": order.symbol,
        "status": order.status.value,
        "clientOrderId": order.client_order_id,
        "price": "0.00",
        "avgPrice": _fmt(order.avg_price, 2),
        "origQty": _fmt(order.qty_base, 3),
        "executedQty": _fmt(order.filled_qty_base, 3),
        "cumQuote": _fmt(order.filled_quote, 5),
        "timeInForce": "GTC",
        "type": "MARKET",
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": "0.00",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": "MARKET",
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": order.created_ms,
        "updateTime": order.updated_ms,
    }


def _user_trades(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    symbol = _require(params, "symbol")
    fills = h.fake.state.fills_for(symbol)
    if params.get("orderId"):
        fills = [f for f in fills if f.venue_order_id == int(params["orderId"])]
    return [
        {
            "symbol": f.symbol,
            "id": f.trade_id,
            "orderId": f.venue_order_id,
            "side": f.side,
            "price": _fmt(f.price, 2),
            "qty": _fmt(f.qty_base, 3),
            "realizedPnl": _fmt(f.realized_pnl_quote),
            "marginAsset": "USDT",
            "quoteQty": _fmt(f.qty_base * f.price, 5),
            "commission": _fmt(f.fee_quote),
            "commissionAsset": "USDT",
            "time": f.time_ms,
            "positionSide": "BOTH",
            "maker": False,
            "buyer": f.side == "BUY",
        }
        for f in fills[-int(params.get("limit", 500)) :]
    ]


def _income(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    kind = params.get("incomeType", "FUNDING_FEE")
    if kind != "FUNDING_FEE":
        return []
    return [
        {
            "symbol": p.symbol,
            "incomeType": "FUNDING_FEE",
            "income": _fmt(p.amount_quote),
            "asset": "USDT",
            "info": "FUNDING_FEE",
            "time": p.time_ms,
            "tranId": p.payment_id,
            "tradeId": "",
        }
        for p in h.fake.state.funding_payments
        if params.get("symbol") in (None, p.symbol)
    ]


def _leverage_bracket(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    symbols = [params["symbol"]] if "symbol" in params else list(h.fake.state.symbols)
    return [
        {
            "symbol": s,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 125,
                    "notionalCap": 50000,
                    "notionalFloor": 0,
                    "maintMarginRatio": float(h.fake.state.symbol_state(s).maint_margin_rate),
                    "cum": 0.0,
                }
            ],
        }
        for s in symbols
    ]


def _position_risk(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """v3 positionRisk lists only non-zero positions (v2 listed every symbol)."""
    state = h.fake.state
    wanted = [params["symbol"]] if "symbol" in params else list(state.positions)
    return [_position_json(state, s) for s in wanted if state.position(s).size_base != 0]


def _position_json(state: CexAccountState, symbol: str) -> dict[str, Any]:
    pos, mark = state.position(symbol), state.symbol_state(symbol).mark_price
    isolated = pos.margin_mode == "isolated"
    initial = state.initial_margin_quote(symbol)
    isolated_margin = initial + state.unrealized_pnl_quote(symbol) if isolated else Decimal(0)
    return {
        "symbol": symbol,
        "positionSide": "BOTH",
        "positionAmt": _fmt(pos.size_base, 3),
        "entryPrice": _fmt(pos.entry_price, 2),
        "breakEvenPrice": _fmt(pos.entry_price, 2),
        "markPrice": _fmt(mark),
        "unRealizedProfit": _fmt(state.unrealized_pnl_quote(symbol)),
        "liquidationPrice": _fmt(_liquidation_price(state, symbol)),
        "isolatedMargin": _fmt(isolated_margin),
        "notional": _fmt(pos.size_base * mark),
        "marginAsset": "USDT",
        "isolatedWallet": _fmt(initial if isolated else Decimal(0)),
        "initialMargin": _fmt(initial),
        "maintMargin": _fmt(state.maint_margin_quote(symbol)),
        "positionInitialMargin": _fmt(initial),
        "openOrderInitialMargin": "0",
        "adl": "2",
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": pos.updated_ms,
    }


def _liquidation_price(state: CexAccountState, symbol: str) -> Decimal:
    """Cross, one position: the mark at which margin balance equals maintenance margin."""
    pos, rate = state.position(symbol), state.symbol_state(symbol).maint_margin_rate
    others = state.margin_balance_quote() - state.unrealized_pnl_quote(symbol)
    size = pos.size_base
    denominator = size - abs(size) * rate
    price = (size * pos.entry_price - others) / denominator if denominator else Decimal(0)
    return max(price, Decimal(0))


def _account(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    """v3 account: totals and USDT asset (positions listed only when open)."""
    state = h.fake.state
    open_symbols = [s for s in state.positions if state.position(s).size_base != 0]
    initial = sum((state.initial_margin_quote(s) for s in open_symbols), Decimal(0))
    maint = sum((state.maint_margin_quote(s) for s in open_symbols), Decimal(0))
    upnl = sum((state.unrealized_pnl_quote(s) for s in open_symbols), Decimal(0))
    wallet, available = state.wallet_balance_quote, state.available_balance_quote()
    now = int(time.time() * 1000)
    asset = {
        "asset": "USDT",
        "walletBalance": _fmt(wallet),
        "unrealizedProfit": _fmt(upnl),
        "marginBalance": _fmt(wallet + upnl),
        "maintMargin": _fmt(maint),
        "initialMargin": _fmt(initial),
        "positionInitialMargin": _fmt(initial),
        "openOrderInitialMargin": _fmt(Decimal(0)),
        "maxWithdrawAmount": _fmt(available),
        "crossWalletBalance": _fmt(wallet),
        "crossUnPnl": _fmt(upnl),
        "availableBalance": _fmt(available),
        "marginAvailable": True,
        "updateTime": now,
    }
    return {
        "totalInitialMargin": _fmt(initial),
        "totalMaintMargin": _fmt(maint),
        "totalWalletBalance": _fmt(wallet),
        "totalUnrealizedProfit": _fmt(upnl),
        "totalMarginBalance": _fmt(wallet + upnl),
        "totalPositionInitialMargin": _fmt(initial),
        "totalOpenOrderInitialMargin": _fmt(Decimal(0)),
        "totalCrossWalletBalance": _fmt(wallet),
        "totalCrossUnPnl": _fmt(upnl),
        "availableBalance": _fmt(available),
        "maxWithdrawAmount": _fmt(available),
        "assets": [asset],
        "positions": [
            {
                "symbol": s,
                "positionSide": "BOTH",
                "positionAmt": _fmt(state.position(s).size_base, 3),
                "unrealizedProfit": _fmt(state.unrealized_pnl_quote(s)),
                "isolatedMargin": "0",
                "notional": _fmt(state.position(s).size_base * state.symbol_state(s).mark_price),
                "isolatedWallet": "0",
                "initialMargin": _fmt(state.initial_margin_quote(s)),
                "maintMargin": _fmt(state.maint_margin_quote(s)),
                "updateTime": now,
            }
            for s in open_symbols
        ],
    }


ROUTES: dict[str, tuple[Route, bool]] = {
    "GET /fapi/v1/exchangeInfo": (_exchange_info, False),
    "GET /fapi/v1/time": (_time, False),
    "GET /fapi/v1/premiumIndex": (_premium_index, False),
    "POST /fapi/v1/leverage": (_leverage, True),
    "POST /fapi/v1/marginType": (_margin_type, True),
    "POST /fapi/v1/order": (_new_order, True),
    "GET /fapi/v1/order": (_query_order, True),
    "GET /fapi/v1/userTrades": (_user_trades, True),
    "GET /fapi/v1/income": (_income, True),
    "GET /fapi/v1/leverageBracket": (_leverage_bracket, True),
    "GET /fapi/v3/positionRisk": (_position_risk, True),
    "GET /fapi/v3/account": (_account, True),
}


_Handler.routes, _Handler.rejections = ROUTES, REJECTIONS
BinanceUsdmFake.handler = _Handler
