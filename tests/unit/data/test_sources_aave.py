"""AAVE readers: daily reserve snapshots, e-mode parameters and the reserve parameter table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.sources.aave import (
    read_aave_daily,
    read_aave_daily_price,
    read_aave_emode,
    read_aave_reserve_params,
)

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]

RATES = "protocol_data/aave/rates"
RISK = "protocol_data/aave/risk_params/aave_v3_risk_parameters.json"
TABLE = "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv"
HEADER = (
    "targetDate,liquidityIndex,currentLiquidityRate,variableBorrowIndex,"
    "currentVariableBorrowRate,symbol\n"
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_usdt_daily_rates(data_dir: Path) -> None:
    frame = read_aave_daily(locate(data_dir, f"{RATES}/*_USDT_rates_*.csv"))
    assert list(frame.columns) == [
        "liquidity_index",
        "liquidity_rate",
        "borrow_index",
        "borrow_rate",
    ]
    assert len(frame) == 638
    assert frame.index[0] == utc("2024-01-01")
    assert frame.index[-1] == utc("2025-09-29")
    assert frame.index.equals(pd.date_range(utc("2024-01-01"), utc("2025-09-29"), freq="D"))
    assert frame["liquidity_index"].iloc[0] == pytest.approx(1.0362, abs=5e-5)
    assert frame["liquidity_index"].iloc[-1] == pytest.approx(1.1407, abs=5e-5)
    assert frame["liquidity_index"].is_monotonic_increasing
    assert frame["borrow_index"].is_monotonic_increasing
    assert 0.017 < frame["liquidity_rate"].min() < frame["liquidity_rate"].max() < 0.348
    assert (frame.dtypes == "float64").all()


def test_weth_and_lst_daily_rates(data_dir: Path) -> None:
    weth = read_aave_daily(locate(data_dir, f"{RATES}/*_WETH_rates_*.csv"))
    assert len(weth) == 638
    assert 0.021 < weth["borrow_rate"].min() < weth["borrow_rate"].max() < 0.227
    weeth = read_aave_daily(locate(data_dir, f"{RATES}/*_weETH_rates_*[0-9].csv"))
    assert len(weeth) == 506
    assert weeth.index[0] == utc("2024-05-12")
    index = weeth["liquidity_index"]
    assert index[utc("2024-10-14")] == index[utc("2024-10-13")]  # stored index did not move
    wsteth = read_aave_daily(locate(data_dir, f"{RATES}/*_wstETH_rates_*[0-9].csv"))
    assert len(wsteth) == 506
    assert wsteth["borrow_rate"].max() < 0.0085  # README: borrow APR <= 0.8 %


def test_daily_index_that_decreases_is_refused(write: WriteFile, check_error: CheckError) -> None:
    text = HEADER + (
        "2024-01-01T00:00:00Z,1.01,0.02,1.05,0.03,USDT\n"
        "2024-01-02T00:00:00Z,1.02,0.02,1.06,0.03,USDT\n"
        "2024-01-03T00:00:00Z,1.015,0.02,1.07,0.03,USDT\n"
    )
    path = write("aave_USDT_rates.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_aave_daily(path)
    check_error(caught.value, path, 4, "column 'liquidityIndex'", "'1.015'", "'1.02' on line 3")


def test_daily_rows_out_of_time_order_are_refused(
    write: WriteFile, check_error: CheckError
) -> None:
    rows = (
        "2024-01-02T00:00:00Z,1.02,0.02,1.06,0.03,USDT\n"
        "2024-01-01T00:00:00Z,1.01,0.02,1.05,0.03,USDT\n"
    )
    path = write("unsorted.csv", HEADER + rows)
    with pytest.raises(DataFileError) as caught:
        read_aave_daily(path)
    check_error(caught.value, path, 3, "rows must be in time order")


def test_daily_errors(write: WriteFile, check_error: CheckError) -> None:
    path = write(
        "a.csv", "targetDate,liquidityIndex,currentLiquidityRate,currentVariableBorrowRate\n"
    )
    with pytest.raises(DataFileError) as caught:
        read_aave_daily(path)
    check_error(caught.value, path, None, "missing column 'variableBorrowIndex'")
    path = write("b.csv", HEADER + "2024-01-01T00:00:00Z,1.01,n/a,1.05,0.03,USDT\n")
    with pytest.raises(DataFileError) as caught:
        read_aave_daily(path)
    check_error(caught.value, path, 2, "column 'currentLiquidityRate': not a number: 'n/a'")
    path = write("c.csv", HEADER + "01/02/2024,1.01,0.02,1.05,0.03,USDT\n")
    with pytest.raises(DataFileError) as caught:
        read_aave_daily(path)
    check_error(caught.value, path, 2, "column 'targetDate': not a timestamp: '01/02/2024'")


def test_daily_oracle_price(data_dir: Path) -> None:
    weeth = read_aave_daily_price(locate(data_dir, f"{RATES}/*_weETH_rates_*[0-9].csv"))
    weth = read_aave_daily_price(locate(data_dir, f"{RATES}/*_WETH_rates_*.csv"))
    assert (len(weeth), len(weth)) == (506, 638)
    assert weeth[utc("2024-05-12")] == 3020.35664029  # USD per weETH at the first snapshot
    assert weth[utc("2024-05-13")] == 2930.25
    assert weeth.index.is_monotonic_increasing


def test_daily_oracle_price_must_be_positive(write: WriteFile, check_error: CheckError) -> None:
    path = write("p.csv", "targetDate,price\n2024-01-01T00:00:00Z,2300\n2024-01-02T00:00:00Z,0\n")
    with pytest.raises(DataFileError) as caught:
        read_aave_daily_price(path)
    check_error(caught.value, path, 3, "column 'price': not positive: '0'")


def test_emode_parameters(data_dir: Path) -> None:
    emode = read_aave_emode(data_dir / RISK)
    expected = {"max_ltv": 0.93, "liquidation_threshold": 0.95, "liquidation_bonus": 0.01}
    assert emode["weETH"] == expected
    assert emode["wstETH"] == expected
    assert set(emode) == {"weETH", "wstETH", "ETH"}


def emode_json(ltv: object = 0.93, drop_bonus: bool = False) -> str:
    block = {
        "ltv_limits": {"weETH_WETH": ltv},
        "liquidation_thresholds": {"weETH_WETH": 0.95},
        "liquidation_bonus": {"weETH_WETH": 0.01},
    }
    if drop_bonus:
        block["liquidation_bonus"] = {}
    return json.dumps({"emode": block}, indent=2)


def test_emode_errors(write: WriteFile, tmp_path: Path, check_error: CheckError) -> None:
    path = write("pct.json", emode_json(ltv=93))
    with pytest.raises(DataFileError) as caught:
        read_aave_emode(path)
    check_error(caught.value, path, None, "'emode.ltv_limits.weETH_WETH'", "93")
    path = write("gap.json", emode_json(drop_bonus=True))
    with pytest.raises(DataFileError) as caught:
        read_aave_emode(path)
    check_error(caught.value, path, None, "missing key 'emode.liquidation_bonus.weETH_WETH'")
    path = write("above.json", emode_json(ltv=0.96))
    with pytest.raises(DataFileError, match="above the liquidation threshold"):
        read_aave_emode(path)
    path = write("broken.json", '{\n  "emode": {,\n}')
    with pytest.raises(DataFileError) as caught:
        read_aave_emode(path)
    check_error(caught.value, path, 2, "invalid JSON")
    with pytest.raises(DataFileError, match="missing key 'emode'"):
        read_aave_emode(write("none.json", "{}"))
    with pytest.raises(DataFileError, match="file not found"):
        read_aave_emode(tmp_path / "absent.json")


def test_reserve_parameter_table(data_dir: Path) -> None:
    params = read_aave_reserve_params(data_dir / TABLE)
    assert len(params) == 55
    assert params["WETH"] == {
        "ltv": 0.805,
        "liquidation_threshold": 0.83,
        "liquidation_bonus": 0.05,
        "reserve_factor": 0.15,
    }
    assert params["weETH"] == {
        "ltv": 0.775,
        "liquidation_threshold": 0.80,
        "liquidation_bonus": 0.07,
        "reserve_factor": 0.45,
    }
    assert params["wstETH"]["ltv"] == 0.785
    assert params["wstETH"]["reserve_factor"] == 0.35
    assert params["USDT"] == {
        "ltv": 0.75,
        "liquidation_threshold": 0.78,
        "liquidation_bonus": 0.045,
        "reserve_factor": 0.10,
    }


TABLE_TEXT = (
    "\ufeff,WETH,USDT\n"
    "Frozen,FALSE,FALSE\n"
    "LTV,80.50%,75%\n"
    "Liquidation Threshold,83%,78%\n"
    "Liquidation Bonus,5%,4.50%\n"
    "Reserve Factor,15%,{usdt_rf}\n"
)


def test_reserve_table_errors(write: WriteFile, check_error: CheckError) -> None:
    params = read_aave_reserve_params(write("ok.csv", TABLE_TEXT.format(usdt_rf="10%")))
    assert params["USDT"]["reserve_factor"] == 0.10
    path = write("bad.csv", TABLE_TEXT.format(usdt_rf="ten"))
    with pytest.raises(DataFileError) as caught:
        read_aave_reserve_params(path)
    check_error(caught.value, path, 6, "column 'USDT'", "row 'Reserve Factor'", "'ten'")
    path = write("short.csv", TABLE_TEXT.format(usdt_rf="10%").replace("LTV,80.50%,75%\n", ""))
    with pytest.raises(DataFileError) as caught:
        read_aave_reserve_params(path)
    check_error(caught.value, path, None, "missing row 'LTV'")
