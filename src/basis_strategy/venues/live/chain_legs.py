"""How a mined transaction of the fund's account becomes the book's legs (issue 14): the legs
the simulated venue planned, with what the chain did differently folded in where it arose.
"""

from __future__ import annotations

from basis_strategy.core.instructions import FlashBundle, Instruction, Leg, SwapOnDex
from basis_strategy.venues.simulated.chain import COST, wallet_key


def fold_mined(
    legs: list[Leg], before: dict[str, float], after: dict[str, float], order: Instruction
) -> tuple[list[Leg], list[tuple[str, float, float]]]:
    """`legs` with each holding's gap (mined − planned) folded in (`fold`); also (key, gap,
    scale) of every holding that moved other than planned, `scale` being the most it moved
    (the net, or the largest leg: a bundle's mint then supply nets to ~0 but moved ~all)."""
    planned: dict[str, float] = {}
    largest: dict[str, float] = {}
    for leg in legs:
        planned[leg.instrument] = planned.get(leg.instrument, 0.0) + leg.amount
        largest[leg.instrument] = max(largest.get(leg.instrument, 0.0), abs(leg.amount))
    swaps = swap_buys(order)
    moved = []
    for key in sorted(set(planned) | {k for k in after if after[k] != before.get(k, 0.0)}):
        mined = after.get(key, 0.0) - before.get(key, 0.0)
        gap = mined - planned.get(key, 0.0)
        if gap != 0.0:
            scale = max(abs(mined), abs(planned.get(key, 0.0)), largest.get(key, 0.0))
            moved.append((key, gap, scale))
            legs = fold(legs, key, gap, key in swaps)
    return legs, moved


def steps_of(order: Instruction) -> tuple[Instruction, ...]:
    return order.steps if isinstance(order, FlashBundle) else (order,)


def swap_buys(order: Instruction) -> set[str]:
    return {wallet_key(step.buy) for step in steps_of(order) if isinstance(step, SwapOnDex)}


def fold(legs: list[Leg], key: str, gap: float, swap_bought: bool) -> list[Leg]:
    """Add `gap` (mined − planned) of `key` to the legs: to a swap's bought leg (and its cost,
    in units of the asset sold) when `key` was bought by a swap, else to the last leg of `key`
    (a swap's sold leg: its cost too, as less was sold for what was received), else as a leg
    of its own."""
    for i in range(len(legs) - 1, -1, -1):
        leg = legs[i]
        if leg.instrument != key or (swap_bought and leg.event_type != "Swapped"):
            continue
        sold_less = gap if leg.event_type == "Swapped" and leg.pnl_component == COST else 0.0
        legs[i] = Leg(leg.instrument, leg.amount + gap, leg.event_type, leg.price,
                      leg.pnl_component, leg.pnl_native + sold_less, leg.pnl_asset,
                      leg.entry_after, leg.detail)  # fmt: skip
        if swap_bought and i > 0 and legs[i - 1].pnl_component == COST:
            sold = legs[i - 1]
            extra_cost = -gap * leg.price / sold.price  # more received = less cost
            legs[i - 1] = Leg(sold.instrument, sold.amount, sold.event_type, sold.price,
                              sold.pnl_component, sold.pnl_native - extra_cost, sold.pnl_asset,
                              sold.entry_after, sold.detail)  # fmt: skip
        return legs
    return [*legs, Leg(key, gap, "ChainSettled", 1.0)]
