"""AAVE v3: daily reserve snapshots, e-mode risk parameters and the reserve parameter table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from basis_strategy.data.sources._common import (
    column_series,
    file_error,
    json_key,
    json_object,
    parse_utc,
    read_json,
    read_table,
    require_positive,
    to_float,
    unique_sorted,
)
from basis_strategy.data.stored import FileRef

DAILY_COLUMNS = {
    "liquidityIndex": "liquidity_index",
    "currentLiquidityRate": "liquidity_rate",
    "variableBorrowIndex": "borrow_index",
    "currentVariableBorrowRate": "borrow_rate",
}
_INDEX_COLUMNS = ("liquidityIndex", "variableBorrowIndex")

EMODE_FIELDS = {
    "ltv_limits": "max_ltv",
    "liquidation_thresholds": "liquidation_threshold",
    "liquidation_bonus": "liquidation_bonus",
}

RESERVE_ROWS = {
    "LTV": "ltv",
    "Liquidation Threshold": "liquidation_threshold",
    "Liquidation Bonus": "liquidation_bonus",
    "Reserve Factor": "reserve_factor",
}
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


def _check_never_decreases(
    values: np.ndarray, times: pd.DatetimeIndex, raw: pd.Series, path: FileRef, first_line: int
) -> None:
    """Raise on the first value (in time order) below its predecessor."""
    order = np.argsort(times.to_numpy(), kind="stable")
    drops = np.flatnonzero(np.diff(values[order]) < 0)
    if drops.size == 0:
        return
    previous, current = int(order[drops[0]]), int(order[drops[0] + 1])
    raise file_error(
        path,
        f"column {raw.name!r}: index decreases: {raw.iloc[current]!r} after "
        f"{raw.iloc[previous]!r} on line {first_line + previous}",
        line=first_line + current,
    )


def read_aave_daily(path: FileRef) -> pd.DataFrame:
    """Daily AAVE reserve snapshot indexed by ``targetDate`` (00:00 UTC), sorted and unique.

    Columns ``liquidity_index``, ``liquidity_rate``, ``borrow_index``, ``borrow_rate``: indices
    as ~1.0x multipliers (ray / 1e27) and annual rates as fractions, exactly as in the file.
    Indices must be positive and never decrease over time.
    """
    frame, first_line = read_table(path, ["targetDate", *DAILY_COLUMNS])
    times = parse_utc(frame["targetDate"], path, "targetDate", first_line)
    data = pd.DataFrame(index=times.rename("timestamp"))
    for column, name in DAILY_COLUMNS.items():
        data[name] = to_float(frame[column], path, column, first_line)
    for column in _INDEX_COLUMNS:
        values = data[DAILY_COLUMNS[column]].to_numpy()
        require_positive(values, frame[column], path, column, first_line)
        _check_never_decreases(values, times, frame[column], path, first_line)
    return unique_sorted(data, path, first_line)


def read_aave_daily_price(path: FileRef) -> pd.Series:
    """The reserve's AAVE oracle ``price`` (USD) of each daily snapshot, indexed by
    ``targetDate`` (00:00 UTC), sorted and unique. Prices must be positive."""
    frame, first_line = read_table(path, ["targetDate", "price"])
    series = column_series(frame, first_line, path, ("targetDate", "price"), positive=True)
    return unique_sorted(series, path, first_line)


def _fraction(value: object, path: FileRef, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise file_error(path, f"key {where!r}: not a fraction between 0 and 1: {value!r}")
    return float(value)


def read_aave_emode(path: FileRef) -> dict[str, dict[str, float]]:
    """E-mode parameters per collateral asset from ``aave_v3_risk_parameters.json``.

    Returns e.g. ``{"weETH": {"max_ltv": 0.93, "liquidation_threshold": 0.95,
    "liquidation_bonus": 0.01}, "wstETH": {...}, "ETH": {...}}``: the file's pair keys
    (``weETH_WETH``) are named by their collateral asset. Every asset must have all three
    fractions, with ``max_ltv`` not above ``liquidation_threshold``.
    """
    top = json_object(read_json(path), path, "")
    emode = json_object(json_key(top, "emode", path), path, "emode")
    result: dict[str, dict[str, float]] = {}
    for block, field in EMODE_FIELDS.items():
        where = f"emode.{block}"
        for pair, value in json_object(json_key(emode, block, path, "emode"), path, where).items():
            asset = pair.removesuffix("_WETH")
            result.setdefault(asset, {})[field] = _fraction(value, path, f"{where}.{pair}")
    for asset, params in result.items():
        _check_emode_asset(asset, params, path)
    return result


def _check_emode_asset(asset: str, params: dict[str, float], path: FileRef) -> None:
    for block, field in EMODE_FIELDS.items():
        if field not in params:
            raise file_error(path, f"missing key 'emode.{block}.{asset}_WETH'")
    if params["max_ltv"] > params["liquidation_threshold"]:
        raise file_error(
            path,
            f"key 'emode.ltv_limits.{asset}_WETH': above the liquidation threshold "
            f"{params['liquidation_threshold']!r}: {params['max_ltv']!r}",
        )


def _percent(cell: str, path: FileRef, where: str, line: int) -> float:
    match = _PERCENT.fullmatch(cell)
    if match is None:
        raise file_error(path, f"{where}: not a percentage: {cell!r}", line=line)
    return float(match.group(1)) / 100.0


def _parameter_rows(frame: pd.DataFrame, path: FileRef) -> dict[str, int]:
    """Position of each wanted parameter row (first column = parameter name)."""
    names = frame.iloc[:, 0].str.strip().tolist()
    rows: dict[str, int] = {}
    for label in RESERVE_ROWS:
        count = names.count(label)
        if count != 1:
            problem = "missing row" if count == 0 else f"row appears {count} times:"
            raise file_error(path, f"{problem} {label!r}")
        rows[label] = names.index(label)
    return rows


def read_aave_reserve_params(path: FileRef) -> dict[str, dict[str, float]]:
    """Standard-mode reserve parameters per asset from the transposed manual CSV.

    The first column holds parameter names and every other column is an asset. Returns, for
    every asset column, ``{"ltv", "liquidation_threshold", "liquidation_bonus",
    "reserve_factor"}`` as fractions (``80.50%`` → 0.805).
    """
    frame, first_line = read_table(path, [], encoding="utf-8-sig")
    if frame.shape[1] < 2:
        raise file_error(path, "expected a parameter-name column and at least one asset column")
    rows = _parameter_rows(frame, path)
    result: dict[str, dict[str, float]] = {}
    for asset in frame.columns[1:]:
        params: dict[str, float] = {}
        for label, key in RESERVE_ROWS.items():
            where = f"column {asset!r}, row {label!r}"
            line = first_line + rows[label]
            params[key] = _percent(frame.at[rows[label], asset], path, where, line)
        result[str(asset)] = params
    return result
