"""AAVE v3 oracle price files (USD- or ETH-quoted; leading ``#`` comment lines)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from basis_strategy.data.sources._common import column_series, file_error, read_table, unique_sorted
from basis_strategy.data.stored import FileRef

VALUE_COLUMNS = ("oracle_price_eth", "oracle_price_usd")
# `source` of rows read from the chain at each hour's block (`basis data download`): every row
# is an observation at its stamp. Any other file (the seed's `aave_oracle_derived`) is an
# interpolation between daily snapshots, of which only the 00:00 rows are known at their time.
OBSERVED_HOURLY_SOURCE = "aave_oracle_onchain"


@dataclass(frozen=True)
class OracleReads:
    """An oracle file's prices and whether every row was read on chain at its hour."""

    rate: pd.Series
    observed_hourly: bool


def read_oracle_reads(path: FileRef) -> OracleReads:
    """The oracle price indexed by ``timestamp``, sorted and unique, and whether every row's
    ``source`` is :data:`OBSERVED_HOURLY_SOURCE` (False without a ``source`` column).

    The value column is ``oracle_price_eth`` or ``oracle_price_usd``, whichever the file has; the
    series is named after it. Timestamps may be ``YYYY-MM-DD HH:MM:SS+00:00`` or unix seconds
    (USDT). Repeated timestamps must carry the same price; whether the prices are plausible
    (positive, no implausible jump) is the run's check (`data.plausibility`).
    """
    frame, first_line = read_table(path, ["timestamp"], comment="#")
    present = [column for column in VALUE_COLUMNS if column in frame.columns]
    if len(present) != 1:
        wanted = " or ".join(repr(column) for column in VALUE_COLUMNS)
        problem = "missing column" if not present else "ambiguous: both columns"
        raise file_error(path, f"{problem} {wanted}")
    series = column_series(frame, first_line, path, ("timestamp", present[0]))
    observed = "source" in frame.columns and bool(
        (frame["source"].str.strip() == OBSERVED_HOURLY_SOURCE).all()
    )
    return OracleReads(unique_sorted(series, path, first_line), observed)


def read_oracle(path: FileRef) -> pd.Series:
    """The prices of :func:`read_oracle_reads`."""
    return read_oracle_reads(path).rate
