"""AAVE v3 oracle price files (USD- or ETH-quoted; leading ``#`` comment lines)."""

from __future__ import annotations

import pandas as pd

from basis_strategy.data.sources._common import column_series, file_error, read_table, unique_sorted
from basis_strategy.data.stored import FileRef

VALUE_COLUMNS = ("oracle_price_eth", "oracle_price_usd")


def read_oracle(path: FileRef) -> pd.Series:
    """The oracle price indexed by ``timestamp``, sorted and unique.

    The value column is ``oracle_price_eth`` or ``oracle_price_usd``, whichever the file has; the
    series is named after it. Timestamps may be ``YYYY-MM-DD HH:MM:SS+00:00`` or unix seconds
    (USDT). Prices must be positive; repeated timestamps must carry the same price.
    """
    frame, first_line = read_table(path, ["timestamp"], comment="#")
    present = [column for column in VALUE_COLUMNS if column in frame.columns]
    if len(present) != 1:
        wanted = " or ".join(repr(column) for column in VALUE_COLUMNS)
        problem = "missing column" if not present else "ambiguous: both columns"
        raise file_error(path, f"{problem} {wanted}")
    series = column_series(frame, first_line, path, ("timestamp", present[0]), positive=True)
    return unique_sorted(series, path, first_line)
