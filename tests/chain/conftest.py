"""Fixtures of the on-chain tests: one anvil and one AAVE v3.0.2 market per session, and a clean
market for every test through `evm_snapshot` / `evm_revert` (deploying once costs ~1 s; a
snapshot and a revert cost milliseconds).

A missing contracts/node_modules fails the tests (never skips them): run `cd contracts && npm ci`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.chain.aave_market import AaveMarket, ReserveSpec, deploy_market, deploy_tokens
from tests.chain.anvil import Anvil
from tests.chain.fund import FundChain, deploy_fund_chain

USD_8 = 10**8  # the oracle's unit

# Mainnet-like v3 risk parameters (bps). weETH and WETH share e-mode 1 ("ETH correlated").
WETH_RISK = {"ltv_bps": 8050, "liquidation_threshold_bps": 8300, "liquidation_bonus_bps": 10500}
WEETH_RISK = {"ltv_bps": 7250, "liquidation_threshold_bps": 7500, "liquidation_bonus_bps": 10700}
USDT_RISK = {"ltv_bps": 7500, "liquidation_threshold_bps": 7800, "liquidation_bonus_bps": 10450}
PRICES_USD_8 = {"WETH": 3_000 * USD_8, "USDT": 1 * USD_8, "weETH": 3_100 * USD_8}


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """The session's anvil node; fails with the install command if contracts/ is not set up."""
    try:
        node = Anvil()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    with node:
        yield node


@pytest.fixture(scope="session")
def market(anvil: Anvil) -> AaveMarket:
    """WETH, USDT and weETH listed on a fresh v3.0.2 market administered by account 0."""
    admin = anvil.accounts[0]
    tokens = deploy_tokens(anvil.w3, admin)
    reserves = [
        ReserveSpec(
            symbol="WETH",
            token=tokens["WETH"].address,
            decimals=18,
            price_usd=PRICES_USD_8["WETH"],
            reserve_factor_bps=1500,
            borrowable=True,
            emode_category=1,
            **WETH_RISK,
        ),
        ReserveSpec(
            symbol="USDT",
            token=tokens["USDT"].address,
            decimals=6,
            price_usd=PRICES_USD_8["USDT"],
            reserve_factor_bps=1000,
            borrowable=True,
            emode_category=0,
            **USDT_RISK,
        ),
        ReserveSpec(
            symbol="weETH",
            token=tokens["weETH"].address,
            decimals=18,
            price_usd=PRICES_USD_8["weETH"],
            reserve_factor_bps=4500,
            borrowable=False,
            emode_category=1,
            **WEETH_RISK,
        ),
    ]
    return deploy_market(anvil.w3, admin, reserves)


@pytest.fixture(scope="session")
def fund(anvil: Anvil) -> FundChain:
    """The fund's world (our contracts on a second AAVE market with weETH as our MockLST),
    deployed once on the session's chain; each test still runs in its own snapshot."""
    return deploy_fund_chain(anvil)


@pytest.fixture(scope="session")
def deployed_block(anvil: Anvil, market: AaveMarket) -> int:
    """The chain's height right after the market's deployment."""
    height: int = anvil.w3.eth.block_number
    return height


@pytest.fixture(autouse=True)
def chain(anvil: Anvil, market: AaveMarket, deployed_block: int) -> Iterator[Anvil]:
    """Every test starts on the freshly deployed market and leaves no trace (snapshot/revert)."""
    snapshot_id = anvil.snapshot()
    yield anvil
    anvil.revert(snapshot_id)
