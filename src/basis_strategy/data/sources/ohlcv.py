"""OHLCV bar files (CEX spot and perps, Uniswap v3 candles): the bar open price."""

from __future__ import annotations

import numpy as np
import pandas as pd

from basis_strategy.data.sources._common import (
    bad_cell,
    parse_utc,
    read_table,
    to_float,
    unique_sorted,
)
from basis_strategy.data.stored import FileRef

PRICE_COLUMNS = ("open", "high", "low", "close")


def read_ohlcv_open(path: FileRef) -> pd.Series:
    """The ``open`` column indexed by bar open time (``timestamp``), sorted and unique.

    ``timestamp`` is ISO for CEX files and unix seconds for the Uniswap files. The price columns
    present (``open`` and any of ``high``, ``low``, ``close``) must be numbers, and ``open``
    must lie within ``low``..``high``. A bar repeated as an identical row (Bybit repeats some
    00:00 bars) is read once; a repeated bar with other prices, rows out of time order or off
    the whole hour raise DataFileError. Whether the prices are plausible (positive, no
    implausible jump) is the run's check (`data.plausibility`), against its `data` settings.
    """
    frame, first_line = read_table(path, ["timestamp", "open"])
    index = parse_utc(frame["timestamp"], path, "timestamp", first_line).rename("timestamp")
    present = [column for column in PRICE_COLUMNS if column in frame.columns]
    bars = pd.DataFrame(
        {column: to_float(frame[column], path, column, first_line) for column in present},
        index=index,
    )
    if "high" in bars and "low" in bars:
        _require_open_in_range(bars, frame["open"], path, first_line)
    # a copy: the column alone, not a view holding every price column of the file in memory
    return unique_sorted(bars, path, first_line)["open"].copy()


def _require_open_in_range(
    bars: pd.DataFrame, raw: pd.Series, path: FileRef, first_line: int
) -> None:
    """Raise DataFileError on the first bar whose open lies outside its own low..high."""
    low, high = bars["low"].to_numpy(), bars["high"].to_numpy()
    opens = bars["open"].to_numpy()
    outside = np.flatnonzero((opens < low) | (opens > high))
    if outside.size:
        row = int(outside[0])
        problem = f"outside the bar's low {float(low[row])!r} .. high {float(high[row])!r}"
        raise bad_cell(path, "open", problem, raw.iloc[row], first_line + row)
