"""LST market price against ETH from the peg-analysis files (24-hour rolling DEX median)."""

from __future__ import annotations

import pandas as pd

from basis_strategy.data.sources._common import read_time_series, unique_sorted
from basis_strategy.data.stored import FileRef


def read_peg_market_rate(path: FileRef) -> pd.Series:
    """``market_rate`` (ETH per LST) indexed by ``timestamp``, sorted and unique.

    Only the market rate is read: the file's cost and routing columns are fixed assumptions.
    Repeated hours must carry the same rate; whether the rates are plausible (positive, no
    implausible jump) is the run's check (`data.plausibility`).
    """
    series, first_line = read_time_series(path, "timestamp", "market_rate")
    return unique_sorted(series, path, first_line)
