"""Perpetual funding rates (fraction per 8-hour interval).

Binance and Bybit files are read with :func:`read_funding`. OKX funding is built from the daily
archive's settled ``real_funding_rate`` with :func:`read_okx_daily_funding`; the aggregated
``okx_*`` files in ``funding_rates/`` hold conflicting duplicates and are refused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.align import NS_PER_HOUR
from basis_strategy.data.sources._common import (
    bad_cell,
    conflict_message,
    field_count_problem,
    file_error,
    find_conflict,
    read_time_series,
    stored_comment_lines,
    try_parse_utc,
    try_to_float,
    unique_sorted,
)
from basis_strategy.data.stored import FileRef, StoredFile

OKX_DAILY_PATTERN = "okx_funding_rates_????-??-??.csv"
# the archive's layout (writers of daily files use it; the reader needs only _OKX_COLUMNS)
OKX_DAILY_COLUMNS = (
    "instrument",
    "contract_type",
    "funding_rate",
    "real_funding_rate",
    "funding_time",
    "date",
)
_OKX_COLUMNS = ("instrument", "real_funding_rate", "funding_time")


def read_funding(path: FileRef) -> pd.Series:
    """``funding_rate`` indexed by ``funding_timestamp``, sorted and unique.

    Identical repeated rows are dropped; a timestamp repeated with a different rate raises
    DataFileError (naming both values and the line), as do rows out of time order or off the
    whole hour. Whether a rate is plausible is the run's check (`data.plausibility`).
    """
    series, first_line = read_time_series(path, "funding_timestamp", "funding_rate")
    return unique_sorted(series, path, first_line)


class _OkxRows:
    """Cells of the selected instrument gathered from many daily files, with their origin."""

    def __init__(self) -> None:
        self.times: list[str] = []
        self.rates: list[str] = []
        self.files: list[FileRef] = []
        self.lines: list[int] = []

    def read_file(self, path: FileRef, instrument: str) -> None:
        records = _stored_records(path) if isinstance(path, StoredFile) else _file_records(path)
        header = next(records, None)
        want = self._columns(path, header)
        width = len(header[1]) if header else 0
        for line, row in records:
            if row and len(row) != width:
                raise file_error(path, field_count_problem(len(row), width), line=line)
            self._add_row(path, line, row, want, instrument)

    @staticmethod
    def _columns(path: FileRef, header: tuple[int, list[str]] | None) -> list[int]:
        """Positions of the instrument, rate and time columns in the header row."""
        if header is None:
            raise file_error(path, "empty file (no header)")
        names = header[1]
        for column in _OKX_COLUMNS:
            if column not in names:
                raise file_error(path, f"missing column {column!r}")
        return [names.index(column) for column in _OKX_COLUMNS]

    def _add_row(
        self, path: FileRef, line: int, row: list[str], want: list[int], instrument: str
    ) -> None:
        if not row or row[want[0]] != instrument:
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
        off_hour = np.flatnonzero(times.as_unit("ns").asi8 % NS_PER_HOUR)
        if off_hour.size:
            at = int(off_hour[0])
            raise self._bad(at, "funding_time", "not on a whole hour", self.times[at])
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
        raise file_error(self.files[row], message, line=self.lines[row])


def _file_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(physical line, fields) of every record of a folder file, the header first."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as err:
        raise DataFileError(path, f"not valid utf-8 text: {err.reason}") from err


def _stored_records(ref: StoredFile) -> Iterator[tuple[int, list[str]]]:
    """The same records from a stored file: its cells cut to each line's field count."""
    table = ref.backend.table(ref.relative)
    stored_comment_lines(ref, table, None)  # a '#' line would be this reader's header
    header = list(table.columns)
    if table.bom and header:  # the csv module keeps the mark; pandas drops it
        header[0] = "\ufeff" + header[0]
    yield table.comment_lines + 1, header
    for line, fields, cells in zip(table.lines, table.fields, table.cells, strict=True):
        yield line, list(cells[:fields])


def read_okx_daily_funding(folder: FileRef, instrument: str) -> pd.Series:
    """OKX settled funding (``real_funding_rate``) for one instrument from the daily archive.

    Reads every ``okx_funding_rates_YYYY-MM-DD.csv`` in ``folder``, keeps the rows whose
    ``instrument`` equals ``instrument`` (e.g. ``"ETH-USDT-SWAP"``) and indexes the rate by
    ``funding_time``. Repeated timestamps with the same rate are merged; conflicting rates, a
    time off the whole hour and a row with fewer fields than the header raise DataFileError
    naming the file and line (the archive's rows need not be in time order). A missing folder,
    no files, or no row for the instrument raise DataFileError.
    """
    paths = _daily_files(folder)
    rows = _OkxRows()
    for path in paths:
        rows.read_file(path, instrument)
    if not rows.times:
        raise file_error(folder, f"no rows for instrument {instrument!r}")
    return rows.to_series()


def _daily_files(folder: FileRef) -> Sequence[FileRef]:
    """The daily files of the folder, sorted by name; DataFileError when there are none."""
    if isinstance(folder, StoredFile):
        stored = folder.backend.children(folder.relative, OKX_DAILY_PATTERN)
        if not stored:
            pattern = StoredFile(f"{folder.relative}/{OKX_DAILY_PATTERN}", folder.backend)
            raise file_error(pattern, "file not found")
        return stored
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(folder, "folder not found")
    paths = sorted(folder.glob(OKX_DAILY_PATTERN))
    if not paths:
        raise DataFileError(folder / OKX_DAILY_PATTERN, "file not found")
    return paths
