"""btc_basis / eth_basis (domain 9.2, 9.3, 11): long spot, short perps, collect funding.

Capital split: spot S = E'/(1 + m*), margin m* × S split by hedge allocation. The on-chain to
CEX and venue-to-venue capital split is kept by margin bands (domain 11.2): a venue at or
below the warning (critical) margin ratio is restored to m*, first from other venues' surplus,
then by selling spot and cutting that venue's short by the same amount. Venues above the excess
band send their surplus back to the long leg in one plan an hour (one purchase of the long
leg, one short per venue), and only when it pays for itself (issue 11); so is idle wallet cash
deployed. Delta drift is fixed with perps only.

Live, a transfer takes time (issue 13 scope 5): USDT on its way to a venue is the position
`{venue}:Pending:USDT`, which is not the venue's margin yet (nor withdrawable anywhere) but
counts against its need, so a venue whose top-up is in flight is not topped up twice. In a
backtest nothing is ever in flight and these terms are zero.

A live CEX run (issue 13; `venues/live/build.py`) has no on-chain wallet: it starts from the
capital already on the venues (`start_on_venues`). The initial deposit is then booked as a
deposit at each venue of the USDT it holds, the entry buys the long leg and shorts with that
cash where it lies (no transfer, no gas ETH), and an exit closes the positions and leaves the
cash on the venues. A live run of a hedged mode (issue 14) starts the same way, its long leg's
cash being the on-chain account's USDT (booked as the wallet's deposit by the live chain venue).
A backtest never calls `start_on_venues`: its decisions are unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from basis_strategy.components.monitors import Exposure
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import CexVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import (
    Action,
    BuySpot,
    EndGroup,
    Instruction,
    ReceiveDeposit,
    SellSpot,
    StartFlow,
    TradePerp,
    Transfer,
)
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.data.market import MarketState
from basis_strategy.math.leverage import basis_split, margin_topup_units
from basis_strategy.strategies.base import NO_STEPS, Steps, StrategyManager
from basis_strategy.strategies.rebalancing import Proposal
from basis_strategy.venues.transfers import in_transit_key

MIN_USDT = 10.0  # smaller cash moves are not worth an instruction
MIN_UNITS = 1e-9


class Basis(StrategyManager):
    """Long spot at the spot venue, short perps across the hedge venues."""

    asset: ClassVar[str]
    # live runs only: USDT each venue held at the start (`start_on_venues`); None: the
    # capital arrives in the on-chain wallet (backtest, paper). A class default, so a
    # checkpoint pickled before this attribute existed reads as None.
    venue_capital: dict[str, float] | None = None

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        if config.mode.asset != self.asset:
            raise ConfigError(
                "asset", f"{type(self).__name__} trades {self.asset}, was {config.mode.asset!r}"
            )
        hedge = config.mode.hedge
        assert hedge is not None
        self.base = config.mode.asset
        self.hedge_venues: tuple[str, ...] = tuple(hedge.venues)
        self.allocation: dict[str, float] = {v: a for v, a in hedge.allocation.items()}
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

    def long_apr(self, market: MarketState) -> float:
        """Expected yield of the long leg per unit of value held (spot: none)."""
        return 0.0

    def long_entry_cost(self, usdt: float, market: MarketState) -> float:
        """Expected cost (share-class units) of `buy_long(usdt)`."""
        return self.costs.spot(self.spot_venue, self.base, usdt, market)

    def funding_apr(self, venue: str, market: MarketState) -> float:
        """The venue's trailing funding, annualised (0 before any settlement is known)."""
        apr = market.values.get(f"funding_apr:{venue}:{self.base}", math.nan)
        return apr if math.isfinite(apr) else 0.0

    def hedge_proposal(
        self,
        trigger: str,
        long_usdt: float,
        shorts: dict[str, float],
        moves: float,
        market: MarketState,
    ) -> Proposal:
        """Buy `long_usdt` of the long leg and short it split by `shorts` (USDT per venue),
        after `moves` of transfer costs: its full cost and the carry it adds over the horizon."""
        cost = moves + self.long_entry_cost(long_usdt, market)
        carry = long_usdt * self.long_apr(market)
        for venue, usdt in shorts.items():
            cost += self.costs.perp(venue, self.base, usdt, market)
            carry += usdt * self.funding_apr(venue, market)
        benefit = self.costs.usd(carry, market) * self.gate.horizon_years
        return Proposal(trigger, self.costs.usd(long_usdt, market), cost, benefit)

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

    def usdt_in_flight(self, venue: str) -> float:
        """USDT sent to `venue` and not credited yet (live transfers only; 0 in a backtest)."""
        return self.qty(in_transit_key(venue, "USDT"))

    def surplus(self, venue: str, book: Exposure) -> float:
        """USDT a venue holds above m* × its notional (negative: a deficit)."""
        equity = book.venue_equity_usdt.get(venue, 0.0)
        return equity - self.target * book.venue_notional_usdt.get(venue, 0.0)

    def withdrawable(self, venue: str, book: Exposure) -> float:
        """Surplus that is cash: unrealised profit cannot leave a venue (exchanges exclude
        it from the withdrawable balance), so the cash left still backs m* on its own. USDT
        in flight to the venue is in neither its equity nor its cash, so never withdrawable."""
        unrealised = book.venue_equity_usdt.get(venue, 0.0) - self.usdt(venue)
        return self.surplus(venue, book) - max(unrealised, 0.0)

    # --- entry ----------------------------------------------------------------------------

    def start_on_venues(self, capital_usdt: Mapping[str, float]) -> None:
        """Live run: the capital is `capital_usdt` already where it is spent, each venue's
        opening balance adopted by its live venue, not a deposit to the wallet: on the CEX
        venues, and for a strategy whose long leg is bought on chain (the hedged modes) also
        in the wallet (the on-chain account's USDT), which must then be given."""
        unknown = sorted(set(capital_usdt) - {*self.cex_venues, self.long_cash_venue})
        no_long_cash = self.long_cash_venue == "wallet" and "wallet" not in capital_usdt
        if no_long_cash or unknown:
            raise ConfigError(
                "venues",
                f"{type(self).__name__} cannot start from capital on the venues "
                f"(long leg at {self.long_cash_venue}, which holds none; not its venues: "
                f"{unknown})",
            )
        self.venue_capital = dict(capital_usdt)

    def receive(self, amount: float, market: MarketState) -> Iterator[Instruction]:
        """A deposit; live CEX (`start_on_venues`): the initial capital, booked as a deposit
        at each venue of what it holds, then deployed there."""
        if self.venue_capital is None:
            yield from super().receive(amount, market)
            return
        total = sum(self.venue_capital.values())
        yield StartFlow(action="flow", trigger="deposit", kind="deposit", amount=total)
        for venue, usdt in self.venue_capital.items():
            in_kind = self.take_in_kind() if venue == "wallet" else ()
            yield ReceiveDeposit(venue=venue, action="flow", trigger="deposit", asset="USDT",
                                 amount=usdt, in_kind=in_kind)  # fmt: skip
        if not self.critical_ran:
            yield from self.deploy(market)
        yield EndGroup(action="flow", trigger="deposit")

    def deploy(self, market: MarketState) -> Steps:
        if self.venue_capital is not None:
            yield from self._deploy_on_venues(market)
            return
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
        yield from self.add_long_and_hedge(long_usdt, action, "deploy", self.allocation, market)

    def _deploy_on_venues(self, market: MarketState) -> Steps:
        """Live CEX entry from the cash on the venues: the basis split of all of it, scaled
        down to what the venue holding the least of its share can pay (so nothing has to be
        transferred before the orders: a pre-funded run needs no transfer). Entry only: with
        a long leg already held, idle venue cash is left to the margin bands."""
        if self.long_units(market) > 0:
            return
        venues = tuple(dict.fromkeys((*self.cex_venues, self.long_cash_venue)))
        amount = sum(self.usdt(v) for v in venues)
        long_usdt, margin_usdt = basis_split(amount, self.target)
        scale = 1.0
        for venue in venues:
            need = margin_usdt * self.allocation.get(venue, 0.0)
            need += long_usdt if venue == self.long_cash_venue else 0.0
            if need > 0:
                scale = min(scale, max(self.usdt(venue), 0.0) / need)
        if scale * amount < MIN_USDT * len(self.cex_venues):
            return
        yield from self.add_long_and_hedge(
            long_usdt * scale, "entry_full", "deploy", self.allocation, market
        )

    def deploy_proposal(self, amount: float, market: MarketState) -> Proposal:
        """Deploying `amount` idle wallet USDT: transfers, the long leg and its shorts."""
        long_usdt, _ = basis_split(amount, self.target)
        moves = sum(
            self.costs.wallet_transfer(market)
            for v in self.cex_venues
            if v != "wallet" and (self.allocation.get(v, 0.0) > 0 or v == self.long_cash_venue)
        )
        shorts = {v: long_usdt * a for v, a in self.allocation.items()}
        proposal = self.hedge_proposal("deploy", long_usdt, shorts, moves, market)
        return Proposal("deploy", self.costs.usd(amount, market), proposal.cost, proposal.benefit)

    def add_long_and_hedge(
        self,
        usdt: float,
        action: Action,
        trigger: str,
        split: dict[str, float],
        market: MarketState,
    ) -> Steps:
        """Buy the long leg for `usdt` and short the units bought, split across venues by
        `split` (shares summing to 1)."""
        before = self.long_units(market)
        yield from self.buy_long(usdt, action, trigger, market)
        bought = self.long_units(market) - before
        for venue, share in split.items():
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
        if self.venue_capital is not None:  # live CEX: the cash stays on the venues
            return
        for venue in self.cex_venues:
            send = self.usdt(venue) if fraction >= 1.0 else min(released[venue], self.usdt(venue))
            least = self.fee(venue) + (0.0 if fraction >= 1.0 else MIN_USDT)
            if send > least:
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
        """Bring every venue at one of `levels` back to m* in one plan (domain 11.2): other
        venues' surplus first, then idle wallet cash, then one release of the long leg for
        all of them, its proceeds split by what each venue still needs."""
        risk = self.assess(market)
        short = [v for v in self.hedge_venues if risk.margin_level.get(v) in levels]
        if not short:
            return
        if "warning" not in levels:
            self.critical_ran = True
        triggers = {v: f"margin_{risk.margin_level[v]}:{v}" for v in short}
        for venue in short:
            yield from self._from_donors(venue, triggers[venue], market)
            yield from self._from_wallet(venue, triggers[venue], market)
        yield from self._from_long_leg(short, triggers, market)

    def _need(self, venue: str, market: MarketState) -> float:
        """USDT the venue lacks to be at m*, less what is already on its way to it."""
        return -self.surplus(venue, self.book(market)) - self.usdt_in_flight(venue)

    def _from_donors(self, venue: str, trigger: str, market: MarketState) -> Steps:
        """CEX -> CEX: other venues' withdrawable surplus, richest first."""
        book = self.book(market)
        for donor in sorted(self.hedge_venues, key=lambda v: -self.withdrawable(v, book)):
            need = self._need(venue, market)
            give = min(self.withdrawable(donor, self.book(market)), need + self.fee(donor))
            if donor == venue or need <= MIN_USDT or give <= MIN_USDT + self.fee(donor):
                continue
            yield self._move(donor, venue, give, trigger)

    def _from_wallet(self, venue: str, trigger: str, market: MarketState) -> Steps:
        """Wallet cash above the reserve (e.g. sold dust not yet deployed)."""
        need = self._need(venue, market)
        give = min(self.deployable(market), need)
        if venue != self.long_cash_venue and need > MIN_USDT and give > MIN_USDT:
            yield self._move("wallet", venue, give, trigger)

    def _from_long_leg(
        self, venues: list[str], triggers: dict[str, str], market: MarketState
    ) -> Iterator[Instruction]:
        """Release x_v units for each venue (domain 11.2) in one sale, cut each short by its
        x_v and send each its share of the proceeds."""
        book = self.book(market)
        action: Action = "exit_partial"
        units: dict[str, float] = {}
        for venue in venues:
            mark = market["perp:" + venue + ":" + self.base + "USDT"]
            equity = book.venue_equity_usdt.get(venue, 0.0) + self.usdt_in_flight(venue)
            x = margin_topup_units(self.target, -self.size(venue), mark, equity)
            x = min(x, -self.size(venue))
            if self._need(venue, market) > MIN_USDT and x > MIN_UNITS:
                units[venue] = x
        total = sum(units.values())
        if total > self.long_units(market):  # cannot release more than the leg holds
            units = {v: x * self.long_units(market) / total for v, x in units.items()}
            total = self.long_units(market)
        if total <= MIN_UNITS:
            return
        trigger = ",".join(triggers[v] for v in units)
        before = self.usdt(self.long_cash_venue)
        yield from self.sell_long(total, action, trigger, market)
        proceeds = self.usdt(self.long_cash_venue) - before
        for venue, x in units.items():
            yield TradePerp(
                venue=venue, action=action, trigger=triggers[venue], base=self.base, size_delta=x
            )
            send = proceeds * x / total
            if venue != self.long_cash_venue and send > MIN_USDT + self.fee(self.long_cash_venue):
                yield self._move(self.long_cash_venue, venue, send, triggers[venue])

    @staticmethod
    def _move(source: str, destination: str, usdt: float, trigger: str) -> Transfer:
        return Transfer(
            venue=source,
            action="exit_partial",
            trigger=trigger,
            destination=destination,
            asset="USDT",
            amount=usdt,
        )

    def redeploy_excess(self, market: MarketState) -> Steps:
        """Venues above the excess band send their surplus to the long leg (domain 11.2), all
        in one plan: one withdrawal per venue, one purchase of the long leg, one short per
        venue. `withdrawable / (1 + m*)` would leave a venue at m* once its short grows by the
        same value; each gives `excess_redeploy_fraction` of that, keeping a cushion above m*
        (a reversal then does not call the margin straight back from the long leg, a round
        trip that costs the LST sale × leverage). Only when the plan pays (issue 11)."""
        risk, book = self.assess(market), self.book(market)
        share = self.mode.rebalancing.excess_redeploy_fraction
        parts: dict[str, float] = {
            venue: share * self.withdrawable(venue, book) / (1 + self.target)
            for venue in self.hedge_venues
            if risk.margin_level.get(venue) == "excess"
        }
        parts = {v: usdt for v, usdt in parts.items() if usdt > self.fee(v)}
        if not parts:
            return NO_STEPS
        moves = sum(self.costs.withdrawal(v, market) for v in parts if v != self.long_cash_venue)
        total = sum(parts.values())
        proposal = self.hedge_proposal("margin_excess", total, parts, moves, market)
        if not self.gate.allows(proposal, market):
            return NO_STEPS
        return self.gate.run(proposal, "entry_partial", self._redeploy(parts, market))

    def _redeploy(self, parts: dict[str, float], market: MarketState) -> Iterator[Instruction]:
        trigger = "margin_excess"
        before = self.usdt(self.long_cash_venue)
        for venue, usdt in parts.items():
            if venue != self.long_cash_venue:
                yield Transfer(
                    venue=venue,
                    action="entry_partial",
                    trigger=trigger,
                    destination=self.long_cash_venue,
                    asset="USDT",
                    amount=usdt,
                )
        arrived = self.usdt(self.long_cash_venue) - before  # after the withdrawal fees
        usdt = arrived + parts.get(self.long_cash_venue, 0.0)
        total = sum(parts.values())
        split = {venue: part / total for venue, part in parts.items()}
        yield from self.add_long_and_hedge(usdt, "entry_partial", trigger, split, market)

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
        """Gas debt, then idle wallet cash above the reserve band (deployed when it pays)."""
        gas = super().deviation(market)
        equity = self.book(market).equity
        idle = self.deployable(market) / equity if equity > 0 else 0.0
        if self.critical_ran or idle <= self.mode.position_deviation_threshold:
            return gas
        proposal = self.deploy_proposal(self.deployable(market), market)
        if not self.gate.allows(proposal, market):
            return gas
        return itertools.chain(gas, self.gate.run(proposal, "entry_partial", self.deploy(market)))


class BtcBasis(Basis):
    """btc_basis (domain 9.2): long BTC spot on the spot venue, BTCUSDT perp shorts."""

    asset = "BTC"


class EthBasis(Basis):
    """eth_basis (domain 9.3): long ETH spot on the spot venue, ETHUSDT perp shorts."""

    asset = "ETH"
