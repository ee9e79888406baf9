"""Flows (domain 8.3, 8.4; issue 11): deposits, withdrawals and full redemptions.

Each flow is framed by `StartFlow` / `EndGroup`, so the fund books can charge the costs of
its instructions to its investor (`flows.cost_allocation: investor`) and list it in the
summary.
- A deposit lands in the wallet and is deployed at once (not after a critical action).
- With ε = 1 − `full_exit_ratio`: a withdrawal w within ε of the equity E on either side
  ((1 − ε)E ≤ w ≤ (1 + ε)E, a request that names the fund's value without knowing the last
  mark), or of every share (`shares: all`), is a full redemption: every position is closed
  (the legs, CEX cash, reward tokens, the gas buffer) and everything is paid out, so no share
  and no position remains. A leftover that would cost more than a tenth of its value to sell
  (the gas buffer, dust) is paid out in kind. A withdrawal above (1 + ε)E cannot be paid: it
  is refused, nothing is done and the refusal is recorded.
- Otherwise the reserve pays, topped up by an `exit_partial` unwind of
  (w − cash) × (1 + withdrawal_cost_buffer), a second pass covering costs above the buffer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from basis_strategy.components.fund import ShareRegister
from basis_strategy.components.monitors import Exposure, PositionMonitor
from basis_strategy.config.models import Flow, ModeConfig
from basis_strategy.core.instructions import (
    Action,
    EndGroup,
    Instruction,
    PayWithdrawal,
    ReceiveDeposit,
    RefuseFlow,
    StartFlow,
    SwapOnDex,
    Wrap,
)
from basis_strategy.core.instruments import WALLET_ETH, cash_key, instrument
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.rebalancing import CostModel

Steps = Iterable[Instruction]
WALLET_WETH = cash_key("wallet", "WETH")
REWARD_TOKENS = ("EIGEN", "ETHFI")
SELL_WORTH = 10.0  # sell a leftover only when it is worth 10 × what selling it costs
NO_STEPS: tuple[Instruction, ...] = ()


class Redemptions:
    """The flow steps of the strategy manager (mixed into `StrategyManager`)."""

    mode: ModeConfig
    currency: str
    wallet_cash: str
    positions: PositionMonitor
    shares: ShareRegister
    costs: CostModel
    flows: dict[datetime, list[Flow]]
    critical_ran: bool
    # the flows' times in order, and how many have run (`on_flows`); class defaults, so a
    # checkpoint pickled before these existed reads as none run
    _flow_times: list[datetime] | None = None
    _next_flow: int = 0
    # live: what the wallet holds besides the share class's cash, deposited in kind with
    # the opening deposit (`deposit_in_kind`)
    in_kind: dict[str, float] | None = None

    def deposit_in_kind(self, held: dict[str, float]) -> None:
        """Live, a USDT run on chain: the operator key's gas ETH counts as the wallet's (it
        pays the run's gas), so it is part of the opening deposit, in kind, at its price."""
        self.in_kind = dict(held)

    def take_in_kind(self) -> tuple[tuple[str, float], ...]:
        """The in-kind part of the opening deposit, once (`ReceiveDeposit.in_kind`)."""
        held, self.in_kind = self.in_kind or {}, None
        return tuple(held.items())

    def book(self, market: MarketState) -> Exposure:
        raise NotImplementedError

    def qty(self, key: str) -> float:
        return self.positions.qty(key)

    def deploy(self, market: MarketState) -> Steps:
        raise NotImplementedError

    def raise_cash(self, amount: float, action: Action, market: MarketState) -> Steps:
        raise NotImplementedError

    def sell_dust_tokens(self, held: list[tuple[str, float]]) -> Steps:
        raise NotImplementedError

    # --- the flow step ------------------------------------------------------------------------

    def on_flows(self, market: MarketState) -> Steps:
        """The flows due: scheduled at or before this step and not run yet, oldest first. A
        backtest steps every hour, so each runs at its own hour; a live session whose cycles
        are not on the hour (or that skipped one) runs a flow at its first cycle after it."""
        times = self._flow_times
        if times is None:
            times = self._flow_times = sorted(self.flows)
        i = self._next_flow
        if i >= len(times) or times[i] > market.t:
            return NO_STEPS
        due: list[Flow] = []
        while i < len(times) and times[i] <= market.t:
            due.extend(self.flows[times[i]])
            i += 1
        self._next_flow = i
        return self._flows(due, market)

    def _flows(self, flows: list[Flow], market: MarketState) -> Iterator[Instruction]:
        """Withdrawals first, then deposits (domain 8.2 step 2)."""
        for flow in flows:
            if flow.shares is not None or (flow.amount is not None and flow.amount < 0):
                yield from self.redeem(flow, market)
        for flow in flows:
            if flow.amount is not None and flow.amount > 0:
                yield from self.receive(flow.amount, market)

    def receive(self, amount: float, market: MarketState) -> Iterator[Instruction]:
        yield StartFlow(action="flow", trigger="deposit", kind="deposit", amount=amount)
        yield ReceiveDeposit(
            venue="wallet", action="flow", trigger="deposit", asset=self.currency, amount=amount,
            in_kind=self.take_in_kind(),
        )  # fmt: skip
        if not self.critical_ran:
            yield from self.deploy(market)
        yield EndGroup(action="flow", trigger="deposit")

    def refusal(self, flow: Flow, market: MarketState) -> RefuseFlow | None:
        """Why a redemption cannot be honoured (None when it can)."""
        equity = self.book(market).equity
        requested = math.nan if flow.amount is None else flow.amount
        reason = ""
        if self.shares.shares <= 0 or equity <= 0:
            reason = "no shares outstanding"
        elif flow.amount is not None and -flow.amount > equity * (2 - self.mode.full_exit_ratio):
            reason = (
                f"{-flow.amount:.10g} {self.currency} is above the fund's equity "
                f"{equity:.10g} {self.currency}"
            )
        if not reason:
            return None
        return RefuseFlow(
            action="flow",
            trigger="withdrawal",
            amount=requested,
            reason=f"withdrawal refused: {reason}",
        )

    def is_full(self, flow: Flow, market: MarketState) -> bool:
        if flow.shares == "all":
            return True
        assert flow.amount is not None
        return -flow.amount >= self.mode.full_exit_ratio * self.book(market).equity

    def redeem(self, flow: Flow, market: MarketState) -> Iterator[Instruction]:
        refused = self.refusal(flow, market)
        if refused is not None:
            yield refused
            return
        requested = math.nan if flow.amount is None else flow.amount
        if self.is_full(flow, market):
            yield StartFlow(
                action="flow",
                trigger="full_redemption",
                kind="full_redemption",
                amount=requested,
                shares=math.inf,
            )
            yield from self.redeem_all(market)
            yield EndGroup(action="flow", trigger="full_redemption")
            return
        assert flow.amount is not None
        yield StartFlow(action="flow", trigger="withdrawal", kind="withdrawal", amount=requested)
        yield from self.withdraw(-flow.amount, market)
        yield EndGroup(action="flow", trigger="withdrawal")

    def withdraw(self, amount: float, market: MarketState) -> Iterator[Instruction]:
        """Pay a partial redemption: from the reserve, else unwind (domain 8.4)."""
        buffer = 1 + self.mode.withdrawal_cost_buffer
        for _ in range(2):  # a second pass covers costs above the buffer; then the payout fails
            shortfall = amount - self.qty(self.wallet_cash)
            if shortfall <= 0:
                break
            yield from self.raise_cash(shortfall * buffer, "exit_partial", market)
        yield PayWithdrawal(
            venue="wallet", action="flow", trigger="withdrawal", asset=self.currency, amount=amount
        )

    # --- full redemption ----------------------------------------------------------------------

    def redeem_all(self, market: MarketState) -> Iterator[Instruction]:
        """Close every position (exit_full), then pay out everything the wallet holds."""
        yield from self.raise_cash(math.inf, "exit_full", market)
        yield from self.sweep(market)
        yield from self.pay_out_all()

    def sweep(self, market: MarketState) -> Iterator[Instruction]:
        """Turn the wallet's leftovers into share-class cash where that is worth it."""
        weth = self.qty(WALLET_WETH)
        if weth > 0:
            yield Wrap(venue="wallet", action="exit_full", trigger="sweep", amount=-weth)
        held = [(t, self.qty(cash_key("wallet", t))) for t in REWARD_TOKENS]
        held = [(t, q) for t, q in held if q > 0 and self.worth_selling(t, q, market)]
        if held:
            yield from self.sell_dust_tokens(held)
        if self.currency == "USDT":
            yield from self.settle_gas_eth(market)

    def worth_selling(self, token: str, qty: float, market: MarketState) -> bool:
        pair = "ETH/USDT" if token == "ETH" else f"{token}/ETH"
        value = qty * market.unit_price(token, self.currency)
        return value >= SELL_WORTH * self.costs.swap(qty * market.usd(token), pair, market)

    def settle_gas_eth(self, market: MarketState) -> Iterator[Instruction]:
        """USDT class: buy back gas debt (a little over, the rest is paid in kind), or sell
        the gas buffer when that is worth it."""
        eth = self.qty(WALLET_ETH)
        swap_gas_eth = self.costs.swap_gas_eth(market)
        if eth < 0:
            need = (-eth + swap_gas_eth) * market.usd("ETH") * 1.01
            yield self._sweep_swap("USDT", "ETH", need)
        elif eth > swap_gas_eth and self.worth_selling("ETH", eth, market):
            # a hair less than all of it: never below zero after the swap's own gas
            yield self._sweep_swap("ETH", "USDT", (eth - swap_gas_eth) * (1 - 1e-9))

    @staticmethod
    def _sweep_swap(sell: str, buy: str, amount: float) -> SwapOnDex:
        return SwapOnDex(
            venue="uniswap",
            action="exit_full",
            trigger="sweep",
            sell=sell,
            buy=buy,
            sell_amount=amount,
        )

    def pay_out_all(self) -> Iterator[Instruction]:
        """Everything left in the wallet goes to the redeemer: share-class cash, then the
        other tokens in kind."""
        for key in sorted(self.positions.quantities, key=lambda k: k != self.wallet_cash):
            inst = instrument(key)
            qty = self.qty(key)
            if inst.venue == "wallet" and inst.kind == "BaseToken" and qty > 0:
                yield PayWithdrawal(
                    venue="wallet",
                    action="flow",
                    trigger="full_redemption",
                    asset=inst.symbol,
                    amount=qty,
                )
