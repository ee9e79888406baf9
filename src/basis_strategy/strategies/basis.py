"""btc_basis / eth_basis (domain 9.2, 9.3, 11): long spot, short perps, collect funding.

Capital split: spot S = E'/(1 + m*), margin m* × S split by hedge allocation. The on-chain to
CEX and venue-to-venue capital split is kept by margin bands (domain 11.2): a venue at or
below the warning (critical) margin ratio is restored to m*, first from other venues' surplus,
then by selling spot and cutting that venue's short by the same amount; a venue above the
excess band sends its surplus back to the long leg. Delta drift is fixed with perps only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any, ClassVar

from basis_strategy.components.monitors import Exposure
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.models import CexVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import (
    Action,
    BuySpot,
    Instruction,
    SellSpot,
    TradePerp,
    Transfer,
)
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.data.market import MarketState
from basis_strategy.math.leverage import basis_split, margin_topup_units
from basis_strategy.strategies.base import NO_STEPS, Steps, StrategyManager

MIN_USDT = 10.0  # smaller cash moves are not worth an instruction
MIN_UNITS = 1e-9


class Basis(StrategyManager):
    """Long spot at the spot venue, short perps across the hedge venues."""

    asset: ClassVar[str]

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        if config.mode.asset != self.asset:
            raise ConfigError(
                "asset", f"{type(self).__name__} trades {self.asset}, was {config.mode.asset!r}"
            )
        hedge = config.mode.hedge
        assert hedge is not None
        self.base = config.mode.asset
        self.hedge_venues = tuple(hedge.venues)
        self.allocation = dict(hedge.allocation)
        self.spot_venue = hedge.spot_venue
        self.target = hedge.target
        self.tolerance = hedge.delta_tolerance
        self.spot_key = cash_key(self.spot_venue, self.base)
        self.cex_venues = tuple(dict.fromkeys((*self.hedge_venues, self.spot_venue)))
        self.long_cash_venue: str = self.spot_venue  # where the long leg is bought and sold

    # --- the long leg (hooks: spot here, on-chain LST in the hedged staking modes) -----------

    def long_units(self, market: MarketState) -> float:
        """Units of the base asset the long leg holds."""
        return self.qty(self.spot_key)

    def long_value(self, book: Exposure, market: MarketState) -> float:
        return book.values.get(self.spot_key, 0.0)

    def buy_long(self, usdt: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Spend `usdt` held at the long-leg cash venue on the long leg."""
        yield BuySpot(
            venue=self.spot_venue, action=action, trigger=trigger, base=self.base, quote_amount=usdt
        )

    def sell_long(self, units: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Sell `units` of the long leg for USDT at the long-leg cash venue."""
        yield SellSpot(
            venue=self.spot_venue, action=action, trigger=trigger, base=self.base, base_amount=units
        )

    def fee(self, venue: str) -> float:
        """The venue's flat USDT withdrawal fee (0 with execution costs off, or the wallet)."""
        config = self.config.venues.get(venue)
        if not isinstance(config, CexVenue):
            return 0.0
        return config.withdrawal_fee["USDT"] if self.mode.costs.execution else 0.0

    def size(self, venue: str) -> float:
        return self.qty(perp_key(venue, self.base))

    def usdt(self, venue: str) -> float:
        return self.qty(cash_key(venue, "USDT"))

    def surplus(self, venue: str, book: Exposure) -> float:
        """USDT a venue holds above m* × its notional (negative: a deficit)."""
        equity = book.venue_equity_usdt.get(venue, 0.0)
        return equity - self.target * book.venue_notional_usdt.get(venue, 0.0)

    def withdrawable(self, venue: str, book: Exposure) -> float:
        """Surplus that is cash: unrealised profit cannot leave a venue (exchanges exclude
        it from the withdrawable balance), so the cash left still backs m* on its own."""
        unrealised = book.venue_equity_usdt.get(venue, 0.0) - self.usdt(venue)
        return self.surplus(venue, book) - max(unrealised, 0.0)

    # --- entry ----------------------------------------------------------------------------

    def deploy(self, market: MarketState) -> Steps:
        action: Action = "entry_partial" if self.long_units(market) > 0 else "entry_full"
        yield from self.buy_gas_buffer(market, action, "gas_buffer")
        amount = self.deployable(market)
        if amount < MIN_USDT * len(self.cex_venues):
            return
        long_usdt, margin_usdt = basis_split(amount, self.target)
        for venue in self.cex_venues:
            send = margin_usdt * self.allocation.get(venue, 0.0)
            send += long_usdt if venue == self.long_cash_venue else 0.0
            yield Transfer(
                venue="wallet",
                action=action,
                trigger="deploy",
                destination=venue,
                asset="USDT",
                amount=send,
            )
        yield from self.add_long_and_hedge(long_usdt, action, "deploy", None, market)

    def add_long_and_hedge(
        self, usdt: float, action: Action, trigger: str, only: str | None, market: MarketState
    ) -> Steps:
        """Buy the long leg for `usdt` and short the units bought (at `only`, else split by
        allocation)."""
        before = self.long_units(market)
        yield from self.buy_long(usdt, action, trigger, market)
        bought = self.long_units(market) - before
        shares = {only: 1.0} if only else self.allocation
        for venue, share in shares.items():
            if share > 0:
                yield TradePerp(
                    venue=venue,
                    action=action,
                    trigger=trigger,
                    base=self.base,
                    size_delta=-share * bought,
                )

    # --- exits ----------------------------------------------------------------------------

    def raise_cash(self, amount: float, action: Action, market: MarketState) -> Steps:
        if math.isinf(amount):
            yield from self.unwind(1.0, "exit_full", market)
            return
        book = self.book(market)
        richest = max(self.cex_venues, key=lambda v: self.withdrawable(v, book))
        fee = self.fee(richest)
        if amount + fee <= self.withdrawable(richest, book):
            yield Transfer(
                venue=richest,
                action=action,
                trigger="raise_cash",
                destination="wallet",
                asset="USDT",
                amount=amount + fee,
            )
            return
        invested = sum(book.venue_equity_usdt.values()) + self.long_value(book, market)
        if invested > 0:  # else nothing is left to release (e.g. only the gas ETH remains)
            yield from self.unwind(min(1.0, amount / invested), action, market)

    def unwind(self, fraction: float, action: Action, market: MarketState) -> Steps:
        """Sell `fraction` of the long leg, cover the same fraction of every short, bring the
        released cash to the wallet (domain 9.2, 9.6 withdraw)."""
        book = self.book(market)
        released = {
            v: fraction
            * (
                book.venue_equity_usdt.get(v, 0.0)
                + (self.long_value(book, market) if v == self.long_cash_venue else 0.0)
            )
            for v in self.cex_venues
        }
        units = self.long_units(market) * fraction
        if units > MIN_UNITS:
            yield from self.sell_long(units, action, "unwind", market)
        for venue in self.hedge_venues:
            cover = -self.size(venue) * fraction
            if abs(cover) > MIN_UNITS:
                yield TradePerp(
                    venue=venue, action=action, trigger="unwind", base=self.base, size_delta=cover
                )
        for venue in self.cex_venues:
            send = self.usdt(venue) if fraction >= 1.0 else min(released[venue], self.usdt(venue))
            if send > MIN_USDT + self.fee(venue):
                yield Transfer(
                    venue=venue,
                    action=action,
                    trigger="unwind",
                    destination="wallet",
                    asset="USDT",
                    amount=send,
                )

    # --- margin bands (domain 11.2) ---------------------------------------------------------

    def risk_critical(self, market: MarketState) -> Steps:
        if "critical" not in self.assess(market).margin_level.values():
            return NO_STEPS
        return self.restore_margins(market, ("critical",))

    def risk_warning(self, market: MarketState) -> Steps:
        levels = self.assess(market).margin_level.values()
        if "critical" not in levels and "warning" not in levels and "excess" not in levels:
            return NO_STEPS
        return self._warnings_and_excess(market)

    def _warnings_and_excess(self, market: MarketState) -> Iterator[Instruction]:
        yield from self.restore_margins(market, ("critical", "warning"))
        if not self.critical_ran:
            yield from self.redeploy_excess(market)

    def restore_margins(
        self, market: MarketState, levels: tuple[str, ...]
    ) -> Iterator[Instruction]:
        risk = self.assess(market)
        for venue in self.hedge_venues:
            if risk.margin_level.get(venue) in levels:
                if "warning" not in levels:
                    self.critical_ran = True
                trigger = f"margin_{risk.margin_level[venue]}:{venue}"
                yield from self.top_up(venue, trigger, market)

    def top_up(self, venue: str, trigger: str, market: MarketState) -> Steps:
        """Bring `venue` back to m*: other venues' surplus first, then the long leg."""
        action: Action = "exit_partial"
        book = self.book(market)
        for donor in sorted(self.hedge_venues, key=lambda v: -self.withdrawable(v, book)):
            need = -self.surplus(venue, book)
            give = min(self.withdrawable(donor, book), need + self.fee(donor))
            if donor == venue or need <= MIN_USDT or give <= MIN_USDT + self.fee(donor):
                continue
            yield Transfer(
                venue=donor,
                action=action,
                trigger=trigger,
                destination=venue,
                asset="USDT",
                amount=give,
            )
            book = self.book(market)
        need = -self.surplus(venue, book)
        mark = market["perp:" + venue + ":" + self.base + "USDT"]
        equity = book.venue_equity_usdt.get(venue, 0.0)
        units = margin_topup_units(self.target, -self.size(venue), mark, equity)
        units = min(units, self.long_units(market), -self.size(venue))
        if need <= MIN_USDT or units <= MIN_UNITS:
            return
        before = self.usdt(self.long_cash_venue)
        yield from self.sell_long(units, action, trigger, market)
        yield TradePerp(
            venue=venue, action=action, trigger=trigger, base=self.base, size_delta=units
        )
        proceeds = self.usdt(self.long_cash_venue) - before
        if venue != self.long_cash_venue and proceeds > MIN_USDT + self.fee(self.long_cash_venue):
            yield Transfer(
                venue=self.long_cash_venue,
                action=action,
                trigger=trigger,
                destination=venue,
                asset="USDT",
                amount=proceeds,
            )

    def redeploy_excess(self, market: MarketState) -> Steps:
        """A venue above the excess band sends its surplus to the long leg (domain 11.2)."""
        risk = self.assess(market)
        for venue in self.hedge_venues:
            if risk.margin_level.get(venue) != "excess":
                continue
            usdt = self.withdrawable(venue, self.book(market)) / (1 + self.target)
            if usdt <= MIN_USDT + self.fee(venue):
                continue
            trigger = f"margin_excess:{venue}"
            if venue != self.long_cash_venue:
                before = self.usdt(self.long_cash_venue)
                yield Transfer(
                    venue=venue,
                    action="entry_partial",
                    trigger=trigger,
                    destination=self.long_cash_venue,
                    asset="USDT",
                    amount=usdt,
                )
                usdt = self.usdt(self.long_cash_venue) - before  # what arrived, after the fee
            yield from self.add_long_and_hedge(usdt, "entry_partial", trigger, venue, market)

    # --- delta (domain 8.2 step 5) ------------------------------------------------------------

    def delta(self, market: MarketState) -> Steps:
        drift = self.assess(market).delta_drift.get(self.base, 0.0)
        return NO_STEPS if drift <= self.tolerance else self._rehedge(market)

    def _rehedge(self, market: MarketState) -> Iterator[Instruction]:
        """Perps only, split by allocation; a venue the new short leaves at or below critical
        margin (e.g. re-hedging after a venue liquidation) is restored at once."""
        net = self.book(market).delta_units.get(self.base, 0.0)
        for venue in self.hedge_venues:
            change = -net * self.allocation[venue]
            if abs(change) > MIN_UNITS:
                yield TradePerp(
                    venue=venue,
                    action="entry_partial" if change < 0 else "exit_partial",
                    trigger="delta",
                    base=self.base,
                    size_delta=change,
                )
        if "critical" in self.assess(market).margin_level.values():
            yield from self.restore_margins(market, ("critical",))

    def deviation(self, market: MarketState) -> Steps:
        """Gas debt, then idle wallet cash above the reserve band (deployed)."""
        gas = super().deviation(market)
        equity = self.book(market).equity
        idle = self.deployable(market) / equity if equity > 0 else 0.0
        if self.critical_ran or idle <= self.mode.position_deviation_threshold:
            return gas
        return itertools.chain(gas, self.deploy(market))


class BtcBasis(Basis):
    """btc_basis (domain 9.2): long BTC spot on the spot venue, BTCUSDT perp shorts."""

    asset = "BTC"


class EthBasis(Basis):
    """eth_basis (domain 9.3): long ETH spot on the spot venue, ETHUSDT perp shorts."""

    asset = "ETH"
