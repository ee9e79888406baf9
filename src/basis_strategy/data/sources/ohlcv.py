"""OHLCV bar files (CEX spot and perps, Uniswap v3 candles): the bar open price."""

from __future__ import annotations

import pandas as pd

from basis_strategy.data.sources._common import dedupe_last, read_time_series
from basis_strategy.data.stored import FileRef


def read_ohlcv_open(path: FileRef) -> pd.Series:
    """The ``open`` column indexed by bar open time (``timestamp``), sorted and unique.

    ``timestamp`` is ISO for CEX files and unix seconds for the Uniswap files. Duplicated bars
    (Bybit repeats some 00:00 bars as identical rows) keep the last row. Non-positive prices raise
    DataFileError.
    """
    series, _ = read_time_series(path, "timestamp", "open", positive=True)
    return dedupe_last(series.sort_index(kind="stable")).rename("open")
