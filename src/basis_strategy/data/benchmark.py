"""The benchmark index of a run (issue 4): pure helpers the data provider uses."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from basis_strategy.data.align import runs

HOURS_PER_YEAR = 8760


def apy_index(apy: np.ndarray) -> np.ndarray:
    """index_t = index_{t−1} × (1 + apy_{t−1})^(1/8760), 1.0 at the first hour; hours without
    an APY (NaN) accrue nothing and are NaN in the index."""
    known = ~np.isnan(apy)
    growth = np.where(known, (1.0 + np.where(known, apy, 0.0)) ** (1.0 / HOURS_PER_YEAR), 1.0)
    index = np.concatenate(([1.0], np.cumprod(growth[:-1])))
    index[~known] = np.nan
    return index


def coverage(values: np.ndarray, times: list[datetime]) -> dict[str, object]:
    """First and last hour with a value and the stretches without one between them."""
    known = np.flatnonzero(~np.isnan(values))
    if not known.size:
        return {"first": None, "last": None, "gaps": []}
    first, last = int(known[0]), int(known[-1])
    holes = runs(np.isnan(values[first : last + 1]))
    gaps = [
        {
            "start": times[first + a].isoformat(),
            "end": times[first + b].isoformat(),
            "hours": b - a + 1,
        }
        for a, b in holes
    ]
    return {"first": times[first].isoformat(), "last": times[last].isoformat(), "gaps": gaps}
