"""Stress shocks on the aligned market data (config `shocks`; data/shocks.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import Shock
from basis_strategy.core.errors import ConfigError
from basis_strategy.data.align import ns
from basis_strategy.data.market import FundingRate
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.shocks import apply_shocks, move_ramp, shock_column

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HOUR = timedelta(hours=1)
T0 = datetime(2024, 6, 1, tzinfo=UTC)
GRID = ns(pd.date_range(T0, periods=10, freq="h"))


def shock(kind: str, value: float, first: int, last: int, series: str = "x") -> Shock:
    """A shock built without the model's own checks (they refuse a set price <= 0 at config
    time already), so `apply_shocks`' guard is tested on its own."""
    return Shock.model_construct(
        series=[series], start=T0 + first * HOUR, end=T0 + last * HOUR, kind=kind, value=value
    )


ESTIMATES = ("lst_apr:", "funding_apr:", "reward_apr")  # derived from the shocked series


def unestimated(values: dict[str, float]) -> dict[str, float]:
    return {name: v for name, v in values.items() if not name.startswith(ESTIMATES)}


# --- pure functions on a tiny synthetic grid --------------------------------------------------


def test_move_ramps_linearly_from_start_to_end_then_holds() -> None:
    ramp = move_ramp(GRID, int(GRID[2]), int(GRID[5]))
    assert ramp.tolist() == [0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1]
    column = np.full(10, 200.0)
    shocked = shock_column(column, GRID, shock("move", -0.1, 2, 5))
    assert shocked.tolist() == [200, 200, 195, 190, 185, 180, 180, 180, 180, 180]
    assert column.tolist() == [200.0] * 10  # the input is not changed


def test_one_hour_move_is_a_full_step_at_start() -> None:
    assert move_ramp(GRID, int(GRID[3]), int(GRID[3])).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    column = np.arange(1.0, 11.0)
    shocked = shock_column(column, GRID, shock("move", -0.03, 3, 3))
    assert shocked[:3].tolist() == column[:3].tolist()
    assert shocked[3:].tolist() == (column[3:] * (1 + -0.03)).tolist()


def test_set_replaces_the_window_only() -> None:
    column = np.arange(10.0)
    shocked = shock_column(column, GRID, shock("set", -5.0, 4, 6))
    assert shocked.tolist() == [0, 1, 2, 3, -5, -5, -5, 7, 8, 9]


def funding() -> dict[int, tuple[FundingRate, ...]]:
    return {
        2: (FundingRate("binance", "ETH", 0.0001), FundingRate("bybit", "ETH", 0.0002)),
        8: (FundingRate("binance", "ETH", 0.0003), FundingRate("bybit", "ETH", 0.0004)),
    }


def test_funding_set_and_move_by_glob() -> None:
    columns = {"price:ETH": np.full(10, 3000.0)}
    setting = shock("set", -0.001, 1, 3, series="funding:binance:*")
    new_columns, new_funding, applied = apply_shocks([setting], GRID, columns, funding())
    assert new_columns["price:ETH"].tolist() == [3000.0] * 10
    assert new_funding[2] == (
        FundingRate("binance", "ETH", -0.001),
        FundingRate("bybit", "ETH", 0.0002),
    )
    assert new_funding[8] == funding()[8]  # after the window
    assert applied == [
        {
            "series": ["funding:binance:ETH"],
            "globs": ["funding:binance:*"],
            "kind": "set",
            "value": -0.001,
            "start": (T0 + HOUR).isoformat(),
            "end": (T0 + 3 * HOUR).isoformat(),
            "hours": 0,
            "settlements": 1,
        }
    ]
    moving = shock("move", 1.0, 2, 5, series="funding:*:ETH")
    _, moved, applied = apply_shocks([moving], GRID, columns, funding())
    assert [r.rate_per_8h for r in moved[2]] == [0.0001 * 1.25, 0.0002 * 1.25]
    assert [r.rate_per_8h for r in moved[8]] == [0.0003 * 2, 0.0004 * 2]
    assert applied[0]["settlements"] == 4


def test_shocks_apply_in_order_and_record_hours() -> None:
    columns = {"a:x": np.full(10, 100.0), "a:y": np.full(10, 10.0), "b": np.ones(10)}
    shocks = [shock("move", 0.5, 2, 2, series="a:*"), shock("set", 7.0, 0, 1, series="a:x")]
    new, _, applied = apply_shocks(shocks, GRID, columns, {})
    assert new["a:x"].tolist() == [7, 7] + [150.0] * 8
    assert new["a:y"].tolist() == [10, 10] + [15.0] * 8
    assert new["b"] is columns["b"]
    assert [(r["series"], r["hours"]) for r in applied] == [(["a:x", "a:y"], 8), (["a:x"], 2)]


def test_a_glob_matching_nothing_names_the_field_the_glob_and_the_series() -> None:
    columns = {"price:ETH": np.ones(10), "lst_rate:weETH": np.ones(10)}
    with pytest.raises(ConfigError) as raised:
        apply_shocks([shock("set", 1.0, 0, 1, series="price:DOGE")], GRID, columns, funding())
    assert raised.value.field == "shocks.0.series"
    message = str(raised.value)
    assert "'price:DOGE'" in message
    assert "price:ETH" in message and "lst_rate:weETH" in message
    assert "funding:bybit:ETH" in message


@pytest.mark.parametrize(
    ("series", "value", "problem"),
    [
        ("price:ETH", 0.0, "takes price:ETH to 0.0 at 2024-06-01 02:00 UTC; it must stay > 0"),
        ("perp:*", -1.0, "takes perp:bybit:ETHUSDT to -1.0 at 2024-06-01 02:00 UTC"),
        ("lst_rate:weETH", 0.0, "takes lst_rate:weETH to 0.0"),
        ("aave_li:*", 0.0, "takes aave_li:WETH to 0.0"),
        (
            "aave_br:WETH",
            -0.05,
            "takes aave_br:WETH to -0.05 at 2024-06-01 02:00 UTC; it must stay >= 0",
        ),
        ("gas_gwei", -1.0, "takes gas_gwei to -1.0"),
    ],
)
def test_a_shock_that_takes_a_price_rate_or_index_below_its_physical_floor_is_refused(
    series: str, value: float, problem: str
) -> None:
    names = ("price:ETH", "perp:bybit:ETHUSDT", "lst_rate:weETH", "aave_li:WETH", "aave_br:WETH")
    columns = {name: np.full(10, 1.5) for name in (*names, "gas_gwei")}
    harmless = shock("set", 2.0, 0, 0, series="*")
    with pytest.raises(ConfigError) as raised:
        apply_shocks([harmless, shock("set", value, 2, 3, series=series)], GRID, columns, {})
    assert raised.value.field == "shocks.1.value"
    assert problem in str(raised.value)


def test_shocks_may_set_zero_gas_zero_apr_and_negative_funding() -> None:
    columns = {"gas_gwei": np.full(10, 5.0), "aave_lr:USDT": np.full(10, 0.05)}
    shocks = [
        shock("set", 0.0, 0, 9, series="gas_gwei"),
        shock("set", 0.0, 0, 9, series="aave_lr:*"),
        shock("set", -0.01, 0, 9, series="funding:*"),
    ]
    new, shocked_funding, _ = apply_shocks(shocks, GRID, columns, funding())
    assert new["gas_gwei"].tolist() == [0.0] * 10
    assert {rate.rate_per_8h for rates in shocked_funding.values() for rate in rates} == {-0.01}


# --- through the provider --------------------------------------------------------------------


WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-06-10T00:00:00Z"]
STEP_AT = datetime(2024, 6, 5, 5, tzinfo=UTC)


def provider(mode: str, *sets: str) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config(mode, [*WINDOW, *sets], env={}), DATA_DIR)


def shocks_set(*items: str) -> str:
    return "shocks=[" + ", ".join(items) + "]"


def test_oracle_rate_minus_3_percent_from_one_hour_on() -> None:
    base = provider("eth_staking_only")
    item = (
        "{series: ['lst_rate:weETH'], start: 2024-06-05T05:00:00Z, "
        "end: 2024-06-05T05:00:00Z, kind: move, value: -0.03}"
    )
    shocked = provider("eth_staking_only", shocks_set(item))
    at = base.position(STEP_AT)
    before, after = base.columns["lst_rate:weETH"], shocked.columns["lst_rate:weETH"]
    assert after[:at].tolist() == before[:at].tolist()
    assert after[at:].tolist() == (before[at:] * (1 + -0.03)).tolist()
    assert np.allclose(after[at:] / before[at:], 0.97, rtol=1e-15, atol=0)
    for name in base.columns:
        if name != "lst_rate:weETH" and not name.startswith(ESTIMATES):
            np.testing.assert_array_equal(shocked.columns[name], base.columns[name])
    # the carry estimate sees the drop from its hour on, never before
    estimate = "lst_apr:weETH"
    assert shocked.columns[estimate][:at].tolist() == base.columns[estimate][:at].tolist()
    assert shocked.columns[estimate][at] < base.columns[estimate][at]
    shocked.set_clock(STEP_AT)
    assert shocked.get_data(STEP_AT)["lst_rate:weETH"] == after[at]
    (record,) = shocked.shocks_applied
    assert record["series"] == ["lst_rate:weETH"]
    assert record["hours"] == len(base.times) - at
    assert base.shocks_applied == []


def test_funding_set_for_a_window_on_every_venue() -> None:
    mode = "usdt_market_neutral_no_leverage"
    base = provider(mode, "staking.rewards_mode=base_only")
    item = (
        "{series: ['funding:*:ETH'], start: 2024-06-03T00:00:00Z, "
        "end: 2024-06-04T00:00:00Z, kind: set, value: -0.001}"
    )
    shocked = provider(mode, "staking.rewards_mode=base_only", shocks_set(item))
    window = (datetime(2024, 6, 3, tzinfo=UTC), datetime(2024, 6, 4, tzinfo=UTC))
    base.set_clock(base.times[-1])
    shocked.set_clock(shocked.times[-1])
    settled = 0
    for t in base.times:
        a, b = base.get_data(t), shocked.get_data(t)
        assert unestimated(a.values) == unestimated(b.values)
        if t < window[0]:
            assert a.values == b.values
        if window[0] <= t <= window[1] and a.funding:
            assert [r.rate_per_8h for r in b.funding] == [-0.001] * 3
            assert [(r.venue, r.base) for r in b.funding] == [(r.venue, r.base) for r in a.funding]
            settled += 1
        else:
            assert b.funding == a.funding, t
    assert settled == 4  # 06-03 00/08/16 and 06-04 00
    assert shocked.shocks_applied[0]["settlements"] == 12
    assert shocked.shocks_applied[0]["series"] == [
        "funding:binance:ETH",
        "funding:bybit:ETH",
        "funding:okx:ETH",
    ]


def test_unmatched_glob_in_a_run_is_a_config_error() -> None:
    item = (
        "{series: ['lst_rate:wstETH'], start: 2024-06-05T05:00:00Z, "
        "end: 2024-06-05T05:00:00Z, kind: move, value: -0.03}"
    )
    with pytest.raises(ConfigError) as raised:
        provider("eth_staking_only", shocks_set(item))
    assert raised.value.field == "shocks.0.series"
    assert "'lst_rate:wstETH'" in str(raised.value)
    assert "lst_rate:weETH" in str(raised.value)
