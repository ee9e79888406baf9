"""What differs between exchanges behind ccxt's unified API, in one small table per venue.

Why: ccxt unifies names, not behaviour. On Bybit v5 the unified `fetch_order_with_client_order_id`
sends `clientOrderId` (Bybit wants `orderLinkId`) with an empty order id; Bybit ignores both
and answers with whatever order is open, possibly another one, so "found" would book someone
else's fills. ccxt's parsed funding `amount` is the income on Binance (negative = paid) but
Bybit's `execFee` (positive = paid). Unchanged leverage is an error on Bybit (110043), a no-op
on Binance and OKX. Everything else in `LiveCex` is venue-neutral; it picks its `Dialect` by
the ccxt client's `id` (`dialect_for`), and a venue without one is refused, never guessed.

OKX was written from ccxt's source (okx.py) and OKX's docs, then checked against the OKX v5
fake (tests/fakes/okx_v5.py) with ccxt's real client. Its swap amounts are contracts
(ETH-USDT-SWAP is 0.1 ETH a contract): `contract_amounts=True`, and `LiveCex` converts at the
ccxt boundary (amounts.py). ccxt passes fetch_my_trades params through unchanged, and OKX's
filter is `ordId`: ccxt's `orderId` would be ignored (the newest 100 fills of the symbol).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ccxt

Order = Mapping[str, Any]
# (client, client order id, symbol) -> the venue's order, or None if the venue has no such id
OrderLookup = Callable[[Any, str, str], Order | None]


def retry_after_s(headers: Mapping[str, Any] | None) -> float | None:
    """The Retry-After header in seconds (case-insensitive; HTTP-date forms are ignored)."""
    for name, value in (headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


def bybit_wait_s(headers: Mapping[str, Any] | None) -> float | None:
    """Retry-After if sent; else until the UID limit's reset (`X-Bapi-Limit-Reset-Timestamp`,
    ms): Bybit's 10006 answer carries no Retry-After, and retrying before the reset only
    spends the next window's budget."""
    seconds = retry_after_s(headers)
    if seconds is not None:
        return seconds
    for name, value in (headers or {}).items():
        if str(name).lower() == "x-bapi-limit-reset-timestamp":
            try:
                reset_ms = float(value)
            except (TypeError, ValueError):
                return None
            return (
                max(0.0, (reset_ms - time.time() * 1000) / 1000)
                if math.isfinite(reset_ms)
                else None
            )
    return None


@dataclass(frozen=True)
class Dialect:
    """One exchange's answers to the questions `LiveCex` cannot ask ccxt in a neutral way.

    - `find_order`: the order with our client id, or None when the venue says there is none
      (ccxt errors propagate: OrderNotFound is also "none", anything else is "no answer");
    - `duplicate_markers`: texts in an InvalidOrder that mean "this client id exists";
    - `already_set_markers`: texts in an ExchangeError of a set-up call that mean "no change";
    - `funding_received_sign`: times ccxt's funding `amount` gives USDT received (> 0);
    - `positions_per_symbol`: fetch_positions takes one symbol per call;
    - `margin_mode_params` / `leverage_params`: extra arguments ccxt requires for the set-up;
    - `wait_s`: how long the last answer's headers ask to wait after a rate limit;
    - `trade_list_params`: fetch_my_trades params, one call each, whose lists together hold
      every fill of the account (Bybit lists liquidation and ADL fills only when asked);
    - `order_trades_param`: the fetch_my_trades param that filters one order's fills (ccxt
      passes it through as is: Binance and Bybit `orderId`, OKX `ordId`);
    - `contract_amounts`: ccxt's amounts are contracts of `contractSize` base units that may
      differ from 1 (OKX); elsewhere a contract size other than 1 is refused (amounts.py).
    """

    exchange_id: str
    find_order: OrderLookup
    duplicate_markers: tuple[str, ...]
    already_set_markers: tuple[str, ...] = ()
    funding_received_sign: float = 1.0
    positions_per_symbol: bool = False
    margin_mode_params: Callable[[int], dict[str, Any]] = lambda leverage: {}
    leverage_params: Callable[[str], dict[str, Any]] = lambda margin_mode: {}
    trade_list_params: tuple[dict[str, Any], ...] = ({},)
    order_trades_param: str = "orderId"
    contract_amounts: bool = False
    wait_s: Callable[[Mapping[str, Any] | None], float | None] = retry_after_s
    tested: bool = True
    notes: tuple[str, ...] = field(default=())

    def is_duplicate(self, error: Exception) -> bool:
        """A create refusal that proves the order exists (our client id is taken)."""
        text = str(error).lower()
        return isinstance(error, ccxt.InvalidOrder) and any(
            marker in text for marker in self.duplicate_markers
        )

    def is_already_set(self, error: Exception) -> bool:
        text = str(error).lower()
        return any(marker in text for marker in self.already_set_markers)

    def funding_received_usdt(self, entry: Mapping[str, Any]) -> float:
        return self.funding_received_sign * float(entry["amount"])


def _ours(orders: list[Order], client_order_id: str) -> Order | None:
    """The order carrying our client id among a venue's answer; never another order."""
    for order in orders:
        if order.get("clientOrderId") == client_order_id:
            return order
    return None


def _binance_lookup(client: Any, client_order_id: str, symbol: str) -> Order | None:
    """GET /fapi/v1/order?origClientOrderId=...: ccxt's unified call sends the right field;
    an unknown id is -2013, OrderNotFound."""
    return _ours([client.fetch_order_with_client_order_id(client_order_id, symbol)],
                 client_order_id)  # fmt: skip


def _bybit_lookup(client: Any, client_order_id: str, symbol: str) -> Order | None:
    """/v5/order/realtime by orderLinkId (with an id it lists recent orders of any status),
    then /v5/order/history by orderLinkId (older, final ones; no orderStatus filter, so an
    order canceled after a partial fill is found too). Each answer is checked to carry OUR
    id: a venue that ignored the filter would list other orders."""
    link = {"orderLinkId": client_order_id}
    found = _ours(client.fetch_open_orders(symbol, None, None, link), client_order_id)
    if found is None:
        found = _ours(
            client.fetch_canceled_and_closed_orders(symbol, None, None, link), client_order_id
        )
    return found


def _okx_lookup(client: Any, client_order_id: str, symbol: str) -> Order | None:
    """GET /api/v5/trade/order?instId=...&clOrdId=... (ccxt sends the param as is; its
    unified `clientOrderId` is mapped to clOrdId too); an unknown id is 51603, OrderNotFound.
    OKX answers the one order with that clOrdId, checked to be ours all the same."""
    return _ours([client.fetch_order(None, symbol, {"clOrdId": client_order_id})],
                 client_order_id)  # fmt: skip


BINANCE_USDM = Dialect(
    exchange_id="binanceusdm",
    find_order=_binance_lookup,
    duplicate_markers=("-4116", "clientorderid is duplicated"),
    # -4046 "No need to change margin type." (ccxt: MarginModeAlreadySet, caught anyway)
    already_set_markers=("no need to change",),
    funding_received_sign=1.0,  # /fapi/v1/income: income, negative when paid
)

BYBIT = Dialect(
    exchange_id="bybit",
    find_order=_bybit_lookup,
    duplicate_markers=("110072", "orderlinkedid is duplicate"),
    already_set_markers=("110043", "leverage not modified"),  # ccxt: BadRequest
    funding_received_sign=-1.0,  # execType=Funding execFee: positive when paid
    positions_per_symbol=True,  # ccxt: "does not accept an array with more than one symbol"
    # ccxt lists execType=Trade by default; liquidations are BustTrade, auto-deleveraging AdlTrade
    trade_list_params=({}, {"execType": "BustTrade"}, {"execType": "AdlTrade"}),
    wait_s=bybit_wait_s,
)

OKX = Dialect(
    exchange_id="okx",
    find_order=_okx_lookup,
    duplicate_markers=("51016", "duplicated clordid"),  # in data[0].sCode: ccxt InvalidOrder
    # unchanged leverage is accepted by OKX; 59107 is "pending orders": a real refusal
    already_set_markers=(),
    funding_received_sign=1.0,  # bills type 8 balChg: negative when paid
    margin_mode_params=lambda leverage: {"lever": leverage},  # ccxt requires it (set-leverage)
    leverage_params=lambda margin_mode: {"marginMode": margin_mode},
    order_trades_param="ordId",  # /trade/fills-history filter; ccxt forwards params as is
    contract_amounts=True,  # sz, fillSz, pos are contracts of ctVal base units
    notes=(
        "amounts are contracts (ctVal): converted at the ccxt boundary (amounts.py)",
        "liquidation fills in /trade/fills-history not checked (execType/subType)",
        "fills are listed newest first; ccxt sorts by ms only (the ledger sorts by time, id)",
    ),
)

DIALECTS: dict[str, Dialect] = {d.exchange_id: d for d in (BINANCE_USDM, BYBIT, OKX)}


def dialect_for(client: Any) -> Dialect:
    """The dialect of a ccxt client by its `id`; an exchange without one is refused."""
    exchange_id = str(getattr(client, "id", ""))
    dialect = DIALECTS.get(exchange_id)
    if dialect is None:
        raise ValueError(
            f"no live dialect for ccxt exchange {exchange_id!r}; known: {sorted(DIALECTS)}"
        )
    return dialect
