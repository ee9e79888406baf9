"""Simulated centralised exchange: spot, linear USDT perps, funding, withdrawals, venue
liquidation (domain 4.3).

Trades fill at the hour's reference price (spot: the asset's reference price; perps: the
venue's mark) worsened by slippage, plus a taker fee. The value a trade loses against the
reference price is booked as `execution_costs` on the leg, so a trade moves equity only by
that cost (domain 12.2).
"""

from __future__ import annotations

import math

from basis_strategy.config.venues import CexVenue
from basis_strategy.core.instructions import (
    BuySpot,
    ExecutionResult,
    Instruction,
    Leg,
    SellSpot,
    TradePerp,
    Transfer,
)
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.data.market import MarketState
from basis_strategy.math.perps import apply_fill, funding_cash_flow
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger, cost_detail

COST = "execution_costs"
PENALTY = "liquidation_penalty"
NOTHING = ExecutionResult()


class SimulatedCex:
    """One exchange account (cross margin within the venue)."""

    def __init__(self, config: CexVenue, costs: CostSwitches) -> None:
        self.name: str = config.name
        self.config = config
        self.costs = costs
        self.ledger = Ledger()
        self.usdt_key = cash_key(self.name, "USDT")
        # (position key, mark series) of every perp the venue lists
        self.perps = tuple(
            (perp_key(self.name, symbol.removesuffix("USDT")), f"perp:{self.name}:{symbol}")
            for symbol in config.perp_symbols
        )

    def positions(self) -> dict[str, float]:
        """A copy of the venue's own ledger."""
        return dict(self.ledger.quantities)

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        if isinstance(instruction, TradePerp):
            legs = self._trade_perp(instruction, market)
        elif isinstance(instruction, BuySpot):
            legs = self._buy_spot(instruction, market)
        elif isinstance(instruction, SellSpot):
            legs = self._sell_spot(instruction, market)
        elif isinstance(instruction, Transfer):
            legs = self._withdraw(instruction)
        else:
            raise ExecutionRejected(f"{self.name} cannot execute {type(instruction).__name__}")
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        legs = (Leg(cash_key(self.name, asset), amount, "TransferReceived", 1.0),)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def settle(self, market: MarketState) -> ExecutionResult:
        """Funding settling at this hour (on the positions held before any trade), then a
        venue liquidation if the account fell to its maintenance margin."""
        funding = self._funding_legs(market) if market.funding else ()
        if funding:
            self.ledger.apply(funding)
        liquidation = self.liquidation_legs(market)
        if not liquidation:
            return ExecutionResult(funding) if funding else NOTHING
        self.ledger.apply(liquidation)
        return ExecutionResult(funding + liquidation)

    def _funding_legs(self, market: MarketState) -> tuple[Leg, ...]:
        legs = []
        for funding in market.funding:
            if funding.venue != self.name:
                continue
            key = perp_key(self.name, funding.base)
            size = self.ledger.quantities.get(key, 0.0)
            if size == 0.0:
                continue
            mark = market["perp:" + self.name + ":" + funding.base + "USDT"]
            cash = funding_cash_flow(size, mark, funding.rate_per_8h)
            legs.append(Leg(self.usdt_key, cash, "FundingSettled", mark, "funding", cash, "USDT"))
        return tuple(legs)

    def _open_perps(self, market: MarketState) -> list[tuple[str, float, float]]:
        """(key, size, mark) of every open perp on this venue."""
        quantities = self.ledger.quantities
        return [
            (key, quantities[key], market.values[mark])
            for key, mark in self.perps
            if quantities.get(key, 0.0) != 0.0
        ]

    def liquidation_legs(self, market: MarketState) -> tuple[Leg, ...]:
        """Venue liquidation (domain 4.3) when `Eq <= mmr × notional` with notional > 0.

        `Eq = USDT + Σ q (mark − entry)`, notional `Σ |q| mark`. Every perp closes at mark
        (its uPnL realised into USDT: value-neutral), then the venue keeps
        `liquidation_fee × notional`, floored so USDT ends at `max(0, Eq − fee × notional)`;
        the loss is `liquidation_penalty`. Spot holdings are left alone.
        """
        quantities, entries, values = self.ledger.quantities, self.ledger.entries, market.values
        equity, notional = quantities.get(self.usdt_key, 0.0), 0.0
        for key, mark_name in self.perps:  # the hourly check: plain float arithmetic
            size = quantities.get(key, 0.0)
            if size != 0.0:
                mark = values[mark_name]
                equity += size * (mark - entries.get(key, 0.0))
                notional += abs(size) * mark
        mmr = self.config.maintenance_margin_rate
        if notional <= 0.0 or equity > mmr * notional:
            return ()
        perps = self._open_perps(market)
        upnl = [size * (mark - entries.get(key, 0.0)) for key, size, mark in perps]
        legs: list[Leg] = []
        for (key, size, mark), pnl in zip(perps, upnl, strict=True):
            legs.append(Leg(key, -size, "Liquidated", mark, entry_after=0.0))
            legs.append(Leg(self.usdt_key, pnl, "Liquidated", mark))
        fee = self.config.liquidation_fee * notional
        loss = equity - max(0.0, equity - fee)
        detail = (
            f"equity_usdt={equity:.10g};notional_usdt={notional:.10g};"
            f"margin_ratio={equity / notional:.6g};mmr={mmr:g};fee={self.config.liquidation_fee:g}"
        )
        legs.append(
            Leg(self.usdt_key, -loss, "Liquidated", 1.0, PENALTY, -loss, "USDT", detail=detail)
        )
        return tuple(legs)

    # --- orders --------------------------------------------------------------------------

    def _spot_rates(self, base: str, notional: float) -> tuple[float, float]:
        """(fee rate, slippage rate) of a spot trade of that notional."""
        if self.config.spot_taker_fee is None or base not in self.config.slippage_bps.spot:
            raise ExecutionRejected(f"{self.name} has no {base}/USDT spot market")
        slippage = self.costs.slippage_rate(notional, self.config.slippage_bps.spot[base])
        return self.costs.fee_rate(self.config.spot_taker_fee), slippage

    def _buy_spot(self, order: BuySpot, market: MarketState) -> tuple[Leg, ...]:
        self.ledger.require(self.usdt_key, order.quote_amount)
        price = market.usd(order.base)
        fee, slippage = (
            order.quote_amount * r for r in self._spot_rates(order.base, order.quote_amount)
        )
        cost = fee + slippage
        units = (order.quote_amount - cost) / price
        detail = cost_detail(fee, slippage)
        return (
            Leg(
                self.usdt_key,
                -order.quote_amount,
                "SpotBought",
                price,
                COST,
                -cost,
                "USDT",
                detail=detail,
            ),
            Leg(cash_key(self.name, order.base), units, "SpotBought", price),
        )

    def _sell_spot(self, order: SellSpot, market: MarketState) -> tuple[Leg, ...]:
        base_key = cash_key(self.name, order.base)
        self.ledger.require(base_key, order.base_amount)
        price = market.usd(order.base)
        notional = order.base_amount * price
        fee, slippage = (notional * r for r in self._spot_rates(order.base, notional))
        cost = fee + slippage
        return (
            Leg(base_key, -order.base_amount, "SpotSold", price),
            Leg(
                self.usdt_key,
                notional - cost,
                "SpotSold",
                price,
                COST,
                -cost,
                "USDT",
                detail=cost_detail(fee, slippage),
            ),
        )

    def _trade_perp(self, order: TradePerp, market: MarketState) -> tuple[Leg, ...]:
        key = perp_key(self.name, order.base)
        symbol = order.base + "USDT"
        if (
            symbol not in self.config.perp_symbols
            or order.base not in self.config.slippage_bps.perp
        ):
            raise ExecutionRejected(f"{self.name} does not list perp {symbol}")
        mark = market["perp:" + self.name + ":" + symbol]
        notional = abs(order.size_delta) * mark
        slippage = self.costs.slippage_rate(notional, self.config.slippage_bps.perp[order.base])
        fill = mark * (1 + math.copysign(slippage, order.size_delta))
        fee = notional * self.costs.fee_rate(self.config.perp_taker_fee)
        size = self.ledger.qty(key)
        after = apply_fill(size, self.ledger.entries.get(key, 0.0), order.size_delta, fill)
        cost = notional * slippage + fee
        return (
            Leg(
                key,
                order.size_delta,
                "PerpTraded",
                fill,
                COST,
                -cost,
                "USDT",
                after.entry_price,
                cost_detail(fee, notional * slippage),
            ),
            Leg(self.usdt_key, after.realised_pnl - fee, "PerpCashSettled", fill),
        )

    def _withdraw(self, order: Transfer) -> tuple[Leg, ...]:
        key = cash_key(self.name, order.asset)
        if order.asset not in self.config.withdrawal_fee:
            raise ExecutionRejected(f"{self.name}: no withdrawal of {order.asset} configured")
        self.ledger.require(key, order.amount)
        fee = self.costs.fee_rate(self.config.withdrawal_fee[order.asset])
        if fee >= order.amount:
            raise ExecutionRejected(
                f"{self.name}: withdrawal {order.amount} {order.asset} below its fee {fee}"
            )
        return (
            Leg(
                key,
                -order.amount,
                "WithdrawalSent",
                1.0,
                COST,
                -fee,
                order.asset,
                detail=cost_detail(fee),
            ),
        )

    def withdrawal_fee(self, asset: str) -> float:
        return self.costs.fee_rate(self.config.withdrawal_fee[asset])
