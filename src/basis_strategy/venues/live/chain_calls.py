"""The calls of the fund's account that carry out an instruction (issue 14): what each
instruction is on chain, with exact approvals around the call that spends, "all of" amounts
capped at the account's balance (`Cap`), and a swap's minimum out from the simulated DEX's
expected fill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from web3 import Web3

from basis_strategy.core.instructions import (
    Borrow,
    Instruction,
    Repay,
    SetEmode,
    Stake,
    SupplyToAave,
    SwapOnDex,
    Transfer,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.data.market import MarketState
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger
from basis_strategy.venues.live import chain_abi as abi
from basis_strategy.venues.simulated.chain import LST_ISSUERS, ChainVenue, wallet_key

VARIABLE = 2  # AAVE's variable interest rate mode
ETH = "0x0000000000000000000000000000000000000000"  # the DEX's native ETH
ALL_SLACK = 10**6  # "all of" a balance may fall short of the planned amount by 1e-6 of it
EMODE_CATEGORY = 1


@dataclass(frozen=True)
class ChainAddresses:
    """Where things are on the chain. `tokens`: symbol -> ERC-20 (WETH, USDT, the LSTs);
    `deposit_addresses`: (venue, asset) -> the only addresses a `Transfer` may pay;
    `underlying`: a wrapping LST -> the symbol of the token it wraps, itself in `tokens`
    (wstETH -> stETH: a stake submits ETH for stETH, then wraps it; the wallet's stETH is then
    read and reconciled like any token, so none can be left behind unseen). An LST without
    one (weETH) mints from ETH directly."""

    account: str
    pool: str
    dex: str
    tokens: Mapping[str, str]
    deposit_addresses: Mapping[tuple[str, str], str] = field(default_factory=dict)
    underlying: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainPolicy:
    ltv_slack: float = 0.002  # relative room of the on-chain LTV / HF bounds
    hf_floor: float = 0.0  # below it CHAIN-002 each cycle (the strategy deleverages); 0: off
    slippage_guard: float = 0.005  # a swap reverts below expected × (1 − guard)
    tolerance: float = 1e-6  # relative: expected vs mined beyond this is logged (REC-005)
    emode_category: int = EMODE_CATEGORY


@dataclass(frozen=True)
class Cap:
    """Spend at most what the account holds of `token` when it falls short of the amount at
    byte `offset` of the call's data by at most `slack` units (BasisAccount's `cap`)."""

    token: str
    offset: int
    slack: int


@dataclass(frozen=True)
class Call:
    target: str
    data: str
    value_wei: int = 0
    cap: Cap | None = None

    def encoded(self) -> tuple[str, int, bytes, str, int, int]:
        cap = self.cap or Cap(ETH, 0, 0)
        return (self.target, self.value_wei, bytes.fromhex(self.data[2:]), cap.token,
                cap.offset, cap.slack)  # fmt: skip


def to_units(amount: float, decimals: int) -> int:
    """A float amount in integer token units, rounded down (never more than asked)."""
    if not (math.isfinite(amount) and amount >= 0.0):
        raise ExecutionRejected(f"amount must be finite and >= 0, was {amount!r}")
    return int(Decimal(repr(amount)).scaleb(decimals))


def token_of(tokens: Mapping[str, Any], asset: str) -> Any:
    """`asset`'s ERC-20 contract among `tokens` (ETH is WETH's); refused when none is set."""
    token = tokens.get("WETH" if asset == "ETH" else asset)
    if token is None:
        raise ExecutionRejected(f"chain: no token address configured for {asset}")
    return token


def lst_of(venue: str) -> str:
    for lst, issuer in LST_ISSUERS.items():
        if issuer == venue:
            return lst
    raise ExecutionRejected(f"chain: no LST issued by {venue!r}")


class CallPlanner:
    """Turns instructions into the account's calls. `simulated`: the simulated chain venues on
    `ledger` (the book's chain part), for a swap's expected fill; `in_bundle`: set while the
    steps of a flash bundle are planned."""

    def __init__(
        self,
        w3: Web3,
        account: str,
        pool: Any,
        dex: Any,
        tokens: Mapping[str, Any],
        decimals: Mapping[str, int],
        addresses: ChainAddresses,
        policy: ChainPolicy,
        ledger: Ledger,
        simulated: Mapping[str, ChainVenue],
    ) -> None:
        self.w3, self.account_address, self.pool, self.dex = w3, account, pool, dex
        self.tokens, self.decimals, self.addresses = tokens, decimals, addresses
        self.policy, self.ledger, self.simulated = policy, ledger, simulated
        self.in_bundle = False

    def token(self, asset: str) -> Any:
        return token_of(self.tokens, asset)

    def units(self, asset: str, amount: float) -> int:
        """`amount` of `asset` in token units (rounded down)."""
        return to_units(amount, 18 if asset == "ETH" else self.decimals[asset])

    def _all_of(self, asset: str, units: int, arg: int) -> Cap:
        """Spending what the book holds of `asset` (or what an earlier call of the bundle just
        made): the book knows it to its float and its rates' precision, the chain exactly; the
        amount (argument `arg` of the call) is capped at the account's balance, up to
        ALL_SLACK of it short (`BasisAccount` module doc)."""
        return Cap(self.token(asset).address, 4 + 32 * arg, max(10, units // ALL_SLACK))

    def _call(
        self, contract: Any, fn: str, *args: Any, value_wei: int = 0, cap: Cap | None = None
    ) -> Call:
        return Call(contract.address, contract.encode_abi(fn, args=list(args)), value_wei, cap)

    def _approve_around(self, token: Any, spender: str, amount: int, inner: Call) -> list[Call]:
        """Exact approval, the call, then the allowance back to 0 (never a standing one)."""
        return [
            self._call(token, "approve", spender, amount),
            inner,
            self._call(token, "approve", spender, 0),
        ]

    def calls_for(self, order: Instruction, market: MarketState) -> list[Call]:
        """The account's calls that carry out `order` (one step of a bundle, or all of it)."""
        if isinstance(order, Wrap):
            weth = self.token("WETH")
            if order.amount > 0:
                return [self._call(weth, "deposit", value_wei=self.units("ETH", order.amount))]
            # outside a bundle, unwrapping the book's WETH means all of it; inside, the flash
            # loan's exact amount
            units = self.units("WETH", -order.amount)
            cap = None if self.in_bundle else self._all_of("WETH", units, 0)
            return [self._call(weth, "withdraw", units, cap=cap)]
        if isinstance(order, Stake):
            return self._stake_calls(order)
        if isinstance(order, SwapOnDex):
            return self._swap_calls(order, market)
        if isinstance(order, Transfer):
            return self._transfer_calls(order)
        return self._aave_calls(order)

    def _stake_calls(self, order: Stake) -> list[Call]:
        """weETH-style: `deposit{value}` mints the LST. wstETH-style (an `underlying`):
        `submit{value}` mints stETH 1:1, then `wrap` of exactly that stETH (approved around it)
        mints the LST at the protocol's rate, in the same transaction."""
        symbol = lst_of(order.venue)
        lst, wei = self.token(symbol), self.units("ETH", order.amount)
        underlying = self.addresses.underlying.get(symbol)
        if underlying is None:
            return [self._call(lst, "deposit", value_wei=wei)]
        w3 = self.w3
        steth = w3.eth.contract(address=self.token(underlying).address, abi=abi.STETH)
        wrapper = w3.eth.contract(address=lst.address, abi=abi.WSTETH)
        submit = self._call(steth, "submit", ETH, value_wei=wei)
        return [submit, *self._approve_around(steth, wrapper.address, wei,
                                              self._call(wrapper, "wrap", wei))]  # fmt: skip

    def _aave_calls(self, order: Instruction) -> list[Call]:
        pool, me = self.pool, self.account_address
        if isinstance(order, SetEmode):
            return [self._call(pool, "setUserEMode", self.policy.emode_category)]
        if not isinstance(order, SupplyToAave | WithdrawFromAave | Borrow | Repay):
            raise ExecutionRejected(f"chain: cannot execute {type(order).__name__} on chain")
        token = self.token(order.asset)
        everything = math.isinf(order.amount)
        if isinstance(order, SupplyToAave):
            units = self.units(order.asset, order.amount)
            cap = self._all_of(order.asset, units, 1)
            supply = self._call(pool, "supply", token.address, units, me, 0, cap=cap)
            return self._approve_around(token, pool.address, units, supply)
        units = abi.MAX_UINT256 if everything else self.units(order.asset, order.amount)
        if isinstance(order, WithdrawFromAave):
            return [self._call(pool, "withdraw", token.address, units, me)]
        if isinstance(order, Borrow):
            return [self._call(pool, "borrow", token.address, units, VARIABLE, 0, me)]
        repay = self._call(pool, "repay", token.address, units, VARIABLE, me)
        return self._approve_around(token, pool.address, units, repay)

    def _swap_calls(self, order: SwapOnDex, market: MarketState) -> list[Call]:
        sell_key = wallet_key(order.sell)
        amount = self.ledger.qty(sell_key) if math.isinf(order.sell_amount) else order.sell_amount
        units = self.units(order.sell, amount)
        expected = self._expected_received(order, amount, market)
        out_asset = "ETH" if order.buy == "ETH" else order.buy
        min_out = self.units(out_asset, expected * (1.0 - self.policy.slippage_guard))
        token_in = ETH if order.sell == "ETH" else self.token(order.sell).address
        token_out = ETH if order.buy == "ETH" else self.token(order.buy).address
        if order.sell == "ETH":
            return [self._call(self.dex, "swap", token_in, token_out, units, min_out,
                               value_wei=units)]  # fmt: skip
        cap = self._all_of(order.sell, units, 2)
        swap = self._call(self.dex, "swap", token_in, token_out, units, min_out, cap=cap)
        return self._approve_around(self.token(order.sell), self.dex.address, units, swap)

    def _expected_received(self, order: SwapOnDex, amount: float, market: MarketState) -> float:
        dex = self.simulated.get(order.venue)
        if dex is None:
            raise ExecutionRejected(f"chain: no DEX venue {order.venue!r}")
        trial = self.ledger.copy()
        trial.quantities[wallet_key(order.sell)] = max(trial.qty(wallet_key(order.sell)), amount)
        legs = dex.legs(order, market, trial, CostSwitches(gas=False, execution=True))
        return sum(leg.amount for leg in legs if leg.instrument == wallet_key(order.buy))

    def _transfer_calls(self, order: Transfer) -> list[Call]:
        allowed = self.addresses.deposit_addresses.get((order.destination, order.asset))
        if allowed is None:
            raise ExecutionRejected(
                f"chain: no allowed deposit address for {order.asset} at {order.destination}"
            )
        to = Web3.to_checksum_address(allowed)
        if order.asset == "ETH":
            return [Call(to, "0x", self.units("ETH", order.amount))]
        token = self.token(order.asset)
        units = self.units(order.asset, order.amount)
        return [self._call(token, "transfer", to, units, cap=self._all_of(order.asset, units, 1))]
