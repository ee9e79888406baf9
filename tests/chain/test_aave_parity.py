"""Parity of the backtest's AAVE model with the real AAVE v3.0.2 contracts (issue 14): the
regression test of `SimulatedAave` (scaled balances, health factor, liquidation).

One scripted sequence runs in lockstep on two books:
- the chain: the live venue (`ChainAccount`, our BasisAccount) on a real v3.0.2 market, with the
  hour's real data (HistoricalDataProvider, eth_leveraged) put on chain: WETH borrow and supply
  rates and weETH's supply rate on the mock rate strategies, applied by updating the reserve;
  weETH's rate (MockLST) and oracle price (ρ × ETH), ETH's oracle price, the DEX's ρ_mkt;
- a pure simulated book: the backtest's chain venues (SimulatedAave, wallet, staking, DEX,
  flash lender) on their own ledger, fed at every step with the chain's own normalised
  indices and oracle prices (`ChainAccount.market_values()`) as its market data, executing
  the same instructions with the same amounts, and liquidating with `liquidation_legs`.

Sequence: deposit 30 ETH, e-mode, flash entry with 20 ETH at λ 0.91, HOURS hours of accrual,
deleverage to λ 0.85, a partial exit of 2 ETH, a weETH oracle drop to HF 0.97 (two 50 %
liquidation calls), a second drop to HF 0.955 (50 %, 50 %, then 100 % below HF 0.95, capped
at the collateral: all of it is seized and bad debt remains).

After every step both books must give the same scaled balances, collateral (weETH, ETH, USD),
debt (WETH, USD), HF and equity, and every liquidation call the same debt repaid and
collateral seized, to TOLERANCE relative. The chain's clock is frozen and moved only by the
script, so each step's transactions are mined at the very timestamp of the state the
simulated book was fed: both sides use the same indices, and time is not a residual.

Residuals, all far below 1e-9 (the maxima are printed with `-s`; measured: 1.4e-13 at most),
and where they come from:
- the USD base values `getUserAccountData` truncates to 1e-8 USD, and v3.0.2's half-up ray
  math on wei: ~1e-13 on the USD figures and the HF, ~1e-16 on the balances;
- the bundles spend "all" of what an earlier call made (the LST minted, the collateral
  withdrawn) at the chain's exact amount (BasisAccount's capped calls), so the books hold the
  same balances to float precision (~1e-16), through the liquidations;
- the accrual check (the backtest's `project_borrow_index` against the chain): up to 6e-14 over
  a 24 h update interval at 2.6 %: v3.0.2's 3-term binomial loses its cubic term in integer
  math below ~3.15 % APR (`basePowerThree` = (r / SPY)^3 < 1e-27 truncates to 0): x^3 / 6.
A residual beyond these is a model bug: nothing else is tolerated.

The comparison's power is checked in the same run: the simulated liquidation with a wrong close
factor, a wrong bonus, or (for HF) a wrong liquidation threshold differs from the chain by far
more than the tolerance.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.chain.aave_market import send
from tests.chain.anvil import REPO_ROOT, Anvil
from tests.chain.fund import ETH, FundChain, deploy_fund_chain, pay, supply_lst
from tests.chain.parity_script import (
    COMMON,
    UINT256_MAX,
    HourSetter,
    Oracle,
    Parity,
    accrual_gaps,
    advance,
    chain_figures,
    deleverage_bundle,
    entry_bundle,
    frozen_clock,
    install_oracle,
    rel_diff,
    release_bundle,
    sim_figures,
)
from web3.logs import DISCARD

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.venues import AaveVenue, DexVenue
from basis_strategy.core.instructions import FlashBundle, Instruction, ReceiveDeposit, SetEmode
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.venues.interface import CostSwitches, Ledger
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain import ChainAccount, ChainAddresses, LiveChainVenue
from basis_strategy.venues.live.chain_revert import RevertDecoder
from basis_strategy.venues.live.chain_tx import GasPolicy, TxSender
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import ChainVenue, SimulatedAave

DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
START = datetime(2025, 3, 1, tzinfo=UTC)
HOURS = 48
TOLERANCE = 1e-9
CAPITAL_ETH = 30
EQUITY_ETH, ENTRY_LTV, DELEVER_LTV, RELEASE_ETH = 20.0, 0.91, 0.85, 2.0
DROPS_TO_HF = (0.97, 0.955)
MUTANT_GAP = 1e-4  # a deliberately wrong model must miss the chain by at least this


@pytest.fixture(scope="module")
def fund(anvil: Anvil) -> FundChain:
    return deploy_fund_chain(anvil, capital_eth=CAPITAL_ETH)


@pytest.fixture(scope="module")
def config() -> RunConfig:
    end = START + timedelta(hours=HOURS)
    return load_run_config(
        "eth_leveraged", [f"start={START.isoformat()}", f"end={end.isoformat()}"], env={}
    )


@pytest.fixture(scope="module")
def data(config: RunConfig) -> HistoricalDataProvider:
    """The backtest's market data of the window: rates, ρ, ρ_mkt, ETH, e-mode parameters."""
    return HistoricalDataProvider(config, FolderData(DATA_DIR))


def build_account(fund: FundChain) -> ChainAccount:
    """The live venue's account (as in test_live_chain_venue.py)."""
    decoder = RevertDecoder(
        *(chain_abi.compiled(n)["abi"] for n in ("BasisAccount", "MockLST", "SwapPool"))
    )
    sender = TxSender(fund.w3, fund.operator, GasPolicy(max_fee_gwei=100.0), decoder)
    simulated = build_simulated_venues(load_run_config("eth_leveraged", env={}))
    chain_venues = {n: v for n, v in simulated.items() if isinstance(v, ChainVenue)}
    addresses = ChainAddresses(
        account=fund.account.address,
        pool=fund.market.pool.address,
        dex=fund.dex.address,
        tokens={"WETH": fund.weth.address, "weETH": fund.lst.address},
    )
    account = ChainAccount(fund.w3, addresses, sender, chain_venues, chain_venues["wallet"].ledger)
    chain_venues["aave_v3"].risk = account.risk  # type: ignore[attr-defined]
    return account


@dataclass
class Books:
    """The chain (through the live venue) and the simulated book, stepped together."""

    fund: FundChain
    account: ChainAccount
    sim: dict[str, ChainVenue]
    oracle: Oracle
    parity: Parity
    hour: int = 0
    entry_dust: float = 0.0  # weETH the entry's supply left in the account (see check)

    @property
    def ledger(self) -> Ledger:
        return self.sim["wallet"].ledger

    @property
    def aave(self) -> SimulatedAave:
        aave = self.sim["aave_v3"]
        assert isinstance(aave, SimulatedAave)
        return aave

    def market(self) -> MarketState:
        """The chain's market now, as the simulated book's market data."""
        t = START + timedelta(hours=self.hour)
        return MarketState(t, self.hour, self.account.market_values(), ())

    def check(self, step: str, floors: dict[str, float] | None = None) -> dict[str, float]:
        """Both books' figures at the chain's current market; all must agree. Returns the
        chain's."""
        market = self.market()
        chain = chain_figures(self.fund, market)
        sim = sim_figures(self.aave, self.ledger, market)
        gaps = self.parity.compare(step, chain, sim, floors)
        beyond = {
            name: f"chain {chain[name]!r} gap {gap:.3g}"
            for name, gap in gaps.items()
            if gap > TOLERANCE
        }
        assert not beyond, f"{step}: the simulated AAVE differs from the chain: {beyond}"
        # the chain's collateral is the book's less exactly the weETH the entry's supply left
        # in the wallet (float precision: the capped supply takes all it minted)
        if chain["collateral_weETH"] > 0.0:
            less = sim["collateral_weETH"] - chain["collateral_weETH"]
            assert less == pytest.approx(self.entry_dust, abs=1e-13), f"{step}: {less!r}"
        return chain

    def step(self, step: str, order: Instruction) -> None:
        """`order` on both books at the same market, then the comparison."""
        market = self.market()
        self.sim[order.venue].execute(order, market)
        LiveChainVenue(order.venue, self.account).execute(order, market)
        if isinstance(order, FlashBundle) and order.kind == "entry":
            me = self.fund.account.address
            self.entry_dust = self.fund.lst.functions.balanceOf(me).call() / ETH
            # the capped supply took all it minted, to the float's precision of ~200 weETH
            assert self.entry_dust < 1e-13
        self.check(step)


def open_books(fund: FundChain, config: RunConfig, data: HistoricalDataProvider) -> Books:
    account = build_account(fund)
    sim_venues = build_simulated_venues(config, data.aave_risk)
    sim = {n: v for n, v in sim_venues.items() if isinstance(v, ChainVenue)}
    # the chain has no gas in the simulated book's units nor the configured pool fee and
    # slippage (its DEX fills at ρ_mkt): the book runs cost-free; the AAVE model is all there is
    for venue in sim.values():
        venue.costs = CostSwitches(gas=False, execution=False)
    # the backtest's e-mode parameters (data) are the chain's (the chain's bonus is read as
    # 10100 / 1e4 - 1: 0.01 + 9e-18)
    oracle = install_oracle(fund)
    assert astuple(data.aave_risk("weETH", True)) == pytest.approx(
        astuple(account.risk("weETH", True)), rel=1e-15
    )
    return Books(fund, account, sim, oracle, Parity())


def liquidator(fund: FundChain) -> str:
    """A third account with WETH, allowed to repay on the pool."""
    who = fund.anvil.accounts[2]
    pay(fund.w3, fund.weth.functions.deposit(), who, 1_000 * ETH)
    send(fund.w3, fund.weth.functions.approve(fund.market.pool.address, UINT256_MAX), who)
    return who


def chain_liquidation(fund: FundChain, by: str) -> list[tuple[float, float]]:
    """`liquidationCall(weETH, WETH, account, max, false)` while HF < 1 and collateral is left
    (a liquidator keeps calling); (debt repaid, collateral seized) of each call, from its
    LiquidationCall event."""
    me, pool = fund.account.address, fund.market.pool
    a_token = fund.market.a_tokens["weETH"].functions
    calls: list[tuple[float, float]] = []
    while fund.market.account(me)["healthFactor"] < ETH and a_token.balanceOf(me).call() > 0:
        assert len(calls) < 20, "the chain keeps liquidating"
        call = pool.functions.liquidationCall(
            fund.lst.address, fund.weth.address, me, UINT256_MAX, False
        )
        (event,) = pool.events.LiquidationCall().process_receipt(
            send(fund.w3, call, by), errors=DISCARD
        )
        args = event["args"]
        calls.append((args["debtToCover"] / ETH, args["liquidatedCollateralAmount"] / ETH))
    return calls


def sim_calls(
    aave: SimulatedAave, ledger: Ledger, market: MarketState
) -> list[tuple[float, float]]:
    """(debt repaid, collateral seized) of each call the model makes, in underlying units."""
    legs = aave.liquidation_legs(ledger.copy(), market)
    debt, collateral = legs[0::2], legs[1::2]
    return [
        (-d.amount * d.price, -c.amount * c.price) for d, c in zip(debt, collateral, strict=True)
    ]


def calls_gap(chain: list[tuple[float, float]], sim: list[tuple[float, float]]) -> float:
    if len(chain) != len(sim):
        return math.inf
    return max(
        rel_diff(a, b) for pair in zip(chain, sim, strict=True) for a, b in zip(*pair, strict=True)
    )


def mutant(
    aave: SimulatedAave, close_factor: float = 0.0, bonus: float = 0.0, threshold: float = 0.0
) -> SimulatedAave:
    """The simulated AAVE with one parameter deliberately wrong (0: left as it is)."""
    config = aave.config.model_copy(
        update={"close_factor": close_factor or aave.config.close_factor}
    )
    assert isinstance(config, AaveVenue)

    def risk(asset: str, emode: bool) -> AaveRisk:
        right = aave.risk(asset, emode)
        return AaveRisk(
            right.max_ltv,
            threshold or right.liquidation_threshold,
            bonus or right.liquidation_bonus,
        )

    wrong = SimulatedAave(aave.ledger, aave.costs, config, risk)
    wrong.emode = aave.emode
    return wrong


def drop_and_liquidate(books: Books, target_hf: float, by: str) -> list[str]:
    """The weETH oracle falls (against WETH) until HF is `target_hf`; the chain's liquidator and
    the model liquidate; calls and the books after must agree. Returns the mutants' verdicts."""
    fund, me = books.fund, books.fund.account.address
    hf = fund.market.account(me)["healthFactor"] / ETH
    books.oracle.set("weETH", int(books.oracle.price("weETH") * target_hf / hf))
    before = books.check(f"oracle drop to HF {target_hf}")
    dropped_hf = before["health_factor"]
    assert dropped_hf < 1.0
    market = books.market()
    expected = sim_calls(books.aave, books.ledger, market)
    wrong = {
        "close factor 0.55": sim_calls(mutant(books.aave, close_factor=0.55), books.ledger, market),
        "bonus 1.1 %": sim_calls(mutant(books.aave, bonus=0.011), books.ledger, market),
    }
    wrong_lt = mutant(books.aave, threshold=0.951).account(books.ledger, market).health_factor
    books.aave.settle(market)  # the backtest's hourly liquidation, on the book
    chain = chain_liquidation(fund, by)
    gap = books.parity.record(
        f"liquidation at HF {target_hf}", {"liquidation": calls_gap(chain, expected)}
    )
    assert gap["liquidation"] <= TOLERANCE, f"liquidation calls: chain {chain}, model {expected}"
    # a liquidation that seizes all the collateral leaves bad debt: the small difference of
    # the debt before and the debt repaid, judged against the debt it is the rest of
    floors = {n: before[n] for n in ("debt_scaled", "debt_weth", "debt_usd")}
    books.check(f"after the liquidation at HF {target_hf}", floors)
    verdicts = {name: calls_gap(chain, calls) for name, calls in wrong.items()}
    verdicts["threshold 0.951 (HF)"] = rel_diff(wrong_lt, dropped_hf)
    for name, miss in verdicts.items():
        assert miss > MUTANT_GAP, f"a model with {name} would pass: it misses the chain by {miss}"
    return [f"{name}: misses by {miss:.3g}" for name, miss in verdicts.items()]


def test_simulated_aave_matches_the_v3_0_2_contracts_step_by_step(
    fund: FundChain, config: RunConfig, data: HistoricalDataProvider
) -> None:
    began = time.monotonic()
    books = open_books(fund, config, data)
    by = liquidator(fund)
    whale = fund.anvil.accounts[1]
    supply_lst(fund, whale, 10 * ETH)  # a depositor: weETH's supply interest has reserves
    set_hour = HourSetter(fund, books.oracle, whale)
    uniswap = config.venues["uniswap"]
    assert isinstance(uniswap, DexVenue)
    with frozen_clock(fund.anvil):
        data.set_clock(START)
        set_hour(dict(data.get_data(START).values))
        capital = books.account.holdings()["wallet:BaseToken:ETH"]
        LiveChainVenue("wallet", books.account).execute(
            ReceiveDeposit(venue="wallet", asset="ETH", amount=capital, **COMMON), books.market()
        )
        books.sim["wallet"].execute(
            ReceiveDeposit(venue="wallet", asset="ETH", amount=float(CAPITAL_ETH), **COMMON),
            books.market(),
        )
        books.check("deposit")
        books.step("e-mode", SetEmode(venue="aave_v3", **COMMON))
        books.step("flash entry at 0.91", entry_bundle(EQUITY_ETH, ENTRY_LTV, books.market()))
        assert books.aave.account(books.ledger, books.market()).ltv == pytest.approx(ENTRY_LTV)
        for hour in range(1, HOURS + 1):
            advance(fund.anvil, 3600)
            books.parity.record(f"hour {hour}", accrual_gaps(fund))
            books.hour = hour
            t = START + timedelta(hours=hour)
            data.set_clock(t)
            set_hour(dict(data.get_data(t).values))
            books.check(f"hour {hour}")
        accrual = {n: g for n, (g, _) in books.parity.worst.items() if n.startswith("accrual")}
        assert max(accrual.values()) <= TOLERANCE, f"index accrual differs: {accrual}"
        deleverage = deleverage_bundle(books.ledger, DELEVER_LTV, books.market(), uniswap)
        books.step("deleverage to 0.85", deleverage)
        assert books.aave.account(books.ledger, books.market()).ltv == pytest.approx(
            DELEVER_LTV, rel=1e-3
        )
        books.step(
            "partial exit", release_bundle(books.ledger, RELEASE_ETH, books.market(), uniswap)
        )
        verdicts = [v for hf in DROPS_TO_HF for v in drop_and_liquidate(books, hf, by)]
    assert books.ledger.qty("aave_v3:aToken:aweETH") == 0.0  # the last call seized it all
    print(f"\n{books.parity.table()}\nwrong models: {'; '.join(verdicts)}")
    print(f"{time.monotonic() - began:.1f} s")
