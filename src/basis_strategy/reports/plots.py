"""Plotly figures of one run folder (issue 4): P&L, attribution, delta, margin, AAVE, book.

Every builder takes a `RunData` (the run's summary and hourly frames, read by `build.py`) and
returns a `Plot`: a figure, or no figure and the reason the plot does not apply to the mode.
A plot appears whenever the run has its columns, so runs of any mode get the panels they can.

Figures stay light (the report page must stay under 5 MB with plotly.min.js): numbers are
base64 float32 arrays; level and risk series keep each bucket's first, last, minimum and
maximum hour (`minmax_indices`); attribution and the balance sheet are aggregated on a
uniform time grid (`Grid`) drawn with `x0`/`dx`, so they carry no timestamp arrays.
Hourly detail stays in the CSVs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from basis_strategy.core.events import COMPONENTS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOUR_MS = 3_600_000
MAX_LINE_POINTS = 300  # per min/max-downsampled trace
MAX_GRID_BUCKETS = 300  # uniform grid of the balance sheet and cumulative attribution
MAX_BARS = 120  # attribution bars
PERIOD_HOURS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 168, 336, 720)
DEFAULT_EMODE_LT = 0.95
PLOT_NAMES = (
    "cumulative_pnl",
    "pnl_components",
    "delta_neutrality",
    "margin_ratios",
    "aave_health",
    "balance_sheet",
)
COLOURS = {
    "target": "#2ca02c",
    "warning": "#ff7f0e",
    "critical": "#d62728",
    "liquidation": "#000000",
    "excess": "#1f77b4",
    "tolerance": "#d62728",
}
_COLOURS_TEXT = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#393b79 #637939 #8c6d31 #843c39 #7b4173 #3182bd #e6550d #31a354"
)
PALETTE = tuple(_COLOURS_TEXT.split())
LAYOUT: dict[str, Any] = {
    "template": "none",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "margin": {"l": 70, "r": 30, "t": 60, "b": 40},
    "hovermode": "x",
    "legend": {"orientation": "h", "y": -0.12},
}
AXIS: dict[str, Any] = {"gridcolor": "#e6e6e6", "zerolinecolor": "#999999"}


@dataclass(frozen=True)
class RunData:
    """What a report reads from a run folder: summary.json and the two hourly frames.

    `hours`: each row's timestamp in whole hours since 1970-01-01 UTC (shared by both frames).
    """

    summary: Mapping[str, Any]
    pnl: pd.DataFrame
    balance: pd.DataFrame
    hours: IntArray

    @property
    def currency(self) -> str:
        return str(self.summary["currency"])

    def section(self, name: str) -> Mapping[str, Any] | None:
        """A section of the resolved mode config (`hedge`, `leverage`, ...), None when absent."""
        value = self.summary["config"]["mode"].get(name)
        return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class Plot:
    """One report panel: `figure` is None when the plot does not apply (`note` says why)."""

    name: str
    title: str
    figure: go.Figure | None
    note: str = ""


# --- downsampling -----------------------------------------------------------------------------


def minmax_indices(values: npt.ArrayLike, max_points: int = MAX_LINE_POINTS) -> IntArray:
    """Indices of the points to draw: all of them when there are at most `max_points`, else the
    first and last point and each equal-width bucket's minimum and maximum, in time order.

    NaN never wins a bucket; an all-NaN bucket contributes its first point (a gap).
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, was {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = (max_points - 2) // 2
    width = -(-n // buckets)
    padded = np.full(buckets * width, np.nan)
    padded[:n] = y
    rows = padded.reshape(buckets, width)
    finite = np.isfinite(rows)
    lows = np.where(finite, rows, np.inf).argmin(axis=1)
    highs = np.where(finite, rows, -np.inf).argmax(axis=1)
    base = np.arange(buckets) * width
    keep = np.concatenate(([0, n - 1], base + lows, base + highs))
    return np.unique(keep[keep < n]).astype(np.int64)


@dataclass(frozen=True)
class Grid:
    """A uniform time grid of `period_hours` buckets aligned on UTC (days start at 00:00).

    `codes[i]`: the bucket of hour i; bucket k starts at `start_ms + k * period_hours` hours.
    """

    codes: IntArray
    start_ms: float
    period_hours: int
    size: int

    @classmethod
    def over(cls, hours: IntArray, max_buckets: int) -> Grid:
        """The finest period of PERIOD_HOURS that keeps at most `max_buckets` buckets."""
        span = int(hours[-1] - hours[0]) + 1
        period = next(
            (p for p in PERIOD_HOURS if span // p + 2 <= max_buckets),
            -(-span // max(max_buckets - 2, 1)),
        )
        first = int(hours[0]) - int(hours[0]) % period
        codes = ((hours - first) // period).astype(np.int64)
        return cls(codes, float(first * HOUR_MS), period, int(codes[-1]) + 1)

    @property
    def dx_ms(self) -> int:
        return self.period_hours * HOUR_MS

    def sums(self, values: npt.ArrayLike) -> FloatArray:
        """Sum per bucket (NaN ignored; an empty bucket sums to 0)."""
        y = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
        return np.bincount(self.codes, weights=y, minlength=self.size).astype(np.float64)

    def means(self, values: npt.ArrayLike) -> FloatArray:
        """Mean per bucket over its finite values; NaN where it has none."""
        y = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(y)
        total = np.bincount(self.codes, weights=np.where(ok, y, 0.0), minlength=self.size)
        count = np.bincount(self.codes, weights=ok.astype(np.float64), minlength=self.size)
        out = np.full(self.size, np.nan)
        np.divide(total, count, out=out, where=count > 0)
        return out

    def label(self) -> str:
        p = self.period_hours
        return {1: "hourly", 24: "daily", 168: "weekly"}.get(p, f"{p}-hour")


def finite_values(values: pd.Series) -> FloatArray:
    y = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(y), y, np.nan)


FLOAT32_SAFE = 1e30


def compact(values: FloatArray) -> FloatArray:
    """float32 for the page's size (7 digits are plenty on a plot), float64 for values float32
    cannot hold."""
    finite = values[np.isfinite(values)]
    if finite.size and np.abs(finite).max() >= FLOAT32_SAFE:
        return values.astype(np.float64)
    return values.astype(np.float32)


def line(
    hours: IntArray, values: FloatArray, name: str, max_points: int = MAX_LINE_POINTS, **kw: Any
) -> go.Scatter:
    """A min/max-downsampled line at its true hours (x in ms since epoch, float32 y)."""
    keep = minmax_indices(values, max_points)
    x = hours[keep].astype(np.float64) * HOUR_MS
    return go.Scatter(x=x, y=compact(values[keep]), name=name, mode="lines", **kw)


def grid_trace(
    grid: Grid, values: FloatArray, name: str, *, offset_hours: float = 0.0, bar: bool = False
) -> go.Scatter | go.Bar:
    """A trace on the grid: no x array, only `x0` and `dx` (bars span their bucket)."""
    x0 = pd.Timestamp(grid.start_ms + offset_hours * HOUR_MS, unit="ms").isoformat()
    y = compact(values)
    if bar:
        return go.Bar(
            x0=x0, dx=grid.dx_ms, y=y, name=name, xperiod=grid.dx_ms, xperiodalignment="start"
        )
    return go.Scatter(x0=x0, dx=grid.dx_ms, y=y, name=name, mode="lines")


def subplots_figure(rows: int, titles: tuple[str, ...], title: str, height: int) -> go.Figure:
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=titles
    )
    fig.update_layout(LAYOUT, title={"text": title}, height=height)
    fig.update_xaxes(AXIS, type="date")
    fig.update_yaxes(AXIS)
    return fig


def threshold(fig: go.Figure, y: float, label: str, colour: str, row: int = 1) -> None:
    """A dashed horizontal threshold line with its label on the right."""
    fig.add_hline(
        y=y,
        row=row,
        col=1,
        line={"dash": "dash", "color": colour, "width": 1},
        annotation_text=label,
        annotation_position="top right",
        annotation_font={"size": 10, "color": colour},
    )


def columns(frame: pd.DataFrame, prefix: str) -> dict[str, str]:
    """`{suffix: column}` of the columns named `prefix + suffix`, in file order."""
    return {c[len(prefix) :]: c for c in frame.columns if c.startswith(prefix)}


# --- P&L ----------------------------------------------------------------------------------


def benchmark_name(run: RunData) -> str:
    """`metrics.benchmark.name` when present; else sUSDe (USDT class) or hold the LST."""
    bench = (run.summary.get("metrics") or {}).get("benchmark")
    if isinstance(bench, Mapping) and bench.get("name"):
        return str(bench["name"])
    share_class = run.summary.get("share_class") or run.summary["config"]["share_class"]["name"]
    if share_class == "eth_directional":
        staking = run.section("staking")
        return f"hold {staking['lst_type'] if staking else 'LST'}"
    return "Ethena sUSDe"


def cumulative_pnl(run: RunData) -> Plot:
    """Cumulative P&L (share-class units) and NAV-per-share return with the benchmark (%)."""
    title = "Cumulative P&L and return"
    fig = subplots_figure(2, (f"cumulative P&L ({run.currency})", "return (%)"), title, 620)
    fig.add_trace(line(run.hours, finite_values(run.pnl["cumulative_pnl"]), "cumulative P&L"), 1, 1)
    nav_return = (finite_values(run.pnl["nav_per_share"]) - 1.0) * 100.0
    fig.add_trace(line(run.hours, nav_return, "NAV per share (issued at 1.0)"), 2, 1)
    note = "NAV return from the issue price 1.0, so entry costs count."
    bench = finite_values(run.pnl["benchmark_index"])
    valid = np.flatnonzero(np.isfinite(bench) & (bench > 0))
    if valid.size >= 2:
        first = valid[0]
        rel = np.full(bench.size, np.nan)
        rel[first:] = (bench[first:] / bench[first] - 1.0) * 100.0
        name = f"benchmark: {benchmark_name(run)}"
        trace = line(run.hours[first:], rel[first:], name, line={"dash": "dot"})
        fig.add_trace(trace, 2, 1)
        stamp = pd.Timestamp(int(run.hours[first]) * HOUR_MS, unit="ms")
        note += f" Benchmark normalised at its first value ({stamp:%Y-%m-%d %H:00} UTC)."
    else:
        note += " No benchmark series in this run (benchmark_index is empty)."
    fig.update_yaxes(ticksuffix=" %", row=2, col=1)
    return Plot("cumulative_pnl", title, fig, note)


def active_components(run: RunData) -> list[str]:
    """Attribution components with any non-zero hour, in COMPONENTS order."""
    return [c for c in COMPONENTS if c in run.pnl and bool((run.pnl[c].fillna(0.0) != 0).any())]


def pnl_components(run: RunData) -> Plot:
    """Attribution per component: stacked bars per period and cumulative lines."""
    title = "P&L attribution"
    names = active_components(run)
    if not names:
        return Plot("pnl_components", title, None, "no component has any P&L in this run")
    bars = Grid.over(run.hours, MAX_BARS)
    grid = Grid.over(run.hours, MAX_GRID_BUCKETS)
    titles = (
        f"{bars.label()} sums ({run.currency})",
        f"cumulative, {grid.label()} ({run.currency})",
    )
    fig = subplots_figure(2, titles, title, 680)
    for name in names:
        values = finite_values(run.pnl[name])
        colour = PALETTE[COMPONENTS.index(name) % len(PALETTE)]
        bar = grid_trace(bars, bars.sums(values), name, bar=True)
        bar.update(legendgroup=name, marker_color=colour)
        fig.add_trace(bar, 1, 1)
        cumulative = np.cumsum(grid.sums(values))
        # the running total through a bucket's end, drawn at that end
        trace = grid_trace(grid, cumulative, name, offset_hours=grid.period_hours)
        trace.update(legendgroup=name, showlegend=False, line_color=colour)
        fig.add_trace(trace, 2, 1)
    fig.update_layout(barmode="relative", bargap=0.05)
    note = f"{bars.label().capitalize()} bars stack each component (negative ones below zero)."
    return Plot("pnl_components", title, fig, note)


# --- risk -----------------------------------------------------------------------------------


def delta_neutrality(run: RunData) -> Plot:
    """Delta drift per asset (% of equity) with the hedge tolerance, and net delta in units."""
    title = "Delta neutrality"
    drifts = columns(run.balance, "delta_drift:")
    if not drifts:
        return Plot(
            "delta_neutrality",
            title,
            None,
            "no delta columns: the ETH share class holds ETH by design, delta is not hedged",
        )
    titles = ("delta drift |net delta × price| / equity (%)", "net delta (asset units)")
    fig = subplots_figure(2, titles, title, 620)
    for asset, column in drifts.items():
        fig.add_trace(line(run.hours, finite_values(run.balance[column]) * 100.0, asset), 1, 1)
    for asset, column in columns(run.balance, "delta_units:").items():
        fig.add_trace(line(run.hours, finite_values(run.balance[column]), f"{asset} units"), 2, 1)
    fig.update_yaxes(ticksuffix=" %", row=1, col=1)
    hedge = run.section("hedge")
    if hedge is None:
        return Plot("delta_neutrality", title, fig, "No hedge in this mode: no tolerance band.")
    tolerance = float(hedge["delta_tolerance"])
    threshold(fig, tolerance * 100.0, f"tolerance {tolerance:.2%}", COLOURS["tolerance"])
    return Plot("delta_neutrality", title, fig, "")


def margin_bands(run: RunData) -> list[tuple[float, str, str]]:
    """(ratio, label, colour) of the hedge's margin bands and each venue's maintenance rate."""
    hedge = run.section("hedge")
    if hedge is None:
        return []
    target = hedge.get("margin_ratio_target")
    if target is None:
        stake = float(hedge["stake_allocation"])
        target = (1.0 - stake) / stake
    excess = hedge.get("margin_ratio_excess") or 2.0 * float(target)
    bands = [
        (float(hedge["margin_ratio_critical"]), "critical", COLOURS["critical"]),
        (float(hedge["margin_ratio_warning"]), "warning", COLOURS["warning"]),
        (float(target), "target", COLOURS["target"]),
        (float(excess), "excess", COLOURS["excess"]),
    ]
    venues = run.summary["config"].get("venues", {})
    rates = {
        float(v["maintenance_margin_rate"])
        for v in venues.values()
        if isinstance(v, Mapping) and "maintenance_margin_rate" in v
    }
    bands += [(r, "liquidation (maintenance)", COLOURS["liquidation"]) for r in sorted(rates)]
    return [(y, f"{label} {y:.3g}", colour) for y, label, colour in bands]


def margin_ratios(run: RunData) -> Plot:
    """Margin ratio per CEX venue (after the hour's trades) with the hedge's bands."""
    title = "CEX margin ratios"
    venues = columns(run.balance, "margin_ratio:")
    if not venues:
        return Plot("margin_ratios", title, None, "no CEX perpetual positions in this mode")
    fig = subplots_figure(1, ("margin ratio = venue equity / perp notional",), title, 460)
    for venue, column in venues.items():
        fig.add_trace(line(run.hours, finite_values(run.balance[column]), venue), 1, 1)
    for y, label, colour in margin_bands(run):
        threshold(fig, y, label, colour)
    note = "After each hour's trades; before-trade ratios are in balance_sheet.csv."
    return Plot("margin_ratios", title, fig, note)


def liquidation_threshold(run: RunData) -> tuple[float, str]:
    """AAVE e-mode LT and where it came from: the config, else the run's own HF × LTV
    (exact with one collateral: HF = LT / LTV), else the documented 0.95 (assumed)."""
    aave = run.summary["config"].get("venues", {}).get("aave_v3") or {}
    leverage = run.section("leverage") or {}
    for key, holder in (
        ("emode_liquidation_threshold", aave),
        ("liquidation_threshold", aave),
        ("liquidation_threshold", leverage),
    ):
        if holder.get(key) is not None:
            return float(holder[key]), "config"
    ltv, hf = finite_values(run.balance["aave_ltv"]), finite_values(run.balance["aave_hf"])
    ok = np.isfinite(ltv) & np.isfinite(hf) & (ltv > 0)
    if ok.any():
        return float(np.median(hf[ok] * ltv[ok])), "HF × LTV of this run"
    return DEFAULT_EMODE_LT, "assumed e-mode default"


def aave_health(run: RunData) -> Plot:
    """AAVE LTV and health factor with target / warning / critical / liquidation lines."""
    title = "AAVE health"
    if "aave_ltv" not in run.balance or "aave_hf" not in run.balance:
        return Plot("aave_health", title, None, "no AAVE debt in this mode (HF is infinite)")
    fig = subplots_figure(2, ("LTV (debt / collateral)", "health factor"), title, 620)
    ltv = finite_values(run.balance["aave_ltv"])
    ltv[ltv <= 0] = np.nan  # no debt
    fig.add_trace(line(run.hours, ltv, "LTV"), 1, 1)
    fig.add_trace(line(run.hours, finite_values(run.balance["aave_hf"]), "HF"), 2, 1)
    lt, source = liquidation_threshold(run)
    leverage = run.section("leverage") or {}
    levels = [
        (leverage.get(k), k.replace("ltv_", ""), k.replace("ltv_", "").replace("_", " "))
        for k in ("target_ltv", "ltv_warning", "ltv_critical")
    ]
    for value, key, label in levels:
        if value is not None:
            colour = COLOURS[key.replace("target_ltv", "target")]
            threshold(fig, float(value), f"{label} {float(value):.3g}", colour, row=1)
            threshold(fig, lt / float(value), f"{label} HF {lt / float(value):.4g}", colour, 2)
    threshold(fig, lt, f"liquidation: LT {lt:.3g}", COLOURS["liquidation"], row=1)
    threshold(fig, 1.0, "liquidation: HF 1", COLOURS["liquidation"], row=2)
    note = f"HF thresholds are LT / LTV threshold; LT {lt:.4g} ({source})."
    return Plot("aave_health", title, fig, note)


# --- balance sheet ----------------------------------------------------------------------------


def held_values(run: RunData) -> dict[str, str]:
    """`{position key: value column}` of the positions held at some hour of the run."""
    return {
        key: column
        for key, column in columns(run.balance, "value:").items()
        if bool((run.balance[column].fillna(0.0) != 0).any())
    }


def venue_values(run: RunData, held: Mapping[str, str]) -> dict[str, FloatArray]:
    """Share-class value per venue: the sum of its positions' value columns, hourly."""
    out: dict[str, FloatArray] = {}
    for key, column in held.items():
        venue = key.split(":", 1)[0]
        values = np.nan_to_num(finite_values(run.balance[column]))
        out[venue] = out[venue] + values if venue in out else values
    return out


def _grouped(trace: go.Scatter, group: str, title: str) -> go.Scatter:
    return trace.update(legendgroup=group, legendgrouptitle_text=title)


def balance_sheet(run: RunData) -> Plot:
    """Value per venue (stacked when none is negative) and per instrument over time."""
    title = "Balance sheet"
    held = held_values(run)
    if not held:
        return Plot("balance_sheet", title, None, "no positions in this run")
    grid = Grid.over(run.hours, MAX_GRID_BUCKETS)
    centre = (grid.period_hours - 1) / 2.0
    label = f"{grid.label()} mean ({run.currency})"
    fig = subplots_figure(2, (f"per venue, {label}", f"per instrument, {label}"), title, 760)
    venues = venue_values(run, held)
    stacked = all(bool((v >= 0).all()) for v in venues.values())
    for i, (venue, values) in enumerate(venues.items()):
        trace = grid_trace(grid, grid.means(values), venue, offset_hours=centre)
        trace.update(stackgroup="venues" if stacked else None, line_color=PALETTE[i])
        fig.add_trace(_grouped(trace, "venues", "per venue"), 1, 1)
    equity = grid_trace(
        grid, grid.means(finite_values(run.balance["equity"])), "equity", offset_hours=centre
    )
    equity.update(line={"color": "#000000", "dash": "dot"})
    fig.add_trace(_grouped(equity, "venues", "per venue"), 1, 1)
    for i, (key, column) in enumerate(held.items()):
        trace = grid_trace(
            grid, grid.means(finite_values(run.balance[column])), key, offset_hours=centre
        )
        trace.update(line_color=PALETTE[(i + len(venues)) % len(PALETTE)])
        fig.add_trace(_grouped(trace, "instruments", "per instrument"), 2, 1)
    fig.update_layout(legend={"groupclick": "toggleitem", "traceorder": "grouped"})
    note = "Venue values stack to equity." if stacked else "Some venue is net negative: lines."
    return Plot("balance_sheet", title, fig, note)


BUILDERS = (
    cumulative_pnl,
    pnl_components,
    delta_neutrality,
    margin_ratios,
    aave_health,
    balance_sheet,
)


def build_plots(run: RunData) -> list[Plot]:
    """Every report panel of the run, in PLOT_NAMES order."""
    return [builder(run) for builder in BUILDERS]
