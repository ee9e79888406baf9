"""The live on-chain venues of a run, from the environment, behind a pre-flight (issue 14), as
`build.py` builds the live CEX venues.

Everything comes from the environment, never from a file (keys and RPC URLs with their API
keys are secrets: registered with the log mask at once):

- `BASIS_ALCHEMY_RPC_URL` (the `alchemy` venue's `rpc_url_env`): the read RPC;
  `BASIS_CHAIN_SUBMIT_URL`, optional: a private (MEV-protected) submission RPC;
- `BASIS_WALLET_PRIVATE_KEY`: the operator's key, or with `BASIS_WALLET_KEYSTORE` (a keystore
  file's path) the keystore's password;
- `BASIS_CHAIN_ID`: the chain the addresses are on (checked);
- `BASIS_CHAIN_ACCOUNT` (our BasisAccount), `BASIS_CHAIN_AAVE_POOL`, `BASIS_CHAIN_DEX`, and
  `BASIS_CHAIN_TOKENS` as `SYMBOL=0x...,SYMBOL=0x...` (WETH, the mode's LST, USDT);
- `BASIS_CHAIN_MAX_FEE_GWEI`: the gas cap (required: a cap is never guessed);
  `BASIS_CHAIN_PRIORITY_FEE_GWEI`, optional (0.01).

The pre-flight refuses (LiveRefusedError LT-002 for a missing variable, LT-003 for a failed
check, one line naming the variable, never its value) unless: the RPC answers with the
chain id; every address holds code; the account is ours (its `owner()` is the key's address)
and works with that pool; every token the mode uses is configured and the AAVE reserves it
needs are listed; the chain's e-mode lets the mode's target LTV in and keeps its critical LTV
below the liquidation threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from web3 import HTTPProvider, Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import RpcVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.secrets import SECRETS, WALLET_KEY_ENV
from basis_strategy.data.live_chain import ChainReader, on_chain
from basis_strategy.data.market import AaveRisk
from basis_strategy.data.requirements import requirements_for
from basis_strategy.live.preflight import LiveRefusedError
from basis_strategy.venues.interface import Ledger
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain import (
    ChainAccount,
    ChainAddresses,
    ChainPolicy,
    LiveChainVenue,
)
from basis_strategy.venues.live.chain_calls import EMODE_CATEGORY
from basis_strategy.venues.live.chain_market import ChainMarket
from basis_strategy.venues.live.chain_revert import RevertDecoder
from basis_strategy.venues.live.chain_tx import GasPolicy, TxSender, key_from_environment
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import ChainVenue, SimulatedAave

KEYSTORE_ENV = "BASIS_WALLET_KEYSTORE"
SUBMIT_ENV = "BASIS_CHAIN_SUBMIT_URL"
CHAIN_ID_ENV = "BASIS_CHAIN_ID"
ACCOUNT_ENV, POOL_ENV, DEX_ENV = "BASIS_CHAIN_ACCOUNT", "BASIS_CHAIN_AAVE_POOL", "BASIS_CHAIN_DEX"
TOKENS_ENV = "BASIS_CHAIN_TOKENS"
MAX_FEE_ENV, PRIORITY_FEE_ENV = "BASIS_CHAIN_MAX_FEE_GWEI", "BASIS_CHAIN_PRIORITY_FEE_GWEI"
RPC_TIMEOUT_S = 30.0


@dataclass
class LiveChain:
    """A run's on-chain side: the account, its venues by name, the reader of its market."""

    account: ChainAccount
    venues: dict[str, LiveChainVenue]
    reader: ChainReader


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise LiveRefusedError("LT-002", name, f"{name} is not set (a run on the chain needs it)")
    return value


def _address(env: Mapping[str, str], name: str, value: str | None = None) -> str:
    text = value if value is not None else _required(env, name)
    if not Web3.is_address(text):
        raise LiveRefusedError("LT-003", name, f"{name} is not an address: {text!r}")
    return Web3.to_checksum_address(text)


def _number(env: Mapping[str, str], name: str, default: float | None = None) -> float:
    text = env.get(name, "")
    if not text and default is not None:
        return default
    try:
        value = float(_required(env, name))
    except ValueError:
        raise LiveRefusedError("LT-003", name, f"{name} must be a number, was {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise LiveRefusedError("LT-003", name, f"{name} must be finite and >= 0, was {text!r}")
    return value


def parse_tokens(env: Mapping[str, str]) -> dict[str, str]:
    """`SYMBOL=0x...,SYMBOL=0x...` -> {symbol: checksummed address}."""
    tokens: dict[str, str] = {}
    for item in _required(env, TOKENS_ENV).split(","):
        symbol, _, address = item.strip().partition("=")
        if not symbol or not address:
            message = f"{TOKENS_ENV} items are SYMBOL=0x..., was {item!r}"
            raise LiveRefusedError("LT-003", TOKENS_ENV, message)
        tokens[symbol.strip()] = _address(env, f"{TOKENS_ENV} {symbol}", address.strip())
    return tokens


def connect(url: str) -> Web3:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_S}))


def build_live_chain(config: RunConfig, env: Mapping[str, str]) -> LiveChain:
    """The pre-flight (module doc), then the account and its venues for `config`'s mode."""
    rpc_env = _rpc_env(config)
    url = _required(env, rpc_env)
    submit_url = env.get(SUBMIT_ENV, "")
    SECRETS.register(url, submit_url)
    keystore = KEYSTORE_ENV if env.get(KEYSTORE_ENV) else ""
    signer = key_from_environment(WALLET_KEY_ENV, keystore, env)
    key_hex = bytes(signer.key).hex()
    SECRETS.register(env.get(WALLET_KEY_ENV), key_hex, "0x" + key_hex)
    addresses = ChainAddresses(
        account=_address(env, ACCOUNT_ENV),
        pool=_address(env, POOL_ENV),
        dex=_address(env, DEX_ENV),
        tokens=parse_tokens(env),
    )
    gas = GasPolicy(max_fee_gwei=_number(env, MAX_FEE_ENV),
                    priority_fee_gwei=_number(env, PRIORITY_FEE_ENV, 0.01))  # fmt: skip
    w3 = connect(url)
    _check_chain(w3, env, addresses, signer.address, rpc_env)
    _check_tokens(config, addresses.tokens)
    decoder = RevertDecoder(*(chain_abi.compiled(n)["abi"] for n in ("BasisAccount", "SwapPool")))
    submit = connect(submit_url) if submit_url else None
    sender = TxSender(w3, signer, gas, decoder, submit=submit)
    simulated = {n: v for n, v in build_simulated_venues(config).items()
                 if isinstance(v, ChainVenue)}  # fmt: skip
    ledger: Ledger = simulated["wallet"].ledger
    policy = ChainPolicy(tolerance=config.mode.reconciliation_tolerance)
    account = ChainAccount(w3, addresses, sender, simulated, ledger, policy)
    aave = simulated.get("aave_v3")
    if isinstance(aave, SimulatedAave):
        aave.risk = account.risk
        _check_emode(config, account)
    reader = ChainReader(w3, account.market_values, _chain_series(config), clock_bound=True)
    return LiveChain(account, {n: LiveChainVenue(n, account) for n in simulated}, reader)


def _rpc_env(config: RunConfig) -> str:
    rpc = config.venues.get("alchemy")
    if not isinstance(rpc, RpcVenue):
        raise ConfigError("venues", "the rpc venue 'alchemy' is required to read the chain")
    return rpc.rpc_url_env


@dataclass
class ChainFeed:
    """A paper run's view of the chain: its market and AAVE's risk, read without a key."""

    market: ChainMarket
    reader: ChainReader

    def risk(self, asset: str, emode: bool) -> AaveRisk:
        return self.market.risk(asset, emode, EMODE_CATEGORY)


def build_chain_feed(config: RunConfig, env: Mapping[str, str]) -> ChainFeed:
    """The chain's market for `config`'s mode from the environment's RPC and addresses
    (`BASIS_CHAIN_AAVE_POOL`, `BASIS_CHAIN_DEX`, `BASIS_CHAIN_TOKENS`; no key, no account),
    checked as the live pre-flight checks them (the chain id, code at every address, a token
    for each asset the mode uses, the reserves and e-mode bands of a levered mode)."""
    rpc_env = _rpc_env(config)
    url = _required(env, rpc_env)
    SECRETS.register(url)
    pool, dex, tokens = _address(env, POOL_ENV), _address(env, DEX_ENV), parse_tokens(env)
    w3 = connect(url)
    _check_rpc(w3, env, rpc_env, _market_addresses(pool, dex, tokens))
    _check_tokens(config, tokens, holding=False)
    market = ChainMarket(w3, pool, dex, tokens)
    feed = ChainFeed(market, ChainReader(w3, market.market_values, _chain_series(config),
                                         clock_bound=True))  # fmt: skip
    _emode_risk(config, market.a_tokens, feed.risk)
    return feed


def _chain_series(config: RunConfig) -> list[str]:
    needs = requirements_for(config)
    names = [spec.name for spec in needs.prices if on_chain(spec.name)]
    for aave in needs.aave:
        names.extend(f"{p}:{aave.asset}" for p in ("aave_li", "aave_bi", "aave_lr", "aave_br"))
    if needs.lst is not None:
        names.extend((f"lst_rate:{needs.lst.lst}", f"lst_market:{needs.lst.lst}"))
    if config.mode.hedge is None or config.mode.asset != "ETH":
        names.append("price:ETH")  # AAVE's oracle: no CEX reader gives it to this run
    return list(dict.fromkeys(names))


def _check_rpc(w3: Web3, env: Mapping[str, str], rpc_env: str, named: Mapping[str, str]) -> None:
    """The RPC answers on the chain `BASIS_CHAIN_ID` names, and each `named` address (by its
    variable) holds code."""
    try:
        chain_id = int(w3.eth.chain_id)
    except (OSError, ValueError) as exc:
        raise LiveRefusedError("LT-003", rpc_env,
                               f"the RPC in {rpc_env} does not answer ({type(exc).__name__})"
                               ) from None  # fmt: skip
    expected = _required(env, CHAIN_ID_ENV)
    if str(chain_id) != expected.strip():
        message = f"the RPC is on chain {chain_id}, {CHAIN_ID_ENV} says {expected}"
        raise LiveRefusedError("LT-003", CHAIN_ID_ENV, message)
    for name, address in named.items():
        if not w3.eth.get_code(Web3.to_checksum_address(address)):
            raise LiveRefusedError("LT-003", name, f"{name}: no contract at {address}")


def _market_addresses(pool: str, dex: str, tokens: Mapping[str, str]) -> dict[str, str]:
    return {POOL_ENV: pool, DEX_ENV: dex, **{f"{TOKENS_ENV} {s}": a for s, a in tokens.items()}}


def _check_chain(
    w3: Web3, env: Mapping[str, str], addresses: ChainAddresses, owner: str, rpc_env: str
) -> None:
    named = {ACCOUNT_ENV: addresses.account,
             **_market_addresses(addresses.pool, addresses.dex, addresses.tokens)}  # fmt: skip
    _check_rpc(w3, env, rpc_env, named)
    account = w3.eth.contract(address=Web3.to_checksum_address(addresses.account),
                              abi=chain_abi.compiled("BasisAccount")["abi"])  # fmt: skip
    try:
        account_owner, account_pool = (
            account.functions.owner().call(),
            account.functions.pool().call(),
        )
    except (ContractLogicError, BadFunctionCallOutput, ValueError) as exc:
        raise LiveRefusedError("LT-003", ACCOUNT_ENV,
                               f"{ACCOUNT_ENV} is not a BasisAccount ({type(exc).__name__})"
                               ) from None  # fmt: skip
    if account_owner != owner:
        raise LiveRefusedError("LT-003", ACCOUNT_ENV,
                               f"the account's owner {account_owner} is not the key's address "
                               f"{owner}")  # fmt: skip
    if account_pool != addresses.pool:
        message = f"the account works with pool {account_pool}, not {addresses.pool}"
        raise LiveRefusedError("LT-003", POOL_ENV, message)


def _check_tokens(config: RunConfig, tokens: Mapping[str, str], holding: bool = True) -> None:
    """A token for each asset the mode's chain series read (WETH: ETH's oracle price) and, if
    it holds on chain (`holding`), for its USDT."""
    needs = requirements_for(config)
    wanted = {a.asset for a in needs.aave} | ({needs.lst.lst} if needs.lst else set())
    wanted.add("WETH")
    if holding and config.share_class.currency == "USDT":
        wanted.add("USDT")
    missing = sorted(wanted - set(tokens))
    if missing:
        raise LiveRefusedError("LT-003", TOKENS_ENV,
                               f"{TOKENS_ENV} has no address for {', '.join(missing)}")  # fmt: skip


def _check_emode(config: RunConfig, account: ChainAccount) -> None:
    """The chain's risk parameters admit the mode's LTV bands; the HF floor is the chain's LT
    over the critical LTV."""
    risk = _emode_risk(config, account.a_tokens, account.risk)
    leverage = config.mode.leverage
    if risk is not None and leverage is not None:
        account.policy = replace(
            account.policy, hf_floor=risk.liquidation_threshold / leverage.ltv_critical
        )


def _emode_risk(
    config: RunConfig, reserves: Mapping[str, Any], risk_of: Callable[[str, bool], AaveRisk]
) -> AaveRisk | None:
    """A levered mode's collateral risk on the chain, once checked to admit its LTV bands (as
    the data's must, engine `aave_bands`); None for a mode that does not lever."""
    leverage, staking = config.mode.leverage, config.mode.staking
    if leverage is None or staking is None or not leverage.target_ltv:
        return None
    missing = [s for s in (staking.lst_type, "WETH") if s not in reserves]
    if missing:
        raise LiveRefusedError("LT-003", POOL_ENV,
                               f"the pool lists no reserve for {', '.join(missing)}")  # fmt: skip
    risk = risk_of(staking.lst_type, leverage.emode_enabled)
    if leverage.target_ltv > risk.max_ltv or leverage.ltv_critical >= risk.liquidation_threshold:
        raise LiveRefusedError(
            "LT-003", "leverage",
            f"the chain's {staking.lst_type} max LTV {risk.max_ltv} / LT "
            f"{risk.liquidation_threshold} do not admit target_ltv {leverage.target_ltv} and "
            f"ltv_critical {leverage.ltv_critical}",
        )  # fmt: skip
    return risk
