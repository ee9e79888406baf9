"""Physical plausibility of what a run reads, against its `data` settings (README "Data").

The readers (`sources/`) refuse what cannot be read: a cell that is not a number, a short row,
rows out of time order, a timestamp repeated with other values. This module judges the values
read, for the observations a run can reach (from the last one at or before its start to the
last one at or before its end):

- prices (bar opens, LST oracle and market rates): > 0, and no move between consecutive
  observations beyond `max_hourly_move` (the larger price over the smaller, minus 1);
- funding: |rate| <= `max_funding_rate_per_8h`, settled at the engine's settlement hours;
- AAVE daily snapshots: APRs within 0 .. `max_apr`, indices growing at most `max_apr` a year;
- the eETH reward APY and the benchmark APY within 0 .. `max_apr`; gas within 0 ..
  `max_gas_gwei`.

`data.implausible: error` (default) raises DataError naming the file, the time and the value.
`bridge` drops the implausible observations (a non-positive price, a one-off excursion: a jump
and the jump back, a value beyond its limit) and records each run of them as a bridge of kind
`implausible`; their hours are then bridged as a hole (forward fill, fallback, proxy venue),
recorded as such. What no dropped value explains (a jump that lasts, a settlement at another
hour, an index growing too fast) is an error either way.

`check_columns` then compares the aligned hourly columns (each built from one or more sources):
no move beyond `max_hourly_move` from one hour to the next, and a perp mark within `max_basis`
of its spot price, an LST market rate within `max_basis` of its oracle rate (a file in other
units or scale).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.config.models import DataSettings
from basis_strategy.core.errors import DataError
from basis_strategy.data.align import NS_PER_HOUR, Bridge, runs
from basis_strategy.data.requirements import read_benchmark_apy
from basis_strategy.data.sources.aave import DAILY_COLUMNS, read_aave_daily
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding
from basis_strategy.data.sources.gas import read_gas_price
from basis_strategy.data.sources.ohlcv import read_ohlcv_open
from basis_strategy.data.sources.oracle import OracleReads, read_oracle_reads
from basis_strategy.data.sources.peg import read_peg_market_rate
from basis_strategy.data.sources.rewards import read_eeth_reward_apy

NS_PER_YEAR = 365 * 24 * NS_PER_HOUR
_FILE_COLUMN = {name: column for column, name in DAILY_COLUMNS.items()}


@dataclass(frozen=True)
class Finding:
    """An implausible observation: its position in the screened data, what is wrong (with its
    time), and whether dropping it is a fix."""

    position: int
    problem: str
    bridgeable: bool = True


def _when(stamp: pd.Timestamp | datetime) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%d %H:%M UTC")


def price_findings(series: pd.Series, max_move: float) -> list[Finding]:
    """Non-positive prices, and jumps beyond `max_move` between consecutive positive ones.

    A jump followed by the jump back (the price returns within `max_move` of where it was)
    makes the values between them a one-off excursion (bridgeable); any other jump lasts.
    """
    values = series.to_numpy(dtype=np.float64)
    found = [
        Finding(int(i), f"{_when(series.index[i])}: {float(values[i])!r} is not a positive price")
        for i in np.flatnonzero(values <= 0)
    ]
    positive = np.flatnonzero(values > 0)
    found += _jumps(series.iloc[positive], positive, max_move)
    return sorted(found, key=lambda finding: finding.position)


def _jumps(series: pd.Series, positions: np.ndarray, max_move: float) -> list[Finding]:
    values = series.to_numpy(dtype=np.float64)
    steps = np.diff(np.log(values))
    limit = np.log1p(max_move)
    big = np.flatnonzero(np.abs(steps) > limit).tolist()
    found: list[Finding] = []
    while big:
        jump = big.pop(0)  # the step from observation `jump` to `jump + 1`
        back = big[0] if big else None
        if back is None or not _returns(values, steps, jump, back, limit):
            problem = _move_text(series, jump, jump + 1, max_move) + _LASTS
            found.append(Finding(int(positions[jump + 1]), problem, bridgeable=False))
            continue
        big.pop(0)
        for k in range(jump + 1, back + 1):
            found.append(Finding(int(positions[k]), _move_text(series, jump, k, max_move)))
    return found


_LASTS = ", and it lasts (no jump back): not a one-off value to bridge"


def _returns(values: np.ndarray, steps: np.ndarray, jump: int, back: int, limit: float) -> bool:
    """Whether step `back` undoes step `jump` (back to within `limit` of the price before)."""
    opposite = np.sign(steps[back]) != np.sign(steps[jump])
    return bool(opposite and abs(np.log(values[back + 1] / values[jump])) <= limit)


def _move_text(series: pd.Series, before: int, at: int, max_move: float) -> str:
    old, new = float(series.iloc[before]), float(series.iloc[at])
    return (
        f"{_when(series.index[at])}: {new!r} against {old!r} at {_when(series.index[before])}, "
        f"a move of {new / old - 1:+.1%}, beyond data.max_hourly_move {max_move}"
    )


def range_findings(
    series: pd.Series, what: str, low: float, high: float, setting: str
) -> list[Finding]:
    """Values outside ``low .. high`` (``setting`` names the limit)."""
    values = series.to_numpy(dtype=np.float64)
    return [
        Finding(
            int(i),
            f"{_when(series.index[i])}: {what} {float(values[i])!r} is outside {low} .. {setting}",
        )
        for i in np.flatnonzero((values < low) | (values > high))
    ]


def funding_findings(
    series: pd.Series, max_rate: float, settlement_hours: Sequence[int]
) -> list[Finding]:
    """Rates beyond ``max_rate`` per 8 h; settlements at other hours (never bridged)."""
    limit = f"data.max_funding_rate_per_8h {max_rate}"
    found = range_findings(series, "funding rate per 8 h", -max_rate, max_rate, limit)
    hours = ", ".join(f"{hour:02d}" for hour in settlement_hours)
    for i in np.flatnonzero(~np.isin(series.index.hour, settlement_hours)):
        problem = f"{_when(series.index[i])}: a settlement the engine does not make (only {hours})"
        found.append(Finding(int(i), problem, bridgeable=False))
    return sorted(found, key=lambda finding: finding.position)


def aave_findings(daily: pd.DataFrame, max_apr: float) -> list[Finding]:
    """APRs outside 0 .. ``max_apr``; indices growing faster than ``max_apr`` a year."""
    limit = f"data.max_apr {max_apr}"
    found: list[Finding] = []
    for name in ("liquidity_rate", "borrow_rate"):
        found += range_findings(daily[name], _FILE_COLUMN[name], 0.0, max_apr, limit)
    years = np.diff(daily.index.as_unit("ns").asi8) / NS_PER_YEAR
    for name in ("liquidity_index", "borrow_index"):
        index = daily[name].to_numpy(dtype=np.float64)
        growth = (index[1:] / index[:-1] - 1.0) / years
        for i in np.flatnonzero(growth > max_apr):
            problem = (
                f"{_when(daily.index[i + 1])}: {_FILE_COLUMN[name]} {float(index[i + 1])!r} grew "
                f"{growth[i]:.1%} a year since {float(index[i])!r} at {_when(daily.index[i])}, "
                f"beyond {limit}"
            )
            found.append(Finding(int(i + 1), problem, bridgeable=False))
    return sorted(found, key=lambda finding: finding.position)


class Plausibility:
    """The screen of one run: its `data` settings, window and the engine's settlement hours."""

    def __init__(
        self,
        settings: DataSettings,
        start: datetime,
        end: datetime,
        settlement_hours: Sequence[int],
    ) -> None:
        self.settings = settings
        self.start, self.end = pd.Timestamp(start), pd.Timestamp(end)
        s = settings
        price = partial(price_findings, max_move=s.max_hourly_move)
        funding = partial(
            funding_findings,
            max_rate=s.max_funding_rate_per_8h,
            settlement_hours=settlement_hours,
        )
        gas_limit, apr_limit = f"data.max_gas_gwei {s.max_gas_gwei}", f"data.max_apr {s.max_apr}"
        self._checks: dict[Callable[..., Any], Callable[[Any], list[Finding]]] = {
            read_ohlcv_open: price,
            read_peg_market_rate: price,
            read_oracle_reads: price,
            read_funding: funding,
            read_okx_daily_funding: funding,
            read_gas_price: partial(
                range_findings, what="gas (gwei)", low=0.0, high=s.max_gas_gwei, setting=gas_limit
            ),
            read_eeth_reward_apy: partial(
                range_findings, what="reward APY", low=0.0, high=s.max_apr, setting=apr_limit
            ),
            read_benchmark_apy: partial(
                range_findings, what="benchmark APY", low=0.0, high=s.max_apr, setting=apr_limit
            ),
            read_aave_daily: partial(aave_findings, max_apr=s.max_apr),
        }

    def screen(
        self, read: Callable[..., Any], value: Any, label: str, file: str
    ) -> tuple[Any, list[Bridge]]:
        """``value`` as returned by the reader ``read`` (a partial's function counts), screened:
        unchanged, or without the dropped observations and with their bridges."""
        check = self._checks.get(getattr(read, "func", read))
        if check is None:
            return value, []
        if isinstance(value, OracleReads):
            rate, bridges = self._screen(value.rate, check, label, file)
            return replace(value, rate=rate), bridges
        return self._screen(value, check, label, file)

    def _screen(
        self, data: Any, check: Callable[[Any], list[Finding]], label: str, file: str
    ) -> tuple[Any, list[Bridge]]:
        index = pd.DatetimeIndex(data.index)
        first = max(int(index.searchsorted(self.start, side="right")) - 1, 0)
        last = int(index.searchsorted(self.end, side="right"))
        findings = check(data.iloc[first:last])
        if not findings:
            return data, []
        fatal = [f for f in findings if not f.bridgeable]
        if self.settings.implausible == "bridge" and not fatal:
            dropped = np.zeros(len(data), dtype=bool)
            dropped[[first + f.position for f in findings]] = True
            return data[~dropped], _bridges(label, file, index, dropped)
        finding = fatal[0] if self.settings.implausible == "bridge" else findings[0]
        hint = " (data.implausible: bridge drops such values)" if finding.bridgeable else ""
        raise DataError(f"{file}: {finding.problem}{hint}")


def _bridges(label: str, file: str, index: pd.DatetimeIndex, dropped: np.ndarray) -> list[Bridge]:
    """One `implausible` bridge per run of consecutive dropped observations."""
    bridges = []
    for a, b in runs(dropped):
        start, end = index[a].to_pydatetime(), index[b].to_pydatetime()
        hours = int((end - start).total_seconds() // 3600) + 1
        bridges.append(Bridge(label, "implausible", file, start, end, hours, b - a + 1))
    return bridges


# --- the aligned columns ---------------------------------------------------------------------

MOVING = ("price:", "perp:", "lst_rate:", "lst_market:")


def reference_of(name: str) -> str | None:
    """The column a column must stay within `max_basis` of: a perp's spot price, an LST
    market rate's oracle rate."""
    kind, _, rest = name.partition(":")
    if kind == "perp":
        return f"price:{rest.split(':')[-1].removesuffix('USDT')}"
    if kind == "lst_market":
        return f"lst_rate:{rest}"
    return None


def check_columns(
    columns: Mapping[str, np.ndarray], times: Sequence[datetime], settings: DataSettings
) -> None:
    """DataError on an hour-to-hour move beyond `max_hourly_move` in a price or rate column
    (the sources bridging its hours disagree) or a spread beyond `max_basis` to its
    reference column (a file in other units or scale)."""
    for name, values in columns.items():
        if name.startswith(MOVING):
            _check_moves(name, values, times, settings.max_hourly_move)
        reference = reference_of(name)
        if reference is not None and reference in columns:
            _check_spread(name, values, reference, columns[reference], times, settings.max_basis)


def _check_moves(name: str, values: np.ndarray, times: Sequence[datetime], max_move: float) -> None:
    known = np.flatnonzero(np.isfinite(values) & (values > 0))
    steps = np.abs(np.diff(np.log(values[known])))
    big = np.flatnonzero(steps > np.log1p(max_move))
    if big.size:
        before, at = int(known[big[0]]), int(known[big[0] + 1])
        old, new = float(values[before]), float(values[at])
        raise DataError(
            f"{name}: {new!r} at {_when(times[at])} after {old!r} at {_when(times[before])}, "
            f"a move of {new / old - 1:+.1%}, beyond data.max_hourly_move {max_move}: the "
            "sources bridging its hours disagree (data_bridges)"
        )


def _check_spread(
    name: str,
    values: np.ndarray,
    reference: str,
    base: np.ndarray,
    times: Sequence[datetime],
    max_basis: float,
) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.abs(np.log(values / base))
    wide = np.flatnonzero(spread > np.log1p(max_basis))
    if wide.size:
        i = int(wide[0])
        value, ref = float(values[i]), float(base[i])
        raise DataError(
            f"{name}: {value!r} at {_when(times[i])} is {value / ref - 1:+.1%} from {reference} "
            f"{ref!r}, beyond data.max_basis {max_basis}: a file in other units or scale?"
        )
