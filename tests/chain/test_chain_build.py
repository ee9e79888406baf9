"""The live on-chain venues built from the environment behind their pre-flight (issue 14):
every refusal is one line naming the variable, never a secret; a passing one gives the
account, its venues and its market reader with the chain's own risk parameters."""

from __future__ import annotations

import pytest
from tests.chain.fund import OPERATOR_KEY, FundChain
from tests.chain.live_world import fund_env

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.live.preflight import LiveRefusedError
from basis_strategy.venues.live.chain_build import build_live_chain

# anvil's dev account 3: a key that exists on the chain but does not own the fund's account
OTHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"


@pytest.fixture(scope="module")
def config() -> RunConfig:
    return load_run_config("eth_leveraged", ["staking.rewards_mode=base_only"], env={})


def test_a_passing_preflight_builds_the_account_venues_and_reader(
    fund: FundChain, config: RunConfig
) -> None:
    chain = build_live_chain(config, fund_env(fund))
    assert set(chain.venues) == {"wallet", "aave_v3", "etherfi", "lido", "morpho", "uniswap"}
    assert chain.account.account.address == fund.account.address
    assert chain.account.sender.address == fund.operator.address
    assert chain.account.policy.hf_floor == pytest.approx(0.95 / 0.93)  # chain LT / critical
    assert chain.account.policy.tolerance == config.mode.reconciliation_tolerance
    reading = chain.reader.read()
    assert {"aave_li:weETH", "aave_bi:WETH", "aave_br:WETH", "lst_rate:weETH",
            "lst_market:weETH", "gas_gwei"} <= set(reading.values)  # fmt: skip
    assert all(o.source.startswith("chain block") for o in reading.values.values())


@pytest.mark.parametrize(
    "name",
    ["BASIS_ALCHEMY_RPC_URL", "BASIS_CHAIN_ID", "BASIS_CHAIN_ACCOUNT", "BASIS_CHAIN_AAVE_POOL",
     "BASIS_CHAIN_DEX", "BASIS_CHAIN_TOKENS", "BASIS_CHAIN_MAX_FEE_GWEI"],
)  # fmt: skip
def test_a_missing_variable_is_refused_naming_it(
    fund: FundChain, config: RunConfig, name: str
) -> None:
    env = fund_env(fund)
    del env[name]
    with pytest.raises(LiveRefusedError, match=name) as refused:
        build_live_chain(config, env)
    assert refused.value.code == "LT-002"


def test_a_missing_key_is_refused_naming_the_variable(fund: FundChain, config: RunConfig) -> None:
    env = fund_env(fund)
    del env["BASIS_WALLET_PRIVATE_KEY"]
    with pytest.raises(ConfigError, match="BASIS_WALLET_PRIVATE_KEY"):
        build_live_chain(config, env)


def refusal(fund: FundChain, config: RunConfig, **changes: str) -> LiveRefusedError:
    env = {**fund_env(fund), **changes}
    with pytest.raises(LiveRefusedError) as refused:
        build_live_chain(config, env)
    message = str(refused.value)
    assert "\n" not in message
    assert OPERATOR_KEY[2:] not in message and OTHER_KEY[2:] not in message
    return refused.value


def test_the_wrong_chain_is_refused(fund: FundChain, config: RunConfig) -> None:
    refused = refusal(fund, config, BASIS_CHAIN_ID="1")
    assert refused.code == "LT-003" and "BASIS_CHAIN_ID" in str(refused)


def test_an_address_without_code_is_refused(fund: FundChain, config: RunConfig) -> None:
    empty = fund.anvil.accounts[5]  # an account, not a contract
    refused = refusal(fund, config, BASIS_CHAIN_AAVE_POOL=empty)
    assert "BASIS_CHAIN_AAVE_POOL: no contract" in str(refused)


def test_an_account_owned_by_another_key_is_refused(fund: FundChain, config: RunConfig) -> None:
    refused = refusal(fund, config, BASIS_WALLET_PRIVATE_KEY=OTHER_KEY)
    assert "is not the key's address" in str(refused)


def test_a_contract_that_is_not_our_account_is_refused(fund: FundChain, config: RunConfig) -> None:
    refused = refusal(fund, config, BASIS_CHAIN_ACCOUNT=fund.dex.address)
    assert "is not a BasisAccount" in str(refused)


def test_a_token_the_mode_needs_must_be_configured(fund: FundChain, config: RunConfig) -> None:
    refused = refusal(fund, config, BASIS_CHAIN_TOKENS=f"WETH={fund.weth.address}")
    assert "BASIS_CHAIN_TOKENS has no address for weETH" in str(refused)


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_gas_cap_that_is_not_a_number_is_refused(
    fund: FundChain, config: RunConfig, value: str
) -> None:
    refused = refusal(fund, config, BASIS_CHAIN_MAX_FEE_GWEI=value)
    assert "BASIS_CHAIN_MAX_FEE_GWEI" in str(refused)
