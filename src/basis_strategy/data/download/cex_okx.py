"""OKX funding into the daily archive folder the data provider reads.

The provider takes OKX funding only from `market_data/okx/funding_rates/daily/
okx_funding_rates_YYYY-MM-DD.csv` (`read_okx_daily_funding`: the rows of one instrument, its
`real_funding_rate` at `funding_time`); the aggregated `okx_*USDT_funding_rates_*.csv` files hold
OKX's predicted rate and are not read (domain 14.27). So the download writes the archive's
layout: one file per UTC day of `funding_time`, holding every instrument's rows of that day
(ETH-USDT-SWAP and BTC-USDT-SWAP share the files; rows of other instruments already there are
kept), with OKX's settled `realizedRate` as `real_funding_rate`, OKX's `fundingRate` field as
`funding_rate`, and the settlement time `fundingTime` as `funding_time`.

OKX serves only about the last three months through funding-rate-history: older windows come
back empty (recorded as fetched, without rows); OKX's historical-data archive, which the seed's
daily files come from, is the only source for them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from basis_strategy.core.errors import DataError
from basis_strategy.data.download.cex_layouts import SETTLEMENT, okx_daily_key
from basis_strategy.data.download.files import TIME, PageSink
from basis_strategy.data.download.manifest import Manifest
from basis_strategy.data.requirements import OKX_DAILY
from basis_strategy.data.sources._common import try_parse_utc
from basis_strategy.data.sources.funding import OKX_DAILY_COLUMNS, OKX_DAILY_PATTERN


def _read_day(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in OKX_DAILY_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    return frame


def _instrument_times(path: Path, frame: pd.DataFrame, instrument: str) -> pd.Series:
    cells = frame.loc[frame["instrument"] == instrument, "funding_time"]
    times, bad = try_parse_utc(cells)
    if bad is not None:
        raise DataError(f"{path}: column 'funding_time': not a timestamp: {cells.iloc[bad]!r}")
    return pd.Series(times)


class OkxDailySink(PageSink):
    """The sink of one OKX instrument's funding in the daily archive folder: the day files are
    rewritten atomically. A settlement already in the folder is kept as it is (never
    duplicated)."""

    def __init__(
        self,
        out: Path,
        instrument: str,
        manifest: Manifest,
        source: str,
        *,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = okx_daily_key(instrument)
        super().__init__(manifest, key, OKX_DAILY_COLUMNS, source, flush_seconds, clock)
        self.folder = Path(out) / OKX_DAILY
        self.instrument = instrument
        self.times = self._existing_times()

    def _existing_times(self) -> set[pd.Timestamp]:
        times: set[pd.Timestamp] = set()
        for path in sorted(self.folder.glob(OKX_DAILY_PATTERN)):
            times.update(_instrument_times(path, _read_day(path), self.instrument))
        return times

    def _write(self, new: pd.DataFrame | None) -> None:
        if new is not None and not new.empty:
            new = new[~new[TIME].isin(self.times)].drop_duplicates(TIME, keep="first")
            for day, rows in new.groupby(new[TIME].dt.strftime("%Y-%m-%d"), sort=True):
                self._merge_day(str(day), rows)
        times = pd.Series(sorted(self.times), dtype="datetime64[ns, UTC]")
        self._record(OKX_DAILY if self.times else "", times, SETTLEMENT)

    def _merge_day(self, day: str, rows: pd.DataFrame) -> None:
        path = self.folder / OKX_DAILY_PATTERN.replace("????-??-??", day)
        rows = rows.sort_values(TIME, kind="stable")
        text = rows[list(OKX_DAILY_COLUMNS)].astype(str)
        if path.is_file():
            existing = _read_day(path)
            text = pd.concat([existing, text], ignore_index=True).fillna("")[existing.columns]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        text.to_csv(tmp, index=False)
        os.replace(tmp, path)
        self.times.update(rows[TIME])
