"""OHLCV readers against the real files and against small broken files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.sources.ohlcv import read_ohlcv_open

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]

PERPS = "market_data/derivatives/futures_ohlcv"
SPOT = "market_data/spot_prices"
HEADER = "timestamp,open,high,low,close,volume\n"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_clean_index(series: pd.Series) -> None:
    assert isinstance(series.index, pd.DatetimeIndex)
    assert str(series.index.tz) == "UTC"
    assert series.index.is_unique
    assert series.index.is_monotonic_increasing
    assert series.dtype == "float64"
    assert series.name == "open"


def missing_hours(series: pd.Series) -> int:
    grid = pd.date_range(series.index[0], series.index[-1], freq="h")
    return len(grid) - len(series)


def test_binance_eth_perp(data_dir: Path) -> None:
    series = read_ohlcv_open(locate(data_dir, f"{PERPS}/binance_ETHUSDT_perp_1h_*.csv"))
    assert_clean_index(series)
    assert len(series) == 14_871
    assert series.index[0] == utc("2024-01-01 00:00")
    assert series.index[-1] == utc("2025-09-25 23:00")
    assert series.iloc[0] == 2283.84
    assert missing_hours(series) == 345  # the 15 Binance 23-hour holes
    assert utc("2024-02-10 05:00") not in series.index


def test_bybit_eth_perp_drops_the_15_duplicate_bars(data_dir: Path) -> None:
    series = read_ohlcv_open(locate(data_dir, f"{PERPS}/bybit_ETHUSDT_perp_1h_*.csv"))
    assert_clean_index(series)
    assert len(series) == 15_216  # 15,231 rows minus 15 identical duplicates
    assert missing_hours(series) == 0
    assert series.index[-1] == utc("2025-09-25 23:00")


def test_okx_eth_perp_ends_in_august_with_two_month_long_holes(data_dir: Path) -> None:
    series = read_ohlcv_open(locate(data_dir, f"{PERPS}/okx_ETHUSDT_perp_1h_*.csv"))
    assert len(series) == 8_064
    assert series.index[-1] == utc("2025-08-31 23:00")
    assert missing_hours(series) == 1_440
    assert utc("2024-09-15 00:00") not in series.index


def test_uniswap_candles_use_unix_second_timestamps(data_dir: Path) -> None:
    series = read_ohlcv_open(locate(data_dir, f"{SPOT}/eth_usd/uniswapv3_WETHUSDT_1h_*.csv"))
    assert_clean_index(series)
    assert len(series) == 15_259
    assert series.index[0] == utc("2024-01-01 00:00")
    assert series.index[-1] == utc("2025-09-27 18:00")
    assert series.iloc[0] == pytest.approx(2277.21051501493)


def test_bybit_and_binance_btc_spot_agree(data_dir: Path) -> None:
    bybit = read_ohlcv_open(locate(data_dir, f"{SPOT}/btc_usd/bybit_BTCUSDT_spot_1h_*.csv"))
    binance = read_ohlcv_open(locate(data_dir, f"{SPOT}/btc_usd/binance_BTCUSDT_1h_*.csv"))
    assert len(bybit) == 15_312
    assert len(binance) == 14_967
    both = (bybit / binance).dropna() - 1.0
    assert len(both) == 14_967
    assert both.abs().median() < 1e-4


def test_an_identical_repeated_bar_is_read_once(write: WriteFile) -> None:
    text = HEADER + (
        "2024-01-01T00:00:00Z,10,11,9,10,5\n"
        "2024-01-01T01:00:00Z,12,13,11,12,6\n"
        "2024-01-01T01:00:00Z,12,13,11,12,6\n"
    )
    series = read_ohlcv_open(write("bars.csv", text))
    assert series.tolist() == [10.0, 12.0]
    assert list(series.index.hour) == [0, 1]


@pytest.mark.parametrize(
    ("repeat", "column", "values"),
    [
        ("2024-01-01T01:00:00Z,15,16,11,12,6", "open", "15.0 here, 12.0 on line 3"),
        ("1704070800,12,13,11,12.5,6", "close", "12.5 here, 12.0 on line 3"),
    ],
)
def test_a_repeated_bar_with_other_prices_names_file_line_and_timestamp(
    repeat: str, column: str, values: str, write: WriteFile, check_error: CheckError
) -> None:
    """Before, the last row won silently: one injected row moved a run's equity by +31 %."""
    text = HEADER + "2024-01-01T00:00:00Z,10,11,9,10,5\n2024-01-01T01:00:00Z,12,13,11,12,6\n"
    path = write("bybit_BTCUSDT_spot.csv", text + repeat + "\n")
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(
        caught.value,
        path,
        4,
        f"column {column!r}: conflicting values for duplicated timestamp 2024-01-01 01:00:00+00:00",
        values,
    )


def test_bars_out_of_time_order_are_refused(write: WriteFile, check_error: CheckError) -> None:
    text = HEADER + "2024-01-01T01:00:00Z,11,12,10,11,0\n2024-01-01T00:00:00Z,10,11,9,10,0\n"
    path = write("bars.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, 3, "is before 2024-01-01 01:00:00+00:00 on line 2")


def test_a_bar_off_the_whole_hour_is_refused(write: WriteFile, check_error: CheckError) -> None:
    path = write(
        "bars.csv", HEADER + "2024-01-01T00:00:00Z,10,11,9,10,0\n1704069000,10,11,9,10,0\n"
    )
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, 3, "2024-01-01 00:30:00+00:00 is not on a whole hour")


@pytest.mark.parametrize(
    "last",
    [
        "2024-01-01T01:00:00Z,2",  # cut after the open: 23,456.7 read as 2
        "2024-01-01T01:00:00Z,23456.7,23500,23400",  # cut before the close
    ],
)
def test_a_truncated_last_line_is_refused(
    last: str, write: WriteFile, check_error: CheckError
) -> None:
    path = write("bars.csv", HEADER + "2024-01-01T00:00:00Z,23400,23500,23300,23456.7,1\n" + last)
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    fields = last.count(",") + 1
    check_error(caught.value, path, 3, f"row has {fields} fields, the header 6")


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        ("2345.6,2350,2340,nan", "close", "not a number: 'nan'"),
        ("2345.6,inf,2340,2345", "high", "not a number: 'inf'"),
        ("23456,2350,2340,2345", "open", "outside the bar's low 2340.0 .. high 2350.0: '23456'"),
    ],
)
def test_every_price_of_the_bar_is_checked(
    row: str, column: str, problem: str, write: WriteFile, check_error: CheckError
) -> None:
    path = write("bars.csv", HEADER + f"2024-01-01T00:00:00Z,{row},1\n")
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, 2, f"column {column!r}: {problem}")


def test_missing_file(tmp_path: Path, check_error: CheckError) -> None:
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(tmp_path / "nope.csv")
    check_error(caught.value, tmp_path / "nope.csv", None, "file not found")


def test_missing_open_column(write: WriteFile, check_error: CheckError) -> None:
    path = write("bars.csv", "timestamp,close\n2024-01-01T00:00:00Z,10\n")
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, None, "missing column 'open'")


def test_corrupt_price_names_file_line_and_value(write: WriteFile, check_error: CheckError) -> None:
    text = HEADER + "2024-01-01T00:00:00Z,10,0,0,0,0\n2024-01-01T01:00:00Z,abc,0,0,0,0\n"
    path = write("binance_ETHUSDT_perp.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, 3, "column 'open': not a number: 'abc'")


def test_unparseable_timestamp(write: WriteFile, check_error: CheckError) -> None:
    path = write(
        "bars.csv", HEADER + "2024-01-01T00:00:00Z,10,0,0,0,0\n2024-01-01T25:00,11,0,0,0,0\n"
    )
    with pytest.raises(DataFileError) as caught:
        read_ohlcv_open(path)
    check_error(caught.value, path, 3, "column 'timestamp'", "'2024-01-01T25:00'")


@pytest.mark.parametrize("price", ["0", "-1.5"])
def test_a_non_positive_price_is_left_to_the_plausibility_check(
    price: str, write: WriteFile
) -> None:
    """The reader keeps it: the run refuses or bridges it (`data.implausible`)."""
    path = write("bars.csv", HEADER + f"1704067200,{price},{price},{price},{price},0\n")
    assert read_ohlcv_open(path).tolist() == [float(price)]
