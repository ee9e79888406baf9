"""P&L calculator (domain 12): balance P&L, exact attribution, residual.

An hour's P&L has two parts.
1. Revaluation of the start-of-hour book from last hour's marks to this hour's, decomposed
   sequentially per holding: index (supply yield / borrow cost) -> rate (staking yield) ->
   price (delta, or dust P&L for reward tokens); perps split into delta and basis. Where a
   daily observation re-anchors an index or ρ this hour (`MarketState.accrued`), the part
   beyond the accrual is booked apart (supply / borrow / staking correction).
2. Everything booked by events this hour (funding, gas, execution costs, rewards, ...), each
   event's amount already in share-class units (the event logger converts it).
Balance P&L = E_t − E_{t−1} − net flows; the residual = balance P&L − Σ components is a bug
detector, not a tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from basis_strategy.components.execution import EventLogger
from basis_strategy.components.monitors import REWARD_TOKENS, ExposureMonitor, PositionMonitor
from basis_strategy.core.events import COMPONENTS
from basis_strategy.core.instruments import Instrument, instrument
from basis_strategy.data.market import MarketState
from basis_strategy.math.attribution import holding_terms, perp_terms, reanchoring_corrections

Marks = dict[str, tuple[float, float, float]]


@dataclass(frozen=True)
class HourPnL:
    equity: float
    net_flow: float
    pnl: float
    components: dict[str, float]
    residual: float
    mark_sources: Mapping[str, str] = field(default_factory=dict)  # series -> its mark's source


UNIT = (1.0, 1.0, 1.0)


def marks_for(key: str, market: MarketState, currency: str) -> tuple[float, float, float]:
    """(index, rate, price) of a holding; for a perp (mark, spot reference, USDT price).
    Cash in the share-class currency is always (1, 1, 1)."""
    inst = instrument(key)
    if inst.kind == "BaseToken" and inst.underlying == currency:
        return UNIT
    if inst.is_perp:
        mark = market[inst.mark_series]
        return mark, market.usd(inst.underlying), market.unit_price("USDT", currency)
    index = market[inst.index_series] if inst.index_series is not None else 1.0
    rate = market[inst.rate_series] if inst.rate_series is not None else 1.0
    return index, rate, market.unit_price(inst.underlying, currency)


def _add(terms: dict[str, float], name: str, amount: float) -> None:
    terms[name] = terms.get(name, 0.0) + amount


def _book_corrections(
    inst: Instrument,
    quantity: float,
    m0: tuple[float, float, float],
    m1: tuple[float, float, float],
    accrued: Mapping[str, float],
    terms: dict[str, float],
) -> tuple[float, float]:
    """Book the parts of a holding's index and rate terms that this hour's re-anchoring of its
    index or ρ brought (supply / borrow / staking correction); returns them."""
    index1 = accrued.get(inst.index_series or "", m1[0])
    rate1 = accrued.get(inst.rate_series or "", m1[1])
    index_correction, rate_correction = reanchoring_corrections(
        quantity, m1[0], index1, m0[1], m1[1], rate1, m0[2]
    )
    if index_correction:
        debt = inst.kind == "debtToken"
        _add(terms, "borrow_correction" if debt else "supply_correction", index_correction)
    if rate_correction:
        _add(terms, "staking_correction", rate_correction)
    return index_correction, rate_correction


class PnLCalculator:
    """Attributes each hour's equity change; keeps last hour's marks for the next hour."""

    def __init__(
        self,
        positions: PositionMonitor,
        exposure: ExposureMonitor,
        logger: EventLogger,
        currency: str,
    ) -> None:
        self.positions = positions
        self.exposure = exposure
        self.logger = logger
        self.currency = currency
        self.prev_marks: Marks = {}
        self.prev_equity = 0.0
        self._revaluation: dict[str, float] = {}
        self._marks_now: Marks = {}
        self._version_at_open = -1

    def open_hour(self, market: MarketState) -> None:
        """Revalue the start-of-hour book (before settlements and trades) at this hour's marks."""
        terms: dict[str, float] = {}
        marks: Marks = {}
        instruments = self.positions.instruments
        accrued = market.accrued
        for key, qty in self.positions.quantities.items():
            if qty == 0.0:
                continue
            m0 = self.prev_marks[key]
            m1 = marks[key] = marks_for(key, market, self.currency)
            if m0 != m1:  # unmoved marks (e.g. cash) carry no revaluation terms
                self._revalue(instruments[key], key, qty, m0, m1, terms, accrued)
        self._revaluation = terms
        self._marks_now = marks
        self._version_at_open = self.positions.version

    def _revalue(
        self,
        inst: Instrument,
        key: str,
        qty: float,
        m0: tuple[float, float, float],
        m1: tuple[float, float, float],
        terms: dict[str, float],
        accrued: Mapping[str, float],
    ) -> None:
        if inst.is_perp:
            p = perp_terms(
                qty, self.positions.entries[key], m0[0], m1[0], m0[1], m1[1], m0[2], m1[2]
            )
            terms["delta"] = terms.get("delta", 0.0) + p.delta + p.fx
            terms["basis"] = terms.get("basis", 0.0) + p.basis
            return
        quantity = inst.sign * qty
        h = holding_terms(quantity, m0[0], m1[0], m0[1], m1[1], m0[2], m1[2])
        index_term, rate_term = h.index, h.rate
        if accrued:  # an observation re-anchored some series this hour
            index_correction, rate_correction = _book_corrections(
                inst, quantity, m0, m1, accrued, terms
            )
            index_term -= index_correction
            rate_term -= rate_correction
        if index_term:
            name = "borrow_cost" if inst.kind == "debtToken" else "supply_yield"
            terms[name] = terms.get(name, 0.0) + index_term
        if rate_term:
            terms["staking_yield"] = terms.get("staking_yield", 0.0) + rate_term
        price_name = "dust_pnl" if inst.underlying in REWARD_TOKENS else "delta"
        terms[price_name] = terms.get(price_name, 0.0) + h.price

    def close_hour(self, market: MarketState) -> tuple[HourPnL, Marks]:
        """Balance P&L, attribution and residual on the final book; returns the hour's marks."""
        equity = self.exposure.compute(market).equity
        components = dict.fromkeys(COMPONENTS, 0.0)
        for source in (self._revaluation, self.logger.hour_pnl):
            for name, amount in source.items():
                components[name] += amount
        flow = self.logger.hour_flow
        pnl = equity - self.prev_equity - flow
        residual = pnl - sum(components.values())
        marks = self._marks_now
        if self.positions.version != self._version_at_open:  # trades this hour: new holdings
            marks = {
                key: marks[key] if key in marks else marks_for(key, market, self.currency)
                for key, qty in self.positions.quantities.items()
                if qty != 0.0
            }
        self.prev_marks = marks
        self.prev_equity = equity
        hour = HourPnL(equity, flow, pnl, components, residual, market.mark_sources)
        return hour, marks
