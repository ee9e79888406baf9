"""Simulated on-chain venues sharing one Ethereum wallet ledger (ADR-015).

The wallet (deposits, payouts, ERC-20 transfers, approvals, WETH wrapping), AAVE v3 (supply,
withdraw, borrow, repay in scaled units; e-mode; liquidation) and Uniswap (swaps at the
reference price less pool fee and slippage; LSTs fill at the DEX rate ρ_mkt). Every
transaction pays gas from `wallet:BaseToken:ETH`, except wrapping (no gas op is configured
for it: treated as gas-free).

Each venue computes an instruction's legs against a given ledger (`legs`) without applying
them, so an atomic bundle (`flash.py`) can run its steps on a trial copy; `execute` applies
them to the shared ledger and then `commit`s any venue state kept outside the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from basis_strategy.config.venues import AaveVenue, DexVenue, RpcVenue
from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.core.instructions import (
    ApproveToken,
    Borrow,
    ExecutionResult,
    Instruction,
    Leg,
    PayWithdrawal,
    ReceiveDeposit,
    Repay,
    SetEmode,
    SupplyToAave,
    SwapOnDex,
    Transfer,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.core.instruments import LSTS, WALLET_ETH, cash_key
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.math import aave as aave_math
from basis_strategy.venues.interface import (
    CostSwitches,
    ExecutionRejected,
    Ledger,
    cost_detail,
    require_amount,
)

LST_ISSUERS = {"weETH": "etherfi", "wstETH": "lido"}
WALLET_WETH = cash_key("wallet", "WETH")
NOTHING = ExecutionResult()
COST = "execution_costs"
PENALTY = "liquidation_penalty"

Handler = Callable[[Any, MarketState, Ledger, CostSwitches], tuple[Leg, ...]]
RiskLookup = Callable[[str, bool], AaveRisk]


def wallet_key(asset: str) -> str:
    """Where the wallet holds `asset`: an LST under its issuer (`etherfi:LST:weETH`), any other
    token as `wallet:BaseToken:{asset}` (domain 2)."""
    issuer = LST_ISSUERS.get(asset)
    return f"{issuer}:LST:{asset}" if issuer else cash_key("wallet", asset)


class ChainVenue:
    """Base of the on-chain venues: they all read and write the one wallet ledger."""

    name = "chain"

    def __init__(self, ledger: Ledger, costs: CostSwitches) -> None:
        self.ledger = ledger
        self.costs = costs
        self.handlers: dict[type[Instruction], Handler] = {}

    def positions(self) -> dict[str, float]:
        """A copy of the venue's own ledger (the shared wallet ledger)."""
        return dict(self.ledger.quantities)

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        legs = (Leg(cash_key("wallet", asset), amount, "TransferReceived", 1.0),)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def settle(self, market: MarketState) -> ExecutionResult:
        return NOTHING

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        legs = self.legs(instruction, market, self.ledger, self.costs)
        self.ledger.apply(legs)
        self.commit(instruction, market)
        return ExecutionResult(legs)

    def legs(
        self, instruction: Instruction, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """The legs `instruction` produces against `ledger` with `costs`; nothing is applied.

        Raises ExecutionRejected when the venue does not support the instruction or refuses it.
        """
        handler = self.handlers.get(type(instruction))
        if handler is None:
            raise ExecutionRejected(f"{self.name} cannot execute {type(instruction).__name__}")
        return handler(instruction, market, ledger, costs)

    def commit(self, instruction: Instruction, market: MarketState) -> None:
        """Record venue state kept outside the ledger once the instruction's legs are applied
        (an unstake's claim time, e-mode). Most instructions have none."""


class SimulatedWallet(ChainVenue):
    """The Ethereum wallet: flows in and out, ERC-20 transfers to CEXs, approvals, WETH."""

    name = "wallet"

    def __init__(self, ledger: Ledger, costs: CostSwitches, config: RpcVenue) -> None:
        super().__init__(ledger, costs)
        self.config = config
        self.handlers = {
            ReceiveDeposit: self._deposit,
            PayWithdrawal: self._payout,
            Transfer: self._transfer,
            ApproveToken: self._approve,
            Wrap: self._wrap,
        }

    def _deposit(
        self, order: ReceiveDeposit, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        return tuple(
            Leg(cash_key("wallet", asset), amount, "Deposited", 1.0, "flow", amount, asset)
            for asset, amount in ((order.asset, order.amount), *order.in_kind)
        )

    def _payout(
        self, order: PayWithdrawal, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        key = cash_key("wallet", order.asset)
        ledger.require(key, order.amount)
        return (Leg(key, -order.amount, "WithdrawalPaid", 1.0, "flow", -order.amount, order.asset),)

    def _transfer(
        self, order: Transfer, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        key = cash_key("wallet", order.asset)
        ledger.require(key, order.amount)
        gas = costs.gas_leg(self.config.gas_units["erc20_transfer"], market, "erc20_transfer")
        return (Leg(key, -order.amount, "TransferSent", 1.0), *gas)

    def _approve(
        self, order: ApproveToken, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        return costs.gas_leg(self.config.gas_units["approve"], market, f"approve:{order.token}")

    def _wrap(
        self, order: Wrap, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """ETH -> WETH (amount > 0) or back (< 0), 1:1, no cost and (by decision) no gas."""
        if not math.isfinite(order.amount):
            raise ExecutionRejected(f"wallet: wrap amount must be finite, was {order.amount!r}")
        if order.amount == 0.0:
            return ()
        wrap = order.amount > 0.0
        source, target = (WALLET_ETH, WALLET_WETH) if wrap else (WALLET_WETH, WALLET_ETH)
        amount = abs(order.amount)
        ledger.require(source, amount)
        event = "Wrapped" if wrap else "Unwrapped"
        return (Leg(source, -amount, event, 1.0), Leg(target, amount, event, 1.0))


# --- AAVE v3 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AaveAccount:
    """An AAVE account at oracle prices (USD; ETH/USD cancels in every ratio, domain 4.1)."""

    collateral_usd: float
    threshold_usd: float  # Σ C × Pc × LT
    borrowing_power_usd: float  # Σ C × Pc × max LTV
    debt_usd: float

    @property
    def health_factor(self) -> float:
        return math.inf if self.debt_usd <= 0.0 else self.threshold_usd / self.debt_usd

    @property
    def ltv(self) -> float:
        return aave_math.loan_to_value(self.collateral_usd, self.debt_usd)


def _no_risk(asset: str, emode: bool) -> AaveRisk:
    raise ConfigError(
        "aave_v3.risk", f"no AAVE risk parameters given to the venue (asked for {asset!r})"
    )


def _aave_keys(ledger: Ledger, kind: str) -> list[tuple[str, str, float]]:
    """(key, asset, stored quantity) of every non-zero AAVE `kind` holding in `ledger`."""
    prefix = f"aave_v3:{kind}:"
    cut = 1 if kind == "aToken" else 4  # aweETH -> weETH, debtWETH -> WETH
    return [
        (key, key[len(prefix) + cut :], qty)
        for key, qty in ledger.quantities.items()
        if qty != 0.0 and key.startswith(prefix)
    ]


class SimulatedAave(ChainVenue):
    """AAVE v3: aTokens and debt tokens are stored scaled (domain 2, 4.1).

    `risk(asset, emode)` gives a collateral's max LTV, liquidation threshold and bonus in the
    category the account uses (e-mode once `SetEmode` ran, else standard); it comes from the
    data (the data provider's `aave_risk`). It is only consulted when the account has debt:
    borrow (max LTV), withdraw (HF >= 1 afterwards) and liquidation at `settle`.
    """

    name = "aave_v3"

    def __init__(
        self,
        ledger: Ledger,
        costs: CostSwitches,
        config: AaveVenue,
        risk: RiskLookup = _no_risk,
    ) -> None:
        super().__init__(ledger, costs)
        self.config = config
        self.risk = risk
        self.emode = False
        self.handlers = {
            SupplyToAave: self._supply,
            WithdrawFromAave: self._withdraw,
            Borrow: self._borrow,
            Repay: self._repay,
            SetEmode: self._set_emode,
        }

    def commit(self, instruction: Instruction, market: MarketState) -> None:
        if isinstance(instruction, SetEmode):
            self.emode = True

    def account(self, ledger: Ledger, market: MarketState) -> AaveAccount:
        """The account held in `ledger` at this hour's oracle prices and indices."""
        debt = sum(
            qty * market["aave_bi:" + asset] * market.usd(asset)
            for _, asset, qty in _aave_keys(ledger, "debtToken")
        )
        collateral = threshold = power = 0.0
        for _, asset, qty in _aave_keys(ledger, "aToken"):
            value = qty * market["aave_li:" + asset] * market.usd(asset)
            collateral += value
            if debt > 0.0:  # risk parameters matter only with debt
                risk = self.risk(asset, self.emode)
                threshold += value * risk.liquidation_threshold
                power += value * risk.max_ltv
        return AaveAccount(collateral, threshold, power, debt)

    def health_factor(self, market: MarketState) -> float:
        """HF of the account on the shared ledger (`inf` without debt)."""
        return self.account(self.ledger, market).health_factor

    def _after(self, ledger: Ledger, legs: tuple[Leg, ...], market: MarketState) -> AaveAccount:
        trial = ledger.copy()
        trial.apply(legs)
        return self.account(trial, market)

    def _supply(
        self, order: SupplyToAave, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        asset, amount = order.asset, order.amount
        require_amount(self.name, "supply amount", amount)
        source = wallet_key(asset)
        ledger.require(source, amount)
        index = market["aave_li:" + asset]
        scaled = aave_math.scaled_from_amount(amount, index)
        gas = costs.gas_leg(self.config.gas_units["supply"], market, "aave_supply")
        return (
            Leg(source, -amount, "Supplied", 1.0),
            Leg(f"aave_v3:aToken:a{asset}", scaled, "Supplied", index),
            *gas,
        )

    def _withdraw(
        self, order: WithdrawFromAave, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """Withdraw `amount` underlying (`inf`: all); refused if HF afterwards would be < 1."""
        asset = order.asset
        key = f"aave_v3:aToken:a{asset}"
        index = market["aave_li:" + asset]
        held = ledger.qty(key)
        if math.isinf(order.amount):
            scaled = held
        else:
            require_amount(self.name, "withdraw amount", order.amount)
            scaled = order.amount / index
        ledger.require(key, scaled)
        if scaled <= 0.0:
            raise ExecutionRejected(f"aave_v3: no {asset} supplied to withdraw")
        legs = (
            Leg(key, -scaled, "Withdrawn", index),
            Leg(wallet_key(asset), scaled * index, "Withdrawn", 1.0),
        )
        after = self._after(ledger, legs, market)
        if after.health_factor < 1.0:
            raise ExecutionRejected(
                f"aave_v3: withdrawing {scaled * index:.10g} {asset} would leave HF "
                f"{after.health_factor:.6g} < 1"
            )
        gas = costs.gas_leg(self.config.gas_units["withdraw"], market, "aave_withdraw")
        return (*legs, *gas)

    def _borrow(
        self, order: Borrow, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """Borrow into the wallet; refused if debt afterwards exceeds the borrowing power."""
        asset, amount = order.asset, order.amount
        require_amount(self.name, "borrow amount", amount)
        index = market["aave_bi:" + asset]
        legs = (
            Leg(f"aave_v3:debtToken:debt{asset}", amount / index, "Borrowed", index),
            Leg(wallet_key(asset), amount, "Borrowed", 1.0),
        )
        after = self._after(ledger, legs, market)
        if after.debt_usd > after.borrowing_power_usd * (1.0 + 1e-12):
            raise ExecutionRejected(
                f"aave_v3: borrowing {amount:.10g} {asset} would take debt to LTV "
                f"{after.ltv:.6g}, above the borrowing power (debt {after.debt_usd:.10g} USD "
                f"> {after.borrowing_power_usd:.10g} USD)"
            )
        gas = costs.gas_leg(self.config.gas_units["borrow"], market, "aave_borrow")
        return (*legs, *gas)

    def _repay(
        self, order: Repay, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """Repay from the wallet; `inf` or more than owed repays exactly all of the debt."""
        asset = order.asset
        key = f"aave_v3:debtToken:debt{asset}"
        held = ledger.qty(key)
        if held <= 0.0:
            raise ExecutionRejected(f"aave_v3: no {asset} debt to repay")
        if not math.isinf(order.amount):
            require_amount(self.name, "repay amount", order.amount)
        index = market["aave_bi:" + asset]
        owed = held * index
        if order.amount >= owed:
            scaled, paid = held, owed
        else:
            scaled, paid = order.amount / index, order.amount
        ledger.require(wallet_key(asset), paid)
        gas = costs.gas_leg(self.config.gas_units["repay"], market, "aave_repay")
        return (
            Leg(wallet_key(asset), -paid, "Repaid", 1.0),
            Leg(key, -scaled, "Repaid", index),
            *gas,
        )

    def _set_emode(
        self, order: SetEmode, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        return costs.gas_leg(self.config.gas_units["set_emode"], market, "aave_set_emode")

    # --- liquidation (domain 4.1 steps 1-7) ---------------------------------------------------

    def settle(self, market: MarketState) -> ExecutionResult:
        """Liquidate the account while HF < 1 (before any decision of the hour)."""
        legs = self.liquidation_legs(self.ledger, market)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def liquidation_legs(self, ledger: Ledger, market: MarketState) -> tuple[Leg, ...]:
        """The liquidation calls a liquidator would make now (none when HF >= 1).

        Modelled for one collateral and one debt asset. Each call reduces the debt and the
        collateral (scaled balances); the seized collateral's excess over the debt covered
        (the bonus) is the user's loss, booked as `liquidation_penalty` on the collateral leg.
        """
        debts = _aave_keys(ledger, "debtToken")
        if not debts:
            return ()
        collaterals = [c for c in _aave_keys(ledger, "aToken") if c[2] > 0.0]
        if not collaterals:
            return ()
        account = self.account(ledger, market)
        if account.health_factor >= 1.0:
            return ()
        if len(debts) != 1 or len(collaterals) != 1:
            raise OperationalError(
                "aave_v3: liquidation is modelled for one collateral and one debt asset, "
                f"account holds {[c[0] for c in collaterals]} against {[d[0] for d in debts]}"
            )
        return self._liquidate(collaterals[0], debts[0], account.health_factor, market)

    def _liquidate(
        self,
        collateral: tuple[str, str, float],
        debt: tuple[str, str, float],
        hf_before: float,
        market: MarketState,
    ) -> tuple[Leg, ...]:
        c_key, c_asset, c_scaled = collateral
        d_key, d_asset, d_scaled = debt
        li, bi = market["aave_li:" + c_asset], market["aave_bi:" + d_asset]
        c_price, d_price = market.usd(c_asset), market.usd(d_asset)
        risk = self.risk(c_asset, self.emode)
        calls = aave_math.liquidate_until_healthy(
            c_scaled * li,
            c_price,
            d_scaled * bi,
            d_price,
            risk.liquidation_threshold,
            risk.liquidation_bonus,
            self.config.full_liquidation_below_usd,
            self.config.close_factor,
            self.config.close_factor_hf_below,
        )
        loss_asset = "ETH" if d_asset == "WETH" else d_asset
        legs: list[Leg] = []
        hf = hf_before
        for call in calls:
            # seizing everything zeroes the balance exactly
            all_of_it = call.collateral_seized >= c_scaled * li
            seized = c_scaled if all_of_it else call.collateral_seized / li
            repaid = min(call.debt_repaid / bi, d_scaled)
            c_scaled, d_scaled = c_scaled - seized, d_scaled - repaid
            hf_after = aave_math.health_factor(
                c_scaled * li * c_price, risk.liquidation_threshold, d_scaled * bi * d_price
            )
            detail = (
                f"hf_before={hf:.6g};hf_after={hf_after:.6g};close_factor={call.close_factor:g};"
                f"bonus={risk.liquidation_bonus:g}"
            )
            loss = call.penalty_value / market.usd(loss_asset)
            legs.append(Leg(d_key, -repaid, "Liquidated", bi))
            legs.append(
                Leg(c_key, -seized, "Liquidated", li, PENALTY, -loss, loss_asset, detail=detail)
            )
            hf = hf_after
        return tuple(legs)


# --- Uniswap --------------------------------------------------------------------------------


def _pool_asset(asset: str) -> str:
    """WETH trades as ETH in the pool table (`ETH/weETH`)."""
    return "ETH" if asset == "WETH" else asset


class SimulatedDex(ChainVenue):
    """Uniswap: a swap fills at the market rate less pool fee and slippage.

    The market rate is the reference price, except for an LST, which trades at ρ_mkt
    (`lst_market:{LST}`) while it is valued at the oracle ρ: the whole difference to the
    reference value (fee, slippage and the discount ρ − ρ_mkt, a gain when buying below the
    oracle) is booked as `execution_costs` in units of the asset sold (domain 3, 4.2, 12.2).
    """

    name = "uniswap"

    def __init__(self, ledger: Ledger, costs: CostSwitches, config: DexVenue) -> None:
        super().__init__(ledger, costs)
        self.config = config
        self.handlers = {SwapOnDex: self._swap}

    def _pair(self, sell: str, buy: str) -> str:
        sell_p, buy_p = _pool_asset(sell), _pool_asset(buy)
        for pair in (f"{buy_p}/{sell_p}", f"{sell_p}/{buy_p}"):
            if pair in self.config.slippage_bps:
                return pair
        raise ExecutionRejected(f"uniswap: no pool configured for {sell} -> {buy}")

    @staticmethod
    def fill_usd(asset: str, market: MarketState) -> float:
        """USD per unit at which the pool trades `asset` (LSTs at ρ_mkt × P)."""
        if asset in LSTS:
            return market["lst_market:" + asset] * market.usd("ETH")
        return market.usd(asset)

    def _swap(
        self, order: SwapOnDex, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        sell, buy = order.sell, order.buy
        sell_key, buy_key = wallet_key(sell), wallet_key(buy)
        amount = ledger.qty(sell_key) if math.isinf(order.sell_amount) else order.sell_amount
        require_amount(self.name, f"{sell} sell amount", amount)
        ledger.require(sell_key, amount)
        pair = self._pair(sell, buy)
        sell_usd, buy_usd = market.usd(sell), market.usd(buy)
        fee_rate = costs.fee_rate(self.config.swap_fee)
        slippage_rate = costs.slippage_rate(amount * sell_usd, self.config.slippage_bps[pair])
        # the pool's rate against the reference (1 unless an LST trades off its oracle rate)
        ratio = self.fill_usd(sell, market) / sell_usd * buy_usd / self.fill_usd(buy, market)
        received = amount * ratio * (1.0 - fee_rate - slippage_rate) * sell_usd / buy_usd
        cost = amount - received * buy_usd / sell_usd  # sell units lost against the reference
        detail = cost_detail(
            amount * ratio * fee_rate, amount * ratio * slippage_rate, amount * (1.0 - ratio)
        )
        gas = costs.gas_leg(self.config.gas_units["swap"], market, "dex_swap")
        return (
            Leg(sell_key, -amount, "Swapped", sell_usd, COST, -cost, sell, detail=detail),
            Leg(buy_key, received, "Swapped", buy_usd),
            *gas,
        )
