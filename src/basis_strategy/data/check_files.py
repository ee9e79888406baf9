"""Per-file quality checks of a data folder (issue 6, `basis data check`).

Each known file family is read raw (every cell as text, vectorised pandas) and summarised:
window, rows, sampling interval, gaps (runs of missing expected timestamps), duplicated
timestamps (identical vs conflicting rows), bad values (unparseable timestamps, non-numeric or
non-positive values) and, where a file is built by interpolation, the days whose intraday hours
are an exact linear interpolation between 00:00 observations (second differences zero).
Nothing here raises on a bad file: problems are reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.data.align import NS_PER_HOUR, runs
from basis_strategy.data.check_defects import implausible, short_rows, time_findings
from basis_strategy.data.sources._common import try_parse_utc

HOURS_PER_YEAR = 24 * 365
MAX_LISTED = 40  # gaps / duplicate dates listed per file (the summary counts them all)


@dataclass(frozen=True)
class Family:
    """A family of files: glob pattern, time column, value columns and the expected interval."""

    name: str
    pattern: str
    time_column: str
    values: tuple[str, ...]  # the first present one(s) are checked as numbers
    interval_hours: int | None  # None: irregular (event lists); 0: taken from the data
    positive: bool = False  # values must be > 0 (prices, indices)
    interpolated: str | None = None  # column checked for linear intraday interpolation
    comment: str | None = None
    exclude: str | None = None  # skip files whose name contains this
    plausible: str | None = None  # price | funding | gas | aave: the `check_defects` limits


OHLC = ("open", "high", "low", "close")
FAMILIES: tuple[Family, ...] = (
    Family(
        "cex/dex spot OHLCV",
        "market_data/spot_prices/*/*.csv",
        "timestamp",
        OHLC,
        1,
        True,
        plausible="price",
    ),
    Family(
        "perp OHLCV",
        "market_data/derivatives/futures_ohlcv/*.csv",
        "timestamp",
        OHLC,
        1,
        True,
        plausible="price",
    ),
    Family(
        "funding (aggregated)",
        "market_data/derivatives/funding_rates/*.csv",
        "funding_timestamp",
        ("funding_rate",),
        8,
        plausible="funding",
    ),
    Family(
        "aave rates daily",
        "protocol_data/aave/rates/*_rates_????-??-??_????-??-??.csv",
        "targetDate",
        ("liquidityIndex", "variableBorrowIndex", "currentLiquidityRate"),
        24,
        plausible="aave",
    ),
    Family(
        "aave rates hourly",
        "protocol_data/aave/rates/*_hourly.csv",
        "timestamp",
        ("liquidityIndex", "variableBorrowIndex", "oracle_price_usd"),
        1,
        interpolated="oracle_price_usd",
    ),
    Family(
        "aave oracle",
        "protocol_data/aave/oracle/*.csv",
        "timestamp",
        ("oracle_price_usd", "oracle_price_eth"),
        0,  # hourly or daily: taken from the data
        True,
        interpolated="*",
        comment="#",
        plausible="price",
    ),
    Family(
        "lst peg",
        "protocol_data/staking/peg_analysis/*.csv",
        "timestamp",
        ("market_rate", "protocol_rate"),
        1,
        True,
        plausible="price",
    ),
    Family(
        "lst base yield",
        "protocol_data/staking/base_yields/*.csv",
        "date",
        ("base_staking_apr",),
        24,
    ),
    Family(
        "gas",
        "blockchain_data/gas_prices/*.csv",
        "timestamp",
        ("gas_price_avg_gwei", "gas_price_gwei", "base_fee_gwei"),
        1,
        True,
        plausible="gas",
    ),
    Family(
        "benchmark daily",
        "protocol_data/staking/benchmark_yields/*_????-??-??_????-??-??.csv",
        "date",
        ("apy_decimal",),
        24,
        exclude="_hourly",
    ),
    Family(
        "benchmark hourly",
        "protocol_data/staking/benchmark_yields/*_hourly_*.csv",
        "timestamp",
        ("apy_decimal",),
        1,
        interpolated="apy_decimal",
    ),
    Family("benchmark raw", "manual_sources/benchmark_data/*.csv", "Timestamp", ("Base",), 24),
    Family(
        "reward apy",
        "manual_sources/etherfi_distributions/bar-chart-*.csv",
        "Timestamp",
        ("Base",),
        24,
    ),
    Family(
        "reward list",
        "manual_sources/etherfi_distributions/eigen_distributions_raw.csv",
        "staking_period_start",
        ("eigen_earned",),
        None,
    ),
    Family(
        "reward list",
        "manual_sources/etherfi_distributions/ethfi_topups_raw.csv",
        "top_up_date",
        ("ethfi_amount",),
        None,
    ),
    Family(
        "reward list",
        "manual_sources/etherfi_distributions/seasonal_drops.csv",
        "payout_date",
        (),
        None,
    ),
)


@dataclass
class Gap:
    start: pd.Timestamp  # first missing timestamp
    end: pd.Timestamp  # last missing timestamp
    missing: int  # expected timestamps missing (hours for an hourly file)

    def as_dict(self) -> dict[str, Any]:
        return {"start": iso_hour(self.start), "end": iso_hour(self.end), "missing": self.missing}


@dataclass
class FileReport:
    """What was found in one file (or one instrument of the OKX daily folder)."""

    path: str
    family: str
    rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    interval_hours: float | None = None
    gaps: list[Gap] = field(default_factory=list)
    identical_duplicates: list[pd.Timestamp] = field(default_factory=list)
    conflicting_duplicates: list[pd.Timestamp] = field(default_factory=list)
    bad_values: list[str] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)  # short rows, time order, whole hours
    implausible: list[str] = field(default_factory=list)  # beyond the default data limits
    engine_reads: bool = False  # read by one of the checked modes (set by `check`)
    interpolated_days: list[pd.Timestamp] = field(default_factory=list)
    interpolated_hours: int = 0
    notes: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def defective(self) -> bool:
        """Whether the engine refuses this file (or a run over the flagged values)."""
        found = (self.conflicting_duplicates, self.bad_values, self.structure, self.implausible)
        return self.error is not None or any(found)

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)

    def gap_summary(self) -> str:
        """E.g. ``15 holes of 23 h (345 missing)``; grouped by hole length."""
        if not self.gaps:
            return "none"
        counts = Counter(gap.missing for gap in self.gaps)
        unit = "h" if self.interval_hours == 1 else "rows"
        parts = [f"{n} of {size} {unit}" for size, n in sorted(counts.items(), reverse=True)]
        noun = "hole" if len(self.gaps) == 1 else "holes"
        return f"{len(self.gaps)} {noun} ({', '.join(parts)}; {self.missing} missing)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "family": self.family,
            "rows": self.rows,
            "first": iso_hour(self.first),
            "last": iso_hour(self.last),
            "interval_hours": self.interval_hours,
            "gaps": {
                "count": len(self.gaps),
                "missing": self.missing,
                "longest": max((g.missing for g in self.gaps), default=0),
                "summary": self.gap_summary(),
                "runs": [g.as_dict() for g in self.gaps],
            },
            "identical_duplicates": [iso_hour(t) for t in self.identical_duplicates],
            "conflicting_duplicates": [iso_hour(t) for t in self.conflicting_duplicates],
            "bad_values": self.bad_values,
            "structure": self.structure,
            "implausible": self.implausible,
            "engine_reads": self.engine_reads,
            "defective": self.defective,
            "interpolated_days": [_day(t) for t in self.interpolated_days],
            "interpolated_hours": self.interpolated_hours,
            "notes": self.notes,
            "stats": self.stats,
            "error": self.error,
        }


def iso_hour(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _day(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d")


# --- reading ----------------------------------------------------------------------------------


def read_raw(path: Path, comment: str | None = None) -> tuple[pd.DataFrame, int]:
    """Every cell as text; returns the frame and the line number of its first data row."""
    skip = 0
    if comment:
        with path.open(encoding="utf-8-sig") as handle:
            for line in handle:
                if not line.startswith(comment):
                    break
                skip += 1
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=skip, encoding="utf-8-sig")
    return frame, skip + 2


def parse_times(frame: pd.DataFrame, column: str, report: FileReport, line0: int) -> pd.Series:
    """UTC times of ``column`` (NaT where unparseable, each reported as a bad value)."""
    if column not in frame.columns:
        report.error = f"missing column {column!r}"
        return pd.Series([], dtype="datetime64[ns, UTC]")
    index, _ = try_parse_utc(frame[column])
    bad = np.flatnonzero(index.isna())
    for position in bad[:5]:
        value = frame[column].iloc[int(position)]
        report.bad_values.append(
            f"line {line0 + int(position)}: {column} not a timestamp: {value!r}"
        )
    if bad.size > 5:
        report.bad_values.append(f"... {bad.size} unparseable {column} cells in all")
    return pd.Series(index, index=frame.index)


def check_values(
    frame: pd.DataFrame, columns: tuple[str, ...], positive: bool, report: FileReport, line0: int
) -> None:
    """Report non-numeric cells and, with ``positive``, values <= 0, per column."""
    for column in columns:
        if column not in frame.columns:
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        _report_bad(report, frame[column], column, ~np.isfinite(numbers), "not a number", line0)
        if positive:
            with np.errstate(invalid="ignore"):
                _report_bad(report, frame[column], column, numbers <= 0, "not positive", line0)


def _report_bad(
    report: FileReport, raw: pd.Series, column: str, mask: np.ndarray, problem: str, line0: int
) -> None:
    bad = np.flatnonzero(mask)
    if not bad.size:
        return
    first = int(bad[0])
    report.bad_values.append(
        f"{bad.size} {column} cell(s) {problem}; first line {line0 + first}: {raw.iloc[first]!r}"
    )


# --- structure: interval, gaps, duplicates ------------------------------------------------------


def infer_interval(times: pd.Series) -> float | None:
    """The most common spacing, in hours, between consecutive distinct timestamps."""
    unique = np.unique(times.dropna().to_numpy(dtype="datetime64[ns]").astype(np.int64))
    if unique.size < 2:
        return None
    steps = np.diff(unique)
    values, counts = np.unique(steps, return_counts=True)
    return float(values[np.argmax(counts)] / NS_PER_HOUR)


def find_gaps(times: pd.Series, interval_hours: float) -> list[Gap]:
    """Runs of expected timestamps (every ``interval_hours`` from the first) that are missing."""
    stamps = pd.DatetimeIndex(times.dropna().unique()).sort_values()
    if len(stamps) < 2 or interval_hours <= 0:
        return []
    grid = pd.date_range(stamps[0], stamps[-1], freq=pd.Timedelta(hours=interval_hours))
    missing = ~grid.isin(stamps)
    return [Gap(grid[a], grid[b], b - a + 1) for a, b in runs(np.asarray(missing))]


def find_duplicates(frame: pd.DataFrame, times: pd.Series) -> tuple[list[Any], list[Any]]:
    """Timestamps that appear more than once: (all rows identical, rows that differ)."""
    keyed = frame.assign(_t=times.to_numpy()).dropna(subset=["_t"])
    repeated = keyed[keyed["_t"].duplicated(keep=False)]
    if repeated.empty:
        return [], []
    distinct = repeated.drop_duplicates().groupby("_t", sort=True).size()
    identical = [pd.Timestamp(t) for t in distinct.index[distinct.to_numpy() == 1]]
    conflicting = [pd.Timestamp(t) for t in distinct.index[distinct.to_numpy() > 1]]
    return identical, conflicting


def decimals(raw: pd.Series) -> int:
    """The most decimal places written in a column of numbers (its rounding step)."""
    fractions = raw.astype(str).str.extract(r"\.(\d+)", expand=False).dropna()
    return int(min(fractions.str.len().max(), 15)) if not fractions.empty else 0


def interpolated_days(series: pd.Series, places: int = 15) -> tuple[list[pd.Timestamp], int]:
    """Days whose hours 01:00..23:00 lie exactly on the straight line between that day's 00:00
    value and the next day's (second differences zero, within the rounding of ``places``
    decimals). Returns the days and the interpolated hours (23 a day)."""
    clean = series[~series.index.duplicated(keep="first")].sort_index().dropna()
    if clean.empty:
        return [], 0
    hourly = clean.reindex(pd.date_range(clean.index[0], clean.index[-1], freq="h"))
    values = hourly.to_numpy(dtype=np.float64)
    second = np.full(len(values), np.nan)
    second[1:-1] = values[2:] - 2.0 * values[1:-1] + values[:-2]
    tolerance = 1.01 * 10.0**-places + 1e-9 * np.abs(values)
    flat = np.abs(second) <= tolerance
    index = pd.DatetimeIndex(hourly.index)
    intraday = index.hour != 0
    frame = pd.DataFrame({"flat": flat[intraday]}, index=index[intraday].normalize())
    per_day = frame.groupby(level=0)["flat"].agg(["all", "size"])
    days = per_day.index[(per_day["all"] & (per_day["size"] == 23)).to_numpy()]
    return [pd.Timestamp(d) for d in days], 23 * len(days)


# --- one file -----------------------------------------------------------------------------------


def check_file(path: Path, family: Family, data_dir: Path) -> FileReport:
    """The report of one file of ``family`` (problems reported, never raised)."""
    report = FileReport(str(path.relative_to(data_dir)), family.name)
    try:
        frame, line0 = read_raw(path, family.comment)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        report.error = f"unreadable: {err}".replace("\n", " ")
        return report
    times = parse_times(frame, family.time_column, report, line0)
    if report.error:
        return report
    values = tuple(c for c in family.values if c in frame.columns)
    check_values(frame, values, family.positive, report, line0)
    describe_times(report, frame, times, family.interval_hours)
    report.structure = short_rows(path, line0 - 2, len(frame.columns))
    if family.interval_hours is not None:  # a time series (event lists need no order)
        report.structure += time_findings(times, frame[family.time_column], line0)
    if family.plausible:
        read = values[0] if values else ""
        report.implausible = implausible(family.plausible, frame, times, read)
    column = values[0] if family.interpolated == "*" and values else family.interpolated
    if column and column in frame.columns and report.interval_hours == 1:
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        series = pd.Series(numbers, index=pd.DatetimeIndex(times))
        places = decimals(frame[column])
        report.interpolated_days, report.interpolated_hours = interpolated_days(series, places)
    return report


def describe_times(
    report: FileReport, frame: pd.DataFrame, times: pd.Series, expected: int | None
) -> None:
    """Rows, window, interval, gaps and duplicates from the parsed timestamps."""
    report.rows = len(frame)
    valid = times.dropna()
    if valid.empty:
        report.error = report.error or "no data rows"
        return
    report.first, report.last = pd.Timestamp(valid.min()), pd.Timestamp(valid.max())
    report.interval_hours = float(expected) if expected else infer_interval(valid)
    if report.interval_hours and expected is not None:
        report.gaps = find_gaps(valid, report.interval_hours)
    report.identical_duplicates, report.conflicting_duplicates = find_duplicates(frame, times)
