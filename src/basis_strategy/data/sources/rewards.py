"""ether.fi reward sources (manual files in ``manual_sources/etherfi_distributions/``)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from basis_strategy.data.sources._common import (
    bad_cell,
    parse_utc,
    read_table,
    require_positive,
    to_float,
    try_to_float,
    unique_sorted,
)
from basis_strategy.data.stored import FileRef

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_REWARD_TEXT = re.compile(rf"\s*~?\s*{_NUMBER}\s*(?:[–-]\s*{_NUMBER})?\s*")


def _dates(frame: pd.DataFrame, column: str, path: FileRef, first_line: int) -> pd.DatetimeIndex:
    return parse_utc(frame[column], path, column, first_line)


def _period(
    frame: pd.DataFrame, columns: tuple[str, str], path: FileRef, first_line: int
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Start and (inclusive) end dates; an end before its start raises DataFileError."""
    start = _dates(frame, columns[0], path, first_line)
    end = _dates(frame, columns[1], path, first_line)
    backwards = np.flatnonzero(end < start)
    if backwards.size:
        row = int(backwards[0])
        problem = f"before {columns[0]} {frame[columns[0]].iloc[row]!r}"
        raise bad_cell(path, columns[1], problem, frame[columns[1]].iloc[row], first_line + row)
    return start, end


def _amount(frame: pd.DataFrame, column: str, path: FileRef, first_line: int) -> np.ndarray:
    numbers = to_float(frame[column], path, column, first_line)
    require_positive(numbers, frame[column], path, column, first_line, allow_zero=True)
    return numbers


def _sorted(data: pd.DataFrame, by: str) -> pd.DataFrame:
    return data.sort_values(by, kind="stable").reset_index(drop=True)


def read_eigen_distributions(path: FileRef) -> pd.DataFrame:
    """Weekly EIGEN distributions: ``period_start``, ``period_end``, ``eigen_per_eeth``.

    Dates are UTC timestamps at 00:00; ``period_end`` is the inclusive last day, kept as the date
    itself. ``eigen_per_eeth`` is the file's ``eigen_per_eeth_weekly`` (EIGEN per eETH for the
    whole period). Sorted by ``period_start``.
    """
    columns = ("staking_period_start", "staking_period_end")
    value = "eigen_per_eeth_weekly"
    frame, first_line = read_table(path, [*columns, value])
    start, end = _period(frame, columns, path, first_line)
    data = pd.DataFrame(
        {
            "period_start": start,
            "period_end": end,
            "eigen_per_eeth": _amount(frame, value, path, first_line),
        }
    )
    return _sorted(data, "period_start")


def read_ethfi_topups(path: FileRef) -> pd.DataFrame:
    """ETHFI top-ups: ``payout_date``, ``period_start``, ``period_end``, ``ethfi_per_eeth``.

    ``ethfi_per_eeth`` is the file's ``ethfi_per_eeth_distributed``. Sorted by ``payout_date``.
    Top-ups #1–#5 also appear in the seasonal drops file: do not add both.
    """
    columns = ("staking_period_start", "staking_period_end")
    value = "ethfi_per_eeth_distributed"
    frame, first_line = read_table(path, ["top_up_date", *columns, value])
    start, end = _period(frame, columns, path, first_line)
    data = pd.DataFrame(
        {
            "payout_date": _dates(frame, "top_up_date", path, first_line),
            "period_start": start,
            "period_end": end,
            "ethfi_per_eeth": _amount(frame, value, path, first_line),
        }
    )
    return _sorted(data, "payout_date")


def parse_reward_text(text: str) -> float | None:
    """``"0.248"`` → 0.248; a range ``"~5–15"`` or ``"5-15"`` → its midpoint 10.0; else None."""
    match = _REWARD_TEXT.fullmatch(text)
    if match is None:
        return None
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) is not None else low
    return (low + high) / 2.0 if high >= low else None


def _reward_mid(frame: pd.DataFrame, path: FileRef, first_line: int) -> np.ndarray:
    column = "reward_per_eeth"
    values = [parse_reward_text(text) for text in frame[column]]
    for row, value in enumerate(values):
        if value is None:
            text = frame[column].iloc[row]
            raise bad_cell(path, column, "not a number or range", text, first_line + row)
    return np.array(values, dtype=np.float64)


def read_seasonal_drops(path: FileRef) -> pd.DataFrame:
    """ether.fi season airdrops and top-ups, sorted by ``payout``.

    Columns ``start``, ``end``, ``payout`` (UTC dates), ``event``, ``token`` and
    ``reward_per_eeth_mid``: the ``reward_per_eeth`` text, an exact number or the midpoint of a
    range such as ``~5–15`` (seasons are estimates given as ranges).
    """
    columns = ("start_date", "end_date")
    frame, first_line = read_table(
        path, [*columns, "payout_date", "event", "reward_token", "reward_per_eeth"]
    )
    start, end = _period(frame, columns, path, first_line)
    data = pd.DataFrame(
        {
            "start": start,
            "end": end,
            "payout": _dates(frame, "payout_date", path, first_line),
            "event": frame["event"].to_numpy(dtype=object),
            "token": frame["reward_token"].to_numpy(dtype=object),
            "reward_per_eeth_mid": _reward_mid(frame, path, first_line),
        }
    )
    return _sorted(data, "payout")


def read_eeth_reward_apy(path: FileRef) -> pd.Series:
    """The DefiLlama eETH ``Reward`` APY as a fraction, indexed by day (unix ``Timestamp``).

    Rows with an empty ``Reward`` are dropped; other cells must be numbers (percent in the
    file, divided by 100 here). The series is named ``reward_apy``.
    """
    frame, first_line = read_table(path, ["Timestamp", "Reward"])
    days = parse_utc(frame["Timestamp"], path, "Timestamp", first_line).rename("timestamp")
    filled = (frame["Reward"].str.strip() != "").to_numpy(dtype=bool)
    lines = first_line + np.flatnonzero(filled)
    numbers, bad = try_to_float(frame["Reward"][filled])
    if bad is not None:
        value = frame["Reward"][filled].iloc[bad]
        raise bad_cell(path, "Reward", "not a number", value, int(lines[bad]))
    series = pd.Series(numbers / 100.0, index=days[filled], name="reward_apy")
    _require_midnight(days[filled], frame["Timestamp"][filled], path, lines)
    return unique_sorted(series, path, lines)


def _require_midnight(
    days: pd.DatetimeIndex, raw: pd.Series, path: FileRef, lines: np.ndarray
) -> None:
    off = np.flatnonzero(days != days.normalize())
    if off.size:
        row = int(off[0])
        raise bad_cell(path, "Timestamp", "not 00:00 UTC", raw.iloc[row], int(lines[row]))
