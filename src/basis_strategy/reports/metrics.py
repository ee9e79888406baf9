"""Run metrics for `summary.json["metrics"]` and the report (issue 4).

`run_metrics` is a pure function of a run's output tables (hourly P&L, balance sheet, event log)
and its config. Returns come from NAV per share starting at the 1.0 issue price (domain 5),
which is stamped at the first hour, before that hour's trades: entry costs count, as in the
summary's `apy` and `max_drawdown`. Every value is in share-class units.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import DataError
from basis_strategy.data.requirements import benchmark_for
from basis_strategy.math.metrics import (
    HOURS_PER_YEAR,
    annualised_return,
    annualised_volatility,
    drawdown_episode,
    longest_run,
    per_period_rate,
    period_returns,
    sharpe_ratio,
    sortino_ratio,
    under_water,
)

Floats = npt.NDArray[np.float64]
SPOT_TRADES = ("Swapped", "SpotBought", "SpotSold")
PERP_TRADE = "PerpTraded"
COST_SPLIT = r"fee=([^;]+);slippage=([^;]+);discount=([^;]+)"
LEVELS = ("ok", "warning", "critical")


def run_metrics(
    hourly: pd.DataFrame, balance: pd.DataFrame, events: pd.DataFrame, config: RunConfig
) -> dict[str, object]:
    """Every metric of issue 4, JSON-serialisable (floats, ints, ISO strings, None, dicts).

    `hourly`: the hourly_pnl frame (index: UTC timestamps); `balance`: the balance_sheet
    frame; `events`: the event_log frame as `ResultsStore.event_frame` builds it.
    Raises DataError for a table without rows or an event it cannot value.
    """
    if hourly.empty:
        raise DataError("hourly_pnl: no rows, no metrics")
    times = pd.DatetimeIndex(pd.to_datetime(hourly.index, utc=True))
    nav = np.concatenate(([1.0], hourly["nav_per_share"].to_numpy(dtype=np.float64)))
    rf = config.mode.report.risk_free_rate
    return {
        **return_metrics(nav, rf),
        **drawdown_metrics(nav, times),
        **cost_metrics(hourly, events),
        "turnover_annualised": turnover_annualised(hourly, events, config),
        "risk_level_shares": risk_level_shares(balance, config),
        "worst_hour": worst_hour(hourly, times),
        "benchmark": benchmark_metrics(hourly, times, config),
    }


# --- returns and drawdown ------------------------------------------------------------------


def return_metrics(nav: Floats, risk_free_rate: float) -> dict[str, object]:
    """APY (as the summary's), annualised volatility, Sharpe and Sortino of NAV per share.

    `nav[0]` is the issue price: the first return (issue price to the first hour's NAV, the
    entry costs) counts as one hourly return. Hours without shares (NaN NAV) are left out.
    Volatility and Sharpe use the sample standard deviation; the risk-free rate is annual,
    compounded per hour.
    """
    held = np.flatnonzero(np.isfinite(nav))
    finite = nav[held]
    returns = period_returns(finite)
    hours = int(held[-1]) - 1  # the issue price and the first NAV share the first hour
    rf_hour = per_period_rate(risk_free_rate)
    return {
        "apy": annualised_return(finite[0], finite[-1], hours) if hours > 0 else 0.0,
        "annualised_volatility": annualised_volatility(returns),
        "sharpe": sharpe_ratio(returns, rf_hour),
        "sortino": sortino_ratio(returns, rf_hour),
        "risk_free_rate": risk_free_rate,
    }


def drawdown_metrics(nav: Floats, times: pd.DatetimeIndex) -> dict[str, object]:
    """Max drawdown with its peak, trough and recovery hours, and time under water.

    `nav[0]` (the issue price) is stamped at the first hour. An hour is under water when its
    NAV per share is below the running peak (issue price included).
    """
    finite = np.isfinite(nav)
    values, stamps = nav[finite], _nav_stamps(times)[finite]
    episode = drawdown_episode(values)
    wet = under_water(values)[1:] if finite[0] else under_water(values)
    return {
        "max_drawdown": episode.depth,
        "max_drawdown_peak": _iso_at(stamps, episode.peak),
        "max_drawdown_trough": _iso_at(stamps, episode.trough),
        "max_drawdown_recovery": _iso_at(stamps, episode.recovery),
        "longest_under_water_hours": longest_run(wet),
        "share_of_hours_under_water": float(np.mean(wet)) if wet.size else 0.0,
    }


def _nav_stamps(times: pd.DatetimeIndex) -> npt.NDArray[np.object_]:
    """One ISO stamp per NAV value: the issue price shares the first hour's stamp."""
    iso = [t.isoformat() for t in times]
    return np.array([iso[0], *iso], dtype=object)


def _iso_at(stamps: npt.NDArray[np.object_], position: int | None) -> str | None:
    return None if position is None else str(stamps[position])


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
            self._marks[timestamp] = json.loads(text) if isinstance(text, str) and text else {}
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


# --- worst hour and benchmark ----------------------------------------------------------------


def worst_hour(hourly: pd.DataFrame, times: pd.DatetimeIndex) -> dict[str, object]:
    """The hour with the lowest return `pnl / previous hour's equity` (the first hour: its
    net flow, the capital that arrived). Hours without a positive base rank by pnl after
    them; `return` is None for such an hour."""
    pnl = hourly["pnl"].to_numpy(dtype=np.float64)
    equity = hourly["equity"].to_numpy(dtype=np.float64)
    base = np.concatenate((hourly["net_flow"].to_numpy(dtype=np.float64)[:1], equity[:-1]))
    ok = base > 0.0
    ratios = np.divide(pnl, base, out=np.full(len(pnl), np.nan), where=ok)
    i = int(np.nanargmin(ratios)) if ok.any() else int(np.argmin(pnl))
    value = float(ratios[i])
    return {
        "timestamp": times[i].isoformat(),
        "pnl": float(pnl[i]),
        "return": value if math.isfinite(value) else None,
    }


def benchmark_metrics(
    hourly: pd.DataFrame, times: pd.DatetimeIndex, config: RunConfig
) -> dict[str, object]:
    """The run against its benchmark over the hours where both have values.

    `apy` from the benchmark index, `run_apy` from NAV per share (from the 1.0 issue price
    when the window starts at the run's first hour, as the summary's apy), both over the same
    span; `excess_apy` = run − benchmark. All None when the run has no benchmark values.
    """
    spec = benchmark_for(config)
    index = _column(hourly, "benchmark_index")
    nav = hourly["nav_per_share"].to_numpy(dtype=np.float64)
    both = np.flatnonzero(np.isfinite(index) & np.isfinite(nav) & (index > 0))
    empty: dict[str, object] = {"name": spec.name if spec is not None else None}
    empty.update(dict.fromkeys(("start", "end", "apy", "run_apy", "excess_apy")))
    if not both.size:
        return empty
    first, last = int(both[0]), int(both[-1])
    hours = last - first
    run_start = 1.0 if first == 0 else nav[first]
    result = {**empty, "start": times[first].isoformat(), "end": times[last].isoformat()}
    if hours > 0:
        bench = annualised_return(index[first], index[last], hours)
        run = annualised_return(run_start, nav[last], hours)
        result.update(apy=bench, run_apy=run, excess_apy=run - bench)
    return result


def _column(frame: pd.DataFrame, name: str) -> Floats:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name]).to_numpy(dtype=np.float64)
