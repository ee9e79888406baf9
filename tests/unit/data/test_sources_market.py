"""Oracle, gas and peg readers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.sources.gas import read_gas_price, read_gas_units
from basis_strategy.data.sources.oracle import read_oracle
from basis_strategy.data.sources.peg import read_peg_market_rate

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]

ORACLE = "protocol_data/aave/oracle"
GAS = "blockchain_data/gas_prices"
PEG = "protocol_data/staking/peg_analysis"
ORACLE_COMMENTS = "# Source: x\n# Asset_pair: weETH_ETH\n# Quote_currency: ETH\n# a\n# b\n# c\n"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_weth_usd_oracle(data_dir: Path) -> None:
    series = read_oracle(locate(data_dir, f"{ORACLE}/WETH_USD_oracle_*.csv"))
    assert series.name == "oracle_price_usd"
    assert len(series) == 15_288
    assert series.index[0] == utc("2024-01-01 01:00")
    assert series.index[-1] == utc("2025-09-29 00:00")
    assert series.index.is_unique and series.index.is_monotonic_increasing
    assert 1_469 < series.min() < 1_471
    assert 4_820 < series.max() < 4_821


def test_eth_quoted_oracles_skip_six_comment_lines(data_dir: Path) -> None:
    weeth = read_oracle(locate(data_dir, f"{ORACLE}/weETH_ETH_oracle_*.csv"))
    assert weeth.name == "oracle_price_eth"
    assert len(weeth) == 12_120
    assert weeth.index[0] == utc("2024-05-12 01:00")
    assert weeth.iloc[0] == pytest.approx(1.0381626525752412)
    assert weeth.iloc[-1] == pytest.approx(1.0778675663760975)
    wsteth = read_oracle(locate(data_dir, f"{ORACLE}/wstETH_ETH_oracle_*.csv"))
    assert 1.1663 < wsteth.min() < wsteth.max() < 1.2150


def test_usdt_oracle_has_daily_unix_timestamps(data_dir: Path) -> None:
    series = read_oracle(locate(data_dir, f"{ORACLE}/USDT_USD_oracle_*.csv"))
    assert len(series) == 638
    assert series.index.equals(pd.date_range(utc("2024-01-01"), utc("2025-09-29"), freq="D"))
    assert series.min() == 0.99785
    assert series.max() == 1.00241


def test_oracle_line_numbers_count_comment_lines(write: WriteFile, check_error: CheckError) -> None:
    text = ORACLE_COMMENTS + (
        "timestamp,oracle_price_eth,asset\n"
        "2024-05-12 01:00:00+00:00,1.038,weETH\n"
        "2024-05-12 02:00:00+00:00,1.O38,weETH\n"
    )
    path = write("weETH_ETH_oracle.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_oracle(path)
    check_error(caught.value, path, 9, "column 'oracle_price_eth': not a number: '1.O38'")


def test_oracle_errors(write: WriteFile, tmp_path: Path, check_error: CheckError) -> None:
    path = write("o.csv", "# c\ntimestamp,price\n1704067200,1.0\n")
    with pytest.raises(DataFileError) as caught:
        read_oracle(path)
    check_error(caught.value, path, None, "missing column 'oracle_price_eth' or 'oracle_price_usd'")
    path = write("z.csv", "timestamp,oracle_price_usd\n1704067200,0\n")
    assert read_oracle(path).tolist() == [0.0]  # the run's plausibility check refuses it
    path = write("d.csv", "timestamp,oracle_price_usd\n1704067200,1.0\n1704067200,1.1\n")
    with pytest.raises(DataFileError) as caught:
        read_oracle(path)
    check_error(caught.value, path, 3, "conflicting values")
    with pytest.raises(DataFileError, match="file not found"):
        read_oracle(tmp_path / "absent.csv")


def test_gas_price(data_dir: Path) -> None:
    series = read_gas_price(locate(data_dir, f"{GAS}/ethereum_gas_prices_*.csv"))
    assert series.name == "gas_price_avg_gwei"
    assert len(series) == 15_240
    assert series.index.equals(
        pd.date_range(utc("2024-01-01 00:00"), utc("2025-09-26 23:00"), freq="h")
    )
    assert series.idxmax() == utc("2024-04-15 19:00")
    assert series.max() == pytest.approx(844.29)
    assert series.min() == 0.13


def test_gas_price_errors(write: WriteFile, check_error: CheckError) -> None:
    header = "timestamp,gas_price_avg_gwei\n"
    path = write("g.csv", header + "2024-01-01T00:00:00Z,0.0\n2024-01-01T01:00:00Z,-1\n")
    with pytest.raises(DataFileError) as caught:
        read_gas_price(path)
    check_error(caught.value, path, 3, "column 'gas_price_avg_gwei': negative: '-1'")
    path = write("h.csv", header + "2024-01-01T00:00:00Z,12.5 gwei\n")
    with pytest.raises(DataFileError) as caught:
        read_gas_price(path)
    check_error(caught.value, path, 2, "not a number: '12.5 gwei'")
    path = write("i.csv", "timestamp,gas_price_gwei\n")
    with pytest.raises(DataFileError, match="missing column 'gas_price_avg_gwei'"):
        read_gas_price(path)


def test_gas_units(data_dir: Path) -> None:
    units = read_gas_units(locate(data_dir, f"{GAS}/operation_gas_costs_summary_*.json"))
    assert len(units) == 18
    assert units["APPROVAL_ONCE"] == 55_000
    assert units["SET_EMODE_ONCE"] == 55_000
    assert units["STAKE_DEPOSIT"] == 150_000
    assert units["COLLATERAL_SUPPLIED"] == 250_000
    assert units["LOAN_CREATED"] == 300_000
    assert units["ATOMIC_ENTRY"] == 1_250_000
    assert all(isinstance(value, int) for value in units.values())


@pytest.mark.parametrize("units", ["lots", -5, 1.5, True, None])
def test_gas_units_must_be_positive_whole_numbers(
    units: object, write: WriteFile, check_error: CheckError
) -> None:
    text = json.dumps({"operation_costs": {"SWAP": {"gas_units": units}}})
    path = write("ops.json", text)
    with pytest.raises(DataFileError) as caught:
        read_gas_units(path)
    check_error(caught.value, path, None, "'operation_costs.SWAP.gas_units'", repr(units))


def test_gas_units_structure_errors(write: WriteFile, check_error: CheckError) -> None:
    path = write("a.json", json.dumps({"gas_price_stats": {}}))
    with pytest.raises(DataFileError) as caught:
        read_gas_units(path)
    check_error(caught.value, path, None, "missing key 'operation_costs'")
    path = write("b.json", json.dumps({"operation_costs": {"SWAP": {"eth_cost": 1}}}))
    with pytest.raises(DataFileError) as caught:
        read_gas_units(path)
    check_error(caught.value, path, None, "missing key 'operation_costs.SWAP.gas_units'")
    assert read_gas_units(write("c.json", '{"operation_costs": {"X": {"gas_units": 2e5}}}')) == {
        "X": 200_000
    }


def test_peg_market_rates(data_dir: Path) -> None:
    weeth = read_peg_market_rate(locate(data_dir, f"{PEG}/weETH_peg_analysis_*.csv"))
    assert weeth.name == "market_rate"
    assert len(weeth) == 12_063
    assert weeth.index[0] == utc("2024-05-13 04:00")
    assert weeth.index[-1] == utc("2025-09-27 18:00")
    wsteth = read_peg_market_rate(locate(data_dir, f"{PEG}/wstETH_peg_analysis_*.csv"))
    assert len(wsteth) == 12_068
    assert wsteth.index[0] == utc("2024-05-12 23:00")
    oracle = read_oracle(locate(data_dir, f"{ORACLE}/wstETH_ETH_oracle_*.csv"))
    discount = wsteth / oracle.reindex(wsteth.index) - 1.0
    assert discount.notna().all()
    assert (discount < 0).all()  # wstETH never trades at a premium in this file
    assert discount.min() > -0.0035


def test_peg_errors(write: WriteFile, check_error: CheckError) -> None:
    header = "timestamp,protocol_rate,market_rate\n"
    path = write("p.csv", header + "2024-05-13 04:00:00+00:00,1.03,\n")
    with pytest.raises(DataFileError) as caught:
        read_peg_market_rate(path)
    check_error(caught.value, path, 2, "column 'market_rate': not a number: ''")
    path = write("q.csv", "timestamp,protocol_rate\n")
    with pytest.raises(DataFileError, match="missing column 'market_rate'"):
        read_peg_market_rate(path)
