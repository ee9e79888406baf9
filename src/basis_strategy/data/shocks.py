"""Stress shocks on the aligned market data (config `shocks`, see `config.models.Shock`).

Applied once, after every column and the funding schedule are built and before the per-hour
rows are made, so the engine never sees the unshocked values. Each shocked value depends only
on that hour's own value and the shock's fixed window: causal by construction.

- `move`: value × (1 + v × ramp(h)), ramp = 0 before `start`, (h − start + 1 h) /
  (end − start + 1 h) from `start` to `end`, 1 from `end` on (a one-hour move, start == end,
  is a full step at `start`). Funding settlements are scaled the same way at their hour.
- `set`: the value becomes v at every hour (funding: every settlement) in [`start`, `end`].

A shock that takes a price, exchange rate or AAVE index to 0 or below (an AAVE APR or the gas
price below 0) is a ConfigError naming it: no run is made on physically impossible data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from fnmatch import fnmatchcase

import numpy as np
import pandas as pd

from basis_strategy.config.models import Shock
from basis_strategy.core.errors import ConfigError
from basis_strategy.data.align import NS_PER_HOUR
from basis_strategy.data.market import FundingRate

Funding = dict[int, tuple[FundingRate, ...]]


def _ns(t: datetime) -> int:
    return int(pd.Timestamp(t).as_unit("ns").value)


def move_ramp(grid_ns: np.ndarray, start_ns: int, end_ns: int) -> np.ndarray:
    """0 before `start`, rising linearly to 1 at `end`, 1 after (see the module docstring)."""
    span = end_ns - start_ns + NS_PER_HOUR
    ramp = (grid_ns - start_ns + NS_PER_HOUR) / span
    return np.clip(ramp, 0.0, 1.0)


def shock_factors(grid_ns: np.ndarray, shock: Shock) -> np.ndarray:
    """Per-hour multiplier of a `move` shock (exactly 1.0 before its start)."""
    return 1.0 + shock.value * move_ramp(grid_ns, _ns(shock.start), _ns(shock.end))


def in_window(grid_ns: np.ndarray, shock: Shock) -> np.ndarray:
    """Hours in [start, end] (the hours a `set` shock replaces)."""
    return (grid_ns >= _ns(shock.start)) & (grid_ns <= _ns(shock.end))


def shock_column(values: np.ndarray, grid_ns: np.ndarray, shock: Shock) -> np.ndarray:
    """A shocked copy of one hourly column."""
    if shock.kind == "move":
        return values * shock_factors(grid_ns, shock)
    return np.where(in_window(grid_ns, shock), shock.value, values)


def funding_name(rate: FundingRate) -> str:
    return f"funding:{rate.venue}:{rate.base}"


def shock_funding(funding: Funding, grid_ns: np.ndarray, shock: Shock, names: set[str]) -> Funding:
    """A copy of the settlement schedule with the named venues' rates shocked."""
    factors = shock_factors(grid_ns, shock) if shock.kind == "move" else None
    window = in_window(grid_ns, shock)

    def shocked(pos: int, rate: FundingRate) -> FundingRate:
        if funding_name(rate) not in names:
            return rate
        if factors is not None:
            return replace(rate, rate_per_8h=rate.rate_per_8h * float(factors[pos]))
        return replace(rate, rate_per_8h=shock.value) if window[pos] else rate

    return {pos: tuple(shocked(pos, rate) for rate in rates) for pos, rates in funding.items()}


def match_series(
    index: int, globs: Sequence[str], columns: Sequence[str], funding: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Column and funding names matched by the globs; a glob matching nothing is a ConfigError."""
    matched_columns: list[str] = []
    matched_funding: list[str] = []
    for glob in globs:
        hits = [n for n in columns if fnmatchcase(n, glob)]
        hits_funding = [n for n in funding if fnmatchcase(n, glob)]
        if not hits and not hits_funding:
            available = ", ".join([*sorted(columns), *sorted(funding)])
            raise ConfigError(
                f"shocks.{index}.series",
                f"{glob!r} matches no series of this run; available: {available}",
            )
        matched_columns += [n for n in hits if n not in matched_columns]
        matched_funding += [n for n in hits_funding if n not in matched_funding]
    return matched_columns, matched_funding


# Columns that stay > 0 (prices, exchange rates, AAVE indices) or >= 0 (AAVE APRs, gas).
POSITIVE = ("price:", "perp:", "lst_rate:", "lst_market:", "aave_li:", "aave_bi:")
NON_NEGATIVE = ("aave_lr:", "aave_br:", "gas_gwei")


def require_physical(index: int, name: str, values: np.ndarray, grid_ns: np.ndarray) -> None:
    """ConfigError naming `shocks.{index}` when it takes a price, rate or index that must stay
    positive to 0 or below (an APR or gas price below 0)."""
    if name.startswith(POSITIVE):
        bad, bound = values <= 0, "> 0"
    elif name.startswith(NON_NEGATIVE):
        bad, bound = values < 0, ">= 0"
    else:
        return
    hours = np.flatnonzero(bad)
    if hours.size:
        at = pd.Timestamp(int(grid_ns[hours[0]]), tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        raise ConfigError(
            f"shocks.{index}.value",
            f"takes {name} to {float(values[hours[0]])!r} at {at}; it must stay {bound}",
        )


def apply_shocks(
    shocks: Sequence[Shock],
    grid_ns: np.ndarray,
    columns: dict[str, np.ndarray],
    funding: Funding,
) -> tuple[dict[str, np.ndarray], Funding, list[dict[str, object]]]:
    """Apply the shocks in order; returns new columns, new funding and one record per shock."""
    columns = dict(columns)
    funding_names = sorted({funding_name(r) for rates in funding.values() for r in rates})
    applied: list[dict[str, object]] = []
    for i, shock in enumerate(shocks):
        names, funded = match_series(i, shock.series, list(columns), funding_names)
        for name in names:
            columns[name] = shock_column(columns[name], grid_ns, shock)
            require_physical(i, name, columns[name], grid_ns)
        if funded:
            funding = shock_funding(funding, grid_ns, shock, set(funded))
        applied.append(_record(shock, names, funded, grid_ns, funding))
    return columns, funding, applied


def _record(
    shock: Shock, names: list[str], funded: list[str], grid_ns: np.ndarray, funding: Funding
) -> dict[str, object]:
    # hours from the start on for a move (held to the end), the window for a set
    touched = grid_ns >= _ns(shock.start) if shock.kind == "move" else in_window(grid_ns, shock)
    settlements = sum(
        1
        for pos, rates in funding.items()
        if touched[pos]
        for rate in rates
        if funding_name(rate) in funded
    )
    return {
        "series": [*names, *funded],
        "globs": list(shock.series),
        "kind": shock.kind,
        "value": shock.value,
        "start": shock.start.isoformat(),
        "end": shock.end.isoformat(),
        "hours": int(touched.sum()) if names else 0,
        "settlements": settlements,
    }
