"""An order's fills as the legs SimulatedCex returns for the same trade (ADR-012).

Why: the engine, the P&L and the event log must not know whether a venue is live. The
simulated venue returns a `PerpTraded` leg (signed size at the fill price, execution cost, the
average entry after) and a `PerpCashSettled` USDT leg (realised P&L less fee). Live, every
number comes from the venue's fills: the size is their signed sum, the price their volume-
weighted average, the fee what the venue charged, and the entry and realised P&L the fill
ledger's (`position_from`). The execution cost adds the fills' gap to the hour's mark,
`Σ q (price − mark)`, because that is what the simulated venue's slippage is (its fill is the
mark worsened by slippage): a trade then moves equity valued at mark by `−cost` in both.
"""

from __future__ import annotations

import math

from basis_strategy.core.instructions import Leg
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.live.ledger import Fill, position_from
from basis_strategy.venues.interface import cost_detail

COST = "execution_costs"
QUOTE = "USDT"


def mark_gap_usdt(fills: list[Fill], mark: float | None) -> float:
    """USDT lost against the mark, `Σ q (price − mark)` (> 0 paid); 0 without a mark."""
    if mark is None or not math.isfinite(mark):
        return 0.0
    return sum(f.signed_qty_base * (f.price_usdt - mark) for f in fills)


def perp_trade_legs(
    venue: str,
    base: str,
    symbol: str,
    client_order_id: str,
    fills: list[Fill],
    mark: float | None,
) -> tuple[Leg, ...]:
    """The legs of the order `client_order_id` among `fills` (all the strategy's fills);
    no fills of it: no legs."""
    mine = [f for f in fills if f.client_order_id == client_order_id]
    return fill_legs(venue, base, symbol, mine, fills, mark)


def fill_legs(
    venue: str, base: str, symbol: str, mine: list[Fill], fills: list[Fill], mark: float | None
) -> tuple[Leg, ...]:
    """The legs of the fills `mine`, part of `fills` (all the strategy's fills)."""
    if not mine:
        return ()
    keys = {f.key for f in mine}
    others = [f for f in fills if f.key not in keys]
    before = position_from(venue, symbol, others)
    after = position_from(venue, symbol, fills)
    qty = sum(f.signed_qty_base for f in mine)
    price = sum(f.qty_base * f.price_usdt for f in mine) / sum(f.qty_base for f in mine)
    fee = sum(f.fee_usdt for f in mine)
    gap = mark_gap_usdt(mine, mark)
    realised = after.realized_pnl_usdt - before.realized_pnl_usdt
    cost = fee + gap
    detail = cost_detail(fee, gap)
    entry = after.avg_entry_price_usdt
    return (
        Leg(perp_key(venue, base), qty, "PerpTraded", price, COST, -cost, QUOTE, entry, detail),
        Leg(cash_key(venue, QUOTE), realised - fee, "PerpCashSettled", price),
    )
