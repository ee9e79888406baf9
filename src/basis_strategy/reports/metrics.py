"""Run metrics for `summary.json["metrics"]` and the report (issue 4, issue 11).

`run_metrics` is a pure function of a run's output tables (hourly P&L, balance sheet, event log)
and its config. Returns and risk figures come from NAV per share (`reports.performance`: end
to end for total return and APY, end-of-day NAV for risk figures); every value is in
share-class units. `CONVENTIONS` says how each figure is measured; a figure that cannot be
computed is None and `RunMetrics.undefined` says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import DataError
from basis_strategy.data.requirements import benchmark_for
from basis_strategy.math.metrics import HOURS_PER_YEAR, annualised_return
from basis_strategy.reports import performance
from basis_strategy.reports.nav import NavPoints, nav_points

Floats = npt.NDArray[np.float64]
SPOT_TRADES = ("Swapped", "SpotBought", "SpotSold")
PERP_TRADE = "PerpTraded"
COST_SPLIT = r"fee=([^;]+);slippage=([^;]+);discount=([^;]+)"
LEVELS = ("ok", "warning", "critical")
TOTAL = "sum over every hour, share-class units"
CONVENTIONS: dict[str, str] = {
    **performance.CONVENTIONS,
    "funding_received": TOTAL,
    "fees_paid": f"{TOTAL} (from the event log)",
    "slippage_paid": f"{TOTAL} (from the event log)",
    "lst_discount_paid": f"{TOTAL} (from the event log)",
    "gas_paid": TOTAL,
    "execution_costs_paid": TOTAL,
    "turnover_annualised": "traded notional / mean hourly equity / years of hours",
    "risk_level_shares": "share of hours by their worst risk level",
    "benchmark": "end to end over the hours where the run and the benchmark both have values",
}


@dataclass(frozen=True)
class RunMetrics:
    """The metrics block and, for each None figure, why (keys dotted for a field)."""

    values: dict[str, object]
    undefined: dict[str, str]


def run_metrics(
    hourly: pd.DataFrame, balance: pd.DataFrame, events: pd.DataFrame, config: RunConfig
) -> RunMetrics:
    """Every metric of issue 4, JSON-serialisable (floats, ints, ISO strings, None, dicts), in
    this order: returns and risk (`reports.performance`), costs, turnover, risk levels,
    benchmark; and the reason for each None.

    `hourly`: the hourly_pnl frame (index: UTC timestamps); `balance`: the balance_sheet
    frame; `events`: the event_log frame as `ResultsStore.event_frame` builds it.
    Raises DataError for a table without rows or an event it cannot value.
    """
    if hourly.empty:
        raise DataError("hourly_pnl: no rows, no metrics")
    points = nav_points(hourly)
    figures = performance.nav_figures(hourly, points, config.mode.report.risk_free_rate)
    for name, value in cost_metrics(hourly, events).items():
        figures.add(name, value)
    turnover = turnover_annualised(hourly, events, config)
    figures.add("turnover_annualised", turnover, "a one-hour run, or no positive mean equity")
    figures.add("risk_level_shares", risk_level_shares(balance, config))
    benchmark, why = benchmark_metrics(hourly, points, config)
    figures.add("benchmark", benchmark)
    figures.undefined.update({f"benchmark.{k}": why for k, v in benchmark.items() if v is None})
    return RunMetrics(figures.values, figures.undefined)


# --- costs and funding ---------------------------------------------------------------------


def cost_metrics(hourly: pd.DataFrame, events: pd.DataFrame) -> dict[str, object]:
    """Funding received, costs paid (positive = paid), the execution costs split by kind.

    `execution_costs_paid` and `gas_paid` are the attribution components (−Σ over hours);
    fees, slippage and the LST discount come from the event log (see `execution_cost_split`).
    """
    fees, slippage, discount = execution_cost_split(events)
    return {
        "funding_received": float(hourly["funding"].sum()),
        "fees_paid": fees,
        "slippage_paid": slippage,
        "lst_discount_paid": discount,
        "gas_paid": -float(hourly["gas"].sum()),
        "execution_costs_paid": -float(hourly["execution_costs"].sum()),
    }


def execution_cost_split(events: pd.DataFrame) -> tuple[float, float, float]:
    """(fees, slippage, LST discount) paid, in share-class units, from the execution-cost legs.

    Each leg's note carries `fee=..;slippage=..;discount=..` in units of its asset; its
    `pnl_amount` (share-class units) is split in those proportions, so the three add up to
    −Σ pnl_amount exactly. A leg without the breakdown, or whose parts sum to 0, counts as fees.
    """
    legs = events[events["pnl_component"] == "execution_costs"]
    paid = -pd.to_numeric(legs["pnl_amount"]).to_numpy(dtype=np.float64)
    notes = legs["note"].fillna("").astype(str)
    parts = notes.str.extract(COST_SPLIT).astype(np.float64).to_numpy()
    total = parts.sum(axis=1)
    split = np.isfinite(total) & (total != 0.0)
    safe_total = np.where(split, total, 1.0)
    shares = np.where(split[:, None], parts / safe_total[:, None], [1.0, 0.0, 0.0])
    fee, slippage, discount = (float(x) for x in (paid[:, None] * shares).sum(axis=0))
    return fee, slippage, discount


# --- turnover ------------------------------------------------------------------------------


def turnover_annualised(
    hourly: pd.DataFrame, events: pd.DataFrame, config: RunConfig
) -> float | None:
    """Traded notional / mean equity / years (None for a one-hour run or no equity).

    Traded notional: Σ |amount × unit value| / 2 over Swapped / SpotBought / SpotSold legs
    (each trade has two legs) plus Σ |amount| × mark × π_USDT over PerpTraded. Unit values are
    the hour's EquityMarked `marks` (see `TradeValuer`). Years: (rows − 1) / 8760.
    """
    hours = len(hourly) - 1
    mean_equity = float(hourly["equity"].mean())
    if hours <= 0 or not mean_equity > 0.0:
        return None
    valuer = TradeValuer(events, config.share_class.currency)
    notional = valuer.traded_notional()
    return notional / mean_equity / (hours / HOURS_PER_YEAR)


class TradeValuer:
    """Share-class value of the traded legs of an event log.

    A leg's unit value is its key in the hour's EquityMarked `marks` (share-class value of one
    stored unit). A key traded but not held at the hour's end is missing there: the event's
    `price` (USD per unit; 1 for USDT, whose spot legs carry the base price) is converted to
    share-class units: × 1 in the USDT class; ÷ P in the ETH class, where P (USD per ETH) is
    the price of an ETH / WETH leg traded that hour, else price ÷ mark of a traded leg that is
    held. Perps: the mark from `marks` (else the fill price) × `price:USDT` (else USD → share).
    """

    def __init__(self, events: pd.DataFrame, currency: str) -> None:
        self.currency = currency
        marked = events[events["event_type"] == "EquityMarked"]
        self._mark_text = dict(zip(marked["timestamp"], marked["marks"], strict=True))
        self._marks: dict[str, dict[str, float]] = {}
        self._eth_usd_at: dict[str, float | None] = {}
        kinds = (*SPOT_TRADES, PERP_TRADE)
        self.trades = events[events["event_type"].isin(kinds)]

    def marks(self, timestamp: str) -> dict[str, float]:
        if timestamp not in self._marks:
            text = self._mark_text.get(timestamp, "")
            marks = json.loads(text) if isinstance(text, str) and text else {}
            # a mark written as null (not a finite number) is not a mark
            self._marks[timestamp] = {k: v for k, v in marks.items() if v is not None}
        return self._marks[timestamp]

    def traded_notional(self) -> float:
        total = 0.0
        for row in self.trades.itertuples(index=False):
            if row.event_type == PERP_TRADE:
                total += abs(row.amount) * self._perp_value(row)
            else:
                total += abs(row.amount * self.unit_value(row)) / 2.0
        return total

    def unit_value(self, row: Any) -> float:
        """Share-class value of one unit of a spot or swap leg at its hour."""
        marks = self.marks(row.timestamp)
        key = row.instrument
        if key in marks:
            return float(marks[key])
        usd = 1.0 if _asset(key) == "USDT" else float(row.price)
        return usd * self.usd_to_share(row)

    def _perp_value(self, row: Any) -> float:
        marks = self.marks(row.timestamp)
        key = row.instrument
        mark = float(marks[key]) if key in marks else float(row.price)
        usdt = marks.get("price:USDT")
        return mark * (float(usdt) if usdt is not None else self.usd_to_share(row))

    def usd_to_share(self, row: Any) -> float:
        """Share-class units per USD (= per USDT) at the leg's hour."""
        if self.currency == "USDT":
            return 1.0
        timestamp = row.timestamp
        eth_usd = self._eth_usd(timestamp)
        if eth_usd is None:
            raise DataError(
                f"event_log: cannot value {row.instrument} (seq {row.seq}) "
                f"at {timestamp} in ETH: no ETH price among that hour's trades or marks"
            )
        return 1.0 / eth_usd

    def _eth_usd(self, timestamp: str) -> float | None:
        if timestamp not in self._eth_usd_at:
            trades = self.trades
            legs = trades[
                (trades["timestamp"] == timestamp) & trades["event_type"].isin(SPOT_TRADES)
            ]
            found = _eth_leg_price(legs)
            self._eth_usd_at[timestamp] = (
                found if found is not None else _held_leg_ratio(legs, self.marks(timestamp))
            )
        return self._eth_usd_at[timestamp]


def _asset(key: str) -> str:
    return key.rsplit(":", 1)[-1]


def _eth_leg_price(legs: pd.DataFrame) -> float | None:
    """USD per ETH: the reference price of an ETH or WETH leg (domain 3: one price an hour)."""
    eth = legs[legs["instrument"].map(_asset).isin(("ETH", "WETH"))]
    prices = pd.to_numeric(eth["price"]).to_numpy(dtype=np.float64)
    prices = prices[np.isfinite(prices) & (prices > 0)]
    return float(prices[0]) if prices.size else None


def _held_leg_ratio(legs: pd.DataFrame, marks: dict[str, float]) -> float | None:
    """USD per ETH: price ÷ mark of a non-USDT leg held at the hour's end."""
    for row in legs.itertuples(index=False):
        key = str(row.instrument)
        mark = marks.get(key, 0.0)
        if _asset(key) != "USDT" and mark != 0.0 and float(row.price) > 0:
            return float(row.price) / abs(mark)
    return None


# --- risk levels -----------------------------------------------------------------------------


def risk_level_shares(balance: pd.DataFrame, config: RunConfig) -> dict[str, float]:
    """Share of hours whose worst level is ok / warning / critical.

    Per hour, the worst of, as found (`_pre_trade` columns) and as left after the hour's
    trades: each venue's margin ratio vs the hedge bands (critical when <=
    margin_ratio_critical, warning when <= margin_ratio_warning); the AAVE LTV vs
    ltv_critical / ltv_warning (>=; HF < 1 is critical); USDT class: each `delta_drift:`
    (end of hour) above hedge.delta_tolerance is a warning. Missing values (no position)
    are ok.
    """
    n = len(balance)
    if n == 0:
        return dict.fromkeys(LEVELS, 0.0)
    worst = np.zeros(n, dtype=np.int64)
    for level in _level_arrays(balance, config):
        worst = np.maximum(worst, level)
    counts = np.bincount(worst, minlength=len(LEVELS))
    return {name: float(counts[i]) / n for i, name in enumerate(LEVELS)}


def _level_arrays(balance: pd.DataFrame, config: RunConfig) -> list[npt.NDArray[np.int64]]:
    mode, levels = config.mode, []
    if mode.hedge is not None:
        critical, warning = mode.hedge.margin_ratio_critical, mode.hedge.margin_ratio_warning
        for ratio in _columns(balance, "margin_ratio:", "margin_ratio_pre_trade:"):
            levels.append(_grade(ratio <= warning, ratio <= critical))
        if config.share_class.currency == "USDT":
            for drift in _columns(balance, "delta_drift:"):
                levels.append(
                    _grade(drift > mode.hedge.delta_tolerance, np.zeros(len(drift), bool))
                )
    if mode.leverage is not None:
        lev = mode.leverage
        for when in ("", "_pre_trade"):
            ltv, hf = _column(balance, "aave_ltv" + when), _column(balance, "aave_hf" + when)
            critical_ltv = (ltv >= lev.ltv_critical) | (hf < 1.0)
            levels.append(_grade(ltv >= lev.ltv_warning, critical_ltv))
    return levels


def _columns(balance: pd.DataFrame, *prefixes: str) -> list[Floats]:
    return [_column(balance, c) for c in balance.columns if c.startswith(prefixes)]


def _grade(
    warning: npt.NDArray[np.bool_], critical: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """0 ok, 1 warning, 2 critical per hour (comparisons with NaN are False: ok)."""
    return np.where(critical, 2, np.where(warning, 1, 0)).astype(np.int64)


# --- benchmark -------------------------------------------------------------------------------


def benchmark_metrics(
    hourly: pd.DataFrame, points: NavPoints, config: RunConfig
) -> tuple[dict[str, object], str]:
    """The run against its benchmark over the NAV points where the benchmark has a value,
    and the reason for its None fields.

    The issue price takes the benchmark value of the first hour. `apy` from the benchmark
    index, `run_apy` from NAV per share (the summary's apy when the benchmark covers the run),
    both over the same span; `excess_apy` = run − benchmark.
    """
    spec = benchmark_for(config)
    index = _column(hourly, "benchmark_index")[np.maximum(points.rows, 0)]
    result: dict[str, object] = {"name": spec.name if spec is not None else None}
    result.update(dict.fromkeys(("start", "end", "apy", "run_apy", "excess_apy")))
    both = np.flatnonzero(np.isfinite(index) & (index > 0))
    if not both.size:
        return result, "no benchmark values in this run"
    first, last = int(both[0]), int(both[-1])
    result.update(start=points.stamp(first), end=points.stamp(last))
    hours = int(points.hours[last] - points.hours[first])
    if hours <= 0:
        return result, "benchmark values at one hour only: no time to annualise over"
    if points.nav[last] < 0.0:
        return result, "NAV per share ended below 0: no compounded rate"
    bench = annualised_return(index[first], index[last], hours)
    run = annualised_return(points.nav[first], points.nav[last], hours)
    result.update(apy=bench, run_apy=run, excess_apy=run - bench)
    return result, ""


def _column(frame: pd.DataFrame, name: str) -> Floats:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name]).to_numpy(dtype=np.float64)
