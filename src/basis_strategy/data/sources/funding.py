"""Perpetual funding rates (fraction per 8-hour interval).

Binance and Bybit files are read with :func:`read_funding`. OKX funding is built from the daily
archive's settled ``real_funding_rate`` with :func:`read_okx_daily_funding`; the aggregated
``okx_*`` files in ``funding_rates/`` hold conflicting duplicates and are refused.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import (
    bad_cell,
    conflict_message,
    find_conflict,
    read_time_series,
    try_parse_utc,
    try_to_float,
    unique_sorted,
)

OKX_DAILY_PATTERN = "okx_funding_rates_????-??-??.csv"
_OKX_COLUMNS = ("instrument", "real_funding_rate", "funding_time")


def read_funding(path: Path) -> pd.Series:
    """``funding_rate`` indexed by ``funding_timestamp``, sorted and unique.

    Identical repeated rows are dropped; a timestamp repeated with a different rate raises
    DataFileError (naming both values and the line).
    """
    series, first_line = read_time_series(path, "funding_timestamp", "funding_rate")
    return unique_sorted(series, path, first_line)


class _OkxRows:
    """Cells of the selected instrument gathered from many daily files, with their origin."""

    def __init__(self) -> None:
        self.times: list[str] = []
        self.rates: list[str] = []
        self.files: list[Path] = []
        self.lines: list[int] = []

    def read_file(self, path: Path, instrument: str) -> None:
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                want = self._columns(path, next(reader, None))
                for row in reader:
                    self._add_row(path, reader.line_num, row, want, instrument)
        except UnicodeDecodeError as err:
            raise DataFileError(path, f"not valid utf-8 text: {err.reason}") from err

    @staticmethod
    def _columns(path: Path, header: list[str] | None) -> list[int]:
        """Positions of the instrument, rate and time columns in ``header``."""
        if header is None:
            raise DataFileError(path, "empty file (no header)")
        for column in _OKX_COLUMNS:
            if column not in header:
                raise DataFileError(path, f"missing column {column!r}")
        return [header.index(column) for column in _OKX_COLUMNS]

    def _add_row(
        self, path: Path, line: int, row: list[str], want: list[int], instrument: str
    ) -> None:
        if not row:
            return
        if len(row) <= max(want):
            raise DataFileError(path, f"expected at least {max(want) + 1} fields", line=line)
        if row[want[0]] != instrument:
            return
        self.rates.append(row[want[1]])
        self.times.append(row[want[2]])
        self.files.append(path)
        self.lines.append(line)

    def to_series(self) -> pd.Series:
        times, bad = try_parse_utc(pd.Series(self.times, dtype=str))
        if bad is not None:
            raise self._bad(bad, "funding_time", "not a timestamp", self.times[bad])
        rates, bad = try_to_float(pd.Series(self.rates, dtype=str))
        if bad is not None:
            raise self._bad(bad, "real_funding_rate", "not a number", self.rates[bad])
        series = pd.Series(rates, index=times.rename("timestamp"), name="funding_rate")
        self._reject_conflicts(series)
        unique = series[~series.index.duplicated(keep="first")]
        return unique.sort_index(kind="stable")

    def _bad(self, position: int, column: str, problem: str, value: str) -> DataFileError:
        return bad_cell(self.files[position], column, problem, value, self.lines[position])

    def _reject_conflicts(self, series: pd.Series) -> None:
        frame = series.to_frame("real_funding_rate")
        conflict = find_conflict(frame)
        if conflict is None:
            return
        row, _, earlier = conflict
        where = f"line {self.lines[earlier]} of {self.files[earlier].name}"
        message = conflict_message(frame, conflict, where)
        raise DataFileError(self.files[row], message, line=self.lines[row])


def read_okx_daily_funding(folder: Path, instrument: str) -> pd.Series:
    """OKX settled funding (``real_funding_rate``) for one instrument from the daily archive.

    Reads every ``okx_funding_rates_YYYY-MM-DD.csv`` in ``folder``, keeps the rows whose
    ``instrument`` equals ``instrument`` (e.g. ``"ETH-USDT-SWAP"``) and indexes the rate by
    ``funding_time``. Repeated timestamps with the same rate are merged; conflicting rates raise
    DataFileError naming the file and line. A missing folder, no files, or no row for the
    instrument raise DataFileError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(folder, "folder not found")
    paths = sorted(folder.glob(OKX_DAILY_PATTERN))
    if not paths:
        raise DataFileError(folder / OKX_DAILY_PATTERN, "file not found")
    rows = _OkxRows()
    for path in paths:
        rows.read_file(path, instrument)
    if not rows.times:
        raise DataFileError(folder, f"no rows for instrument {instrument!r}")
    return rows.to_series()
