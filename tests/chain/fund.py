"""The fund's world on the test chain: our contracts on top of a real AAVE v3.0.2 market.

weETH is our `MockLST` (rate set by the test, hour by hour from the data); the DEX is our
`SwapPool` (prices set by the test); the fund's account is `BasisAccount`, owned by an
operator key that pays the gas. The market lists WETH (borrowable) and weETH in the ETH
e-mode (93 % LTV, 95 % LT, 1 % bonus), with the flash premium at the configured flash fee (0).
A depositor supplies WETH so the pool can lend and flash-lend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from tests.chain.aave_market import AaveMarket, ReserveSpec, deploy, deploy_market, send
from tests.chain.anvil import Anvil
from web3 import Web3

from basis_strategy.venues.live import chain_abi

ETH = 10**18
USD_8 = 10**8
# a test key of our own (not one of anvil's funded dev accounts: the operator holds only the
# gas ETH the deployment gives it); never a real one
OPERATOR_KEY = "0x" + "5eed" * 16


def pay(w3: Web3, call: Any, sender: str, value_wei: int) -> None:
    """A payable call from an unlocked account."""
    receipt = w3.eth.wait_for_transaction_receipt(
        call.transact({"from": sender, "value": value_wei})
    )
    assert receipt["status"] == 1, f"{call.fn_name} failed"


def deploy_ours(w3: Web3, sender: str, name: str, *args: Any) -> Any:
    built = chain_abi.compiled(name)
    factory = w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender})
    )
    assert receipt["status"] == 1, f"deploying {name} failed"
    return w3.eth.contract(address=receipt["contractAddress"], abi=built["abi"])


@dataclass
class FundChain:
    anvil: Anvil
    market: AaveMarket
    admin: str
    operator: LocalAccount
    account: Any  # BasisAccount
    lst: Any  # MockLST (weETH)
    dex: Any  # SwapPool
    weth: Any
    usdt: Any = None  # a USDT token, when the world has one (live_world.add_usdt)

    @property
    def w3(self) -> Web3:
        return self.anvil.w3

    def set_lst_rate(self, rate_wad: int) -> None:
        send(self.w3, self.lst.functions.setRate(rate_wad), self.admin)

    def set_dex_price(self, sell: str, buy: str, price_wad: int) -> None:
        send(self.w3, self.dex.functions.setPrice(sell, buy, price_wad), self.admin)

    def set_eth_price(self, eth_usd_8: int) -> None:
        """ETH's oracle price, and weETH's at the LST rate (as the backtest values it)."""
        rate = int(self.lst.functions.rate().call())
        self.market.set_price("WETH", eth_usd_8)
        self.market.set_price("weETH", eth_usd_8 * rate // ETH)


def deploy_fund_chain(
    anvil: Anvil,
    capital_eth: int = 30,
    lst_rate_wad: int = 105 * ETH // 100,
    usdt_reserve: bool = False,
):
    """Deploy everything and fund the account with `capital_eth` ETH (and the operator with
    1 ETH of gas); `usdt_reserve`: a USDT token (6 decimals) listed on the market too, outside
    e-mode, with 1M supplied by the depositor (`FundChain.usdt`)."""
    w3 = anvil.w3
    admin, whale = anvil.accounts[0], anvil.accounts[1]
    # the depositor's ETH: enough for this deployment whatever others took (~5,100 ETH)
    anvil.rpc("anvil_setBalance", [whale, hex(100_000 * ETH)])
    operator = Account.from_key(OPERATOR_KEY)
    weth = deploy(w3, admin, "WETH9Mocked")
    lst = deploy_ours(w3, admin, "MockLST", "Wrapped eETH", "weETH", lst_rate_wad)
    eth_usd = 3_000 * USD_8
    emode = {"emode_category": 1, "reserve_factor_bps": 1500}
    reserves = [
        ReserveSpec("WETH", weth.address, 18, eth_usd, 8050, 8300, 10500, borrowable=True, **emode),
        ReserveSpec(
            "weETH",
            lst.address,
            18,
            eth_usd * lst_rate_wad // ETH,
            7250,
            7500,
            10700,
            borrowable=False,
            **emode,
        ),
    ]
    usdt = None
    if usdt_reserve:
        usdt = deploy(w3, admin, "MintableERC20", "Tether USD", "USDT", 6)
        reserves.append(ReserveSpec("USDT", usdt.address, 6, USD_8, 7500, 7800, 10450, 1000,
                                    borrowable=True))  # fmt: skip
    market = deploy_market(w3, admin, reserves)
    if usdt is not None:
        send(w3, usdt.functions.mint(whale, 1_000_000 * 10**6), admin)
        send(w3, usdt.functions.approve(market.pool.address, 2**255), whale)
        send(w3, market.pool.functions.supply(usdt.address, 1_000_000 * 10**6, whale, 0), whale)
    # the depositor's WETH: what the pool lends and flash-lends
    pay(w3, weth.functions.deposit(), whale, 2_000 * ETH)
    send(w3, weth.functions.approve(market.pool.address, 2_000 * ETH), whale)
    send(w3, market.pool.functions.supply(weth.address, 2_000 * ETH, whale, 0), whale)
    dex = deploy_ours(w3, admin, "SwapPool")
    # the DEX's reserves: ETH, WETH and weETH
    pay(w3, lst.functions.deposit(), whale, 1_000 * ETH)
    send(w3, lst.functions.transfer(dex.address, 900 * ETH), whale)
    pay(w3, weth.functions.deposit(), whale, 1_000 * ETH)
    send(w3, weth.functions.transfer(dex.address, 1_000 * ETH), whale)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": whale, "to": dex.address, "value": 1_000 * ETH})
    )
    account = deploy_ours(w3, admin, "BasisAccount", operator.address, market.pool.address)
    for to, amount in ((account.address, capital_eth * ETH), (operator.address, ETH)):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": whale, "to": to, "value": amount})
        )
    fund = FundChain(anvil, market, admin, operator, account, lst, dex, weth, usdt)
    fund.set_dex_price(lst.address, weth.address, lst_rate_wad * 998 // 1000)
    fund.set_dex_price(weth.address, lst.address, ETH * ETH // lst_rate_wad * 998 // 1000)
    return fund


def supply_lst(fund: FundChain, supplier: str, amount_wei: int) -> None:
    """`supplier` (who holds weETH) supplies `amount_wei` of it to AAVE for itself.

    Also the way to update the weETH reserve now (accrue its indices, then store its rate
    strategy's current rates): `AaveMarket.touch` flash-borrows through AAVE's mock receiver,
    which calls `mint(address,uint256)` on the token, and MockLST has none; a 1-wei supply by a
    third account updates the reserve the same way (and mints it 1 scaled wei, nothing else).
    """
    pool = fund.market.pool
    send(fund.w3, fund.lst.functions.approve(pool.address, amount_wei), supplier)
    send(fund.w3, pool.functions.supply(fund.lst.address, amount_wei, supplier, 0), supplier)
