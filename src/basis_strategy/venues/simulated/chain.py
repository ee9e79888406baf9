"""Simulated on-chain venues sharing one Ethereum wallet ledger (ADR-015).

The wallet (deposits, payouts, ERC-20 transfers, approvals), AAVE v3 (supply / withdraw in
scaled units) and Uniswap (swaps at the reference price less pool fee and slippage). Every
transaction pays gas from `wallet:BaseToken:ETH`.
"""

from __future__ import annotations

import math

from basis_strategy.config.models import AaveVenue, DexVenue, RpcVenue
from basis_strategy.core.instructions import (
    ApproveToken,
    ExecutionResult,
    Instruction,
    Leg,
    PayWithdrawal,
    ReceiveDeposit,
    SupplyToAave,
    SwapOnDex,
    Transfer,
    WithdrawFromAave,
)
from basis_strategy.core.instruments import cash_key
from basis_strategy.data.market import MarketState
from basis_strategy.math.aave import scaled_from_amount
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger


class ChainVenue:
    """Base of the on-chain venues: they all read and write the one wallet ledger."""

    name = "chain"

    def __init__(self, ledger: Ledger, costs: CostSwitches) -> None:
        self.ledger = ledger
        self.costs = costs

    def positions(self) -> dict[str, float]:
        """A copy of the venue's own ledger."""
        return dict(self.ledger.quantities)

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        legs = (Leg(cash_key("wallet", asset), amount, "TransferReceived", 1.0),)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def settle(self, market: MarketState) -> ExecutionResult:
        return ExecutionResult()

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        legs = self._legs(instruction, market)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def _legs(self, instruction: Instruction, market: MarketState) -> tuple[Leg, ...]:
        raise ExecutionRejected(f"{self.name} cannot execute {type(instruction).__name__}")


class SimulatedWallet(ChainVenue):
    """The Ethereum wallet: flows in and out, ERC-20 transfers to CEXs, approvals."""

    name = "wallet"

    def __init__(self, ledger: Ledger, costs: CostSwitches, config: RpcVenue) -> None:
        super().__init__(ledger, costs)
        self.config = config

    def _legs(self, instruction: Instruction, market: MarketState) -> tuple[Leg, ...]:
        if isinstance(instruction, ReceiveDeposit):
            key = cash_key("wallet", instruction.asset)
            return (
                Leg(
                    key,
                    instruction.amount,
                    "Deposited",
                    1.0,
                    "flow",
                    instruction.amount,
                    instruction.asset,
                ),
            )
        if isinstance(instruction, PayWithdrawal):
            key = cash_key("wallet", instruction.asset)
            self.ledger.require(key, instruction.amount)
            return (
                Leg(
                    key,
                    -instruction.amount,
                    "WithdrawalPaid",
                    1.0,
                    "flow",
                    -instruction.amount,
                    instruction.asset,
                ),
            )
        if isinstance(instruction, Transfer):
            key = cash_key("wallet", instruction.asset)
            self.ledger.require(key, instruction.amount)
            gas = self.costs.gas_leg(
                self.config.gas_units["erc20_transfer"], market, "erc20_transfer"
            )
            return (Leg(key, -instruction.amount, "TransferSent", 1.0), *gas)
        if isinstance(instruction, ApproveToken):
            return self.costs.gas_leg(
                self.config.gas_units["approve"], market, f"approve:{instruction.token}"
            )
        return super()._legs(instruction, market)


class SimulatedAave(ChainVenue):
    """AAVE v3: aTokens and debt tokens are stored scaled (domain 2, 4.1)."""

    name = "aave_v3"

    def __init__(self, ledger: Ledger, costs: CostSwitches, config: AaveVenue) -> None:
        super().__init__(ledger, costs)
        self.config = config

    def _legs(self, instruction: Instruction, market: MarketState) -> tuple[Leg, ...]:
        if isinstance(instruction, SupplyToAave):
            asset, amount = instruction.asset, instruction.amount
            self.ledger.require(cash_key("wallet", asset), amount)
            index = market["aave_li:" + asset]
            gas = self.costs.gas_leg(self.config.gas_units["supply"], market, "aave_supply")
            return (
                Leg(cash_key("wallet", asset), -amount, "Supplied", 1.0),
                Leg(
                    f"aave_v3:aToken:a{asset}", scaled_from_amount(amount, index), "Supplied", index
                ),
                *gas,
            )
        if isinstance(instruction, WithdrawFromAave):
            asset = instruction.asset
            key = f"aave_v3:aToken:a{asset}"
            index = market["aave_li:" + asset]
            held = self.ledger.qty(key)
            scaled = held if math.isinf(instruction.amount) else instruction.amount / index
            self.ledger.require(key, scaled)
            gas = self.costs.gas_leg(self.config.gas_units["withdraw"], market, "aave_withdraw")
            return (
                Leg(key, -scaled, "Withdrawn", index),
                Leg(cash_key("wallet", asset), scaled * index, "Withdrawn", 1.0),
                *gas,
            )
        return super()._legs(instruction, market)


class SimulatedDex(ChainVenue):
    """Uniswap: a swap fills at the reference price less pool fee and slippage."""

    name = "uniswap"

    def __init__(self, ledger: Ledger, costs: CostSwitches, config: DexVenue) -> None:
        super().__init__(ledger, costs)
        self.config = config

    def _legs(self, instruction: Instruction, market: MarketState) -> tuple[Leg, ...]:
        if not isinstance(instruction, SwapOnDex):
            return super()._legs(instruction, market)
        sell, buy, amount = instruction.sell, instruction.buy, instruction.sell_amount
        self.ledger.require(cash_key("wallet", sell), amount)
        pair = f"{buy}/{sell}" if f"{buy}/{sell}" in self.config.slippage_bps else f"{sell}/{buy}"
        if pair not in self.config.slippage_bps:
            raise ExecutionRejected(f"uniswap: no pool configured for {sell} -> {buy}")
        sell_usd, buy_usd = market.usd(sell), market.usd(buy)
        notional_usd = amount * sell_usd
        rate = self.costs.fee_rate(self.config.swap_fee) + self.costs.slippage_rate(
            notional_usd, self.config.slippage_bps[pair]
        )
        received = amount * (1 - rate) * sell_usd / buy_usd
        cost = amount * rate
        gas = self.costs.gas_leg(self.config.gas_units["swap"], market, "dex_swap")
        return (
            Leg(
                cash_key("wallet", sell),
                -amount,
                "Swapped",
                sell_usd,
                "execution_costs",
                -cost,
                sell,
            ),
            Leg(cash_key("wallet", buy), received, "Swapped", buy_usd),
            *gas,
        )
