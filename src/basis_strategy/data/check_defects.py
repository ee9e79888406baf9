"""`basis data check`: the defects that make the engine refuse a file or a run (issue 12).

Per file of a known family (`check_files`), beyond gaps and duplicates: rows with fewer fields
than the header (a cut or truncated line), rows out of time order, timestamps off the whole
hour, and values beyond the default `data` plausibility limits (`data.plausibility`) anywhere
in the file. Each finding is one line: how many, and the first with its line or time.
Defects count against the check only in the files the checked modes read (`mark_read`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from basis_strategy.config.models import DataSettings
from basis_strategy.core.errors import DataFileError
from basis_strategy.data.align import NS_PER_HOUR
from basis_strategy.data.plausibility import (
    Finding,
    aave_findings,
    funding_findings,
    price_findings,
    range_findings,
)
from basis_strategy.data.requirements import Requirements, Source, aave_rates_pattern
from basis_strategy.data.run_reads import SETTLEMENT_HOURS
from basis_strategy.data.sources._common import (
    field_count_problem,
    file_fields,
)
from basis_strategy.data.sources._common import (
    short_rows as short_data_rows,
)
from basis_strategy.data.sources.aave import DAILY_COLUMNS
from basis_strategy.data.store import glob_match, pattern_parts

DEFAULTS = DataSettings()


class Marked(Protocol):
    """A file report (`check_files.FileReport`)."""

    path: str
    engine_reads: bool


class Reads(Protocol):
    """A mode report (`check.ModeReport`): the patterns its run may read."""

    reads: list[str]


def short_rows(path: Path, skip: int, width: int) -> list[str]:
    """Rows with fewer fields than the header (``skip``: comment lines before the header)."""
    try:
        lines, fields = short_data_rows(file_fields(path, skip, "utf-8-sig"), width)
    except DataFileError as err:
        return [str(err)]
    if not lines.size:
        return []
    problem = field_count_problem(int(fields[0]), width)
    return [f"{lines.size} short row(s); first line {int(lines[0])}: {problem}"]


def time_findings(times: pd.Series, raw: pd.Series, line0: int) -> list[str]:
    """Rows stamped before the row above, and timestamps off the whole hour (file order)."""
    valid = times.notna().to_numpy()
    stamps = pd.DatetimeIndex(times[valid]).as_unit("ns").asi8
    rows = np.flatnonzero(valid)
    found = []
    back = np.flatnonzero(np.diff(stamps) < 0) + 1
    if back.size:
        row = int(rows[back[0]])
        found.append(
            f"{back.size} row(s) out of time order; first line {line0 + row}: "
            f"{raw.iloc[row]!r} after {raw.iloc[int(rows[back[0] - 1])]!r}"
        )
    off = np.flatnonzero(stamps % NS_PER_HOUR)
    if off.size:
        row = int(rows[off[0]])
        found.append(
            f"{off.size} timestamp(s) off the whole hour; first line {line0 + row}: "
            f"{raw.iloc[row]!r}"
        )
    return found


def implausible(kind: str, frame: pd.DataFrame, times: pd.Series, column: str) -> list[str]:
    """Values beyond the default limits: ``kind`` is price, funding, gas or aave; ``column``
    the value column the engine reads (prices, funding, gas)."""
    findings = _findings(kind, frame, times, column)
    if not findings:
        return []
    return [
        f"{len(findings)} implausible value(s) for the default data limits; first: "
        f"{findings[0].problem}"
    ]


def _findings(kind: str, frame: pd.DataFrame, times: pd.Series, column: str) -> list[Finding]:
    if kind == "aave":
        if not set(DAILY_COLUMNS) <= set(frame.columns):
            return []
        daily = frame[list(DAILY_COLUMNS)].rename(columns=DAILY_COLUMNS)
        return aave_findings(_observations(daily, times), DEFAULTS.max_apr)
    if column not in frame.columns:
        return []
    values = _observations(frame[[column]], times)[column]
    if kind == "price":
        return price_findings(values, DEFAULTS.max_hourly_move)
    if kind == "funding":
        return funding_findings(values, DEFAULTS.max_funding_rate_per_8h, SETTLEMENT_HOURS)
    limit = f"data.max_gas_gwei {DEFAULTS.max_gas_gwei}"
    return range_findings(values, "gas (gwei)", 0.0, DEFAULTS.max_gas_gwei, limit)


def _observations(frame: pd.DataFrame, times: pd.Series) -> pd.DataFrame:
    """The numeric rows with a timestamp, each timestamp once, in time order."""
    numbers = frame.apply(pd.to_numeric, errors="coerce").set_axis(pd.DatetimeIndex(times))
    numbers = numbers[numbers.index.notna() & numbers.notna().all(axis=1).to_numpy()]
    return numbers[~numbers.index.duplicated(keep="first")].sort_index()


def read_patterns(needs: Requirements) -> list[str]:
    """The patterns of every file (or folder) a mode's run may read, fallbacks included."""
    sources: list[Source | None] = [source for price in needs.prices for source in price.sources]
    for series in needs.funding:
        sources += [series.source] + ([series.proxy.source] if series.proxy else [])
    if needs.lst is not None:
        sources += [needs.lst.oracle, *needs.lst.snapshots, needs.lst.peg]
    sources += [token.pool for token in needs.tokens]
    if needs.rewards is not None:
        rewards = needs.rewards
        sources += [rewards.eigen, rewards.topups, rewards.seasonal, rewards.reward_apy]
    if needs.benchmark is not None:
        sources.append(needs.benchmark.apy)
    patterns = [source.pattern for source in sources if source is not None]
    return patterns + [aave_rates_pattern(aave.asset) for aave in needs.aave]


def mark_read(files: Sequence[Marked], modes: Sequence[Reads]) -> None:
    """Set `engine_reads` on the reports of the files the checked modes read (an OKX daily
    instrument report, ``folder [instrument]``, counts as its folder)."""
    patterns = {pattern_parts(p) for mode in modes for p in mode.reads}
    for report in files:
        relative = report.path.split(" [", 1)[0]
        report.engine_reads = any(glob_match(parts, relative) for parts in patterns)
