"""Strategy manager base: the decision order of domain 8.2 and the five actions (ADR-032).

`decide(market)` is a generator: it yields one instruction at a time and the engine runs the
tight loop on it before asking for the next, so every step sees the book left by the steps
before it. Each step checks its trigger cheaply and returns nothing to do (`NO_STEPS`) or a
generator of instructions, so a quiet hour costs a few comparisons. Steps, in order:
1. critical risk (override; blocks steps that add exposure until the next hour),
2. flows (withdrawals, then deposits; the initial capital is the first deposit),
3. warning risk and excess margin,
4. dust, 5. delta, 6. position deviation (reserve, gas buffer, legs).
Subclasses implement the steps their mode needs; the actions (`entry_full`, `entry_partial`,
`exit_full`, `exit_partial`, `sell_dust`) name what each instruction is for. Optional actions
(steps 3-excess, 4 and 6) pass the cost-aware gate (`rebalancing.py`); flows (`flows.py`) are
framed so the fund books can charge their costs to their investor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from basis_strategy.components.fund import ShareRegister
from basis_strategy.components.monitors import (
    Exposure,
    ExposureMonitor,
    PositionMonitor,
    Risk,
    RiskMonitor,
)
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.models import Flow
from basis_strategy.core.instructions import Action, Instruction, SwapOnDex
from basis_strategy.core.instruments import WALLET_ETH, WALLET_USDT, cash_key
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.flows import Redemptions
from basis_strategy.strategies.rebalancing import CostModel, Proposal, RebalanceGate

Steps = Iterable[Instruction]
NO_STEPS: tuple[Instruction, ...] = ()
DUST_TOKENS = ("EIGEN", "ETHFI")
DUST_KEYS = tuple(cash_key("wallet", token) for token in DUST_TOKENS)
DEX_SWAP_GAS = 180_000  # gas units of one Uniswap swap (domain 4.5), for the dust estimate


class StrategyManager(Redemptions):
    """Base of the per-mode strategy managers."""

    def __init__(
        self,
        config: RunConfig,
        positions: PositionMonitor,
        exposure: ExposureMonitor,
        risk: RiskMonitor,
        shares: ShareRegister,
    ) -> None:
        self.config = config
        self.mode = config.mode
        self.currency = config.share_class.currency
        self.positions = positions
        self.exposure = exposure
        self.risk = risk
        self.shares = shares  # read only: the fund books own it
        self.gate = RebalanceGate(config)
        self.costs = CostModel(config)
        self.wallet_cash = cash_key("wallet", self.currency)
        self.flows: dict[datetime, list[Flow]] = {}
        initial = Flow(at=self.mode.start, amount=self.mode.initial_capital)
        for flow in (initial, *self.mode.flows.schedule):
            self.flows.setdefault(flow.at, []).append(flow)
        self.critical_ran = False

    # --- reading the book -------------------------------------------------------------------

    def book(self, market: MarketState) -> Exposure:
        return self.exposure.compute(market)

    def assess(self, market: MarketState) -> Risk:
        return self.risk.assess(market)

    def qty(self, key: str) -> float:
        return self.positions.qty(key)

    # --- the decision order -----------------------------------------------------------------

    def decide(self, market: MarketState) -> Iterator[Instruction]:
        """Yield this hour's instructions in the order of domain 8.2."""
        self.critical_ran = False
        yield from self.risk_critical(market)
        yield from self.on_flows(market)
        yield from self.risk_warning(market)
        yield from self.dust(market)
        yield from self.delta(market)
        yield from self.deviation(market)

    def flatten(self, market: MarketState) -> Iterator[Instruction]:
        """An emergency stop's flatten (ADR-043): close every position into wallet cash, as a
        full redemption unwinds and sweeps, but pay nothing out (the cash stays the fund's)."""
        yield from self.raise_cash(math.inf, "exit_full", market)
        yield from self.sweep(market)

    def risk_critical(self, market: MarketState) -> Steps:
        return NO_STEPS

    def risk_warning(self, market: MarketState) -> Steps:
        return NO_STEPS

    def dust(self, market: MarketState) -> Steps:
        """Sell reward tokens once worth at least the dust threshold (domain 8.5)."""
        quantities = self.positions.quantities
        if not any(quantities.get(key, 0.0) > 0 for key in DUST_KEYS):
            return NO_STEPS
        held = [(t, self.qty(cash_key("wallet", t))) for t in DUST_TOKENS]
        held = [(t, q) for t, q in held if q > 0]
        value_usd = sum(q * market.usd(t) for t, q in held)
        if value_usd < self.dust_threshold_usd(len(held), value_usd, market):
            return NO_STEPS
        if not self.gate.enabled("dust"):
            return NO_STEPS
        return self.sell_dust_tokens(held)

    def dust_threshold_usd(self, tokens: int, value_usd: float, market: MarketState) -> float:
        """max(dust_min_usd, 10 × estimated conversion cost): one swap per token, plus
        ETH -> USDT in the USDT class, at 1 % pool fee and slippage on the value."""
        swaps = tokens + (1 if self.currency == "USDT" else 0)
        gas = self.costs.gas(DEX_SWAP_GAS * swaps, market) * market.usd(self.currency)
        cost_usd = gas + (0.01 * value_usd if self.mode.costs.execution else 0.0)
        return max(self.mode.dust_min_usd, 10 * cost_usd)

    def sell_dust_tokens(self, held: list[tuple[str, float]]) -> Iterator[Instruction]:
        """Uniswap to ETH; in the USDT class on to USDT (the data has no CEX price for the
        reward tokens, so the route stays on-chain). The proceeds are then deployed by the
        position-deviation step."""
        eth_before = self.qty(WALLET_ETH)
        for token, qty in held:
            yield SwapOnDex(
                venue="uniswap",
                action="sell_dust",
                trigger=f"dust:{token}",
                sell=token,
                buy="ETH",
                sell_amount=qty,
            )
        received = self.eth_received_since(eth_before)
        if self.currency == "USDT" and received > 0:
            yield SwapOnDex(
                venue="uniswap",
                action="sell_dust",
                trigger="dust",
                sell="ETH",
                buy="USDT",
                sell_amount=received,
            )

    def delta(self, market: MarketState) -> Steps:
        return NO_STEPS

    def deviation(self, market: MarketState) -> Steps:
        return self.settle_gas_debt(market)

    # --- actions a mode defines -------------------------------------------------------------

    def deploy(self, market: MarketState) -> Steps:
        """Invest wallet cash above the reserve (entry_full on an empty book, else partial)."""
        return NO_STEPS

    def raise_cash(self, amount: float, action: Action, market: MarketState) -> Steps:
        """Release `amount` of share-class cash into the wallet (exit_partial / exit_full)."""
        return NO_STEPS

    # --- shared helpers -----------------------------------------------------------------------

    def gated(self, proposal: Proposal, action: Action, steps: Steps, market: MarketState) -> Steps:
        """An optional action's steps when the gate allows it (issue 11), else none."""
        if not self.gate.allows(proposal, market):
            return NO_STEPS
        return self.gate.run(proposal, action, steps)

    def deployable(self, market: MarketState) -> float:
        """Wallet cash above the reserve target R_res × E (domain 8.3/8.4)."""
        reserve = self.mode.reserve_ratio * self.book(market).equity
        return self.qty(self.wallet_cash) - reserve

    def buy_gas_buffer(
        self, market: MarketState, action: Action, trigger: str
    ) -> Iterator[Instruction]:
        """USDT class: keep `gas_buffer_eth` ETH in the wallet for gas (domain 5)."""
        if not self.mode.costs.gas or self.currency != "USDT":
            return
        missing_eth = self.mode.gas_buffer_eth - self.qty(WALLET_ETH)
        if missing_eth <= 1e-12:
            return
        usdt = missing_eth * market.usd("ETH") * 1.01  # covers the swap fee and slippage
        if usdt > self.qty(WALLET_USDT):
            yield from self.raise_cash(usdt - self.qty(WALLET_USDT), "exit_partial", market)
        yield SwapOnDex(
            venue="uniswap",
            action=action,
            trigger=trigger,
            sell="USDT",
            buy="ETH",
            sell_amount=min(usdt, self.qty(WALLET_USDT)),
        )

    def eth_received_since(self, wallet_eth_before: float) -> float:
        """Wallet ETH that arrived since the balance was `wallet_eth_before`, at most what the
        wallet holds: with gas debt (a negative balance) part of it pays the debt down."""
        now = self.qty(WALLET_ETH)
        return min(now - wallet_eth_before, now)

    def settle_gas_debt(self, market: MarketState) -> Steps:
        """Top the gas buffer back up once gas debt passes `gas_debt_settle_eth`."""
        if self.currency == "USDT" and self.qty(WALLET_ETH) < -self.mode.gas_debt_settle_eth:
            return self.buy_gas_buffer(market, "entry_partial", "gas_debt")
        return NO_STEPS
