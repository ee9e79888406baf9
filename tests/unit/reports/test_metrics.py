"""Run metrics (issue 4) against hand-computed values on small tables, and on a real short run.

The small tables have the columns the results store writes (`ResultsStore.hourly_pnl`,
`balance_sheet`, `event_frame`); only the columns a metric reads are filled.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.components.results_store import EVENT_COLUMNS, PNL_COLUMNS, ResultsStore
from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.errors import DataError
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.reports.metrics import CONVENTIONS, RunMetrics, run_metrics
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA = Path(
    os.environ.get("BASIS_DATA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "data"
)
T0 = datetime(2024, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SQRT_YEAR = math.sqrt(8760)
BANDS = [
    "hedge.margin_ratio_warning=0.30",
    "hedge.margin_ratio_critical=0.20",
    "hedge.delta_tolerance=0.01",
    "leverage.ltv_warning=0.92",
    "leverage.ltv_critical=0.93",
]


def iso(hour: int) -> str:
    return (T0 + hour * HOUR).isoformat()


def config(mode: str = "usdt_market_neutral", *sets: str) -> RunConfig:
    """A mode's config; usdt_market_neutral with its risk bands spelled out (BANDS)."""
    bands = BANDS if mode == "usdt_market_neutral" else []
    return load_run_config(mode, [*bands, *sets], env={})


def hourly_frame(nav: list[float], **columns: list[float]) -> pd.DataFrame:
    """An hourly_pnl frame: 1000 shares at `nav`; other columns 0 unless given."""
    n = len(nav)
    frame = pd.DataFrame(
        0.0, index=pd.DatetimeIndex([T0 + i * HOUR for i in range(n)]), columns=list(PNL_COLUMNS)
    )
    frame["shares"] = 1000.0
    frame["nav_per_share"] = nav
    frame["equity"] = [1000.0 * v for v in nav]
    frame["benchmark_index"] = math.nan
    for name, values in columns.items():
        frame[name] = values
    frame["cumulative_pnl"] = frame["pnl"].cumsum()
    return frame


def event_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """An event_log frame: every EVENT_COLUMNS column, blanks where a row does not say."""
    defaults: dict[str, object] = {c: "" for c in EVENT_COLUMNS}
    defaults.update(seq=0, bundle_id=0, amount=0.0, price=math.nan, pnl_amount=0.0)
    frame = pd.DataFrame([{**defaults, **row} for row in rows], columns=list(EVENT_COLUMNS))
    frame["seq"] = range(1, len(frame) + 1)
    return frame


def metrics_of(
    hourly: pd.DataFrame, balance: pd.DataFrame, events: pd.DataFrame, cfg: RunConfig
) -> dict[str, object]:
    return run_metrics(hourly, balance, events, cfg).values


def marked(hour: int, marks: dict[str, float]) -> dict[str, object]:
    return {"timestamp": iso(hour), "event_type": "EquityMarked", "marks": json.dumps(marks)}


NO_EVENTS = event_frame([])
NO_BALANCE = pd.DataFrame(index=range(6))
SIX = [1.0, 1.02, 0.99, 0.97, 1.01, 1.03]  # six hours of NAV per share


# --- funding, fees, slippage, LST discount, gas ------------------------------------------------


def cost_events() -> pd.DataFrame:
    return event_frame(
        [
            # 4 units of cost in the leg's asset, worth 2 share-class units each
            {
                "timestamp": iso(0),
                "event_type": "Swapped",
                "pnl_component": "execution_costs",
                "pnl_amount": -8.0,
                "note": "entry_full:deploy;fee=2;slippage=1;discount=1",
            },
            # a premium: the discount is a gain, fee + slippage − 0.5 = 1.5 units worth 3
            {
                "timestamp": iso(1),
                "event_type": "Swapped",
                "pnl_component": "execution_costs",
                "pnl_amount": -3.0,
                "note": "fee=1;slippage=1;discount=-0.5",
            },
            # no breakdown: a fee
            {
                "timestamp": iso(2),
                "event_type": "WithdrawalSent",
                "pnl_component": "execution_costs",
                "pnl_amount": -3.0,
                "note": "exit_full:withdraw",
            },
            # not an execution cost: ignored by the split
            {
                "timestamp": iso(2),
                "event_type": "GasPaid:dex_swap",
                "pnl_component": "gas",
                "pnl_amount": -7.0,
                "note": "fee=7;slippage=0;discount=0",
            },
        ]
    )


def test_fee_slippage_and_discount_split_of_three_events() -> None:
    hourly = hourly_frame(
        [1.0, 1.0, 1.0],
        funding=[0.0, 2.5, -0.5],
        gas=[-7.0, 0.0, -1.0],
        execution_costs=[-8.0, -3.0, -3.0],
    )
    metrics = metrics_of(hourly, NO_BALANCE, cost_events(), config())
    assert metrics["fees_paid"] == pytest.approx(4.0 + 2.0 + 3.0, rel=1e-15)
    assert metrics["slippage_paid"] == pytest.approx(2.0 + 2.0, rel=1e-15)
    assert metrics["lst_discount_paid"] == pytest.approx(2.0 - 1.0, rel=1e-15)
    assert metrics["execution_costs_paid"] == 14.0
    assert metrics["gas_paid"] == 8.0
    assert metrics["funding_received"] == 2.0


# --- turnover ------------------------------------------------------------------------------------


def usdt_trades() -> pd.DataFrame:
    perp = "binance:Perp:ETHUSDT"
    return event_frame(
        [
            # hour 0: buy ETH on the DEX (the ETH leg is valued at its hour-end mark) and short
            {"timestamp": iso(0), "event_type": "Swapped", "instrument": "wallet:BaseToken:USDT",
             "amount": -1000.0, "price": 1.0},
            {"timestamp": iso(0), "event_type": "Swapped", "instrument": "wallet:BaseToken:ETH",
             "amount": 0.3, "price": 3300.0},
            {"timestamp": iso(0), "event_type": "PerpTraded", "instrument": perp,
             "amount": -0.3, "price": 3305.0},
            marked(0, {"wallet:BaseToken:USDT": 1.0, "wallet:BaseToken:ETH": 3310.0,
                       perp: 3312.0, "price:USDT": 1.0}),
            # hour 1: EIGEN sold out (not held: its USD price), spot trades on two CEXs
            {"timestamp": iso(1), "event_type": "Swapped", "instrument": "wallet:BaseToken:EIGEN",
             "amount": -100.0, "price": 3.0},
            {"timestamp": iso(1), "event_type": "Swapped", "instrument": "wallet:BaseToken:USDT",
             "amount": 299.0, "price": 1.0},
            {"timestamp": iso(1), "event_type": "SpotBought",
             "instrument": "binance:BaseToken:USDT", "amount": -500.0, "price": 3300.0},
            {"timestamp": iso(1), "event_type": "SpotBought",
             "instrument": "binance:BaseToken:ETH", "amount": 0.15, "price": 3300.0},
            # a USDT leg not held carries the base price: it is worth 1 a unit, not 3300
            {"timestamp": iso(1), "event_type": "SpotSold", "instrument": "bybit:BaseToken:ETH",
             "amount": -0.06, "price": 3300.0},
            {"timestamp": iso(1), "event_type": "SpotSold", "instrument": "bybit:BaseToken:USDT",
             "amount": 197.0, "price": 3300.0},
            # a perp closed out (no mark, no price:USDT at the hour's end): its fill price
            {"timestamp": iso(1), "event_type": "PerpTraded", "instrument": perp,
             "amount": 0.3, "price": 3290.0},
            marked(1, {"wallet:BaseToken:USDT": 1.0, "binance:BaseToken:USDT": 1.0}),
        ]
    )  # fmt: skip


def test_turnover_on_a_tiny_usdt_event_log() -> None:
    notional = (
        (1000.0 + 0.3 * 3310.0) / 2  # swap: both legs, halved
        + 0.3 * 3312.0 * 1.0  # perp at its mark × price:USDT
        + (100 * 3.0 + 299.0) / 2
        + (500.0 + 0.15 * 3300.0) / 2
        + (0.06 * 3300.0 + 197.0) / 2
        + 0.3 * 3290.0
    )
    assert notional == pytest.approx(3971.6, rel=1e-12)
    hourly = hourly_frame([1.0, 1.0, 1.0], equity=[10_000.0] * 3)  # 2 hours
    metrics = metrics_of(hourly, NO_BALANCE, usdt_trades(), config())
    assert metrics["turnover_annualised"] == pytest.approx(notional / 10_000 / (2 / 8760))


def eth_trades(case: str) -> pd.DataFrame:
    """EIGEN sold for 0.0999 ETH; or for 0.0951 weETH (ρ 1.05), which is then held."""
    eigen = {
        "timestamp": iso(1),
        "event_type": "Swapped",
        "instrument": "wallet:BaseToken:EIGEN",
        "amount": -100.0,
        "price": 3.0,
    }
    if case == "weETH held":
        bought = {
            "timestamp": iso(1),
            "event_type": "Swapped",
            "instrument": "wallet:BaseToken:weETH",
            "amount": 0.0951,
            "price": 3150.0,
        }
        marks = {"wallet:BaseToken:weETH": 1.05}
    else:
        bought = {
            "timestamp": iso(1),
            "event_type": "Swapped",
            "instrument": "wallet:BaseToken:ETH",
            "amount": 0.0999,
            "price": 3000.0,
        }
        marks = (
            {"wallet:BaseToken:ETH": 1.0} if case == "ETH held" else {"aave_v3:aToken:aweETH": 1.05}
        )
    return event_frame([eigen, bought, marked(1, marks)])  # fmt: skip


@pytest.mark.parametrize(
    ("case", "received"),
    [("ETH held", 0.0999), ("ETH not held", 0.0999), ("weETH held", 0.0951 * 1.05)],
)
def test_turnover_in_the_eth_class_divides_usd_by_the_hours_eth_price(
    case: str, received: float
) -> None:
    # EIGEN is not held: 100 × $3 / $3000 = 0.1 ETH. $3000: the ETH leg's price, or the
    # weETH leg's $3150 over its mark of 1.05 ETH
    hourly = hourly_frame([1.0, 1.0, 1.0], equity=[2.0] * 3)  # 2 ETH of equity
    metrics = metrics_of(hourly, NO_BALANCE, eth_trades(case), config("eth_leveraged"))
    notional = (0.1 + received) / 2
    assert metrics["turnover_annualised"] == pytest.approx(notional / 2.0 / (2 / 8760))


def test_eth_class_trade_without_any_eth_price_is_a_data_error() -> None:
    events = event_frame(
        [
            {"timestamp": iso(1), "event_type": "Swapped", "instrument": "wallet:BaseToken:EIGEN",
             "amount": -100.0, "price": 3.0},
            marked(1, {"aave_v3:aToken:aweETH": 1.05}),
        ]
    )  # fmt: skip
    with pytest.raises(DataError, match=r"cannot value wallet:BaseToken:EIGEN \(seq 1\)"):
        metrics_of(hourly_frame([1.0, 1.0]), NO_BALANCE, events, config("eth_leveraged"))


def test_turnover_is_none_for_a_one_hour_run() -> None:
    metrics = metrics_of(hourly_frame([1.0]), NO_BALANCE, usdt_trades(), config())
    assert metrics["turnover_annualised"] is None


# --- risk levels ---------------------------------------------------------------------------------


def test_risk_levels_on_a_five_row_balance_frame() -> None:
    nan = math.nan
    balance = pd.DataFrame(
        {
            "margin_ratio:binance": [0.5, 0.5, 0.5, 0.5, 0.30],
            "margin_ratio_pre_trade:binance": [0.5, 0.5, 0.15, 0.5, 0.5],
            "margin_ratio:bybit": [nan, 0.25, 0.5, 0.5, 0.5],
            "delta_drift:ETH": [0.001, 0.001, 0.02, 0.001, 0.001],
            "aave_ltv": [0.91, 0.91, 0.91, 0.92, 0.935],
            "aave_hf": [1.04, 1.04, 1.04, 1.03, 1.01],
        }
    )
    # 0 ok; 1 bybit 0.25 <= 0.30 warning; 2 pre-trade 0.15 <= 0.20 critical (and drift);
    # 3 LTV 0.92 >= 0.92 warning; 4 LTV 0.935 critical (and binance 0.30: warning)
    metrics = metrics_of(hourly_frame([1.0] * 5), balance, NO_EVENTS, config())
    assert metrics["risk_level_shares"] == {"ok": 0.2, "warning": 0.4, "critical": 0.4}


def test_drift_warning_hf_below_one_and_the_boundaries() -> None:
    balance = pd.DataFrame(
        {
            "margin_ratio:okx": [0.2, 0.3000001, 0.5, 0.5],
            "delta_drift:ETH": [0.0, 0.0, 0.0100001, 0.01],
            "aave_hf_pre_trade": [2.0, 2.0, 2.0, 0.99],
        }
    )
    # 0.2 is critical (<=); 0.3000001 ok; drift above tolerance warns; HF < 1 is critical
    metrics = metrics_of(hourly_frame([1.0] * 4), balance, NO_EVENTS, config())
    assert metrics["risk_level_shares"] == {"ok": 0.25, "warning": 0.25, "critical": 0.5}


def test_modes_without_hedge_or_leverage_ignore_those_columns() -> None:
    balance = pd.DataFrame({"delta_drift:ETH": [0.5, 0.0], "margin_ratio:binance": [0.1, 0.1]})
    for mode in ("pure_lending", "eth_staking_only"):
        metrics = metrics_of(hourly_frame([1.0, 1.0]), balance, NO_EVENTS, config(mode))
        assert metrics["risk_level_shares"] == {"ok": 1.0, "warning": 0.0, "critical": 0.0}


# --- benchmark -------------------------------------------------------------------------------


def test_benchmark_over_the_common_window() -> None:
    hourly = hourly_frame(
        [0.99, 1.0, 1.001, 1.002, 1.004],
        benchmark_index=[math.nan, 1.0, 1.001, 1.0015, 1.002],
    )
    metrics = metrics_of(hourly, NO_BALANCE, NO_EVENTS, config())
    benchmark = metrics["benchmark"]
    assert isinstance(benchmark, dict)
    bench_apy = 1.002 ** (8760 / 3) - 1
    run_apy = (1.004 / 1.0) ** (8760 / 3) - 1  # from the NAV at the window's first hour
    assert benchmark["name"] == "Ethena sUSDe"
    assert (benchmark["start"], benchmark["end"]) == (iso(1), iso(4))
    assert benchmark["apy"] == pytest.approx(bench_apy, rel=1e-12)
    assert benchmark["run_apy"] == pytest.approx(run_apy, rel=1e-12)
    assert benchmark["excess_apy"] == pytest.approx(run_apy - bench_apy, rel=1e-12)


def test_benchmark_from_the_first_hour_uses_the_issue_price_like_the_summary() -> None:
    nav = [0.99, 1.0, 1.01]
    hourly = hourly_frame(nav, benchmark_index=[1.04, 1.041, 1.042])  # an LST rate
    metrics = metrics_of(hourly, NO_BALANCE, NO_EVENTS, config("eth_staking_only"))
    benchmark = metrics["benchmark"]
    assert isinstance(benchmark, dict)
    assert benchmark["name"] == "hold weETH"
    assert benchmark["run_apy"] == pytest.approx(metrics["apy"], rel=1e-15)
    assert benchmark["run_apy"] == pytest.approx(1.01 ** (8760 / 2) - 1, rel=1e-12)
    assert benchmark["apy"] == pytest.approx((1.042 / 1.04) ** (8760 / 2) - 1, rel=1e-12)


def test_no_benchmark_values_give_none_with_the_reason() -> None:
    result = run_metrics(hourly_frame(SIX), NO_BALANCE, NO_EVENTS, config())
    assert result.values["benchmark"] == {
        "name": "Ethena sUSDe",
        "start": None,
        "end": None,
        "apy": None,
        "run_apy": None,
        "excess_apy": None,
    }
    fields = ("start", "end", "apy", "run_apy", "excess_apy")
    assert {k: v for k, v in result.undefined.items() if k.startswith("benchmark.")} == {
        f"benchmark.{k}": "no benchmark values in this run" for k in fields
    }


def test_benchmark_ends_at_the_redemption_price_like_the_apy() -> None:
    # 1000 shares; at hour 3 the last are redeemed: 1000 × 1.01 paid out, nothing left
    hourly = hourly_frame(
        [1.0, 1.005, 1.01, math.nan, math.nan],
        shares=[1000.0, 1000.0, 1000.0, 0.0, 0.0],
        equity=[1000.0, 1005.0, 1010.0, 0.0, 0.0],
        net_flow=[1000.0, 0.0, 0.0, -1010.0, 0.0],
        benchmark_index=[1.0, 1.001, 1.002, 1.003, 1.004],
    )
    metrics = metrics_of(hourly, NO_BALANCE, NO_EVENTS, config())
    benchmark = metrics["benchmark"]
    assert isinstance(benchmark, dict)
    assert (benchmark["start"], benchmark["end"]) == (iso(0), iso(3))
    assert benchmark["run_apy"] == metrics["apy"]
    assert benchmark["run_apy"] == pytest.approx(1.01 ** (8760 / 3) - 1, rel=1e-12)
    assert benchmark["apy"] == pytest.approx(1.003 ** (8760 / 3) - 1, rel=1e-12)


def test_an_empty_hourly_table_is_a_data_error() -> None:
    with pytest.raises(DataError, match="hourly_pnl: no rows"):
        metrics_of(hourly_frame([]), NO_BALANCE, NO_EVENTS, config())


# --- a real short run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, RunConfig, dict[str, object]]:
    cfg = load_run_config(
        "usdt_market_neutral",
        ["start=2024-06-01T00:00:00Z", "end=2024-06-15T00:00:00Z"],
        env={},
    )
    data = HistoricalDataProvider(cfg, DATA)
    engine = EventDrivenStrategyEngine(cfg, data, build_simulated_venues(cfg, data.aave_risk))
    results = engine.run()
    hourly, balance = results.hourly_pnl(), results.balance_sheet()
    events = ResultsStore.event_frame(engine.parts.logger.events)
    summary = results.summary("r", results.frames(engine.parts.logger.events), {})
    return hourly, balance, events, cfg, summary


def test_real_short_run_metrics_are_finite_and_consistent(
    real_run: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, RunConfig, dict[str, object]],
) -> None:
    hourly, balance, events, cfg, summary = real_run
    result = run_metrics(hourly, balance, events, cfg)
    metrics = result.values
    json.dumps(metrics, allow_nan=False)
    assert set(result.undefined) == nulls(metrics)
    costs = metrics["fees_paid"], metrics["slippage_paid"], metrics["lst_discount_paid"]
    assert all(isinstance(c, float) and c >= 0.0 for c in costs)
    assert metrics["execution_costs_paid"] > 0.0
    assert sum(costs) == pytest.approx(metrics["execution_costs_paid"], rel=1e-9)
    assert metrics["gas_paid"] == -hourly["gas"].sum()
    assert metrics["funding_received"] == hourly["funding"].sum()
    assert metrics["apy"] == pytest.approx(summary["apy"], rel=1e-12)
    assert metrics["max_drawdown"] == pytest.approx(summary["max_drawdown"], rel=1e-12)
    for key in ("annualised_volatility", "sharpe", "sortino", "turnover_annualised"):
        value = metrics[key]
        assert isinstance(value, float) and math.isfinite(value), key
    assert metrics["turnover_annualised"] > 0.0
    shares = metrics["risk_level_shares"]
    assert isinstance(shares, dict) and sum(shares.values()) == pytest.approx(1.0, rel=1e-12)
    benchmark = metrics["benchmark"]
    assert isinstance(benchmark, dict)
    assert benchmark["start"] == "2024-06-01T00:00:00+00:00"
    assert benchmark["end"] == "2024-06-15T00:00:00+00:00"
    assert 0.0 < benchmark["apy"] < 1.0
    assert benchmark["run_apy"] == pytest.approx(metrics["apy"], rel=1e-12)


def nulls(value: object, path: str = "") -> set[str]:
    """Dotted paths of the None values in nested dicts."""
    if value is None:
        return {path}
    if isinstance(value, dict):
        return set().union(*(nulls(v, f"{path}.{k}" if path else k) for k, v in value.items()))
    return set()


@pytest.mark.parametrize("rows", [1, 2, 30, 60])
def test_every_none_figure_has_a_reason_and_every_figure_a_convention(rows: int) -> None:
    nav = [1.0 + 0.001 * (i % 7) for i in range(rows)]
    result = run_metrics(hourly_frame(nav), NO_BALANCE, NO_EVENTS, config())
    assert isinstance(result, RunMetrics)
    assert set(result.undefined) == nulls(result.values)
    assert all(result.undefined.values())
    assert set(result.values) <= set(CONVENTIONS)
