"""Picking a price's source per hour (data.price_bridge) and naming it: hand-made arrays."""

from __future__ import annotations

import numpy as np

from basis_strategy.data.price_pick import PricePick, source_labels, sources_by_hour

NAN = np.nan


def offer_two(policy: str) -> PricePick:
    pick = PricePick(4, policy)  # type: ignore[arg-type]
    pick.offer(0, np.array([1.0, 1.0, 1.0, NAN]), np.array([0, 1, 2, 4]))  # own, held
    if not pick.complete():
        pick.offer(1, np.array([2.0, 2.0, 2.0, 2.0]), np.array([0, 0, 2, 0]))  # proxy
    return pick


def test_freshest_takes_the_youngest_and_the_own_series_on_a_tie() -> None:
    pick = offer_two("freshest")
    assert pick.values.tolist() == [1.0, 2.0, 1.0, 2.0]
    assert pick.rank.tolist() == [0, 1, 0, 1]
    assert pick.age_hours.tolist() == [0, 0, 2, 0]


def test_own_first_holds_the_own_series_before_any_fallback() -> None:
    pick = offer_two("own_first")
    assert pick.values.tolist() == [1.0, 1.0, 1.0, 2.0]
    assert pick.rank.tolist() == [0, 0, 0, 1]


def test_a_pick_is_complete_when_no_fallback_can_change_it() -> None:
    live = PricePick(2, "freshest")
    live.offer(0, np.array([1.0, 1.0]), np.array([0, 0]))
    held = PricePick(2, "freshest")
    held.offer(0, np.array([1.0, 1.0]), np.array([0, 1]))
    held_own_first = PricePick(2, "own_first")
    held_own_first.offer(0, np.array([1.0, 1.0]), np.array([0, 1]))
    assert live.complete() and not held.complete() and held_own_first.complete()


def test_sources_are_named_per_hour_and_shared_between_equal_hours() -> None:
    pick = offer_two("freshest")
    labels = source_labels(["binance ETHUSDT perp", "bybit ETHUSDT perp"], True, 3)
    codes = pick.source_codes(3)
    rows = sources_by_hour({"perp:binance:ETHUSDT": codes}, {"perp:binance:ETHUSDT": labels}, 4)
    assert [row["perp:binance:ETHUSDT"] for row in rows] == [
        "binance ETHUSDT perp",
        "bybit ETHUSDT perp (proxy)",
        "binance ETHUSDT perp (held 2 h)",
        "bybit ETHUSDT perp (proxy)",
    ]
    assert rows[1] is rows[3]  # one read-only mapping per distinct set of sources
    assert source_labels(["binance ETHUSDT perp"], False, 1) == [
        "binance ETHUSDT perp (proxy)",
        "binance ETHUSDT perp (proxy; held 1 h)",
    ]
