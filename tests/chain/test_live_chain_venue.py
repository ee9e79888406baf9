"""The live on-chain venue on the real AAVE v3.0.2 contracts (issue 14): instructions as the
strategies emit them, executed by the fund's account, booked from the chain, reconciled."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from tests.chain.aave_market import RAY, ray_mul
from tests.chain.fund import ETH, FundChain, supply_lst
from web3 import Web3

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.instructions import (
    Borrow,
    FlashBundle,
    Instruction,
    ReceiveDeposit,
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
from basis_strategy.math.leverage import flash_entry
from basis_strategy.venues.interface import ExecutionRejected, Ledger
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain import ChainAccount, ChainAddresses, LiveChainVenue
from basis_strategy.venues.live.chain_revert import RevertDecoder
from basis_strategy.venues.live.chain_tx import GasPolicy, TxSender
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import ChainVenue

T0 = datetime(2025, 3, 1, tzinfo=UTC)
BINANCE_DEPOSIT = "0x1b1a2c3d4e5f60718293a4b5c6d7e8f901234567"  # an allow-listed address
COMMON = {"action": "entry_full", "trigger": "test"}


def build_account(fund: FundChain, max_fee_gwei: float = 100.0) -> ChainAccount:
    w3 = fund.w3
    decoder = RevertDecoder(*(chain_abi.compiled(n)["abi"] for n in ("BasisAccount", "MockLST",
                                                                     "SwapPool")))  # fmt: skip
    sender = TxSender(w3, fund.operator, GasPolicy(max_fee_gwei=max_fee_gwei), decoder)
    config = load_run_config("eth_leveraged", env={})
    simulated = build_simulated_venues(config)
    chain_venues = {n: v for n, v in simulated.items() if isinstance(v, ChainVenue)}
    ledger: Ledger = chain_venues["wallet"].ledger
    addresses = ChainAddresses(
        account=fund.account.address,
        pool=fund.market.pool.address,
        dex=fund.dex.address,
        tokens={"WETH": fund.weth.address, "weETH": fund.lst.address},
        deposit_addresses={("binance", "WETH"): BINANCE_DEPOSIT},
    )
    account = ChainAccount(w3, addresses, sender, chain_venues, ledger)
    chain_venues["aave_v3"].risk = account.risk  # type: ignore[attr-defined]
    return account


def market_of(account: ChainAccount) -> MarketState:
    return MarketState(T0, 0, account.market_values(), ())


def run(account: ChainAccount, order: Instruction) -> None:
    LiveChainVenue(order.venue, account).execute(order, market_of(account))
    account.confirm_book(account.ledger.quantities)


def opened(fund: FundChain) -> ChainAccount:
    account = build_account(fund)
    capital = account.holdings()["wallet:BaseToken:ETH"]
    run(account, ReceiveDeposit(venue="wallet", asset="ETH", amount=capital, **COMMON))
    return account


def entry_bundle(account: ChainAccount, equity_eth: float, ltv: float) -> FlashBundle:
    """The strategy's entry bundle (lst.py lever_steps) sized by `flash_entry` at `ltv`."""
    rate = market_of(account)["lst_rate:weETH"]
    sized = flash_entry(equity_eth, ltv, rate, 0.95)
    stake = equity_eth + sized.flash_weth
    steps = (
        Wrap(venue="wallet", amount=-sized.flash_weth, **COMMON),
        Stake(venue="etherfi", amount=stake, **COMMON),
        SupplyToAave(venue="aave_v3", asset="weETH", amount=stake / rate, **COMMON),
        Borrow(venue="aave_v3", asset="WETH", amount=sized.flash_weth, **COMMON),
    )
    return FlashBundle(venue="morpho", kind="entry", asset="WETH", amount=sized.flash_weth,
                       steps=steps, gas_op="atomic_entry", **COMMON)  # fmt: skip


def test_supply_borrow_repay_withdraw_book_what_the_chain_holds(fund: FundChain) -> None:
    account = opened(fund)
    run(account, Stake(venue="etherfi", amount=10.0, **COMMON))
    lst = account.ledger.qty("etherfi:LST:weETH")
    assert lst == pytest.approx(10.0 / 1.05, rel=1e-12)
    run(account, SupplyToAave(venue="aave_v3", asset="weETH", amount=lst, **COMMON))
    assert account.ledger.qty("etherfi:LST:weETH") == 0.0  # "all" supplies every wei
    run(account, SetEmode(venue="aave_v3", **COMMON))
    assert account.account_data()["max_ltv"] == 0.93
    run(account, Borrow(venue="aave_v3", asset="WETH", amount=5.0, **COMMON))
    assert account.ledger.qty("wallet:BaseToken:WETH") == 5.0
    fund.anvil.increase_time(86_400 * 30)
    run(account, Repay(venue="aave_v3", asset="WETH", amount=math.inf, **COMMON))
    assert account.ledger.qty("aave_v3:debtToken:debtWETH") == 0.0
    assert account.holdings()["aave_v3:debtToken:debtWETH"] == 0.0
    run(account, WithdrawFromAave(venue="aave_v3", asset="weETH", amount=math.inf, **COMMON))
    assert account.holdings()["aave_v3:aToken:aweETH"] == 0.0
    assert account.ledger.qty("etherfi:LST:weETH") == pytest.approx(lst, rel=1e-15)
    # every transaction's gas was booked: the book's ETH is the chain's to the wei
    assert account.ledger.qty("wallet:BaseToken:ETH") == account.holdings()["wallet:BaseToken:ETH"]


def test_flash_entry_at_91_percent_levers_atomically(fund: FundChain) -> None:
    account = opened(fund)
    run(account, SetEmode(venue="aave_v3", **COMMON))
    before = account.holdings()["wallet:BaseToken:ETH"]
    run(account, entry_bundle(account, 20.0, 0.91))
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, rel=1e-6)
    assert data["health_factor"] == pytest.approx(0.95 / 0.91, rel=1e-6)
    assert account.holdings()["wallet:BaseToken:ETH"] == pytest.approx(before - 20.0, abs=0.01)
    assert account.ledger.qty("wallet:BaseToken:WETH") == pytest.approx(0.0, abs=1e-12)


def test_over_leverage_is_refused_before_anything_is_sent(fund: FundChain) -> None:
    account = opened(fund)
    run(account, SetEmode(venue="aave_v3", **COMMON))
    nonce = fund.w3.eth.get_transaction_count(fund.operator.address)
    with pytest.raises(ExecutionRejected, match="above the borrowing power"):
        run(account, entry_bundle(account, 20.0, 0.97))
    assert fund.w3.eth.get_transaction_count(fund.operator.address) == nonce


def test_over_leverage_on_chain_reverts_atomically_with_the_reason(fund: FundChain) -> None:
    """The venue's market is a read behind the chain (the LST's oracle price fell 10 % since):
    its own check passes, AAVE refuses, the whole bundle reverts, nothing changes."""
    account = opened(fund)
    run(account, SetEmode(venue="aave_v3", **COMMON))
    stale = market_of(account)
    bundle = entry_bundle(account, 20.0, 0.92)
    fund.market.set_price("weETH", fund.market.price("weETH") * 9 // 10)
    chain_before, book_before = account.holdings(), dict(account.ledger.quantities)
    nonce = fund.w3.eth.get_transaction_count(fund.operator.address)
    with pytest.raises(ExecutionRejected, match="COLLATERAL_CANNOT_COVER_NEW_BORROW"):
        LiveChainVenue("morpho", account).execute(bundle, stale)
    assert account.holdings() == chain_before
    assert dict(account.ledger.quantities) == book_before
    assert fund.w3.eth.get_transaction_count(fund.operator.address) == nonce  # nothing sent


def test_a_bundle_off_its_bounds_reverts_on_chain(fund: FundChain) -> None:
    """The account's own check: AAVE accepts 0.925 in e-mode, but the instruction said 0.91."""
    account = opened(fund)
    run(account, SetEmode(venue="aave_v3", **COMMON))
    bundle = entry_bundle(account, 20.0, 0.91)
    borrow = bundle.steps[-1]
    assert isinstance(borrow, Borrow)
    market = market_of(account)
    calls = [c.encoded() for step in bundle.steps for c in account.calls_for(step, market)]
    fn = account.account.functions.flashBundle(
        fund.weth.address, int(bundle.amount * ETH), calls, 0, int(0.90 * ETH)
    )
    with pytest.raises(ExecutionRejected, match="LoanToValueAbove"):
        account.sender.send(fn, "bounds")


def test_swap_books_the_received_amount_and_its_cost(fund: FundChain) -> None:
    account = opened(fund)
    run(account, Stake(venue="etherfi", amount=5.0, **COMMON))
    units = account.ledger.qty("etherfi:LST:weETH")
    run(account, SwapOnDex(venue="uniswap", sell="weETH", buy="WETH", sell_amount=units,
                           **COMMON))  # fmt: skip
    received = account.ledger.qty("wallet:BaseToken:WETH")
    assert received == pytest.approx(units * 1.05 * 0.998, rel=1e-12)


def test_gas_above_the_cap_is_refused_and_nothing_sent(fund: FundChain) -> None:
    account = opened(fund)
    capped = build_account(fund, max_fee_gwei=1e-6)
    capped.ledger.quantities.update(account.ledger.quantities)
    nonce = fund.w3.eth.get_transaction_count(fund.operator.address)
    with pytest.raises(ExecutionRejected, match="GasAboveCap"):
        LiveChainVenue("etherfi", capped).execute(
            Stake(venue="etherfi", amount=1.0, **COMMON), market_of(capped)
        )
    assert fund.w3.eth.get_transaction_count(fund.operator.address) == nonce


def test_after_a_supply_and_a_time_jump_the_venue_sees_what_the_chain_holds(
    fund: FundChain,
) -> None:
    """The aToken balance is the scaled balance × the normalised income to the wei (v3.0.2's
    half-up ray math), and the venue's position view (its book) equals the chain's reads."""
    account = opened(fund)
    run(account, Stake(venue="etherfi", amount=10.0, **COMMON))
    lst = account.ledger.qty("etherfi:LST:weETH")
    run(account, SupplyToAave(venue="aave_v3", asset="weETH", amount=lst, **COMMON))
    run(account, SetEmode(venue="aave_v3", **COMMON))
    run(account, Borrow(venue="aave_v3", asset="WETH", amount=5.0, **COMMON))
    # rates on both reserves (the mock strategies), applied by an update of each reserve
    fund.market.set_rates("WETH", 3 * RAY // 100, 2 * RAY // 100)
    fund.market.touch("WETH")
    fund.market.set_rates("weETH", 0, RAY // 100)
    supply_lst(fund, fund.anvil.accounts[1], 1)
    fund.anvil.increase_time(86_400 * 45)
    me, a_token = fund.account.address, fund.market.a_tokens["weETH"].functions
    debt_token = fund.market.variable_debt_tokens["WETH"].functions
    scaled, income = a_token.scaledBalanceOf(me).call(), fund.market.normalized_income("weETH")
    assert a_token.balanceOf(me).call() == ray_mul(scaled, income)
    d_scaled, debt = debt_token.scaledBalanceOf(me).call(), fund.market.normalized_debt("WETH")
    assert debt_token.balanceOf(me).call() == ray_mul(d_scaled, debt)
    assert debt > RAY and income > RAY  # both grew over the 45 days: no still index
    view = LiveChainVenue("aave_v3", account).positions()
    chain = account.holdings()
    assert view["aave_v3:aToken:aweETH"] == scaled / ETH == chain["aave_v3:aToken:aweETH"]
    assert view["aave_v3:debtToken:debtWETH"] == d_scaled / ETH
    for key, held in chain.items():
        assert view.get(key, 0.0) == pytest.approx(held, rel=1e-14, abs=1e-18), key


def test_an_erc20_transfer_pays_only_an_allowed_address(fund: FundChain) -> None:
    account = opened(fund)
    run(account, Wrap(venue="wallet", amount=3.0, **COMMON))
    run(account, Transfer(venue="wallet", destination="binance", asset="WETH", amount=2.0,
                          **COMMON))  # fmt: skip
    assert (
        fund.weth.functions.balanceOf(Web3.to_checksum_address(BINANCE_DEPOSIT)).call() == 2 * ETH
    )
    assert account.ledger.qty("wallet:BaseToken:WETH") == 1.0
    nonce = fund.w3.eth.get_transaction_count(fund.operator.address)
    with pytest.raises(ExecutionRejected, match="no allowed deposit address for WETH at okx"):
        run(account, Transfer(venue="wallet", destination="okx", asset="WETH", amount=1.0,
                              **COMMON))  # fmt: skip
    assert fund.w3.eth.get_transaction_count(fund.operator.address) == nonce  # nothing sent
    assert account.ledger.qty("wallet:BaseToken:WETH") == 1.0
