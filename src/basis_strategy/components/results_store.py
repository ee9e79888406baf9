"""Results store: records each hour and writes a run's files atomically (ADR-017).

`results/{request_id}/` gets `summary.json`, `hourly_pnl.csv`, `event_log.csv`,
`balance_sheet.csv` and the report (`index.html`, `plots/`). Files are written into a hidden
temporary folder that is renamed into place only when all of them are complete; a failed
write leaves no run folder behind.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.components.monitors import Exposure, PositionMonitor, Risk
from basis_strategy.components.pnl_calculator import HourPnL, Marks
from basis_strategy.config.loader import RunConfig
from basis_strategy.core.events import COMPONENTS, Event
from basis_strategy.core.instruments import instrument
from basis_strategy.reports import strict_json
from basis_strategy.reports.build import build_report
from basis_strategy.reports.csv_text import frame_csv
from basis_strategy.reports.metrics import CONVENTIONS, run_metrics

PNL_COLUMNS = (
    "equity",
    "shares",
    "nav_per_share",
    "net_flow",
    "pnl",
    *COMPONENTS,
    "residual",
    "benchmark_index",
)
EVENT_COLUMNS = (
    "seq",
    "timestamp",
    "bundle_id",
    "event_type",
    "venue",
    "instrument",
    "amount",
    "price",
    "pnl_component",
    "pnl_amount",
    "after_qty",
    "after_entry",
    "note",
    "marks",
)


class ResultsStore:
    """Hourly P&L rows and balance-sheet rows of one run."""

    def __init__(self, config: RunConfig, currency: str) -> None:
        self.config = config
        self.currency = currency
        self.times: list[datetime] = []
        self.pnl_rows: list[tuple[float, ...]] = []
        self.books: list[tuple[dict[str, float], Exposure, Risk, Risk, Mapping[str, str]]] = []

    @staticmethod
    def mark_payload(marks: Marks) -> dict[str, float]:
        """Unit values for the hour's EquityMarked event: holdings -> share-class value of one
        stored unit; perps -> mark (USDT), plus `price:USDT` (share-class units per USDT)."""
        payload = {}
        for key, (a, b, c) in marks.items():
            inst = instrument(key)
            if inst.is_perp:
                payload[key] = a
                payload["price:USDT"] = c
            else:
                payload[key] = inst.sign * a * b * c
        return payload

    def record(
        self,
        t: datetime,
        hour: HourPnL,
        shares: float,
        positions: PositionMonitor,
        exposure: Exposure,
        pre_trade: Risk,
        post_trade: Risk,
        benchmark_index: float = math.nan,
    ) -> None:
        """Keep the hour's numbers; rows are formatted only when the run is written.
        `benchmark_index`: the share class's benchmark level this hour (NaN where none)."""
        nav = hour.equity / shares if shares > 0 else math.nan
        components = hour.components
        self.times.append(t)
        self.pnl_rows.append(
            (
                hour.equity,
                shares,
                nav,
                hour.net_flow,
                hour.pnl,
                *(components[c] for c in COMPONENTS),
                hour.residual,
                benchmark_index,
            )
        )
        self.books.append(
            (positions.quantities.copy(), exposure, pre_trade, post_trade, hour.mark_sources)
        )

    @staticmethod
    def _balance_row(
        quantities: dict[str, float],
        exposure: Exposure,
        pre_trade: Risk,
        post_trade: Risk,
    ) -> dict[str, float]:
        row: dict[str, float] = {}
        for key, qty in quantities.items():
            if qty != 0.0:
                row["qty:" + key] = qty
                row["value:" + key] = exposure.values[key]
        for venue, ratio in post_trade.margin_ratio.items():
            row["margin_ratio:" + venue] = ratio
        for venue, ratio in pre_trade.margin_ratio.items():
            row["margin_ratio_pre_trade:" + venue] = ratio
        for venue, distance in post_trade.cex_liquidation_distance.items():
            row["liquidation_distance:" + venue] = distance
        for asset, drift in post_trade.delta_drift.items():
            row["delta_drift:" + asset] = drift
            row["delta_units:" + asset] = exposure.delta_units.get(asset, 0.0)
        if post_trade.aave_ltv > 0 or pre_trade.aave_ltv > 0:
            row["aave_ltv"] = post_trade.aave_ltv
            row["aave_hf"] = post_trade.aave_hf
            row["aave_ltv_pre_trade"] = pre_trade.aave_ltv
            row["aave_hf_pre_trade"] = pre_trade.aave_hf
            row["aave_liquidation_distance"] = post_trade.aave_liquidation_distance
        if post_trade.peg_spread is not None:
            row["lst_peg_spread"] = post_trade.peg_spread
        return row

    # --- frames ---------------------------------------------------------------------------

    def hourly_pnl(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            self.pnl_rows,
            columns=list(PNL_COLUMNS),
            index=pd.DatetimeIndex(self.times, name="timestamp"),
        )
        frame["cumulative_pnl"] = frame["pnl"].cumsum()
        return frame

    def balance_sheet(self) -> pd.DataFrame:
        """Numbers per hour, then the text `mark_source:{series}` columns (e.g. `binance
        ETHUSDT perp (held 2 h)`), built apart: hours share their source mappings."""
        index = pd.DatetimeIndex(self.times, name="timestamp")
        rows = [self._balance_row(*book[:4]) for book in self.books]
        frame = pd.DataFrame(rows, index=index)
        qty_cols = [c for c in frame.columns if c.startswith(("qty:", "value:"))]
        frame[qty_cols] = frame[qty_cols].fillna(0.0)
        frame.insert(0, "equity", [row[0] for row in self.pnl_rows])
        sources = pd.DataFrame([book[4] for book in self.books], index=index)
        if sources.empty:
            return frame
        return frame.join(sources.add_prefix("mark_source:"))

    @classmethod
    def event_frame(cls, events: list[Event]) -> pd.DataFrame:
        rows = [
            (
                e.seq,
                e.t.isoformat(),
                e.bundle_id,
                e.event_type,
                e.venue,
                e.instrument,
                e.amount,
                e.price,
                e.pnl_component,
                e.pnl_amount,
                e.after_qty,
                e.after_entry,
                e.note,
                strict_json.dumps(cls.mark_payload(e.marks)) if e.marks is not None else "",
            )
            for e in events
        ]
        return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))

    def frames(self, events: list[Event]) -> RunFrames:
        """The run's three tables, built once (they are written and summarised)."""
        return RunFrames(self.hourly_pnl(), self.balance_sheet(), self.event_frame(events))

    def summary(
        self, request_id: str, frames: RunFrames, facts: Mapping[str, object]
    ) -> dict[str, Any]:
        """summary.json: headline figures, the metrics block (issue 4), the convention of each
        figure, why each None figure is undefined, and `facts` about the run (data bridges and
        files, reconciliation checks, refused instructions, shocks, benchmark source) as given
        by the engine.

        `total_return`, `apy` and `max_drawdown` are the metrics block's figures (one figure,
        one definition): end to end from the 1.0 issue price, and on end-of-day NAV per share.
        `undefined` keys are the figures' paths in the summary (`metrics.sharpe`).
        """
        pnl, events = frames.hourly, frames.events
        mode = self.config.mode
        metrics = run_metrics(pnl, frames.balance, events, self.config)
        headline = ("total_return", "apy", "max_drawdown")
        undefined = {k: metrics.undefined[k] for k in headline if k in metrics.undefined}
        undefined.update({f"metrics.{k}": why for k, why in metrics.undefined.items()})
        # each hour against the larger of its opening and closing equity: the hour a full
        # redemption empties the book is measured against what it held
        equity = pnl["equity"].abs()
        scale = np.maximum(equity, equity.shift(1, fill_value=0.0)).clip(lower=1e-12)
        residual_ratio = (pnl["residual"].abs() / scale).max()
        liquidated = events.loc[events["event_type"] == "Liquidated", "bundle_id"]
        return {
            "request_id": request_id,
            "mode": mode.mode,
            "share_class": self.config.share_class.name,
            "currency": self.currency,
            "start": mode.start.isoformat(),
            "end": mode.end.isoformat(),
            "initial_capital": mode.initial_capital,
            "final_equity": float(pnl["equity"].iloc[-1]),
            "net_flows": float(pnl["net_flow"].sum()),
            "cumulative_pnl": float(pnl["pnl"].sum()),
            **{k: metrics.values[k] for k in headline},
            "pnl_attribution": {c: float(pnl[c].sum()) for c in COMPONENTS},
            "reconciliation_residual": float(pnl["residual"].sum()),
            "max_hourly_residual_to_equity": float(residual_ratio),
            "liquidations": int(liquidated.nunique()),
            "hours": len(pnl),
            "events": len(events),
            "metrics": metrics.values,
            "conventions": CONVENTIONS,
            "undefined": undefined,
            **facts,
            "config": self.config.resolved(),
        }

    def write(
        self,
        out_dir: Path,
        request_id: str,
        *,
        events: list[Event],
        facts: Mapping[str, object],
    ) -> Path:
        """Write every file into a temporary folder, then rename it into place."""
        final = Path(out_dir) / request_id
        partial = Path(out_dir) / f".{request_id}.partial"
        try:
            partial.mkdir(parents=True, exist_ok=False)
            frames = self.frames(events)
            summary = self.summary(request_id, frames, facts)
            # every float exactly (its shortest round-trip text); one that is not a finite
            # number is an empty cell, never nan or inf text (reports/csv_text.py)
            for name, frame, index in (
                ("hourly_pnl.csv", frames.hourly, True),
                ("balance_sheet.csv", frames.balance, True),
                ("event_log.csv", frames.events, False),
            ):
                (partial / name).write_text(frame_csv(frame, index), encoding="utf-8")
            (partial / "summary.json").write_text(
                strict_json.dumps(summary, indent=2, default=json_default), encoding="utf-8"
            )
            build_report(partial)  # plots/ and index.html, from the files just written
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return final


@dataclass(frozen=True)
class RunFrames:
    hourly: pd.DataFrame
    balance: pd.DataFrame
    events: pd.DataFrame


def json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
