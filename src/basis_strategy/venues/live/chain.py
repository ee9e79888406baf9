"""The live on-chain venues (issue 14, ADR-012/015/020): the wallet, AAVE v3, the DEX, the
staking protocol and the flash lender, executed through web3.py by the fund's own account
contract (`contracts/src/BasisAccount.sol`), behind the same interface as the simulated ones.

How an instruction runs:
1. The simulated venue of the same name computes the legs it expects, on a trial copy of
   the book (so its refusals, e.g. borrowing beyond the borrowing power, refuse here too
   before anything is sent), and the AAVE account those legs would leave.
2. The instruction becomes calls of the account: `execute(calls, minHF, maxLTV)`, or for a
   flash bundle `flashBundle(WETH, amount, calls, minHF, maxLTV)` (AAVE's flash loan stands
   for the configured flash lender). The bounds are the expected account's health factor and
   loan-to-value with `ltv_slack`: the account reverts the whole transaction on chain when
   the result is not where the instruction says, so an over-levered bundle changes nothing.
   Approvals are exact and inside the same transaction.
3. `TxSender` sends it (nonce from the chain, gas capped, replacement policy, revert reasons
   by name). A refusal raises `ExecutionRejected`: nothing changed, nothing is booked. (A
   transaction that passed its estimate but reverted when mined still paid gas: that ETH
   shows as a difference at the next `confirm_book`, which halts; a person looks.)
4. The chain is the truth: every holding the legs touch is read at the receipt's block and at
   the block before. The expected legs are booked with the chain's differences folded in (a
   swap's into its bought amount and its cost, any other into the holding's last leg), and
   the gas leg is the receipt's. `confirm_book` reads the chain against the whole book.

Holdings as the book names them (domain 2): `wallet:BaseToken:ETH` is the account's ETH plus
the owner key's (which pays the gas), `wallet:BaseToken:{WETH,USDT}`, `{issuer}:LST:{LST}`,
and AAVE's scaled balances `aave_v3:aToken:a{X}` / `aave_v3:debtToken:debt{X}`
(scaledBalanceOf / 10^decimals: the book stores scaled amounts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from web3 import Web3

from basis_strategy.core.errors import ReconciliationHalt
from basis_strategy.core.instructions import (
    ApproveToken,
    Borrow,
    ExecutionResult,
    FlashBundle,
    Instruction,
    Leg,
    ReceiveDeposit,
    Repay,
    Stake,
    SupplyToAave,
    WithdrawFromAave,
)
from basis_strategy.core.instruments import WALLET_ETH
from basis_strategy.core.logs import log_event
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger, cost_detail
from basis_strategy.venues.live import chain_abi as abi
from basis_strategy.venues.live.chain_calls import (
    Call,
    CallPlanner,
    ChainAddresses,
    ChainPolicy,
    lst_of,
)
from basis_strategy.venues.live.chain_legs import fold_mined, steps_of
from basis_strategy.venues.live.chain_market import ChainMarket
from basis_strategy.venues.live.chain_tx import Sent, TxSender
from basis_strategy.venues.simulated.chain import (
    COST,
    LST_ISSUERS,
    PENALTY,
    ChainVenue,
    SimulatedAave,
    wallet_key,
)
from basis_strategy.venues.simulated.flash import SimulatedFlashLender

LOG = logging.getLogger(__name__)
VARIABLE = 2  # AAVE's variable interest rate mode
RAY = 1e27
ETH = "0x0000000000000000000000000000000000000000"  # the DEX's native ETH
ALL_SLACK = 10**6  # "all of" a balance may fall short of the planned amount by 1e-6 of it


class ChainAccount:
    """The fund's account on chain: its reads, its calls, its book (module doc).

    `simulated`: the simulated chain venues by name, on `ledger` (the book's chain part):
    they compute the expected legs. `sender` signs as the account's owner.
    """

    def __init__(
        self,
        w3: Web3,
        addresses: ChainAddresses,
        sender: TxSender,
        simulated: Mapping[str, ChainVenue],
        ledger: Ledger,
        policy: ChainPolicy | None = None,
    ) -> None:
        self.w3, self.addresses, self.sender = w3, addresses, sender
        self.simulated, self.ledger = dict(simulated), ledger
        self._policy = policy or ChainPolicy()
        self.account = w3.eth.contract(
            address=w3.to_checksum_address(addresses.account),
            abi=abi.compiled("BasisAccount")["abi"],
        )
        self.market = ChainMarket(w3, addresses.pool, addresses.dex, addresses.tokens)
        self.pool, self.dex, self.tokens = self.market.pool, self.market.dex, self.market.tokens
        self.decimals = self.market.decimals
        self.a_tokens, self.debt_tokens = self.market.a_tokens, self.market.debt_tokens
        aave = self.simulated.get("aave_v3")
        if isinstance(aave, SimulatedAave):  # the planner's e-mode is the chain's
            aave.emode = int(self.pool.functions.getUserEMode(self.account.address).call()) != 0
        self.planner = CallPlanner(
            w3, self.account.address, self.pool, self.dex, self.tokens, self.decimals,
            addresses, self.policy, ledger, self.simulated,
        )  # fmt: skip
        self.mined: list[Sent] = []
        self._watched_block = int(w3.eth.block_number)  # liquidations seen up to here
        self.liquidations: list[dict[str, Any]] = []

    @property
    def policy(self) -> ChainPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: ChainPolicy) -> None:
        """One policy for the account and its call planner (a pre-flight may refine it)."""
        self._policy = self.planner.policy = policy

    # --- reads ------------------------------------------------------------------------------

    def holdings(self, block: Any = "latest") -> dict[str, float]:
        """Everything the account (and the owner's gas ETH) holds, as the book names it."""
        at: dict[str, Any] = {"block_identifier": block}
        eth_wei = int(self.w3.eth.get_balance(self.account.address, block))
        eth_wei += int(self.w3.eth.get_balance(self.sender.address, block))
        found = {WALLET_ETH: eth_wei / 1e18}
        owner = self.account.address
        for symbol, token in self.tokens.items():
            scale = 10.0 ** self.decimals[symbol]
            found[wallet_key(symbol)] = token.functions.balanceOf(owner).call(**at) / scale
            if symbol in self.a_tokens:
                a_scaled = self.a_tokens[symbol].functions.scaledBalanceOf(owner).call(**at)
                d_scaled = self.debt_tokens[symbol].functions.scaledBalanceOf(owner).call(**at)
                found[f"aave_v3:aToken:a{symbol}"] = a_scaled / scale
                found[f"aave_v3:debtToken:debt{symbol}"] = d_scaled / scale
        return found

    def account_data(self) -> dict[str, float]:
        """AAVE's own view of the account: HF and LTV (`getUserAccountData`)."""
        c, d, _, lt, ltv, hf = self.pool.functions.getUserAccountData(self.account.address).call()
        return {
            "collateral_base": c / 1e8,
            "debt_base": d / 1e8,
            "liquidation_threshold": lt / 1e4,
            "max_ltv": ltv / 1e4,
            "health_factor": hf / 1e18,
        }

    def risk(self, asset: str, emode: bool) -> AaveRisk:
        """The collateral's risk parameters as the chain has them (`ChainMarket.risk`, in
        the policy's e-mode category)."""
        return self.market.risk(asset, emode, self.policy.emode_category)

    def market_values(self, block: Any = "latest") -> dict[str, float]:
        """The chain's own market at one block (`ChainMarket.market_values`)."""
        return self.market.market_values(block)

    def calls_for(self, order: Instruction, market: MarketState) -> list[Call]:
        """The account's calls that carry out `order` (`CallPlanner`)."""
        return self.planner.calls_for(order, market)

    # --- execution ----------------------------------------------------------------------------

    def execute(self, venue: str, order: Instruction, market: MarketState) -> ExecutionResult:
        if isinstance(order, ReceiveDeposit):
            return self._deposit(order)
        if isinstance(order, ApproveToken):
            return ExecutionResult()  # approvals are exact, inside each transaction
        simulated = self.simulated.get(venue)
        if simulated is None:
            raise ExecutionRejected(f"chain: no on-chain venue {venue!r}")
        trial = self.ledger.copy()
        costs = CostSwitches(gas=False, execution=True)
        if isinstance(order, FlashBundle):
            assert isinstance(simulated, SimulatedFlashLender)
            expected = simulated.bundle_legs(order, market, trial)
            self.planner.in_bundle = True
            try:
                calls = [c for step in order.steps for c in self.calls_for(step, market)]
            finally:
                self.planner.in_bundle = False
        else:
            expected = simulated.legs(order, market, trial, costs)
            trial.apply(expected)
            calls = self.calls_for(order, market)
        expected = tuple(leg for leg in expected if leg.pnl_component != "gas")
        expected = self._minted_at_protocol_rate(expected, order, market)
        min_hf, max_ltv = self._bounds(trial, market, order)
        what = f"{venue} {type(order).__name__}"
        encoded = [c.encoded() for c in calls]  # ETH a call sends is the account's own
        if isinstance(order, FlashBundle):
            token = self.planner.token(order.asset)
            fn = self.account.functions.flashBundle(
                token.address,
                self.planner.units(order.asset, order.amount),
                encoded,
                min_hf,
                max_ltv,
            )
        else:
            fn = self.account.functions.execute(encoded, min_hf, max_ltv)
        sent = self.sender.send(fn, what)
        self.mined.append(sent)
        legs = self._settled(expected, sent, order, what, market)
        self.ledger.apply(legs)
        for step in steps_of(order):
            self.simulated[step.venue].commit(step, market)  # e.g. the planner's e-mode
        return ExecutionResult(legs)

    def _minted_at_protocol_rate(
        self, legs: tuple[Leg, ...], order: Instruction, market: MarketState
    ) -> tuple[Leg, ...]:
        """A stake mints at the protocol's own rate (`_protocol_rate`), which the book's mark
        (the oracle's ρ) need not equal: the minted amount is planned at the protocol's rate,
        and its value at the mark less the ETH paid is booked on the minted leg as an execution
        cost's discount (as an LST bought off its oracle rate is, domain 4.2)."""
        stakes = [s for s in steps_of(order) if isinstance(s, Stake)]
        if not stakes:
            return legs
        out = list(legs)
        for stake in stakes:
            lst = lst_of(stake.venue)
            protocol = self._protocol_rate(lst)
            mark = market["lst_rate:" + lst]
            key = wallet_key(lst)
            i = next(i for i, leg in enumerate(out)
                     if leg.instrument == key and leg.event_type == "Staked")  # fmt: skip
            minted = stake.amount / protocol
            gain = minted * mark - stake.amount  # ETH: minted below the mark's rate is a gain
            if gain == 0.0:
                continue
            leg = out[i]
            out[i] = Leg(leg.instrument, minted, leg.event_type, leg.price, COST, gain, "ETH",
                         leg.entry_after, cost_detail(0.0, 0.0, -gain))  # fmt: skip
        return tuple(out)

    def _protocol_rate(self, lst: str) -> float:
        """ETH (or stETH) per LST unit at the protocol: wstETH's `stEthPerToken`, weETH's
        `getRate`."""
        token = self.planner.token(lst)
        if lst in self.addresses.underlying:
            wrapper = self.w3.eth.contract(address=token.address, abi=abi.WSTETH)
            return int(wrapper.functions.stEthPerToken().call()) / 1e18
        return int(token.functions.getRate().call()) / 1e18

    def _bounds(self, after: Ledger, market: MarketState, order: Instruction) -> tuple[int, int]:
        """(min HF, max LTV) in wad for the account's check: the expected account ± slack;
        no bounds when the instruction leaves no debt or does not touch AAVE."""
        aave = self.simulated.get("aave_v3")
        touches = isinstance(order, FlashBundle | SupplyToAave | WithdrawFromAave | Borrow | Repay)
        if not touches or not isinstance(aave, SimulatedAave):
            return 0, abi.MAX_UINT256
        account = aave.account(after, market)
        if account.debt_usd <= 0.0:
            return 0, abi.MAX_UINT256
        slack = self.policy.ltv_slack
        min_hf = int(account.health_factor * (1.0 - slack) * 1e18)
        max_ltv = int(account.ltv * (1.0 + slack) * 1e18)
        return min_hf, max_ltv

    def _gas_leg(self, gas_eth: float, gwei: float, what: str) -> Leg:
        return Leg(WALLET_ETH, -gas_eth, f"GasPaid:{what}", gwei, "gas", -gas_eth, "ETH")

    def _settled(
        self,
        expected: tuple[Leg, ...],
        sent: Sent,
        order: Instruction,
        what: str,
        market: MarketState,
    ) -> tuple[Leg, ...]:
        """The expected legs with the chain's result folded in (module doc, step 4), and the
        index corrections of the AAVE balances it moved (`_index_corrections`)."""
        block = int(sent.receipt["blockNumber"])
        before, after = self.holdings(block - 1), self.holdings(block)
        gas = self._gas_leg(sent.gas_eth, sent.gas_gwei, what)
        legs, moved = fold_mined([*expected, gas], before, after, order)
        for key, gap, scale in moved:
            if abs(gap) > self.policy.tolerance * max(scale, 1e-12):
                log_event(LOG, "REC-005", f"{what}: {key} moved {gap:.12g} more than planned "
                          f"(of {scale:.12g})", key=key)  # fmt: skip
        return (*legs, *self._index_corrections(before, after, block, market))

    def _index_corrections(
        self, before: dict[str, float], after: dict[str, float], block: int, market: MarketState
    ) -> tuple[Leg, ...]:
        """The book marks a scaled balance at the market's index, but the transaction moved it
        at the index of its block, seconds of interest later: a change of `mined` scaled units
        is worth `mined × (index_market − index_block)` more at the mark than what it cost or
        paid. Booked as `supply_correction` / `borrow_correction` (zero-amount legs) so the
        hour's attribution adds up; the next hour's interest then counts from the mark."""
        legs = []
        pool = self.pool.functions
        for symbol in self.a_tokens:
            asset = self.tokens[symbol].address
            for kind, reader, component, sign in (
                ("aToken:a", pool.getReserveNormalizedIncome, "supply_correction", 1.0),
                ("debtToken:debt", pool.getReserveNormalizedVariableDebt, "borrow_correction",
                 -1.0),
            ):  # fmt: skip
                key = f"aave_v3:{kind}{symbol}"
                mined = after.get(key, 0.0) - before.get(key, 0.0)
                if mined == 0.0:
                    continue
                marked = market[("aave_li:" if sign > 0 else "aave_bi:") + symbol]
                at_block = reader(asset).call(block_identifier=block) / RAY
                pnl = sign * mined * (marked - at_block)
                if pnl != 0.0:
                    legs.append(Leg(key, 0.0, "IndexCorrection", marked, component, pnl, symbol,
                                    detail=f"index_block={at_block:.18g}"))  # fmt: skip
        return tuple(legs)

    def _deposit(self, order: ReceiveDeposit) -> ExecutionResult:
        """A deposit is money already in the account that the book does not hold yet (the
        opening capital of a run, or an investor's transfer, with what lands in kind beside
        it): booked if the chain shows it, all in one result (the book is whole after it)."""
        held, legs = self.holdings(), []
        for asset, amount in ((order.asset, order.amount), *order.in_kind):
            key = wallet_key(asset)
            unbooked = held.get(key, 0.0) - self.ledger.qty(key)
            if amount > unbooked * (1.0 + 1e-12) + 1e-12:
                raise ExecutionRejected(
                    f"wallet: deposit of {amount:.10g} {asset} is not on chain "
                    f"(the account holds {unbooked:.10g} {asset} more than the book)"
                )
            legs.append(Leg(key, amount, "Deposited", 1.0, "flow", amount, asset))
        self.ledger.apply(tuple(legs))
        return ExecutionResult(tuple(legs))

    # --- what happens to the account without us: liquidations ---------------------------------

    def settle_aave(self, market: MarketState) -> ExecutionResult:
        """Once per cycle: book every `LiquidationCall` of our account since the last cycle
        (CHAIN-001, CRITICAL: the strategy halts), then read the health factor against the
        floor (CHAIN-002: the strategy's own LTV bands deleverage it this cycle)."""
        latest = int(self.w3.eth.block_number)
        found: Any = ()  # no block since the last cycle: nothing to look at (from > to fails)
        if latest > self._watched_block:
            found = self.pool.events.LiquidationCall().get_logs(
                from_block=self._watched_block + 1,
                to_block=latest,
                argument_filters={"user": self.account.address},
            )
            self._watched_block = latest
        legs: list[Leg] = []
        for log in found:
            legs.extend(self._liquidation_legs(log, market))
        if legs:
            self.ledger.apply(tuple(legs))
        hf = self.account_data()["health_factor"]
        if self.policy.hf_floor and hf < self.policy.hf_floor:
            log_event(LOG, "CHAIN-002", f"aave_v3: health factor {hf:.6g} < floor "
                      f"{self.policy.hf_floor:.6g}", health_factor=hf)  # fmt: skip
        return ExecutionResult(tuple(legs))

    def _liquidation_legs(self, log: Any, market: MarketState) -> tuple[Leg, ...]:
        """A liquidation of our account as the chain did it: the scaled balances it took
        (read at its block and the one before), the loss as the seized collateral's value
        over the debt it repaid at this cycle's marks (the book's own valuation, domain 4.1)."""
        by_address = {t.address.lower(): s for s, t in self.tokens.items()}
        args, block = log["args"], int(log["blockNumber"])
        collateral = by_address[str(args["collateralAsset"]).lower()]
        debt = by_address[str(args["debtAsset"]).lower()]
        before, after = self.holdings(block - 1), self.holdings(block)
        c_key, d_key = f"aave_v3:aToken:a{collateral}", f"aave_v3:debtToken:debt{debt}"
        c_scaled, d_scaled = before[c_key] - after[c_key], before[d_key] - after[d_key]
        li, bi = market["aave_li:" + collateral], market["aave_bi:" + debt]
        loss_usd = c_scaled * li * market.usd(collateral) - d_scaled * bi * market.usd(debt)
        loss = loss_usd / market.usd("ETH")
        detail = (
            f"tx={log['transactionHash'].hex()};block={block};"
            f"debt_repaid={args['debtToCover'] / 10 ** self.decimals[debt]:.12g};"
            f"collateral_seized="
            f"{args['liquidatedCollateralAmount'] / 10 ** self.decimals[collateral]:.12g}"
        )
        self.liquidations.append(
            {"block": block, "collateral": collateral, "debt": debt, "loss_eth": loss}
        )
        log_event(LOG, "CHAIN-001", f"aave_v3: our account was liquidated in block {block}: "
                  f"{detail}", block=block, loss_eth=loss)  # fmt: skip
        return (
            Leg(d_key, -d_scaled, "Liquidated", bi),
            Leg(c_key, -c_scaled, "Liquidated", li, PENALTY, -loss, "ETH", detail=detail),
        )

    # --- the chain's word on the whole book ----------------------------------------------------

    def confirm_book(self, book: Mapping[str, float]) -> None:
        """Read every holding and compare it with `book` (scaled AAVE balances, wallet
        tokens, ETH); a difference beyond the tolerance is REC-002 and halts."""
        found = self.holdings()
        keys = set(found) | {k for k in book if _on_chain(k)}
        wrong = []
        for key in sorted(keys):
            have, want = found.get(key, 0.0), book.get(key, 0.0)
            if abs(have - want) > max(1e-12, self.policy.tolerance * max(abs(want), abs(have))):
                wrong.append(f"{key} book {want:.12g} chain {have:.12g}")
        if wrong:
            message = "chain: book and chain differ: " + "; ".join(wrong)
            log_event(LOG, "REC-002", message, venue="chain")
            raise ReconciliationHalt(message)


def _on_chain(key: str) -> bool:
    return key.startswith(("wallet:", "aave_v3:")) or any(
        key.startswith(f"{issuer}:LST:") for issuer in LST_ISSUERS.values()
    )


class LiveChainVenue:
    """One named on-chain venue (`wallet`, `aave_v3`, `uniswap`, `etherfi`, `lido`, `morpho`)
    of the shared `ChainAccount`, behind the venue interface."""

    checkpointed = False  # its state is on chain, not in this process (checkpoint.py)

    def __init__(self, name: str, account: ChainAccount) -> None:
        self.name = name
        self.account = account

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        return self.account.execute(self.name, instruction, market)

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        legs = (Leg(wallet_key(asset), amount, "TransferReceived", 1.0),)
        self.account.ledger.apply(legs)
        return ExecutionResult(legs)

    def settle(self, market: MarketState) -> ExecutionResult:
        if self.name == "aave_v3":
            return self.account.settle_aave(market)
        return ExecutionResult()

    def positions(self) -> dict[str, float]:
        return dict(self.account.ledger.quantities)

    def confirm_book(self, book: Mapping[str, float]) -> None:
        self.account.confirm_book(book)
