"""Bybit v5 answer shapes for the fake in bybit_v5.py: one function per raw record.

Why apart: the field lists are long (Bybit sends ~50 fields per order) and mostly constant; the
HTTP layer only filters and wraps them. Shapes follow the answers recorded from Bybit in ccxt's
static tests, so ccxt parses the fake's records exactly as the venue's.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.fakes.cex_state import ZERO, CexAccountState, Fill, Order, OrderStatus

STATUS_WIRE = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELED: "Cancelled",
    OrderStatus.REJECTED: "Rejected",
}

OPEN_STATUSES = {OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED}

# Static per-symbol facts, as /v5/market/instruments-info sent them (2025).
SYMBOL_SPECS: dict[str, dict[str, str]] = {
    "BTCUSDT": {"base": "BTC", "tick": "0.10", "step": "0.001", "launch_ms": "1585526400000"},
    "ETHUSDT": {"base": "ETH", "tick": "0.01", "step": "0.01", "launch_ms": "1615766400000"},
}


def num(value: Decimal | int) -> str:
    """Bybit sends decimals as plain strings without trailing zeros ("0.001", "60000")."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def same(value: str, names: str) -> dict[str, str]:
    """Many v5 fields are constant here ("" when unused, "0" when zero): listed, not spelt out."""
    return dict.fromkeys(names.split(), value)


def wire_id(internal_id: int) -> str:
    """Bybit's order and execution ids are UUIDs; the state's integers map onto them 1:1."""
    return str(uuid.UUID(int=internal_id))


def internal_id(wire: str) -> int | None:
    """Inverse of `wire_id`; None for anything that is not one of ours."""
    try:
        return uuid.UUID(wire).int
    except ValueError:
        return None


def instrument_json(symbol: str) -> dict[str, Any]:
    spec = SYMBOL_SPECS[symbol]
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": spec["base"],
        "quoteCoin": "USDT",
        "launchTime": spec["launch_ms"],
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(len(spec["tick"].partition(".")[2])),  # "0.10" -> "2"
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": spec["tick"],
            "maxPrice": "1999999.80",
            "tickSize": spec["tick"],
        },
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": spec["step"],
            "qtyStep": spec["step"],
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
    }


def order_json(state: CexAccountState, order: Order) -> dict[str, Any]:
    step = state.symbol_state(order.symbol).qty_step_base
    tick = Decimal(SYMBOL_SPECS.get(order.symbol, {"tick": "0.01"})["tick"])
    fee = order.filled_quote * state.taker_fee_rate
    leaves = order.qty_base - order.filled_qty_base if order.status in OPEN_STATUSES else ZERO
    last = order.filled_quote / order.filled_qty_base if order.filled_qty_base else ZERO
    slippage = Decimal("1.01") if order.side == "BUY" else Decimal("0.99")
    link_id = "" if order.client_order_id.startswith("__fake-") else order.client_order_id
    liquidation = order.client_order_id.startswith("autoclose-")
    return {
        **same(
            "0", "slLimitPrice triggerDirection positionIdx smpGroup tpLimitPrice slippageTolerance"
        ),
        **same(
            "",
            "stopOrderType takeProfit tpslMode blockTradeId isLeverage orderIv tpTriggerBy "
            "triggerPrice slTriggerBy placeType stopLoss smpOrderId triggerBy extraFees",
        ),
        "symbol": order.symbol,
        "orderType": "Market",
        "orderLinkId": "" if liquidation else link_id,
        "orderId": wire_id(order.venue_order_id),
        "cancelType": "UNKNOWN",
        "avgPrice": num(order.avg_price) if order.filled_qty_base else "",
        "lastPriceOnCreated": num(last),
        "orderStatus": STATUS_WIRE[order.status],
        "createType": "CreateByLiq" if liquidation else "CreateByUser",
        "cumExecValue": num(order.filled_quote),
        "smpType": "None",
        "cumFeeDetail": {"USDT": num(fee)} if fee else {},
        "rejectReason": "EC_NoError",
        "price": num((last * slippage).quantize(tick)),
        "createdTime": str(order.created_ms),
        "timeInForce": "IOC",
        "leavesValue": num(leaves * last),
        "updatedTime": str(order.updated_ms),
        "side": order.side.capitalize(),
        "cumExecFee": num(fee),
        "leavesQty": num(leaves.quantize(step)),
        "closeOnTrigger": False,
        "slippageToleranceType": "UNKNOWN",
        "cumExecQty": num(order.filled_qty_base),
        "reduceOnly": order.reduce_only,
        "qty": num(order.qty_base),
    }


def size_before(fills: list[Fill], symbol: str, entry_id: int) -> Decimal:
    """The signed position when entry `entry_id` was booked (ids come from one counter)."""
    return sum(
        (
            f.qty_base if f.side == "BUY" else -f.qty_base
            for f in fills
            if f.symbol == symbol and f.trade_id < entry_id
        ),
        ZERO,
    )


def closed_sizes(fills: list[Fill]) -> dict[int, Decimal]:
    """Bybit's closedSize: how much of each fill reduced the position (replayed per symbol)."""
    sizes: dict[str, Decimal] = {}
    closed: dict[int, Decimal] = {}
    for fill in fills:
        size = sizes.get(fill.symbol, ZERO)
        signed = fill.qty_base if fill.side == "BUY" else -fill.qty_base
        closed[fill.trade_id] = min(abs(signed), abs(size)) if size * signed < 0 else ZERO
        sizes[fill.symbol] = size + signed
    return closed


def fill_json(
    state: CexAccountState, fill: Fill, order: Order, kind: str, closed: Decimal
) -> dict[str, Any]:
    link_id = order.client_order_id
    row = exec_row(fill.symbol, kind, wire_id(fill.venue_order_id), fill.time_ms)
    return row | {
        "orderLinkId": "" if link_id.startswith(("__fake-", "autoclose-")) else link_id,
        "orderType": "Market",
        "createType": "CreateByLiq" if kind == "BustTrade" else "CreateByUser",
        "side": fill.side.capitalize(),
        "execId": wire_id(fill.trade_id),
        "execQty": num(fill.qty_base),
        "execPrice": num(fill.price),
        "markPrice": num(fill.price),
        "execValue": num(fill.qty_base * fill.price),
        "execFee": num(fill.fee_quote),
        "feeRate": num(state.taker_fee_rate),
        "feeCurrency": "USDT",
        "orderQty": num(order.qty_base),
        "leavesQty": num(order.qty_base - order.filled_qty_base),
        "closedSize": num(closed),
    }


def exec_row(symbol: str, kind: str, entry_id: str, time_ms: int) -> dict[str, Any]:
    """The fields every execution carries (a funding entry keeps most of them empty)."""
    return {
        **same(
            "",
            "underlyingPrice orderLinkId feeCurrency createType "
            "tradeIv blockTradeId markIv indexPrice marketUnit",
        ),
        **same(
            "0",
            "feeRate markPrice execPrice orderQty orderPrice "
            "execValue closedSize leavesQty execFee execQty",
        ),
        "symbol": symbol,
        "orderType": "UNKNOWN",
        "orderId": entry_id,
        "stopOrderType": "UNKNOWN",
        "execTime": str(time_ms),
        "execType": kind,
        "seq": str(time_ms),
        "side": "Buy",
        "isMaker": False,
        "execId": entry_id,
    }


def position_json(state: CexAccountState, symbol: str) -> dict[str, Any]:
    pos, mark = state.position(symbol), state.symbol_state(symbol).mark_price
    size = pos.size_base
    initial = state.initial_margin_quote(symbol)
    realized = sum((f.realized_pnl_quote - f.fee_quote for f in state.fills_for(symbol)), ZERO)
    realized += sum((p.amount_quote for p in state.funding_payments if p.symbol == symbol), ZERO)
    liq = liquidation_price(state, symbol) if size else ZERO
    return {
        **same("0", "autoAddMargin trailingStop positionIdx"),
        **same(
            "",
            "takeProfit bustPrice leverageSysUpdatedTime "
            "mmrSysUpdatedTime stopLoss sessionAvgPrice",
        ),
        "symbol": symbol,
        "leverage": str(pos.leverage),
        "avgPrice": num(pos.entry_price),
        "liqPrice": num(liq) if liq else "",
        "riskLimitValue": "2000000",
        "positionValue": num(abs(size) * pos.entry_price),
        "isReduceOnly": False,
        "tpslMode": "Full",
        "riskId": "1",
        "unrealisedPnl": num(state.unrealized_pnl_quote(symbol)),
        "markPrice": num(mark),
        "adlRankIndicator": "2" if size else "0",
        "cumRealisedPnl": num(realized),
        "positionMM": num(state.maint_margin_quote(symbol)),
        "createdTime": str(pos.updated_ms),
        "positionIM": num(initial),
        "seq": str(pos.updated_ms),
        "updatedTime": str(pos.updated_ms),
        "side": "Buy" if size > 0 else "Sell" if size < 0 else "",
        "positionBalance": num(initial),
        "size": num(abs(size)),
        "positionStatus": "Normal",
        "tradeMode": "1" if pos.margin_mode == "isolated" else "0",
        "curRealisedPnl": num(realized),
    }


def liquidation_price(state: CexAccountState, symbol: str) -> Decimal:
    """Cross, one position: the mark at which margin balance equals maintenance margin."""
    pos, rate = state.position(symbol), state.symbol_state(symbol).maint_margin_rate
    others = state.margin_balance_quote() - state.unrealized_pnl_quote(symbol)
    denominator = pos.size_base - abs(pos.size_base) * rate
    price = (pos.size_base * pos.entry_price - others) / denominator if denominator else ZERO
    return max(price, ZERO)


# -- wallet: withdrawals and deposits (transfer_network.py) ---------------------------------

# Bybit chain id -> the network's canonical name in the TransferNetwork (and back)
CHAINS = {"ETH": "ERC20", "TRX": "TRC20", "BSC": "BEP20", "ARBI": "ARBONE"}
WIRE_CHAIN = {canonical: wire for wire, canonical in CHAINS.items()}
# withdrawal status strings; deposit statuses are integers (1 to be confirmed, 3 success)
WITHDRAW_STATUS = {"processing": "Pending", "completed": "success"}
DEPOSIT_STATUS = {"pending": 1, "credited": 3}


def withdrawal_json(made: Any, now_ms: int) -> dict[str, Any]:
    """A /v5/asset/withdraw/query-record row; `amount` is what went out, `withdrawFee` kept."""
    return {
        "coin": made.coin,
        "chain": WIRE_CHAIN[made.network],
        "amount": num(made.amount),
        "txID": made.txid_at(now_ms),
        "status": WITHDRAW_STATUS[made.status(now_ms)],
        "toAddress": made.address,
        "tag": "",
        "withdrawFee": num(made.fee),
        "createTime": str(made.created_ms),
        "updateTime": str(max(made.created_ms, min(now_ms, made.broadcast_ms))),
        "withdrawId": made.withdrawal_id,
        "withdrawType": 0,
        **same("", "fee tax taxRate taxType"),
    }


def deposit_json(deposit: Any, now_ms: int) -> dict[str, Any]:
    """A /v5/asset/deposit/query-record row (an on-chain deposit, depositType 0)."""
    credited = deposit.status(now_ms) == "credited"
    return {
        "id": deposit.deposit_id,
        "coin": deposit.coin,
        "chain": WIRE_CHAIN[deposit.network],
        "amount": num(deposit.amount),
        "txID": deposit.txid,
        "status": DEPOSIT_STATUS[deposit.status(now_ms)],
        "toAddress": deposit.address,
        "tag": "",
        "depositFee": "",
        "successAt": str(deposit.credited_ms if credited else deposit.seen_ms),
        "confirmations": "65" if credited else "1",
        "txIndex": "0",
        "blockHash": "0x" + deposit.txid[-62:],
        "batchReleaseLimit": "-1",
        "depositType": "0",
        "fromAddress": "",
        "taxDepositRecordsId": "0",
        "taxStatus": 0,
    }


def deposit_address_json(coin: str, network: str, address: str) -> dict[str, Any]:
    """One /v5/asset/deposit/query-address chain entry."""
    return {
        "chainType": network,
        "addressDeposit": address,
        "tagDeposit": "",
        "chain": WIRE_CHAIN[network],
        "batchReleaseLimit": "-1",
        "contractAddress": "",
    }
