"""One page of a venue's answer (ccxt's unified candles or funding entries) as the rows of its
file: a UTC `_time` key column (`files.TIME`) and the layout's other columns."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from basis_strategy.core.errors import DataError
from basis_strategy.data.download.cex_layouts import CexSeries
from basis_strategy.data.download.files import TIME
from basis_strategy.data.sources.funding import OKX_DAILY_COLUMNS

PRICES = ("open", "high", "low", "close")


def _times(ms: list[Any], series: CexSeries) -> pd.Series:
    """Venue milliseconds as UTC times, floored to the second (Binance stamps some settlements
    a few ms late; the files hold seconds)."""
    try:
        stamps = pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms", utc=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{series.label}: bad timestamp in the response: {exc}") from None
    return stamps.dt.floor("s")


def _number(value: Any, series: CexSeries, column: str, ms: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number):
        at = pd.Timestamp(int(ms), unit="ms", tz="UTC")
        when = f"{at:%Y-%m-%dT%H:%M:%SZ}"
        raise DataError(f"{series.label}: {column} at {when}: not a number: {value!r}")
    return number


def candle_rows(series: CexSeries, candles: list[list[Any]], raw: Any) -> pd.DataFrame:
    """Rows of ccxt candles `[ms, open, high, low, close, volume]`, stamped at the bar's open.

    Prices must be > 0 and the volume a number; the venue-specific columns ccxt drops
    (`quote_volume`, `trades_count`, `turnover`) come from the raw response `raw`."""
    assert series.layout is not None
    ms = [c[0] for c in candles]
    frame = pd.DataFrame({TIME: _times(ms, series)})
    for i, column in enumerate((*PRICES, "volume"), start=1):
        values = [_number(c[i], series, column, c[0]) for c in candles]
        if column in PRICES and any(v <= 0 for v in values):
            at = next(c[0] for c, v in zip(candles, values, strict=True) if v <= 0)
            raise DataError(f"{series.label}: {column} not positive at {at} ms")
        frame[column] = values
    if series.extras is not None:
        _add_extras(frame, series, ms, series.extras(raw))
    for column, value in series.constants.items():
        frame[column] = value
    return frame[[TIME, *(c for c in series.layout.columns if c != "timestamp")]]


def _add_extras(
    frame: pd.DataFrame, series: CexSeries, ms: list[Any], extras: dict[int, dict[str, Any]]
) -> None:
    missing = [t for t in ms if int(t) not in extras]
    if missing:
        raise DataError(f"{series.label}: bar {missing[0]} ms is not in the raw response")
    for column in series.extra_columns:
        frame[column] = [extras[int(t)][column] for t in ms]


def funding_rows(series: CexSeries, entries: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ccxt funding-rate-history entries: the rate per interval at its settlement."""
    assert series.layout is not None
    ms = [e["timestamp"] for e in entries]
    rates = [_number(e["fundingRate"], series, "fundingRate", e["timestamp"]) for e in entries]
    frame = pd.DataFrame({TIME: _times(ms, series), "funding_rate": rates})
    for column, value in series.constants.items():
        frame[column] = value
    return frame[[TIME, *(c for c in series.layout.columns if c != "funding_timestamp")]]


def okx_daily_rows(series: CexSeries, entries: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of the OKX daily archive from OKX funding-rate-history entries: `real_funding_rate`
    is the settled `realizedRate` (ccxt's unified `fundingRate`), `funding_rate` OKX's
    `fundingRate` field, `funding_time` the settlement time (`fundingTime`)."""
    ms = [e["timestamp"] for e in entries]
    for e in entries:
        _number(e["info"].get("realizedRate"), series, "realizedRate", e["timestamp"])
        _number(e["info"].get("fundingRate"), series, "fundingRate", e["timestamp"])
    times = _times(ms, series)
    frame = pd.DataFrame(
        {
            TIME: times,
            "funding_rate": [e["info"]["fundingRate"] for e in entries],
            "real_funding_rate": [e["info"]["realizedRate"] for e in entries],
            "funding_time": times.dt.strftime("%Y-%m-%d %H:%M:%S+00:00"),
            "date": times.dt.strftime("%Y-%m-%d"),
        }
    )
    for column, value in series.constants.items():
        frame[column] = value
    return frame[[TIME, *OKX_DAILY_COLUMNS]]
