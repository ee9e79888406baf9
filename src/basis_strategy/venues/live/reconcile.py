"""The venue's own word on an account, and how it differs from what we expect (ADR-008).

Why: reconciliation that trusts an empty report declared accounts flat while positions were
open (nautilus #4735, #4772), and a position gap left unexplained grows into the 75 vs -65 of
nautilus #3104. So a snapshot carries the margin in use next to the positions, and an empty
position list with margin in use is flagged, never read as "flat". On the spot venue the
snapshot also holds the spot wallet (Binance keeps it apart from the futures wallet): each
traded coin as `venue:BaseToken:COIN`, its USDT added to the futures wallet's
(`with_spot_wallet`), as the live book holds one USDT balance per venue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.venues.live.amounts import to_base
from basis_strategy.venues.live.dialects import Dialect

Read = Callable[[Callable[[], Any]], Any]  # a read retried on network errors (Pacer.read)

FLAT_QTY_BASE = 1e-9


@dataclass(frozen=True)
class VenueSnapshot:
    """Signed perp sizes (and spot holdings on the spot venue) by instrument key, and the USDT
    balance (total of both wallets; margin in use: the futures wallet's)."""

    venue: str
    positions: dict[str, float]
    usdt_total: float
    usdt_used: float
    taken_at: datetime


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: `expected` (ours) against `venue` (theirs), with why it matters."""

    key: str
    expected: float
    venue: float
    reason: str


def snapshot_of(
    venue: str,
    positions: list[Mapping[str, Any]],
    balance: Mapping[str, Any],
    taken_at: datetime,
    quote: str = "USDT",
) -> VenueSnapshot:
    """ccxt's fetch_positions + fetch_balance answers as a snapshot keyed as the simulated
    venue keys its ledger (`binance:Perp:BTCUSDT`)."""
    sizes: dict[str, float] = {}
    for position in positions:
        contracts = float(position.get("contracts") or 0.0)
        size = contracts * float(position.get("contractSize") or 1.0)
        if abs(size) < FLAT_QTY_BASE:
            continue
        sign = -1.0 if position.get("side") == "short" else 1.0
        base = str(position["symbol"]).split("/")[0]
        key = perp_key(venue, base)
        sizes[key] = sizes.get(key, 0.0) + sign * size
    cash = balance.get(quote) or {}
    total, used = float(cash.get("total") or 0.0), float(cash.get("used") or 0.0)
    return VenueSnapshot(venue, sizes, total, used, taken_at)


def differences(
    snapshot: VenueSnapshot,
    expected: Mapping[str, float],
    usdt_key: str,
    tolerance_base: float = 1e-9,
    tolerance_usdt: float = 0.01,
) -> list[Mismatch]:
    """Perp sizes and spot holdings that differ by more than `tolerance_base`; the USDT
    balance if `expected` names it; and an empty perp report while margin is in use (never
    "flat")."""
    prefix, spot_prefix = f"{snapshot.venue}:Perp:", f"{snapshot.venue}:BaseToken:"
    ours = {k: v for k, v in expected.items()
            if k.startswith(prefix) or (k.startswith(spot_prefix) and k != usdt_key)}  # fmt: skip
    found: list[Mismatch] = []
    for key in sorted(set(ours) | set(snapshot.positions)):
        mine, theirs = ours.get(key, 0.0), snapshot.positions.get(key, 0.0)
        if abs(mine - theirs) > tolerance_base:
            found.append(Mismatch(key, mine, theirs, "position differs from the venue's"))
    perps = [key for key in snapshot.positions if key.startswith(prefix)]
    if usdt_key in expected and abs(expected[usdt_key] - snapshot.usdt_total) > tolerance_usdt:
        found.append(
            Mismatch(usdt_key, expected[usdt_key], snapshot.usdt_total, "USDT balance differs")
        )
    if not perps and snapshot.usdt_used > tolerance_usdt:
        found.append(
            Mismatch(
                f"{snapshot.venue}:margin",
                0.0,
                snapshot.usdt_used,
                "venue reports no positions while margin is in use: not flat, refuse to trade",
            )
        )
    return found


def read_snapshot(
    read: Read,
    client: Any,
    dialect: Dialect,
    symbols: list[str],
    venue: str,
    taken_at: datetime,
    quote: str = "USDT",
) -> VenueSnapshot:
    """fetch_positions (one symbol per call where the venue wants it: Bybit) + fetch_balance,
    each through `read` (retried), as a snapshot. A flat symbol may come back as a position
    of 0 contracts (Bybit by symbol): `snapshot_of` leaves it out."""
    batches = [[s] for s in symbols] if dialect.positions_per_symbol else [symbols]
    positions = [p for batch in batches for p in read(partial(client.fetch_positions, batch))]
    return snapshot_of(venue, positions, read(client.fetch_balance), taken_at, quote)


def with_spot_wallet(
    snapshot: VenueSnapshot, balance: Mapping[str, Any], bases: list[str], quote: str = "USDT"
) -> VenueSnapshot:
    """The snapshot plus the spot wallet's ccxt `fetch_balance` answer: each of `bases` (the
    coins the venue trades spot) as `venue:BaseToken:COIN` if not flat, and the wallet's
    `quote` total added to the USDT total. Other coins in the wallet (BNB dust, deposits not
    ours) are left out; margin in use stays the futures wallet's."""
    positions = dict(snapshot.positions)
    for base in bases:
        total = float((balance.get(base) or {}).get("total") or 0.0)
        if abs(total) >= FLAT_QTY_BASE:
            positions[cash_key(snapshot.venue, base)] = total
    cash = float((balance.get(quote) or {}).get("total") or 0.0)
    return replace(snapshot, positions=positions, usdt_total=snapshot.usdt_total + cash)


def read_unbooked_trades(
    read: Read,
    client: Any,
    dialect: Dialect,
    symbols: list[str],
    booked_ids: set[str],
    since_ms: int | None = None,
) -> list[Mapping[str, Any]]:
    """The venue's fills whose trade ids our ledger does not hold (a liquidation, an ADL, an
    order placed by hand), once each, from every list the venue splits its fills into
    (`Dialect.trade_list_params`: Bybit lists BustTrade and AdlTrade only when asked). They
    explain a position mismatch; booking them is the reconciler's decision, not this read's.
    ccxt's `amount` is in contracts (OKX: 0.1 ETH each): each trade is a copy carrying
    `amount_base` too, the base units the ledger would book."""
    found: dict[str, Mapping[str, Any]] = {}
    for symbol in symbols:
        for params in dialect.trade_list_params:
            call = partial(client.fetch_my_trades, symbol, since_ms, None, dict(params))
            for trade in read(call):
                if str(trade["id"]) not in booked_ids:
                    amount_base = to_base(client, symbol, float(trade["amount"]))
                    found.setdefault(str(trade["id"]), {**trade, "amount_base": amount_base})
    return sorted(found.values(), key=lambda t: (int(t.get("timestamp") or 0), str(t["id"])))
