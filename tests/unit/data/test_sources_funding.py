"""Funding readers: Binance/Bybit files, the corrupt OKX aggregates and the OKX daily archive."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]

FUNDING = "market_data/derivatives/funding_rates"
OKX_DAILY = "market_data/okx/funding_rates/daily"
HEADER = "funding_timestamp,funding_rate,symbol,source\n"
OKX_HEADER = "instrument,contract_type,funding_rate,real_funding_rate,funding_time,date\n"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def annual(series: pd.Series) -> float:
    return float(series.mean()) * 3 * 365


def test_binance_eth_funding(data_dir: Path) -> None:
    series = read_funding(locate(data_dir, f"{FUNDING}/binance_ETHUSDT_funding_rates_*.csv"))
    assert len(series) == 1_902
    assert series.index[0] == utc("2024-01-01 00:00")
    assert series.index[-1] == utc("2025-09-25 16:00")
    assert series.index.is_unique and series.index.is_monotonic_increasing
    assert str(series.index.tz) == "UTC"
    assert series.dtype == "float64"
    assert int((series == 0.0001).sum()) == 624
    assert set(series.index.hour) == {0, 8, 16}
    assert 0.096 < annual(series) < 0.098


def test_bybit_eth_and_btc_funding(data_dir: Path) -> None:
    eth = read_funding(locate(data_dir, f"{FUNDING}/bybit_ETHUSDT_funding_rates_*.csv"))
    btc = read_funding(locate(data_dir, f"{FUNDING}/bybit_BTCUSDT_funding_rates_*.csv"))
    assert len(eth) == 1_902
    assert int((eth == 0.0001).sum()) == 748
    assert eth.iloc[-1] == -9.97e-06
    assert len(btc) == 1_914
    assert btc.index[-1] == utc("2025-09-29 16:00")


def test_okx_aggregated_file_is_refused(data_dir: Path, check_error: CheckError) -> None:
    path = locate(data_dir, f"{FUNDING}/okx_ETHUSDT_funding_rates_*.csv")
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, 882, "conflicting values", "2025-03-29 00:00:00+00:00")


def test_okx_daily_eth_real_rates(data_dir: Path) -> None:
    started = time.perf_counter()
    series = read_okx_daily_funding(data_dir / OKX_DAILY, "ETH-USDT-SWAP")
    assert time.perf_counter() - started < 1.0
    assert len(series) == 1_353  # 451 files x 3 settlements, duplicates merged
    assert series.index.is_unique and series.index.is_monotonic_increasing
    assert series.index[0] == utc("2024-05-01 00:00")
    assert series.index[-1] == utc("2025-09-07 16:00")
    assert set(series.index.hour) == {0, 8, 16}
    assert series.iloc[0] == 4.880388991e-06  # real_funding_rate, not the predicted field
    assert not series.index.to_series().between(utc("2024-08-01"), utc("2024-08-31 23:00")).any()
    assert 0.072 < annual(series) < 0.074


def test_okx_daily_btc_real_rates(data_dir: Path) -> None:
    series = read_okx_daily_funding(data_dir / OKX_DAILY, "BTC-USDT-SWAP")
    assert len(series) == 1_353
    assert series.iloc[0] == 7.54125373928e-05
    assert 0.069 < annual(series) < 0.071


def test_identical_duplicates_are_merged(write: WriteFile) -> None:
    text = HEADER + (
        "2024-01-01T00:00:00Z,0.0001,X,y\n"
        "2024-01-01T08:00:00Z,0.0002,X,y\n"
        "2024-01-01T08:00:00Z,0.0002,X,y\n"
    )
    series = read_funding(write("f.csv", text))
    assert series.tolist() == [0.0001, 0.0002]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            "2024-01-01T08:00:00Z,0.0002,X,y\n2024-01-01T00:00:00Z,0.0001,X,y\n",
            "is before 2024-01-01 08:00:00+00:00 on line 2: rows must be in time order",
        ),
        (
            "2024-01-01T00:00:00Z,0.0001,X,y\n2024-01-01T08:00:01Z,0.0002,X,y\n",
            "timestamp 2024-01-01 08:00:01+00:00 is not on a whole hour",
        ),
        (
            "2024-01-01T00:00:00Z,0.0001,X,y\n2024-01-01T08:00:00Z,0.0002\n",
            "row has 2 fields, the header 4 (a cut or truncated line)",
        ),
    ],
)
def test_rows_out_of_order_off_the_hour_or_cut_are_refused(
    rows: str, problem: str, write: WriteFile, check_error: CheckError
) -> None:
    path = write("f.csv", HEADER + rows)
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, 3, problem)


def test_conflicting_duplicates_are_refused(write: WriteFile, check_error: CheckError) -> None:
    text = HEADER + (
        "2024-01-01T00:00:00Z,0.0001,X,y\n"
        "2024-01-01T08:00:00Z,0.0002,X,y\n"
        "2024-01-01T08:00:00Z,-0.0004,X,y\n"
    )
    path = write("okx_funding.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, 4, "column 'funding_rate'", "-0.0004 here", "0.0002 on line 3")


def test_funding_errors_name_file_line_and_value(write: WriteFile, check_error: CheckError) -> None:
    path = write("f.csv", HEADER + "2024-01-01T00:00:00Z,1e-4,X,y\n2024-01-01T08:00:00Z,,X,y\n")
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, 3, "column 'funding_rate': not a number: ''")
    path = write("g.csv", HEADER + "2024-01-01 08h,1e-4,X,y\n")
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, 2, "column 'funding_timestamp'", "'2024-01-01 08h'")
    path = write("h.csv", "funding_timestamp,rate\n")
    with pytest.raises(DataFileError) as caught:
        read_funding(path)
    check_error(caught.value, path, None, "missing column 'funding_rate'")


def okx_row(instrument: str, predicted: str, real: str, hour: str, day: str = "2025-04-01") -> str:
    return f"{instrument},SWAP,{predicted},{real},{day} {hour}:00:00+00:00,{day}\n"


def test_okx_daily_merges_repeats_and_sorts(write: WriteFile, tmp_path: Path) -> None:
    write(
        "daily/okx_funding_rates_2025-04-01.csv",
        OKX_HEADER
        + okx_row("ETH-USDT-SWAP", "0.0001", "3e-05", "08")
        + okx_row("BTC-USDT-SWAP", "0.0001", "9e-05", "00")
        + okx_row("ETH-USDT-SWAP", "0.0001", "5e-05", "00")
        + okx_row("ETH-USDT-SWAP", "4e-05", "5e-05", "00"),
    )
    write(
        "daily/okx_funding_rates_2025-03-31.csv",
        OKX_HEADER + okx_row("ETH-USDT-SWAP", "1e-05", "2e-05", "16", day="2025-03-31"),
    )
    write("daily/notes.csv", "not,a,daily,file\n")
    series = read_okx_daily_funding(tmp_path / "daily", "ETH-USDT-SWAP")
    assert series.tolist() == [2e-05, 5e-05, 3e-05]
    assert list(series.index) == [
        utc("2025-03-31 16:00"),
        utc("2025-04-01 00:00"),
        utc("2025-04-01 08:00"),
    ]


def test_okx_daily_conflicting_real_rates_name_the_file(
    write: WriteFile, tmp_path: Path, check_error: CheckError
) -> None:
    write(
        "daily/okx_funding_rates_2025-03-31.csv",
        OKX_HEADER + okx_row("ETH-USDT-SWAP", "1e-05", "2e-05", "16", day="2025-03-31"),
    )
    path = write(
        "daily/okx_funding_rates_2025-04-01.csv",
        OKX_HEADER
        + okx_row("ETH-USDT-SWAP", "0.0001", "5e-05", "00")
        + okx_row("BTC-USDT-SWAP", "0.0001", "9e-05", "00")
        + okx_row("ETH-USDT-SWAP", "4e-05", "6e-05", "00"),
    )
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "daily", "ETH-USDT-SWAP")
    check_error(caught.value, path, 4, "column 'real_funding_rate'", "6e-05 here", "5e-05")


def test_okx_daily_bad_cells_name_the_file_and_line(
    write: WriteFile, tmp_path: Path, check_error: CheckError
) -> None:
    write(
        "a/okx_funding_rates_2025-03-31.csv", OKX_HEADER + okx_row("ETH-USDT-SWAP", "0", "1", "00")
    )
    path = write(
        "a/okx_funding_rates_2025-04-01.csv",
        OKX_HEADER
        + okx_row("BTC-USDT-SWAP", "0", "x", "00")
        + okx_row("ETH-USDT-SWAP", "0", "x", "08"),
    )
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "a", "ETH-USDT-SWAP")
    check_error(caught.value, path, 3, "column 'real_funding_rate': not a number: 'x'")
    bad_time = OKX_HEADER + "ETH-USDT-SWAP,SWAP,0,1,soon,2025-04-01\n"
    path = write("b/okx_funding_rates_2025-04-01.csv", bad_time)
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "b", "ETH-USDT-SWAP")
    check_error(caught.value, path, 2, "column 'funding_time': not a timestamp: 'soon'")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("ETH-USDT-SWAP,SWAP,0.0001,5e-05,2025-04-01 08:00:00+00:00\n", "row has 5 fields"),
        ("ETH-USDT-SWAP,SWAP,0.0001,5e-05,2025-04-01 08:00:00+00:00,2025-04-01,x\n", "has 7"),
        (okx_row("ETH-USDT-SWAP", "0.0001", "5e-05", "08").replace(":00:00", ":30:00"), "hour"),
    ],
)
def test_okx_daily_cut_rows_and_times_off_the_hour_are_refused(
    row: str, problem: str, write: WriteFile, tmp_path: Path, check_error: CheckError
) -> None:
    text = OKX_HEADER + okx_row("ETH-USDT-SWAP", "0.0001", "3e-05", "00") + row
    path = write("daily/okx_funding_rates_2025-04-01.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "daily", "ETH-USDT-SWAP")
    check_error(caught.value, path, 3, problem)


def test_okx_daily_structural_errors(
    write: WriteFile, tmp_path: Path, check_error: CheckError
) -> None:
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "missing", "ETH-USDT-SWAP")
    check_error(caught.value, tmp_path / "missing", None, "folder not found")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "empty", "ETH-USDT-SWAP")
    assert "file not found" in str(caught.value)
    write(
        "c/okx_funding_rates_2025-04-01.csv", OKX_HEADER + okx_row("BTC-USDT-SWAP", "0", "1", "00")
    )
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "c", "ETH-USDT-SWAP")
    check_error(caught.value, tmp_path / "c", None, "no rows for instrument 'ETH-USDT-SWAP'")
    path = write("d/okx_funding_rates_2025-04-01.csv", "instrument,funding_rate,funding_time\n")
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "d", "ETH-USDT-SWAP")
    check_error(caught.value, path, None, "missing column 'real_funding_rate'")
    empty = write("e/okx_funding_rates_2025-04-01.csv", "")
    with pytest.raises(DataFileError) as caught:
        read_okx_daily_funding(tmp_path / "e", "ETH-USDT-SWAP")
    check_error(caught.value, empty, None, "empty file")
