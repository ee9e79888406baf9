"""Which source marks a price series at each hour (`data.price_bridge`, domain 15.1).

A price series has its own file and, after it, fallback or proxy sources (another venue's
perp, another spot market). Each source offers, per hour, its last observation at or before
the hour (at most `data.max_ffill_hours` old) and that observation's age. The policy picks:

- `freshest` (default): the youngest observation; on a tie the earlier source (own file
  first). A held own price gives way to a proxy venue's live one, so a venue is never marked
  at a frozen price while the others move.
- `own_first`: the series' own observation, held up to the bound, then each fallback in turn.

The pick keeps, per hour, the source rank and the age: they name the mark's source in the
balance sheet (`binance ETHUSDT perp (held 2 h)`) and the bridges in the run summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np

from basis_strategy.data.market import NO_SOURCES

PriceBridge = Literal["freshest", "own_first"]


class PricePick:
    """The values of one price series as its sources are offered, best source first."""

    def __init__(self, hours: int, policy: PriceBridge) -> None:
        self.policy = policy
        self.values = np.full(hours, np.nan)
        self.age_hours = np.full(hours, -1, dtype=np.int64)
        self.rank = np.full(hours, -1, dtype=np.int64)

    def complete(self) -> bool:
        """True when no later source can change the pick (a fallback need not be read)."""
        if self.policy == "own_first":
            return not np.isnan(self.values).any()
        return bool((self.age_hours == 0).all())

    def offer(self, rank: int, values: np.ndarray, age_hours: np.ndarray) -> None:
        """Source `rank`'s values at each hour (NaN where it has none young enough)."""
        usable = ~np.isnan(values)
        take = np.isnan(self.values)
        if self.policy == "freshest":
            take |= age_hours < self.age_hours
        take &= usable
        self.values[take] = values[take]
        self.age_hours[take] = age_hours[take]
        self.rank[take] = rank

    def source_codes(self, max_age_hours: int) -> np.ndarray:
        """One code per hour for `source_labels`: rank × (max age + 1) + age; -1 where none."""
        codes = self.rank * (max_age_hours + 1) + self.age_hours
        return np.where(self.rank >= 0, codes, -1)


def source_labels(labels: Sequence[str], own_file: bool, max_age_hours: int) -> list[str]:
    """The text of each code of `PricePick.source_codes`: the source's label, then `(proxy)`
    for another venue's or a fallback series and `(held N h)` for an observation N hours old,
    or both as `(proxy; held N h)` (no comma: the text is a CSV cell)."""
    texts = []
    for rank, label in enumerate(labels):
        proxy = rank > 0 or not own_file
        for age in range(max_age_hours + 1):
            notes = [note for note, on in (("proxy", proxy), (f"held {age} h", age > 0)) if on]
            texts.append(f"{label} ({'; '.join(notes)})" if notes else label)
    return texts


def sources_by_hour(
    codes: Mapping[str, np.ndarray], labels: Mapping[str, list[str]], hours: int
) -> list[Mapping[str, str]]:
    """Per hour, series -> its mark's source. Hours with the same sources share one read-only
    mapping (most hours are all own, live observations)."""
    if not codes:
        return [NO_SOURCES] * hours
    names = list(codes)
    matrix = np.column_stack([codes[name] for name in names]).tolist()
    shared: dict[tuple[int, ...], Mapping[str, str]] = {}
    rows: list[Mapping[str, str]] = []
    for row in matrix:
        key = tuple(row)
        mapping = shared.get(key)
        if mapping is None:
            mapping = shared[key] = MappingProxyType(
                {
                    name: labels[name][code]
                    for name, code in zip(names, key, strict=True)
                    if code >= 0
                }
            )
        rows.append(mapping)
    return rows
