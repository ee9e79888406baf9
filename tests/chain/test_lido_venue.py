"""wstETH-style acquisition and exit on the live on-chain venue (issue 14): a `Stake` at lido is
stETH's `submit` then wstETH's `wrap` in one account transaction, booked from the chain; the
levered entry bundle of `eth_leveraged` with wstETH; the DEX exit; the wrapper's own unwrap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from eth_utils import function_signature_to_4byte_selector
from tests.chain.aave_market import send
from tests.chain.anvil import Anvil
from tests.chain.fund import ETH, FundChain, deploy_ours, pay
from tests.chain.lido import DEX_DISCOUNT, WSTETH_RATE_WAD, Lido, deploy_lido, lido_account
from web3.exceptions import ContractCustomError

from basis_strategy.core.instructions import (
    Borrow,
    FlashBundle,
    Instruction,
    ReceiveDeposit,
    SetEmode,
    Stake,
    SupplyToAave,
    SwapOnDex,
    Wrap,
)
from basis_strategy.data.market import MarketState
from basis_strategy.math.leverage import flash_entry
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain import ChainAccount, LiveChainVenue
from basis_strategy.venues.live.chain_calls import ETH as NATIVE_ETH
from basis_strategy.venues.live.chain_calls import to_units

T0 = datetime(2025, 3, 1, tzinfo=UTC)
COMMON = {"action": "entry_full", "trigger": "test"}
WST = "lido:LST:wstETH"
STETH = "wallet:BaseToken:stETH"


@pytest.fixture(scope="module")
def lido(anvil: Anvil, fund: FundChain) -> Iterator[Lido]:
    """Lido deployed once for this module, inside a snapshot reverted after it (the session's
    fund market is left as the other modules expect it)."""
    snapshot_id = anvil.snapshot()
    yield deploy_lido(fund)
    anvil.revert(snapshot_id)


def market_of(account: ChainAccount) -> MarketState:
    return MarketState(T0, 0, account.market_values(), ())


def run(account: ChainAccount, order: Instruction) -> None:
    """Execute through the venue, then the chain's word on the whole book (REC-002 halts)."""
    LiveChainVenue(order.venue, account).execute(order, market_of(account))
    account.confirm_book(account.ledger.quantities)


def opened(lido: Lido) -> ChainAccount:
    account = lido_account(lido)
    capital = account.holdings()["wallet:BaseToken:ETH"]
    run(account, ReceiveDeposit(venue="wallet", asset="ETH", amount=capital, **COMMON))
    return account


def wst_units(lido: Lido) -> int:
    return int(lido.wsteth.functions.balanceOf(lido.fund.account.address).call())


def assert_book_is_chain(account: ChainAccount) -> None:
    """Every holding the chain has is the book's, to the precision of a float sum of legs."""
    for key, held in account.holdings().items():
        assert account.ledger.qty(key) == pytest.approx(held, rel=1e-14, abs=1e-18), key


def test_stake_at_lido_submits_wraps_and_books_the_chains_wsteth(lido: Lido) -> None:
    account = opened(lido)
    rate = lido.rate_wad()
    eth_before = account.holdings()["wallet:BaseToken:ETH"]
    run(account, Stake(venue="lido", amount=10.0, **COMMON))
    # Lido's math on the exact wei sent: floor(floor(ETH) * 1e18 / rate)
    assert wst_units(lido) == (10 * ETH) * ETH // rate
    assert account.ledger.qty(WST) == pytest.approx(wst_units(lido) / 1e18, rel=1e-15)
    assert_book_is_chain(account)
    # every stETH submitted was wrapped: none is left, no allowance stands
    me = lido.fund.account.address
    assert lido.steth.functions.balanceOf(me).call() == 0
    assert lido.steth.functions.allowance(me, lido.wsteth.address).call() == 0
    assert int(lido.steth.functions.balanceOf(lido.wsteth.address).call()) >= 10 * ETH
    # the ETH paid: 10 and the gas, both booked
    gas = eth_before - 10.0 - account.holdings()["wallet:BaseToken:ETH"]
    assert 0.0 < gas < 1e-3
    assert account.ledger.qty("wallet:BaseToken:ETH") == pytest.approx(eth_before - 10.0 - gas)


def test_minting_off_the_oracle_mark_books_the_difference_as_execution_cost(lido: Lido) -> None:
    """The oracle values wstETH 0.5 % above the protocol rate: the minted wstETH is worth more at
    the mark than the ETH paid, booked as a (negative) execution cost on the minted leg."""
    account = opened(lido)
    eth_usd = lido.fund.market.price("WETH")
    lido.set_oracle_price(eth_usd * lido.rate_wad() * 1005 // 1000 // ETH)
    market = market_of(account)
    mark = market["lst_rate:wstETH"]
    legs = LiveChainVenue("lido", account).execute(Stake(venue="lido", amount=4.0, **COMMON),
                                                   market).legs  # fmt: skip
    account.confirm_book(account.ledger.quantities)
    minted = next(leg for leg in legs if leg.instrument == WST)
    assert minted.amount == pytest.approx(wst_units(lido) / 1e18, rel=1e-15)
    assert minted.pnl_component == "execution_costs"
    assert minted.pnl_native == pytest.approx(wst_units(lido) / 1e18 * mark - 4.0, rel=1e-9)
    assert minted.pnl_native == pytest.approx(4.0 * 0.005, rel=1e-3)


def entry_bundle(account: ChainAccount, equity_eth: float, ltv: float) -> FlashBundle:
    """`strategies/lst.py` `lever_steps` at lido, sized by `flash_entry` at `ltv` (fee 0)."""
    rate = market_of(account)["lst_rate:wstETH"]
    sized = flash_entry(equity_eth, ltv, rate, 0.95)
    stake = equity_eth + sized.flash_weth
    steps = (
        Wrap(venue="wallet", amount=-sized.flash_weth, **COMMON),
        Stake(venue="lido", amount=stake, **COMMON),
        SupplyToAave(venue="aave_v3", asset="wstETH", amount=stake / rate, **COMMON),
        Borrow(venue="aave_v3", asset="WETH", amount=sized.flash_weth, **COMMON),
    )
    return FlashBundle(venue="morpho", kind="entry", asset="WETH", amount=sized.flash_weth,
                       steps=steps, gas_op="atomic_entry", **COMMON)  # fmt: skip


def test_wsteth_flash_entry_at_91_percent_levers_on_chain(lido: Lido) -> None:
    account = opened(lido)
    run(account, SetEmode(venue="aave_v3", **COMMON))
    before = account.holdings()["wallet:BaseToken:ETH"]
    bundle = entry_bundle(account, 20.0, 0.91)
    run(account, bundle)
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, rel=1e-6)
    assert data["health_factor"] == pytest.approx(0.95 / 0.91, rel=1e-6)
    # the collateral is the whole stake's wstETH: floor(stake_wei * 1e18 / rate), all supplied
    stake = bundle.steps[1]
    assert isinstance(stake, Stake)
    a_token = account.a_tokens["wstETH"]
    supplied_wei = int(a_token.functions.balanceOf(lido.fund.account.address).call())
    minted_wei = to_units(stake.amount, 18) * ETH // lido.rate_wad()
    assert abs(supplied_wei - minted_wei) <= 1  # the aToken's ray rounding
    assert wst_units(lido) == 0 and account.ledger.qty(WST) == 0.0
    assert account.ledger.qty("wallet:BaseToken:WETH") == pytest.approx(0.0, abs=1e-12)
    assert account.holdings()["wallet:BaseToken:ETH"] == pytest.approx(before - 20.0, abs=0.01)
    assert_book_is_chain(account)


@pytest.mark.parametrize("buy", ["WETH", "ETH"])
def test_dex_exit_of_wsteth_books_what_the_dex_paid(lido: Lido, buy: str) -> None:
    account = opened(lido)
    run(account, Stake(venue="lido", amount=5.0, **COMMON))
    units = wst_units(lido)
    key = "wallet:BaseToken:" + buy
    before = account.holdings()[key]
    run(account, SwapOnDex(venue="uniswap", sell="wstETH", buy=buy,
                           sell_amount=account.ledger.qty(WST), **COMMON))  # fmt: skip
    assert wst_units(lido) == 0 and account.ledger.qty(WST) == 0.0  # all of it, to the wei
    paid_wei = units * (lido.rate_wad() * DEX_DISCOUNT // 1000) // ETH
    received = account.holdings()[key] - before
    if buy == "WETH":
        assert int(lido.fund.weth.functions.balanceOf(lido.fund.account.address).call()) == (
            paid_wei
        )
    else:  # the ETH received less the swap's gas
        assert received == pytest.approx(paid_wei / 1e18, abs=1e-3)
    assert_book_is_chain(account)


def test_the_wrappers_unwrap_round_trip_at_lidos_math(lido: Lido) -> None:
    """Contract level (no instruction unwraps: the strategies exit through the DEX, and the
    protocol's exit is `RequestUnstake`'s queue): on a wrapper of its own, wrap at one rate,
    unwrap at a higher one; the stETH the rise owes is minted as the rebase's rewards."""
    fund = lido.fund
    w3, holder = fund.w3, fund.anvil.accounts[2]
    rate = WSTETH_RATE_WAD
    wrapper = deploy_ours(w3, fund.admin, "MockWstETH", rate)
    wsteth = wrapper.functions
    steth = w3.eth.contract(address=wsteth.stETH().call(),
                            abi=chain_abi.compiled("MockStETH")["abi"]).functions  # fmt: skip
    staked = 3 * ETH + 12_345
    pay(w3, steth.submit(NATIVE_ETH), holder, staked)
    assert steth.balanceOf(holder).call() == staked  # 1:1
    send(w3, steth.approve(wrapper.address, staked), holder)
    send(w3, wsteth.wrap(staked), holder)
    wrapped = int(wsteth.balanceOf(holder).call())
    assert wrapped == staked * ETH // rate == wsteth.getWstETHByStETH(staked).call()
    assert steth.balanceOf(holder).call() == 0
    assert steth.balanceOf(wrapper.address).call() == staked
    later = rate * 1_0003 // 1_0000 + 7  # the rate rose 3 bps
    send(w3, wsteth.setRate(later), fund.admin)
    send(w3, wsteth.unwrap(wrapped), holder)
    paid = wrapped * later // ETH
    assert paid > staked
    assert steth.balanceOf(holder).call() == paid == wsteth.getStETHByWstETH(wrapped).call()
    assert wsteth.balanceOf(holder).call() == 0 and wsteth.totalSupply().call() == 0
    assert steth.balanceOf(wrapper.address).call() == 0
    assert steth.totalSupply().call() == paid  # the staked ETH and the rewards on it
    zero_amount = "0x" + function_signature_to_4byte_selector("ZeroAmount()").hex()
    for call in (wsteth.unwrap(0), wsteth.wrap(0)):
        with pytest.raises(ContractCustomError, match=zero_amount):
            call.call({"from": holder})
    with pytest.raises(ContractCustomError):  # Token's InsufficientBalance: nothing left
        wsteth.unwrap(1).call({"from": holder})
    with pytest.raises(ContractCustomError):  # only the wrapper mints stETH's rewards
        steth.mintRewards(holder, 1).call({"from": fund.admin})
