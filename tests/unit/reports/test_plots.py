"""Report figures, downsampling, pages and the comparison, on small synthetic run folders.

Each run folder is written here by hand (summary.json and the two hourly CSVs, in the layout
the results store writes), so every expected number is worked out from the inputs below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from basis_strategy.core.errors import DataError, DataFileError
from basis_strategy.core.events import COMPONENTS
from basis_strategy.reports import page
from basis_strategy.reports.build import build_report, load_run
from basis_strategy.reports.compare import build_comparison, comparison_rows
from basis_strategy.reports.metrics import CONVENTIONS
from basis_strategy.reports.plots import (
    MAX_BARS,
    Grid,
    aave_health,
    balance_sheet,
    build_plots,
    cumulative_pnl,
    delta_neutrality,
    margin_ratios,
    minmax_indices,
    pnl_components,
)

HOURS = 72  # 2024-06-01 00:00 .. 2024-06-03 23:00 UTC
START = pd.Timestamp("2024-06-01T00:00Z")
LT = 0.95


def _hedged_config() -> dict[str, Any]:
    return {
        "mode": {
            "mode": "usdt_market_neutral",
            "staking": {"lst_type": "weETH"},
            "leverage": {"target_ltv": 0.91, "ltv_warning": 0.92, "ltv_critical": 0.93},
            "hedge": {
                "margin_ratio_target": None,
                "stake_allocation": 0.4,  # m* = 0.6 / 0.4 = 1.5, excess 2 × 1.5 = 3
                "margin_ratio_warning": 0.3,
                "margin_ratio_critical": 0.2,
                "margin_ratio_excess": None,
                "delta_tolerance": 0.02,
            },
        },
        "share_class": {"name": "usdt_stable", "currency": "USDT"},
        "venues": {"binance": {"maintenance_margin_rate": 0.01}, "aave_v3": {}},
    }


def _pnl(rng: np.random.Generator, benchmark: bool) -> pd.DataFrame:
    index = pd.date_range(START, periods=HOURS, freq="h", name="timestamp")
    frame = pd.DataFrame(0.0, index=index, columns=[*COMPONENTS])
    frame["funding"] = rng.normal(2.0, 1.0, HOURS)
    frame["gas"] = -0.5
    frame.iloc[0, frame.columns.get_loc("execution_costs")] = -30.0
    frame["pnl"] = frame[list(COMPONENTS)].sum(axis=1)
    frame["equity"] = 1000.0 + frame["pnl"].cumsum()
    frame["shares"] = 1000.0
    frame["nav_per_share"] = frame["equity"] / 1000.0
    frame["net_flow"] = 0.0
    frame.iloc[0, frame.columns.get_loc("net_flow")] = 1000.0
    frame["residual"] = 0.0
    frame["benchmark_index"] = np.nan
    if benchmark:  # starts at hour 5, grows 0.1 % an hour
        frame.iloc[5:, frame.columns.get_loc("benchmark_index")] = 2.0 * 1.001 ** np.arange(67)
    frame["cumulative_pnl"] = frame["pnl"].cumsum()
    return frame


def _balance(pnl: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame({"equity": pnl["equity"]}, index=pnl.index)
    ltv = np.full(HOURS, 0.91) + rng.normal(0.0, 0.0005, HOURS)
    values = {
        "wallet:BaseToken:USDT": np.full(HOURS, 100.0),
        "binance:BaseToken:USDT": np.full(HOURS, 300.0),
        "binance:Perp:ETHUSDT": rng.normal(0.0, 5.0, HOURS),
        "aave_v3:aToken:aweETH": np.full(HOURS, 6000.0),
        "aave_v3:debtToken:debtWETH": -6000.0 * ltv,
        "wallet:BaseToken:EIGEN": np.zeros(HOURS),  # never held
    }
    for key, value in values.items():
        frame["qty:" + key] = value / 3000.0
        frame["value:" + key] = value
    frame["margin_ratio:binance"] = 1.5 + rng.normal(0.0, 0.3, HOURS)
    frame["liquidation_distance:binance"] = 1.4
    frame["delta_drift:ETH"] = np.abs(rng.normal(0.0, 0.01, HOURS))
    frame["delta_units:ETH"] = rng.normal(0.0, 0.1, HOURS)
    frame["aave_ltv"] = ltv
    frame["aave_hf"] = LT / ltv
    frame.iloc[0, frame.columns.get_loc("aave_hf")] = np.inf  # AAVE rows before any debt
    frame["margin_ratio_pre_trade:binance"] = 1.5
    return frame


def write_run(
    folder: Path,
    *,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    conventions: dict[str, str] | None = None,
    undefined: dict[str, str] | None = None,
    benchmark: bool = False,
    drop: tuple[str, ...] = (),
    seed: int = 7,
) -> Path:
    """A run folder as the results store writes it (only the files a report reads)."""
    rng = np.random.default_rng(seed)
    pnl = _pnl(rng, benchmark)
    balance = _balance(pnl, rng).drop(columns=list(drop))
    folder.mkdir(parents=True)
    pnl.to_csv(folder / "hourly_pnl.csv", float_format="%.15g")
    balance.to_csv(folder / "balance_sheet.csv", float_format="%.15g")
    config = config or _hedged_config()
    summary: dict[str, Any] = {
        "request_id": "20240604T000000Z-test-0001",
        "mode": config["mode"]["mode"],
        "share_class": config["share_class"]["name"],
        "currency": config["share_class"]["currency"],
        "start": pnl.index[0].isoformat(),
        "end": pnl.index[-1].isoformat(),
        "initial_capital": 1000.0,
        "final_equity": float(pnl["equity"].iloc[-1]),
        "apy": 0.05,
        "max_drawdown": 0.01,
        "pnl_attribution": {c: float(pnl[c].sum()) for c in COMPONENTS},
        "config": config,
    }
    if metrics is not None:
        summary["metrics"] = metrics
    if conventions is not None:
        summary["conventions"] = conventions
    if undefined is not None:
        summary["undefined"] = undefined
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def _eth_config() -> dict[str, Any]:
    config = _hedged_config()
    config["mode"] = {"mode": "eth_staking_only", "staking": {"lst_type": "wstETH"}}
    config["share_class"] = {"name": "eth_directional", "currency": "ETH"}
    return config


ETH_ONLY_DROP = (
    "margin_ratio:binance",
    "margin_ratio_pre_trade:binance",
    "liquidation_distance:binance",
    "delta_drift:ETH",
    "delta_units:ETH",
    "aave_ltv",
    "aave_hf",
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run")


def hlines(fig: Any) -> dict[str, float]:
    """{annotation text: y} of the figure's horizontal threshold lines."""
    # subplot titles are annotations too, placed on the paper; line labels sit on an axis
    labelled = [a.text for a in fig.layout.annotations if str(a.xref).endswith("domain")]
    ys = [s.y0 for s in fig.layout.shapes]
    assert len(labelled) == len(ys), (labelled, ys)
    return dict(zip(labelled, ys, strict=True))


# --- downsampling -------------------------------------------------------------------------------


def test_minmax_keeps_everything_when_short():
    assert minmax_indices(np.arange(10.0), 20).tolist() == list(range(10))


def test_minmax_keeps_first_last_and_extremes():
    rng = np.random.default_rng(1)
    values = rng.normal(size=10_000)
    values[4_321] = 50.0  # a spike
    values[777] = -50.0
    keep = minmax_indices(values, 300)
    assert len(keep) <= 300
    assert keep[0] == 0 and keep[-1] == values.size - 1
    assert {4_321, 777} <= set(keep.tolist())
    assert np.all(np.diff(keep) > 0)  # time order, no repeats
    # every bucket of the downsampler still shows its own lowest and highest value
    width = -(-values.size // ((300 - 2) // 2))
    for start in range(0, values.size, width):
        chunk = values[start : start + width]
        kept = values[keep[(keep >= start) & (keep < start + width)]]
        assert kept.min() == chunk.min() and kept.max() == chunk.max()


def test_minmax_ignores_nan():
    values = np.full(1_000, np.nan)
    values[500] = 3.0
    values[600] = -3.0
    keep = minmax_indices(values, 10)
    assert {0, 500, 600, 999} <= set(keep.tolist())


def test_grid_sums_and_means_on_calendar_days():
    start = int(pd.Timestamp("2024-06-01T20:00Z").timestamp()) // 3600
    hours = np.arange(start, start + 30, dtype=np.int64)  # 4 h on June 1, 24 on June 2, 2 on 3
    grid = Grid.over(hours, 3)
    assert grid.period_hours == 24
    assert grid.size == 3
    assert pd.Timestamp(grid.start_ms, unit="ms") == pd.Timestamp("2024-06-01")
    values = np.arange(30.0)
    np.testing.assert_allclose(grid.sums(values), [6.0, sum(range(4, 28)), 28.0 + 29.0])
    values[4] = np.nan
    np.testing.assert_allclose(grid.means(values), [1.5, sum(range(5, 28)) / 23, 28.5])


# --- figures ------------------------------------------------------------------------------------


def test_cumulative_pnl_traces(run_dir):
    run = load_run(run_dir)
    plot = cumulative_pnl(run)
    pnl, nav_return = plot.figure.data
    np.testing.assert_allclose(pnl.y, run.pnl["cumulative_pnl"], rtol=1e-6)
    np.testing.assert_allclose(nav_return.y, (run.pnl["nav_per_share"] - 1) * 100, atol=1e-4)
    first = pd.Timestamp(pnl.x[0], unit="ms", tz="UTC")
    assert first == START and len(pnl.x) == HOURS
    assert "No benchmark" in plot.note


def test_cumulative_pnl_benchmark_normalised_at_its_first_value(tmp_path):
    metrics = {"benchmark": {"name": "Ethena sUSDe (test)", "excess_return": 0.01}}
    run = load_run(write_run(tmp_path / "run", benchmark=True, metrics=metrics))
    bench = cumulative_pnl(run).figure.data[2]
    assert bench.name == "benchmark: Ethena sUSDe (test)"
    assert pd.Timestamp(bench.x[0], unit="ms", tz="UTC") == START + pd.Timedelta(hours=5)
    np.testing.assert_allclose(bench.y, (1.001 ** np.arange(67) - 1) * 100, atol=1e-5)


def test_benchmark_name_defaults_to_hold_the_lst(tmp_path):
    folder = write_run(tmp_path / "run", config=_eth_config(), benchmark=True, drop=ETH_ONLY_DROP)
    assert cumulative_pnl(load_run(folder)).figure.data[2].name == "benchmark: hold wstETH"


def test_pnl_components_bars_sum_each_period(run_dir):
    run = load_run(run_dir)
    fig = pnl_components(run).figure
    names = ["funding", "gas", "execution_costs"]  # the others are zero every hour
    bars = [t for t in fig.data if t.type == "bar"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in bars] == names and [t.name for t in lines] == names
    grid = Grid.over(run.hours, MAX_BARS)
    assert grid.period_hours == 1  # 72 hours fit in 120 bars
    funding_bars = bars[0]
    np.testing.assert_allclose(funding_bars.y, run.pnl["funding"], rtol=1e-6)
    assert funding_bars.x0 == "2024-06-01T00:00:00" and funding_bars.dx == 3_600_000
    for line in lines:  # cumulative lines end at the component's total
        assert line.y[-1] == pytest.approx(run.pnl[line.name].sum(), rel=1e-6)
    assert fig.layout.barmode == "relative"


def test_delta_plot_has_the_tolerance_line(run_dir):
    run = load_run(run_dir)
    fig = delta_neutrality(run).figure
    assert [t.name for t in fig.data] == ["ETH", "ETH units"]
    np.testing.assert_allclose(fig.data[0].y, run.balance["delta_drift:ETH"] * 100, rtol=1e-6)
    assert hlines(fig) == {"tolerance 2.00%": pytest.approx(2.0)}


def test_margin_plot_has_the_hedge_bands(run_dir):
    fig = margin_ratios(load_run(run_dir)).figure
    assert [t.name for t in fig.data] == ["binance"]
    assert hlines(fig) == {
        "critical 0.2": 0.2,
        "warning 0.3": 0.3,
        "target 1.5": pytest.approx(1.5),
        "excess 3": pytest.approx(3.0),
        "liquidation (maintenance) 0.01": 0.01,
    }


def test_aave_plot_thresholds_from_the_runs_lt(run_dir):
    run = load_run(run_dir)
    plot = aave_health(run)
    ltv, hf = plot.figure.data
    np.testing.assert_allclose(ltv.y, run.balance["aave_ltv"], rtol=1e-6)
    assert np.isnan(hf.y[0])  # the infinite HF of the first hour is a gap, not a point
    lines = hlines(plot.figure)
    assert lines["liquidation: LT 0.95"] == pytest.approx(LT)
    assert lines["liquidation: HF 1"] == 1.0
    for label, level in (("target ltv", 0.91), ("warning", 0.92), ("critical", 0.93)):
        assert lines[f"{label} {level}"] == level
        assert lines[f"{label} HF {LT / level:.4g}"] == pytest.approx(LT / level)
    assert "HF × LTV of this run" in plot.note


def test_aave_lt_from_the_config_wins(tmp_path):
    config = _hedged_config()
    config["venues"]["aave_v3"] = {"emode_liquidation_threshold": 0.97}
    plot = aave_health(load_run(write_run(tmp_path / "run", config=config)))
    assert hlines(plot.figure)["liquidation: LT 0.97"] == pytest.approx(0.97)
    assert "(config)" in plot.note


def test_balance_sheet_per_venue_and_instrument(run_dir):
    run = load_run(run_dir)
    fig = balance_sheet(run).figure
    venues = [t for t in fig.data if t.legendgroup == "venues"]
    instruments = [t for t in fig.data if t.legendgroup == "instruments"]
    assert [t.name for t in venues] == ["wallet", "binance", "aave_v3", "equity"]
    assert "wallet:BaseToken:EIGEN" not in [t.name for t in instruments]  # never held
    assert len(instruments) == 5
    binance = (
        run.balance["value:binance:BaseToken:USDT"] + run.balance["value:binance:Perp:ETHUSDT"]
    )
    np.testing.assert_allclose(venues[1].y, binance, rtol=1e-6)  # hourly grid for 72 hours
    assert all(t.stackgroup == "venues" for t in venues[:3])


def test_eth_class_run_has_no_delta_margin_or_aave_plot(tmp_path):
    folder = write_run(tmp_path / "run", config=_eth_config(), drop=ETH_ONLY_DROP)
    plots = {p.name: p for p in build_plots(load_run(folder))}
    for name in ("delta_neutrality", "margin_ratios", "aave_health"):
        assert plots[name].figure is None and plots[name].note
    index = build_report(folder).read_text(encoding="utf-8")
    assert "Not applicable to this mode" in index
    assert 'id="margin_ratios-plot"' not in index and 'id="balance_sheet-plot"' in index
    assert "Not applicable" in (folder / "plots" / "margin_ratios.html").read_text()


# --- report page --------------------------------------------------------------------------------


def test_build_report_writes_every_file(tmp_path):
    metrics = {
        "volatility": 0.0312,
        "sharpe": 1.23456,
        "max_drawdown_start": "2024-06-02T03:00:00+00:00",
        "time_under_water_hours": 17.0,
        "risk_level_share": {"normal": 0.75, "warning": 0.25},
        "worst_hour": None,
    }
    # a temporary folder name, as the results store uses before its rename
    folder = write_run(tmp_path / ".20240604-test.partial", metrics=metrics)
    index = build_report(folder)
    assert index == folder / "index.html"
    names = {p.name for p in (folder / "plots").iterdir()}
    assert names == {f"{n}.html" for n in page_names()} | {"plotly.min.js"}
    assert (folder / "plots" / "plotly.min.js").stat().st_size > 1_000_000
    text = index.read_text(encoding="utf-8")
    assert '<script charset="utf-8" src="plots/plotly.min.js"></script>' in text
    assert "cdn" not in text.lower() and "https://" not in text
    for name in page_names():
        assert f'id="{name}-plot"' in text
    for cell in ("3.1200%", "1.2346", "2024-06-02T03:00:00+00:00", ">17<", "75.0000%", "—"):
        assert cell in text, cell
    assert "risk_level_share.warning" in text
    assert build_report(folder) == index  # rebuilding in place works


def page_names() -> tuple[str, ...]:
    return (
        "cumulative_pnl",
        "pnl_components",
        "delta_neutrality",
        "margin_ratios",
        "aave_health",
        "balance_sheet",
    )


def test_format_metric_by_key():
    assert page.format_metric("apy", 0.051234) == "5.1234%"
    assert page.format_metric("excess_return", -0.02) == "-2.0000%"
    assert page.format_metric("time_under_water_hours", 1234.0) == "1,234"
    assert page.format_metric("longest_under_water_days", 67) == "67"
    assert page.format_metric("sortino", 2.5) == "2.5000"
    assert page.format_metric("fees_paid", 12345.678) == "12,345.6780"
    assert page.format_metric("worst_hour_pnl", -0.00012345678) == "-0.000123457"
    assert page.format_metric("start", "2024-01-01T00:00:00Z") == "2024-01-01T00:00:00Z"
    assert page.format_metric("anything", None) == "—"


def test_report_labels_each_figure_with_its_convention_and_says_why_one_is_null(tmp_path):
    metrics = {"apy": None, "sharpe": None, "max_drawdown": 0.01, "worst_day": {"return": -0.02}}
    undefined = {
        "apy": "one hour of NAV per share: no time to annualise over",
        "metrics.apy": "one hour of NAV per share: no time to annualise over",
        "metrics.sharpe": "every daily return is the same: no deviation",
    }
    folder = write_run(
        tmp_path / "run", metrics=metrics, conventions=CONVENTIONS, undefined=undefined
    )
    summary = json.loads((folder / "summary.json").read_text())
    summary["apy"] = None
    (folder / "summary.json").write_text(json.dumps(summary))
    text = build_report(folder).read_text(encoding="utf-8")
    daily = "daily NAV per share at 00:00 UTC"
    assert f"<th>max drawdown ({daily})</th>" in text  # the summary table
    assert '<th>apy (end to end)</th><td class="num">—</td>' in text
    assert f'<th>sharpe</th><td class="num">—</td><td>{daily}, 365 periods/yr</td>' in text
    assert f'<th>worst_day.return</th><td class="num">-2.0000%</td><td>{daily}</td>' in text
    assert "End of day: the NAV per share recorded at the 00:00 UTC hour" in text
    assert "<code>metrics.sharpe</code>: every daily return is the same: no deviation" in text


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_summary_that_is_not_strict_json_is_refused(tmp_path, token):
    folder = write_run(tmp_path / "run")
    text = (folder / "summary.json").read_text().replace('"apy": 0.05', f'"apy": {token}')
    (folder / "summary.json").write_text(text)
    with pytest.raises(DataFileError, match=rf"summary\.json: not strict JSON: holds {token}"):
        build_report(folder)
    assert not (folder / "index.html").exists()


def test_missing_metrics_block_is_not_an_error(run_dir):
    assert "No metrics block in summary.json" in build_report(run_dir).read_text()


# --- errors -------------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope"))):
        build_report(tmp_path / "nope")


def test_not_a_run_folder(tmp_path):
    with pytest.raises(DataFileError, match=r"summary\.json: not found: not a run folder"):
        build_report(tmp_path)


def test_missing_column_is_named(tmp_path):
    folder = write_run(tmp_path / "run")
    frame = pd.read_csv(folder / "hourly_pnl.csv", index_col=0).drop(columns=["nav_per_share"])
    frame.to_csv(folder / "hourly_pnl.csv")
    with pytest.raises(DataFileError, match=r"hourly_pnl.csv: missing column\(s\) \['nav_per"):
        build_report(folder)
    assert not (folder / "index.html").exists()


def test_bad_timestamp_is_named(tmp_path):
    folder = write_run(tmp_path / "run")
    text = (
        (folder / "balance_sheet.csv").read_text().replace("2024-06-01 05:00", "2024-06-01 05:30")
    )
    (folder / "balance_sheet.csv").write_text(text)
    with pytest.raises(DataFileError, match=r"balance_sheet\.csv: timestamps differ"):
        build_report(folder)


# --- comparison ---------------------------------------------------------------------------------


def test_comparison_has_one_column_per_run(tmp_path):
    first = write_run(tmp_path / "a", metrics={"sharpe": 1.0}, conventions=CONVENTIONS)
    second = write_run(tmp_path / "b", config=_eth_config(), drop=ETH_ONLY_DROP, seed=3)
    index = build_comparison([first, second], tmp_path / "cmp")
    assert (tmp_path / "cmp" / "plots" / "plotly.min.js").is_file()
    rows = comparison_rows([load_run(first).summary, load_run(second).summary])
    assert all(len(row) == 4 for row in rows)
    by_field = {row[0]: row[1:] for row in rows}
    assert by_field["mode"] == ["usdt_market_neutral", "eth_staking_only", ""]
    assert by_field["currency"] == ["USDT", "ETH", ""]
    # only the first run has metrics and conventions (the convention is the last column)
    assert by_field["sharpe"] == ["1.0000", "—", "daily NAV per share at 00:00 UTC, 365 periods/yr"]
    assert by_field["max_drawdown"] == ["1.0000%", "1.0000%", "daily NAV per share at 00:00 UTC"]
    assert by_field["apy"][2] == "end to end"
    text = index.read_text(encoding="utf-8")
    header = re.search(r"<tr>(<th>.*?)</tr>", text)
    assert header is not None
    assert header.group(1).count("<th>") == 4  # field + one per run + convention
    assert text.count("<tr>") == len(rows) + 1
    assert 'id="comparison-plot"' in text


def test_comparison_checks_every_folder_before_writing(tmp_path):
    first = write_run(tmp_path / "a")
    with pytest.raises(DataError, match="nope"):
        build_comparison([first, tmp_path / "nope"], tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_values_float32_cannot_hold_are_kept_in_float64() -> None:
    from basis_strategy.reports.plots import compact

    small = np.array([1.5, -2.0, np.nan])
    assert compact(small).dtype == np.float32
    huge = np.array([1e300, 2.0])
    kept = compact(huge)  # no overflow warning (warnings are errors in this suite)
    assert kept.dtype == np.float64 and kept[0] == 1e300
