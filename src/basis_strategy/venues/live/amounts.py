"""Base units in the ledger, the venue's units on the wire: the one place they are converted.

Why: ccxt's amounts for a swap are CONTRACTS of `market['contractSize']` base units. On
Binance USDⓈ-M and Bybit linear a contract is one base unit, so the two coincide; on OKX
ETH-USDT-SWAP is 0.1 ETH a contract and BTC-USDT-SWAP 0.01 BTC, so 0.35 ETH sent as is would
open 0.35 contracts (0.035 ETH), and a fill of 3.5 contracts booked as is would be 3.5 ETH.
`LiveCex` keeps the ledger, the order records and the legs in base units everywhere; these
helpers convert an order's size to contracts just before `create_order`, and the venue's
filled amounts and fills back to base units as soon as they are read (positions: `snapshot_of`
multiplies `contracts` by `contractSize`). Decimal arithmetic on the shortest repr keeps
0.35 / 0.1 at exactly 3.5 (float division gives 3.4999999999999996, which ccxt would truncate
to 3.49).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

from basis_strategy.core.errors import OperationalError
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.dialects import Dialect


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def contract_size(client: Any, symbol: str) -> float:
    """Base units per contract of `symbol` (1 when ccxt does not say)."""
    return float(client.market(symbol).get("contractSize") or 1.0)


def check_market(client: Any, dialect: Dialect, symbol: str, quote: str) -> None:
    """Refuse a market whose units this venue cannot convert: an inverse contract (sized in
    USD, margined in the base coin), one not settled in `quote`, or a contract size other than
    one base unit on a venue whose ccxt amounts are not declared to be contracts
    (`Dialect.contract_amounts`: there a size != 1 means ccxt and the venue disagree)."""
    market = client.market(symbol)
    if market.get("inverse") or market.get("linear") is False:
        raise OperationalError(f"{dialect.exchange_id}: {symbol} is not a linear contract")
    if market.get("settle") not in (None, quote):
        raise OperationalError(
            f"{dialect.exchange_id}: {symbol} settles in {market.get('settle')}, not {quote}"
        )
    size = contract_size(client, symbol)
    if size <= 0 or (size != 1.0 and not dialect.contract_amounts):
        raise OperationalError(f"{dialect.exchange_id}: {symbol} contract size {size} != 1")


SNAP_CONTRACTS = Decimal("1e-9")  # far below any venue's lot, far above float noise


def to_contracts(client: Any, venue: str, symbol: str, qty_base: float) -> tuple[float, float]:
    """(contracts to send, the base units they are) for an order of `qty_base` base units.

    The contracts are cut toward zero to the venue's lot by ccxt (`amount_to_precision`): the
    strategy sizes in base units, not lots, so the part below one lot is left for the next
    cycle to see in `positions()` (the legs and the ledger book what filled, never the wish).
    Refused (ExecutionRejected, before anything is stored) when they round to 0."""
    size = _dec(contract_size(client, symbol))
    # float noise is snapped off first: a book size summed from lots (0.236 - 0.014 =
    # 0.22199999999999998) is whole lots, and cutting the noise would leave one lot open
    wanted = (_dec(qty_base) / size).quantize(SNAP_CONTRACTS)
    try:
        rounded = Decimal(str(client.amount_to_precision(symbol, float(wanted))))
    except ccxt.InvalidOrder:  # ccxt refuses an amount below the lot size
        rounded = Decimal(0)
    if rounded <= 0:
        raise ExecutionRejected(
            f"{venue}: {qty_base} base of {symbol} rounds to 0 contracts at the lot size"
        )
    return float(rounded), float(rounded * size)


def lot_contracts(client: Any, symbol: str) -> Decimal:
    """One lot in contracts: ccxt's amount precision is the step itself in TICK_SIZE mode
    (Binance, Bybit, OKX in ccxt 4), a number of decimals otherwise."""
    precision = client.market(symbol).get("precision", {}).get("amount")
    if not precision:
        return Decimal(1)
    if getattr(client, "precisionMode", ccxt.TICK_SIZE) == ccxt.TICK_SIZE:
        return _dec(precision)
    return Decimal(1).scaleb(-int(precision))


def to_base(client: Any, symbol: str, contracts: float) -> float:
    """The base units of an amount ccxt reports in contracts (a fill, an order's `filled`)."""
    return float(_dec(contracts) * _dec(contract_size(client, symbol)))
