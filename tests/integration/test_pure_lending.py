"""pure_lending over 2024 (domain 4.1, 9.1, 16): supply yield is the AAVE USDT index growth.

Run: 2024-01-01 -> 2024-12-31, 100,000 USDT, gas off. With gas off there is no gas buffer to
buy and no reserve, so all capital is supplied in the first hour and the supply yield plus
its corrections (the difference each daily snapshot finds against the index carried towards
it) must equal deployed × (LI_end / LI_start − 1) over the run, and scaled × (LI_d+1 − LI_d)
over every day, with LI read straight from the daily file.
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

RATES_FILE = (
    "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_USDT_rates_2024-01-01_2025-09-18.csv"
)
DOMAIN_APY_2024 = 0.0669  # domain 16: index-implied APY of AAVE USDT in 2024


@pytest.fixture(scope="module")
def liquidity_index(data_dir) -> pd.Series:
    rates = pd.read_csv(data_dir / RATES_FILE)
    index = pd.to_datetime(rates["targetDate"], utc=True)
    return pd.Series(rates["liquidityIndex"].to_numpy(dtype=float), index=index)


def _supplied(run) -> pd.DataFrame:
    events = run.events
    return events[
        (events["event_type"] == "Supplied") & (events["instrument"] == "wallet:BaseToken:USDT")
    ]


def test_all_capital_supplied_without_reserve_or_gas_buffer(pure_lending_2024):
    supplied = _supplied(pure_lending_2024)
    assert len(supplied) == 1, supplied
    deployed = -float(supplied["amount"].iloc[0])
    assert deployed == pytest.approx(100_000.0, rel=1e-12)
    assert supplied["time"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")
    kinds = set(pure_lending_2024.events["event_type"])
    assert not {k for k in kinds if k.startswith("GasPaid") or k == "Swapped"}, kinds


def test_supply_yield_equals_index_growth(pure_lending_2024, liquidity_index):
    li_start = liquidity_index[pd.Timestamp("2024-01-01T00:00:00Z")]
    li_end = liquidity_index[pd.Timestamp("2024-12-31T00:00:00Z")]
    deployed = -float(_supplied(pure_lending_2024)["amount"].sum())
    expected = deployed * (li_end / li_start - 1.0)

    summary = pure_lending_2024.summary
    attribution = summary["pnl_attribution"]
    supplied = attribution["supply_yield"] + attribution["supply_correction"]
    assert supplied == pytest.approx(expected, rel=1e-6)
    # the hourly columns add up to the same figure, and nothing else moved equity
    hourly = pure_lending_2024.hourly
    assert (hourly["supply_yield"] + hourly["supply_correction"]).sum() == pytest.approx(
        expected, rel=1e-6
    )
    assert summary["cumulative_pnl"] == pytest.approx(expected, rel=1e-6)
    assert summary["final_equity"] == pytest.approx(deployed + expected, rel=1e-9)


def test_supply_yield_and_correction_over_each_day_are_the_index_growth(
    pure_lending_2024, liquidity_index
):
    scaled = float(pure_lending_2024.balance["qty:aave_v3:aToken:aUSDT"].iloc[-1])
    hourly = pure_lending_2024.hourly
    supplied = hourly["supply_yield"] + hourly["supply_correction"]
    days = pd.date_range("2024-01-01", "2024-12-31", freq="D", tz="UTC")
    for first, last in itertools.pairwise(days):
        booked = supplied.loc[first + pd.Timedelta(hours=1) : last].sum()
        expected = scaled * (liquidity_index[last] - liquidity_index[first])
        assert booked == pytest.approx(expected, rel=1e-9), first


def test_aave_position_is_stored_scaled(pure_lending_2024, liquidity_index):
    """Domain 2: supplying x at index LI stores x / LI scaled units, constant afterwards."""
    li_start = liquidity_index[pd.Timestamp("2024-01-01T00:00:00Z")]
    scaled = pure_lending_2024.balance["qty:aave_v3:aToken:aUSDT"]
    assert scaled.iloc[0] == pytest.approx(100_000.0 / li_start, rel=1e-9)
    assert scaled.min() == pytest.approx(scaled.max(), rel=1e-12)


def test_apy_matches_domain_sanity_figure(pure_lending_2024):
    apy = pure_lending_2024.summary["apy"]
    assert abs(apy - DOMAIN_APY_2024) <= 0.003, apy
