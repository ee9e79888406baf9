"""The chain's market as the data names it, and AAVE's risk parameters, read through web3.py
without an account (issues 13 and 14): the live on-chain account reads its market through it,
and so does a paper session on live feeds, which holds nothing on chain.

`market_values(block)`: AAVE's normalised indices (`aave_li:`/`aave_bi:`) and current rates
(`aave_lr:`/`aave_br:`, APR), its oracle's prices (`price:ETH` from WETH; an LST's `lst_rate:`
as its oracle price over ETH's, which is what AAVE values it at), the DEX's LST mid price in
WETH (`lst_market:`) and the block's base fee (`gas_gwei`), all at one block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web3 import Web3

from basis_strategy.data.market import AaveRisk
from basis_strategy.venues.live import chain_abi as abi
from basis_strategy.venues.live.chain_calls import token_of
from basis_strategy.venues.simulated.chain import LST_ISSUERS

RAY = 1e27


class ChainMarket:
    """The pool, the DEX and the tokens at their addresses (`tokens`: symbol -> ERC-20), with
    each token's decimals and, for AAVE's reserves, its aToken and variable debt token."""

    def __init__(self, w3: Web3, pool: str, dex: str, tokens: Mapping[str, str]) -> None:
        self.w3 = w3
        self.pool = w3.eth.contract(address=w3.to_checksum_address(pool), abi=abi.AAVE_POOL)
        self.dex = w3.eth.contract(address=w3.to_checksum_address(dex),
                                   abi=abi.compiled("SwapPool")["abi"])  # fmt: skip
        kinds = {"WETH": abi.WETH, **dict.fromkeys(LST_ISSUERS, abi.LST)}
        self.tokens = {
            symbol: w3.eth.contract(
                address=w3.to_checksum_address(address), abi=kinds.get(symbol, abi.ERC20)
            )
            for symbol, address in tokens.items()
        }
        self.decimals = {s: int(t.functions.decimals().call()) for s, t in self.tokens.items()}
        self.a_tokens: dict[str, Any] = {}
        self.debt_tokens: dict[str, Any] = {}
        for symbol, token in self.tokens.items():
            reserve = self.pool.functions.getReserveData(token.address).call()
            a_token, debt_token = reserve[8], reserve[10]
            if int(a_token, 16) == 0:
                continue  # not an AAVE reserve
            self.a_tokens[symbol] = w3.eth.contract(address=a_token, abi=abi.SCALED_TOKEN)
            self.debt_tokens[symbol] = w3.eth.contract(address=debt_token, abi=abi.SCALED_TOKEN)

    def risk(self, asset: str, emode: bool, emode_category: int) -> AaveRisk:
        """The collateral's risk parameters as the chain has them: the e-mode category's when
        `emode` (and the asset is in `emode_category`), else the reserve's own (its
        configuration bitmap: bits 0–15 LTV, 16–31 liquidation threshold, 32–47 bonus, in
        bps)."""
        config = int(
            self.pool.functions.getReserveData(token_of(self.tokens, asset).address).call()[0]
        )
        category = (config >> 168) & 0xFF
        if emode and category == emode_category:
            ltv, lt, bonus, _, _ = self.pool.functions.getEModeCategoryData(category).call()
        else:
            ltv, lt, bonus = config & 0xFFFF, (config >> 16) & 0xFFFF, (config >> 32) & 0xFFFF
        return AaveRisk(ltv / 1e4, lt / 1e4, bonus / 1e4 - 1.0)

    def market_values(self, block: Any = "latest") -> dict[str, float]:
        """The chain's own market at one block (default: the latest): module doc."""
        header = self.w3.eth.get_block(block)
        at: dict[str, Any] = {"block_identifier": int(header["number"])}
        pool = self.pool.functions
        provider = self.w3.eth.contract(address=pool.ADDRESSES_PROVIDER().call(**at),
                                        abi=abi.ADDRESSES_PROVIDER)  # fmt: skip
        oracle = self.w3.eth.contract(address=provider.functions.getPriceOracle().call(**at),
                                      abi=abi.AAVE_ORACLE)  # fmt: skip
        reserves = [s for s in self.tokens if s in self.a_tokens]
        prices = {s: oracle.functions.getAssetPrice(self.tokens[s].address).call(**at)
                  for s in reserves}  # fmt: skip
        values = {"price:ETH": prices["WETH"] / 1e8}
        for symbol in reserves:
            asset = self.tokens[symbol].address
            data = pool.getReserveData(asset).call(**at)
            values["aave_li:" + symbol] = pool.getReserveNormalizedIncome(asset).call(**at) / RAY
            debt = pool.getReserveNormalizedVariableDebt(asset).call(**at)
            values["aave_bi:" + symbol] = debt / RAY
            values["aave_lr:" + symbol] = data[2] / RAY
            values["aave_br:" + symbol] = data[4] / RAY
        weth = self.tokens["WETH"].address
        for symbol in LST_ISSUERS:
            if symbol in prices:
                values["lst_rate:" + symbol] = prices[symbol] / prices["WETH"]
                mid = self.dex.functions.price(self.tokens[symbol].address, weth).call(**at)
                values["lst_market:" + symbol] = mid / 1e18
        values["gas_gwei"] = int(header["baseFeePerGas"]) / 1e9
        return values
