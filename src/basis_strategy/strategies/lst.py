"""The on-chain LST leg shared by the four DeFi modes (domain 4.2, 9.4–9.7, 10).

Unlevered, the leg is LST held in the wallet. Levered, it is LST supplied to AAVE in e-mode
against WETH debt, and every change to it is one atomic flash-loan bundle (ADR-020):
entry / incremental entry (10.1–10.2), deleverage (10.3), re-lever (10.4), partial exit
(10.5) and full exit. The leg only builds instructions; the venues execute them.

Inside a bundle the LST is minted at the protocol (no DEX cost) and sold on the DEX when it
must be turned back into WETH. Outside bundles the cheaper of mint and DEX buy is used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypedDict

from basis_strategy.components.monitors import PositionMonitor
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import DexVenue, FlashVenue, StakingVenue
from basis_strategy.core.instructions import (
    Action,
    Borrow,
    FlashBundle,
    Instruction,
    Repay,
    RequestUnstake,
    SetEmode,
    Stake,
    SupplyToAave,
    SwapOnDex,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.core.instruments import cash_key
from basis_strategy.data.market import MarketState
from basis_strategy.math.costs import gas_cost_eth, slippage_bps
from basis_strategy.math.leverage import (
    deleverage_sale,
    flash_entry,
    partial_exit,
    relever_flash,
)
from basis_strategy.strategies.rebalancing import Proposal

Steps = Iterator[Instruction]


class _Common(TypedDict):
    action: Action
    trigger: str


STAKING_VENUE = {"weETH": "etherfi", "wstETH": "lido"}
WALLET_WETH = cash_key("wallet", "WETH")
MIN_ETH = 1e-6  # smaller on-chain moves are not worth a transaction


class LstLeg:
    """Reads the on-chain leg from the book and builds the instructions that change it."""

    def __init__(self, config: RunConfig, positions: PositionMonitor) -> None:
        mode = config.mode
        assert mode.staking is not None
        self.positions = positions
        self.lst = mode.staking.lst_type
        self.venue = STAKING_VENUE[self.lst]
        self.lst_key = f"{self.venue}:LST:{self.lst}"
        self.collateral_key = f"aave_v3:aToken:a{self.lst}"
        self.debt_key = "aave_v3:debtToken:debtWETH"
        self.leverage = mode.leverage
        self.levered = mode.leverage is not None
        self.unstake_route = mode.staking.unstake_route
        self.gas_on = mode.costs.gas
        self.execution_on = mode.costs.execution
        dex = config.venues["uniswap"]
        staking = config.venues[self.venue]
        assert isinstance(dex, DexVenue) and isinstance(staking, StakingVenue)
        self.dex = dex
        self.staking = staking
        self.flash: FlashVenue | None = None
        self.flash_fee = 0.0
        if self.levered:
            flash = config.venues["morpho"]
            assert isinstance(flash, FlashVenue)
            self.flash = flash
            assert mode.leverage is not None
            self.flash_fee = mode.leverage.flash_loan_fee
        self.emode_set = False

    # --- reading the leg ----------------------------------------------------------------------

    def qty(self, key: str) -> float:
        return self.positions.qty(key)

    def rate(self, market: MarketState) -> float:
        return market.values["lst_rate:" + self.lst]

    def collateral_units(self, market: MarketState) -> float:
        """LST units supplied to AAVE (underlying of the scaled aToken balance)."""
        scaled = self.qty(self.collateral_key)
        return scaled * market.values["aave_li:" + self.lst] if scaled else 0.0

    def collateral_eth(self, market: MarketState) -> float:
        return self.collateral_units(market) * self.rate(market)

    def debt_eth(self, market: MarketState) -> float:
        if not self.levered:
            return 0.0
        return self.qty(self.debt_key) * market.values["aave_bi:WETH"]

    def ltv(self, market: MarketState) -> float:
        collateral = self.collateral_eth(market)
        return self.debt_eth(market) / collateral if collateral > 0 else 0.0

    def net_eth(self, market: MarketState) -> float:
        """The leg's net ETH exposure N: LST × ρ, or collateral − debt (domain 9.6, 9.7)."""
        held = self.qty(self.lst_key) * self.rate(market)
        return held + self.collateral_eth(market) - self.debt_eth(market)

    def is_open(self) -> bool:
        return self.qty(self.lst_key) > 0 or self.qty(self.collateral_key) > 0

    # --- prices and costs ----------------------------------------------------------------------

    def gas_eth(self, units: int, market: MarketState) -> float:
        return gas_cost_eth(units, market.gas_gwei()) if self.gas_on else 0.0

    def _dex_rate(self, notional_usd: float) -> float:
        """Pool fee + slippage of an ETH/LST swap of that size (as the DEX venue charges)."""
        if not self.execution_on:
            return 0.0
        low, high = self.dex.slippage_bps[f"ETH/{self.lst}"]
        return self.dex.swap_fee + slippage_bps(abs(notional_usd), low, high) * 1e-4

    def sale_price(self, lst_units: float, market: MarketState) -> float:
        """p': ETH received per LST sold on the DEX, after pool fee and slippage."""
        notional = lst_units * self.rate(market) * market.usd("ETH")
        return market.values["lst_market:" + self.lst] * (1.0 - self._dex_rate(notional))

    def _dex_buy_value(self, eth: float, market: MarketState) -> float:
        """ETH value (at ρ) of the LST a DEX buy with `eth` returns."""
        bought = eth * (1.0 - self._dex_rate(eth * market.usd("ETH")))
        return bought * self.rate(market) / market.values["lst_market:" + self.lst]

    # --- expected carry and costs (cost-aware rebalancing, issue 11) ---------------------------

    def staking_apr(self, market: MarketState) -> float:
        """Trailing growth of ρ plus the restaking rewards' trailing rate (0 without history)."""
        values = market.values
        apr = values.get("lst_apr:" + self.lst, math.nan) + values.get("reward_apr", 0.0)
        return apr if math.isfinite(apr) else 0.0

    def spread_apr(self, market: MarketState) -> float:
        """Carry of one more unit of collateral funded by one more unit of debt (levered):
        staking + LST supply APR − WETH borrow APR."""
        supply = market.values.get("aave_lr:" + self.lst, 0.0)
        return self.staking_apr(market) + supply - market.values["aave_br:WETH"]

    def carry_apr(self, market: MarketState) -> float:
        """Expected yield per unit of equity in the leg: staking unlevered; levered at λ,
        (y_c − λ y_d) / (1 − λ) (domain 9.5)."""
        if not self.levered:
            return self.staking_apr(market)
        ltv = self._target()
        collateral = self.staking_apr(market) + market.values.get("aave_lr:" + self.lst, 0.0)
        return (collateral - ltv * market.values["aave_br:WETH"]) / (1.0 - ltv)

    def entry_cost_eth(self, eth: float, market: MarketState) -> float:
        """Expected cost (ETH) of `add(eth)`: the flash bundle's gas and fee, or the cheaper of
        mint and DEX buy."""
        if self.levered:
            assert self.flash is not None
            flash = eth * self._target() / (1.0 - self._target())
            return (
                self.gas_eth(self.flash.gas_units["atomic_entry"], market) + flash * self.flash_fee
            )
        mint = self.gas_eth(self.staking.gas_units["stake"], market)
        buy = (
            eth
            - self._dex_buy_value(eth, market)
            + self.gas_eth(self.dex.gas_units["swap"], market)
        )
        return min(mint, buy)

    def relever_size(self, market: MarketState) -> float:
        """Flash WETH a re-lever to λ would take (10.4)."""
        return relever_flash(
            self.collateral_eth(market), self.debt_eth(market), self._target(), self.flash_fee
        )

    def relever_proposal(
        self, market: MarketState, share_per_eth: float, horizon_years: float
    ) -> Proposal:
        """Re-levering to λ: the flash size moved, the bundle's gas and fee, and the spread
        earned on the added collateral and debt over the horizon (share-class units)."""
        assert self.flash is not None
        flash = self.relever_size(market)
        cost = self.gas_eth(self.flash.gas_units["atomic_entry"], market) + flash * self.flash_fee
        benefit = flash * self.spread_apr(market) * horizon_years
        return Proposal(
            "relever", flash * share_per_eth, cost * share_per_eth, benefit * share_per_eth
        )

    def add_proposal(
        self, eth: float, market: MarketState, share_per_eth: float, horizon_years: float
    ) -> Proposal:
        """Investing `eth` idle wallet ETH in the leg: its cost and the leg's carry on it."""
        cost = self.entry_cost_eth(eth, market)
        benefit = eth * self.carry_apr(market) * horizon_years
        return Proposal(
            "deploy", eth * share_per_eth, cost * share_per_eth, benefit * share_per_eth
        )

    def take_cost_eth(self, eth: float, market: MarketState) -> float:
        """Expected cost (ETH) of `take(eth)`: the LST sale's discount, fee and slippage, and
        the gas of the swap or of the partial-exit bundle."""
        units = eth / self.rate(market)
        discount = units * (self.rate(market) - self.sale_price(units, market))
        if self.levered:
            assert self.flash is not None
            ltv = self._target()
            gas = self.gas_eth(self.flash.gas_units["atomic_deleverage_one_swap"], market)
            return discount / (1.0 - ltv) + gas
        return discount + self.gas_eth(self.dex.gas_units["swap"], market)

    # --- unlevered ----------------------------------------------------------------------------

    def acquire(self, eth: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Turn wallet ETH into LST: mint at ρ or buy on the DEX, whichever is worth more."""
        if eth <= MIN_ETH:
            return
        mint = eth - self.gas_eth(self.staking.gas_units["stake"], market)
        buy = self._dex_buy_value(eth, market) - self.gas_eth(self.dex.gas_units["swap"], market)
        if buy > mint:
            yield SwapOnDex(
                venue="uniswap",
                action=action,
                trigger=trigger,
                sell="ETH",
                buy=self.lst,
                sell_amount=eth,
            )
        else:
            yield Stake(venue=self.venue, action=action, trigger=trigger, amount=eth)

    def sell(self, lst_units: float, action: Action, trigger: str) -> Steps:
        """Sell wallet LST for ETH on the DEX (route (a), domain 4.2)."""
        units = min(lst_units, self.qty(self.lst_key))
        if units > MIN_ETH:
            yield SwapOnDex(
                venue="uniswap",
                action=action,
                trigger=trigger,
                sell=self.lst,
                buy="ETH",
                sell_amount=units,
            )

    def unstake(self, lst_units: float, action: Action, trigger: str) -> Steps:
        """Queue wallet LST at the protocol (route (b)): ETH pending until the claim."""
        units = min(lst_units, self.qty(self.lst_key))
        if units > MIN_ETH:
            yield RequestUnstake(venue=self.venue, action=action, trigger=trigger, amount=units)

    # --- either form ----------------------------------------------------------------------------

    def add(self, eth: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Invest `eth` wallet ETH in the leg (levered: at λ)."""
        if self.levered:
            return self.enter(eth, action, trigger, market)
        return self.acquire(eth, action, trigger, market)

    def take(self, eth: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Release `eth` of equity from the leg as wallet ETH (levered: at constant λ)."""
        if self.levered:
            return self.release(eth, action, trigger, market)
        units = eth / self.rate(market)
        return self.sell(eth / self.sale_price(units, market), action, trigger)

    def close(self, action: Action, trigger: str, market: MarketState) -> Steps:
        if self.levered:
            return self.exit_all(action, trigger, market)
        return self.sell(self.qty(self.lst_key), action, trigger)

    # --- levered: atomic bundles (domain 10) ----------------------------------------------------

    def _target(self) -> float:
        assert self.leverage is not None and self.leverage.target_ltv is not None
        return self.leverage.target_ltv

    def bundle(
        self,
        kind: str,
        amount: float,
        steps: tuple[Instruction, ...],
        gas_op: str,
        action: Action,
        trigger: str,
    ) -> FlashBundle:
        return FlashBundle(
            venue="morpho",
            action=action,
            trigger=trigger,
            kind=kind,
            asset="WETH",
            amount=amount,
            steps=steps,
            gas_op=gas_op,
        )

    def lever_steps(
        self,
        stake_eth: float,
        flash_weth: float,
        action: Action,
        trigger: str,
        market: MarketState,
    ) -> tuple[Instruction, ...]:
        """Unwrap the flash WETH, mint LST with it (plus equity), supply it, borrow to repay."""
        units = stake_eth / self.rate(market)
        common: _Common = {"action": action, "trigger": trigger}
        return (
            Wrap(venue="wallet", amount=-flash_weth, **common),
            Stake(venue=self.venue, amount=stake_eth, **common),
            SupplyToAave(venue="aave_v3", asset=self.lst, amount=units, **common),
            Borrow(
                venue="aave_v3", asset="WETH", amount=flash_weth * (1 + self.flash_fee), **common
            ),
        )

    def enter(self, equity_eth: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Entry (10.1) or incremental entry (10.2) with `equity_eth` wallet ETH, at λ."""
        if equity_eth <= MIN_ETH:
            return
        if not self.emode_set:
            self.emode_set = True
            yield SetEmode(venue="aave_v3", action=action, trigger="emode")
        assert self.flash is not None
        gas = self.gas_eth(self.flash.gas_units["atomic_entry"], market)
        if gas >= equity_eth:
            return
        sized = flash_entry(
            equity_eth, self._target(), self.rate(market), 1.0, self.flash_fee, 0.0, gas
        )
        kind = "entry" if action == "entry_full" else "incremental_entry"
        steps = self.lever_steps(
            equity_eth - gas + sized.flash_weth, sized.flash_weth, action, trigger, market
        )
        yield self.bundle(kind, sized.flash_weth, steps, "atomic_entry", action, trigger)

    def relever(self, trigger: str, market: MarketState) -> Steps:
        """Re-lever from the current LTV up to λ (10.4)."""
        flash = self.relever_size(market)
        if flash <= MIN_ETH:
            return
        steps = self.lever_steps(flash, flash, "entry_partial", trigger, market)
        yield self.bundle("relever", flash, steps, "atomic_entry", "entry_partial", trigger)

    def _effective_sale_price(self, lst_units: float, market: MarketState) -> float:
        """p' per LST net of the flash fee (the sale proceeds repay flash × (1 + f))."""
        return self.sale_price(lst_units, market) / (1.0 + self.flash_fee)

    def _unlever_steps(
        self, repay_weth: float, lst_units: float, action: Action, trigger: str, all_: bool
    ) -> tuple[Instruction, ...]:
        common: _Common = {"action": action, "trigger": trigger}
        return (
            Repay(venue="aave_v3", asset="WETH", amount=math.inf if all_ else repay_weth, **common),
            WithdrawFromAave(
                venue="aave_v3", asset=self.lst, amount=math.inf if all_ else lst_units, **common
            ),
            SwapOnDex(venue="uniswap", sell=self.lst, buy="WETH", sell_amount=lst_units, **common),
        )

    def deleverage(self, target_ltv: float, trigger: str, market: MarketState) -> Steps:
        """Sell LST to repay debt down to `target_ltv` at constant equity (10.3)."""
        collateral, debt, rate = (
            self.collateral_eth(market),
            self.debt_eth(market),
            self.rate(market),
        )
        units = deleverage_sale(collateral, debt, target_ltv, rate, rate)
        for _ in range(2):  # the sale price depends on the size sold
            units = deleverage_sale(
                collateral, debt, target_ltv, rate, self._effective_sale_price(units, market)
            )
        if units <= MIN_ETH:
            return
        repay = units * self._effective_sale_price(units, market)
        steps = self._unlever_steps(repay, units, "exit_partial", trigger, all_=False)
        yield self.bundle(
            "deleverage", repay, steps, "atomic_deleverage_one_swap", "exit_partial", trigger
        )
        yield from self.unwrap("exit_partial", trigger)

    def release(
        self, equity_eth: float, action: Action, trigger: str, market: MarketState
    ) -> Steps:
        """Release `equity_eth` ETH of equity at constant LTV (10.5); ETH lands in the wallet."""
        ltv, rate = self.ltv(market), self.rate(market)
        units, repay = partial_exit(equity_eth, ltv, rate, rate)
        for _ in range(2):
            units, repay = partial_exit(
                equity_eth, ltv, rate, self._effective_sale_price(units, market)
            )
        if units >= self.collateral_units(market) * (1 - 1e-9):
            yield from self.exit_all(action, trigger, market)
            return
        if units <= MIN_ETH:
            return
        steps = self._unlever_steps(repay, units, action, trigger, all_=False)
        yield self.bundle(
            "partial_exit", repay, steps, "atomic_deleverage_one_swap", action, trigger
        )
        yield from self.unwrap(action, trigger)

    def exit_all(self, action: Action, trigger: str, market: MarketState) -> Steps:
        """Full exit: repay all debt, withdraw and sell all collateral, in one bundle."""
        units = self.collateral_units(market)
        if units <= 0:
            return
        debt = self.debt_eth(market)
        steps = self._unlever_steps(debt, units, action, trigger, all_=True)
        yield self.bundle("full_exit", debt, steps, "atomic_deleverage_one_swap", action, trigger)
        yield from self.unwrap(action, trigger)

    def unwrap(self, action: Action, trigger: str) -> Steps:
        """Turn the wallet's WETH left by a bundle back into ETH."""
        weth = self.qty(WALLET_WETH)
        if weth > 0:
            yield Wrap(venue="wallet", action=action, trigger=trigger, amount=-weth)
