"""A local fake of Binance spot REST (`/api/v3`) and the universal transfer (`/sapi/v1`) on
127.0.0.1, for running ccxt's real `binance` client.

Why: Binance keeps spot and USDⓈ-M futures in two wallets of one account; the live spot path
moves USDT between them around each spot order. This fake serves the spot wallet of the same
`CexAccountState` a `BinanceUsdmFake` serves the futures wallet of (`SpotWallet`), so a test
sees both sides of a transfer. It reuses the USDⓈ-M fake's request plumbing (signature check,
faults, lost answers) with the spot endpoints, error codes and answer shapes (Binance spot
"Error codes": -2010 for both a duplicate client id and a balance too small, -2013 for an
unknown order, -1013 for a filter failure).

Usage:
    state = default_state()                               # binance_usdm.default_state
    with BinanceUsdmFake(state) as futures, BinanceSpotFake(state) as spot:
        client = binance_spot_client(spot)                # tests/fakes/ccxt_client.py
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from tests.fakes.binance_usdm import (
    API_KEY,
    API_SECRET,
    ApiError,
    _fmt,
    _Handler,
    _require,
    default_state,
)
from tests.fakes.cex_state import (
    CexAccountState,
    RejectReason,
    SpotFill,
    SpotOrder,
    SpotWallet,
    VenueRejection,
)
from tests.fakes.http_fake import FakeServer

ORDER = "POST /api/v3/order"
TRANSFER = "POST /sapi/v1/asset/transfer"
# Binance spot error answers (developers.binance.com, spot "Error codes" and "Filters").
SPOT_REJECTIONS: dict[RejectReason, tuple[int, int, str]] = {
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (400, -2010, "Duplicate order sent."),
    RejectReason.INSUFFICIENT_MARGIN: (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    RejectReason.UNKNOWN_SYMBOL: (400, -1121, "Invalid symbol."),
    RejectReason.UNKNOWN_ORDER: (400, -2013, "Order does not exist."),
    RejectReason.INVALID_QUANTITY: (400, -1013, "Filter failure: LOT_SIZE"),
    RejectReason.REDUCE_ONLY_REJECTED: (
        400,
        -1106,
        "Parameter 'reduceOnly' sent when not required.",
    ),
}
TRANSFER_REFUSED = (400, -5013, "Asset transfer failed: insufficient balance")
NOTIONAL_REFUSED = (400, -1013, "Filter failure: NOTIONAL")
# (base, price tick, lot step) as exchangeInfo lists them (2025)
SPOT_SPECS = {"BTCUSDT": ("BTC", "0.01", "0.00001"), "ETHUSDT": ("ETH", "0.01", "0.0001")}


class BinanceSpotFake(FakeServer):
    """The spot HTTP server; `spot` is the spot wallet of `state`'s account."""

    def __init__(
        self,
        state: CexAccountState | None = None,
        spot: SpotWallet | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
    ) -> None:
        super().__init__(state or default_state())
        self.spot = spot or default_spot(self.state)
        self.api_key, self.api_secret = api_key, api_secret


def default_spot(state: CexAccountState) -> SpotWallet:
    """An empty spot wallet; BTCUSDT at 60 000, ETHUSDT at 3 000, BNBUSDT at 600."""
    wallet = SpotWallet(state)
    wallet.add_market("BTCUSDT", "BTC", Decimal(60_000), Decimal("0.00001"))
    wallet.add_market("ETHUSDT", "ETH", Decimal(3_000), Decimal("0.0001"))
    wallet.add_market("BNBUSDT", "BNB", Decimal(600), Decimal("0.001"))
    return wallet


class _SpotHandler(_Handler):
    fake: BinanceSpotFake  # type: ignore[assignment]


def _spot(h: _Handler) -> SpotWallet:
    return h.fake.spot  # type: ignore[attr-defined,no-any-return]


# -- public ---------------------------------------------------------------------------------


def _exchange_info(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    markets = _spot(h).markets
    return {
        "timezone": "UTC",
        "serverTime": int(time.time() * 1000),
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(s) for s in markets if s in SPOT_SPECS],
    }


def _symbol_info(symbol: str) -> dict[str, Any]:
    base, tick, step = SPOT_SPECS[symbol]
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _time(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    return {"serverTime": int(time.time() * 1000)}


# -- signed ---------------------------------------------------------------------------------


def _new_order(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    """MARKET only, sized by `quantity` or (a buy) `quoteOrderQty`; FULL, RESULT or ACK."""
    symbol, side = _require(params, "symbol"), _require(params, "side")
    if _require(params, "type") != "MARKET":
        raise ApiError(400, -1116, "Invalid orderType.")  # the fake fills market orders only
    quantity, quote = params.get("quantity"), params.get("quoteOrderQty")
    if (quantity is None) == (quote is None):
        raise ApiError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but "
                       "both were empty/null!")  # fmt: skip
    try:
        order = _spot(h).place_market_order(
            symbol,
            side,
            params.get("newClientOrderId") or f"fake-{time.time_ns()}",
            qty_base=None if quantity is None else Decimal(quantity),
            quote_qty=None if quote is None else Decimal(quote),
            fault=h.fill_fault,
        )
    except VenueRejection as rejection:
        if rejection.reason is RejectReason.INVALID_QUANTITY and "notional" in str(rejection):
            raise ApiError(*NOTIONAL_REFUSED) from None
        raise
    ack = {
        "symbol": symbol,
        "orderId": order.venue_order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.created_ms,
    }
    kind = params.get("newOrderRespType", "FULL")
    if kind == "ACK":
        return ack
    result = ack | _order_fields(order) | {"workingTime": order.created_ms}
    for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
        del result[key]
    if kind == "RESULT":
        return result
    fills = [f for f in _spot(h).fills_for(symbol) if f.venue_order_id == order.venue_order_id]
    return result | {"fills": [_order_fill(f) for f in fills]}


def _order_fields(order: SpotOrder) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.venue_order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": "0.00000000",
        "origQty": _fmt(order.qty_base),
        "executedQty": _fmt(order.filled_qty_base),
        "cummulativeQuoteQty": _fmt(order.filled_quote),
        "status": order.status.value,
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": order.side,
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": True,
        "workingTime": order.created_ms,
        "origQuoteOrderQty": _fmt(order.quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def _order_fill(fill: SpotFill) -> dict[str, Any]:
    return {
        "price": _fmt(fill.price),
        "qty": _fmt(fill.qty_base),
        "commission": _fmt(fill.fee),
        "commissionAsset": fill.fee_asset,
        "tradeId": fill.trade_id,
    }


def _query_order(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "symbol")
    venue_id = int(params["orderId"]) if params.get("orderId") else None
    client_id = params.get("origClientOrderId")
    if venue_id is None and client_id is None:
        raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                       "both were empty/null!")  # fmt: skip
    return _order_fields(_spot(h).find_order(venue_id, client_id))


def _my_trades(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    symbol = _require(params, "symbol")
    fills = _spot(h).fills_for(symbol)
    if params.get("orderId"):
        fills = [f for f in fills if f.venue_order_id == int(params["orderId"])]
    return [
        {
            "symbol": f.symbol,
            "id": f.trade_id,
            "orderId": f.venue_order_id,
            "orderListId": -1,
            "price": _fmt(f.price),
            "qty": _fmt(f.qty_base),
            "quoteQty": _fmt(f.qty_base * f.price),
            "commission": _fmt(f.fee),
            "commissionAsset": f.fee_asset,
            "time": f.time_ms,
            "isBuyer": f.side == "BUY",
            "isMaker": False,
            "isBestMatch": True,
        }
        for f in fills[-int(params.get("limit", 500)) :]
    ]


def _account(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    spot = _spot(h)
    with spot.account._lock:
        balances = dict(spot.balances)
    listed = balances if params.get("omitZeroBalances") == "true" else {
        "BTC": Decimal(0), "ETH": Decimal(0), "USDT": Decimal(0), "BNB": Decimal(0), **balances
    }  # fmt: skip
    rate = _fmt(spot.taker_fee_rate)
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": rate,
            "taker": rate,
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": int(time.time() * 1000),
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": _fmt(amount), "locked": "0.00000000"}
            for asset, amount in listed.items()
        ],
        "permissions": ["SPOT"],
        "uid": 365859102,
    }


def _transfer(h: _Handler, params: dict[str, str]) -> dict[str, Any]:
    """POST /sapi/v1/asset/transfer: type UMFUTURE_MAIN or MAIN_UMFUTURE, USDT only."""
    kind, asset = _require(params, "type"), _require(params, "asset")
    from_wallet, _, to_wallet = kind.partition("_")
    try:
        tran_id = _spot(h).transfer(asset, Decimal(_require(params, "amount")), from_wallet,
                                    to_wallet)  # fmt: skip
    except VenueRejection as rejection:
        if rejection.reason is RejectReason.INSUFFICIENT_MARGIN:
            raise ApiError(*TRANSFER_REFUSED) from None
        raise ApiError(400, -1002, "You are not authorized to execute this request.") from None
    return {"tranId": tran_id}


_SpotHandler.routes = {
    "GET /api/v3/exchangeInfo": (_exchange_info, False),
    "GET /api/v3/time": (_time, False),
    ORDER: (_new_order, True),
    "GET /api/v3/order": (_query_order, True),
    "GET /api/v3/myTrades": (_my_trades, True),
    "GET /api/v3/account": (_account, True),
    TRANSFER: (_transfer, True),
}
_SpotHandler.rejections = SPOT_REJECTIONS
BinanceSpotFake.handler = _SpotHandler
