"""EventDrivenStrategyEngine: owns the clock and runs the hourly loop (ADR-001, 004, 041).

The full loop, once per hour t:
1. Set the clock to t and read the one MarketState of the hour (nothing stamped after t).
2. Revalue the start-of-hour book from last hour's marks (P&L calculator, part 1).
3. Settlements: each venue books what accrued at t (funding on positions open at t); then
   the arrivals of transfers in flight (live venues only, `components/in_flight.py`).
4. Monitors on the pre-trade book: position -> exposure -> risk (kept for the record).
5. The strategy manager decides, step by step (domain 8.2). For every instruction, the
   tight loop: execution manager -> venue interface manager -> venue -> position update
   handler (applies each leg to the position monitor; the event logger numbers it and keeps
   its after-state) -> reconciliation against the venue's own view.
6. P&L calculator on the final book (balance P&L, attribution, residual), the hour's
   `EquityMarked` event, and the results store records the hour.

A run builds fresh instances of everything (ADR-005); only loaded data is shared.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from basis_strategy.components.execution import (
    EventLogger,
    ExecutionManager,
    PositionUpdateHandler,
    Reconciliation,
    VenueInterfaceManager,
)
from basis_strategy.components.fund import FundBooks
from basis_strategy.components.in_flight import ALERT_AFTER, InFlightBook
from basis_strategy.components.monitors import (
    AaveBands,
    ExposureMonitor,
    PositionMonitor,
    RiskMonitor,
)
from basis_strategy.components.pnl_calculator import PnLCalculator
from basis_strategy.components.results_store import ResultsStore
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import CexVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import Instruction
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.strategies.base import StrategyManager
from basis_strategy.strategies.factory import build_strategy
from basis_strategy.venues.interface import VenueInterface

Progress = Callable[[int, int], None]
Gate = Callable[[Iterator[Instruction]], Iterable[Instruction]]
Decide = Callable[[MarketState], Iterator[Instruction]]
NAN = float("nan")


def aave_bands(config: RunConfig, data: HistoricalDataProvider) -> AaveBands | None:
    """LTV thresholds of a leveraged mode, with LT from the data's e-mode parameters."""
    leverage, staking = config.mode.leverage, config.mode.staking
    if leverage is None or staking is None:
        return None
    risk = data.aave_risk(staking.lst_type, leverage.emode_enabled)
    if leverage.target_ltv is not None and leverage.target_ltv > risk.max_ltv:
        raise ConfigError(
            "leverage.target_ltv",
            f"must not exceed AAVE's max LTV {risk.max_ltv} for {staking.lst_type} (from the "
            f"data), was {leverage.target_ltv}",
        )
    if leverage.ltv_critical >= risk.liquidation_threshold:
        raise ConfigError(
            "leverage.ltv_critical",
            f"must be below the liquidation threshold {risk.liquidation_threshold} for "
            f"{staking.lst_type} (from the data), was {leverage.ltv_critical}",
        )
    return AaveBands(
        f"aave_v3:aToken:a{staking.lst_type}",
        "aave_v3:debtToken:debtWETH",
        risk.liquidation_threshold,
        leverage.ltv_warning,
        leverage.ltv_critical,
    )


@dataclass
class EngineParts:
    positions: PositionMonitor
    exposure: ExposureMonitor
    risk: RiskMonitor
    strategy: StrategyManager
    logger: EventLogger
    execution: ExecutionManager
    pnl: PnLCalculator
    fund: FundBooks
    results: ResultsStore


class EventDrivenStrategyEngine:
    """Runs one request: a config, a data provider and venue interfaces (backtest or live).

    `transfer_alert_after`: how long a transfer may stay in flight (live venues only; a
    simulated transfer is instant) before `TRF-001` is raised, once per transfer."""

    def __init__(
        self,
        config: RunConfig,
        data: HistoricalDataProvider,
        venues: dict[str, VenueInterface],
        transfer_alert_after: timedelta = ALERT_AFTER,
    ) -> None:
        self.config = config
        self.data = data
        currency = config.share_class.currency
        hedge = config.mode.hedge
        positions = PositionMonitor()
        exposure = ExposureMonitor(positions, currency)
        bands = (
            (hedge.margin_ratio_critical, hedge.margin_ratio_warning, hedge.excess)
            if hedge
            else None
        )
        risk = RiskMonitor(
            exposure,
            tuple(hedge.venues) if hedge else (),
            bands,
            aave_bands(config, data),
            config.mode.staking.lst_type if config.mode.staking else None,
            {
                name: venue.maintenance_margin_rate
                for name, venue in config.venues.items()
                if isinstance(venue, CexVenue)
            },
        )
        logger = EventLogger(currency)
        fund = FundBooks(config.mode.flows.cost_allocation)
        updates = PositionUpdateHandler(positions, logger, Reconciliation(positions), currency)
        execution = ExecutionManager(
            VenueInterfaceManager(venues),
            updates,
            exposure,
            fund,
            InFlightBook(transfer_alert_after),
        )
        self.parts = EngineParts(
            positions=positions,
            exposure=exposure,
            risk=risk,
            strategy=build_strategy(config, positions, exposure, risk, fund.register),
            logger=logger,
            execution=execution,
            pnl=PnLCalculator(positions, exposure, logger, currency),
            fund=fund,
            results=ResultsStore(config, currency),
        )

    def run(self, progress: Progress | None = None, every: int = 500) -> ResultsStore:
        """Run every hour of the grid; returns the results store (not yet written).

        The cyclic garbage collector is paused for the loop: the loop allocates acyclic
        records (events, rows) that the collector would otherwise rescan as they pile up,
        which cost about a third of the loop's time. It is restored, and run, afterwards.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(progress, every)
        finally:
            if collecting:
                gc.enable()
                gc.collect()

    def _run(self, progress: Progress | None, every: int) -> ResultsStore:
        """The backtest loop: one `step` per hour of the grid (the live loop calls `step` per
        cycle instead, ADR-043, so both run the same code)."""
        step, times = self.step, self.data.times
        total = len(times)
        for i, t in enumerate(times):
            step(t)
            if progress is not None and (i % every == 0 or i == total - 1):
                progress(i + 1, total)
        return self.parts.results

    def step(
        self,
        t: datetime,
        market: MarketState | None = None,
        gate: Gate | None = None,
        decide: Decide | None = None,
    ) -> MarketState:
        """One hour (backtest) or cycle (paper, live) of the loop at `t`; returns its market.

        `market`: the state a live or paper source already read for `t` (its reads may raise
        `CycleSkipped` before the engine is touched, so a skipped cycle leaves no trace here);
        None reads it from the engine's own provider. `gate`: filters the strategy's
        instructions as they are decided (the live trading state's REDUCING gate, ADR-043);
        None lets everything through, as a backtest does. `decide`: what replaces the
        strategy's own decision this cycle (an emergency stop's flatten,
        `StrategyManager.flatten`); None: `strategy.decide`."""
        p = self.parts
        if market is None:
            self.data.set_clock(t)
            market = self.data.get_data(t)
        p.logger.start_hour()
        pnl, execution = p.pnl, p.execution
        pnl.open_hour(market)
        execution.settle(market)
        pre_trade = p.risk.assess(market)
        instructions = (p.strategy.decide if decide is None else decide)(market)
        for instruction in instructions if gate is None else gate(instructions):
            execution.run(instruction, market)
        hour, marks = pnl.close_hour(market)
        p.logger.log_mark(t, hour.equity, marks)
        p.results.record(
            t,
            hour,
            p.fund.shares,
            p.positions,
            p.exposure.compute(market),
            pre_trade,
            p.risk.assess(market),
            market.values.get("benchmark_index", NAN),
        )
        return market

    def facts(self) -> dict[str, object]:
        """What summary.json says about the run besides its figures (data bridges and files,
        reconciliation checks, refused instructions, flows, rebalancing, shocks).
        `in_flight_transfers` (tickets still in flight, and counts) is a fact only of a run
        whose venues sent transfers that take time: a backtest's summary stays as it was."""
        execution = self.parts.execution
        facts: dict[str, object] = {
            "reconciliation_checks": execution.updates.reconciliation.checks,
            "rejected_instructions": execution.rejections,
            "flows": self.parts.fund.summary(),
            "rebalancing": {
                **self.parts.fund.rebalancing.as_dict(),
                "skipped": self.parts.strategy.gate.skipped_summary(),
            },
            "shocks_applied": self.data.shocks_applied,
            "benchmark": self.data.benchmark,
            "data_origin": self.data.origin,
            "data_bridges": self.data.bridge_summary(),
            "data_files": self.data.files,
        }
        if execution.in_flight.sent:
            facts["in_flight_transfers"] = execution.in_flight.facts()
        return facts

    def write(self, out_dir: Path, request_id: str) -> Path:
        """Write the run's files atomically into `out_dir/request_id`."""
        return self.parts.results.write(
            out_dir, request_id, events=self.parts.logger.events, facts=self.facts()
        )
