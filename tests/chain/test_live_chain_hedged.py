"""usdt_market_neutral runs live with its on-chain leg on the local chain and its CEX legs on
the venue fakes of the live-trading issue (issue 14 acceptance): the long leg is bought with
the on-chain account's USDT (DEX swap, then the levered LST bundle on AAVE), the shorts with
the USDT already on Binance, Bybit and OKX; every cycle ends with every venue and the chain
read against the book."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.chain.anvil import Anvil
from tests.chain.fund import FundChain, deploy_fund_chain
from tests.chain.live_world import ChainReplay, add_usdt, chain_account, chain_venues
from tests.fakes.replay_market import ReplayMarket, VenueFakes, venue_fakes
from tests.fakes.sleeps import Sleeps

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.replay import AcceleratedClock, SleptWall
from basis_strategy.live.session import PaperSession
from basis_strategy.live.store import LiveStore
from basis_strategy.services.backtest import resolve_data_dir
from basis_strategy.strategies.basis import Basis
from basis_strategy.venues.live.account import confirm_all
from basis_strategy.venues.live.build import build_live_venues, opening_usdt
from basis_strategy.venues.live.cex import LiveCexSettings

START = datetime(2025, 3, 1, tzinfo=UTC)
CYCLES = 5
CEX_USDT = {"binance": 20_000.0, "bybit": 15_000.0, "okx": 15_000.0}
WALLET_USDT = 50_000.0


@pytest.fixture(scope="module")
def free_chain() -> Iterator[Anvil]:
    """A chain in the past whose gas costs nothing, so the operator key needs no ETH and the
    USDT share class's book holds only what the run deposits."""
    genesis = int((START - timedelta(days=2)).timestamp())
    with Anvil("--timestamp", str(genesis), "--base-fee", "0", "--gas-price", "0") as node:
        yield node


@pytest.fixture
def fund(free_chain: Anvil) -> Iterator[FundChain]:
    snapshot_id = free_chain.snapshot()
    world = deploy_fund_chain(free_chain, capital_eth=0)
    drain_operator(world)
    add_usdt(world, WALLET_USDT)
    yield world
    free_chain.revert(snapshot_id)


def drain_operator(fund: FundChain) -> None:
    """The operator's gas ETH back to a dev account (gas is free here)."""
    w3 = fund.w3
    held = w3.eth.get_balance(fund.operator.address)
    tx = {"to": fund.anvil.accounts[3], "value": held, "gas": 21_000, "maxFeePerGas": 0,
          "maxPriorityFeePerGas": 0, "nonce": w3.eth.get_transaction_count(fund.operator.address),
          "chainId": w3.eth.chain_id}  # fmt: skip
    signed = fund.operator.sign_transaction(tx)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    assert w3.eth.get_balance(fund.operator.address) == 0


class ChainAndFakes(ChainReplay):
    """Each replayed hour set on the chain, then the merged market set on the CEX fakes."""

    def __init__(self, fakes: VenueFakes, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.fakes_replay = ReplayMarket(fakes, "ETH")

    def get_data(self, t: datetime) -> MarketState:
        market = super().get_data(t)
        self.fakes_replay.apply(market)
        return market


def test_usdt_market_neutral_runs_on_chain_and_cex_fakes(fund: FundChain, tmp_path: Path) -> None:
    total = WALLET_USDT + sum(CEX_USDT.values())
    end = START + timedelta(hours=CYCLES)
    config = load_run_config(
        "usdt_market_neutral",
        [f"start={START.isoformat()}", f"end={end.isoformat()}",
         "staking.rewards_mode=base_only", f"initial_capital={total!r}"],
        env={},
    )  # fmt: skip
    history = HistoricalDataProvider(config, resolve_data_dir(None, os.environ))
    account = chain_account(fund, config, priority_fee_gwei=0.0)
    with (
        LiveStore(f"sqlite:///{tmp_path / 'live.db'}") as store,
        venue_fakes(CEX_USDT, START) as fakes,
    ):
        cex = build_live_venues(
            config, fakes.clients, store, "hedged", spot_client=fakes.spot_client,
            transfer_routes=fakes.routes(), settings=LiveCexSettings(poll_interval_s=0.0),
            sleep=Sleeps(), clock=fakes.clock.now,
        )  # fmt: skip
        fakes.venues = dict(cex)
        engine = EventDrivenStrategyEngine(config, history, {**cex, **chain_venues(account)})
        strategy = engine.parts.strategy
        assert isinstance(strategy, Basis)
        strategy.start_on_venues({**opening_usdt(cex), "wallet": WALLET_USDT})
        wall = SleptWall()
        clock = AcceleratedClock(START - timedelta(minutes=1), 3600 / 0.01, wall, wall.sleep)
        reads: list[int] = []

        def reconcile(e: EventDrivenStrategyEngine) -> None:
            book = e.parts.positions.quantities
            reads.append(confirm_all(e.parts.execution.venues.venues, book))
            account.confirm_book(book)

        source = ChainAndFakes(fakes, fund, history, account, clock.now)
        session = PaperSession(
            engine, source, clock.now, clock.sleep_until, HeartbeatRegistry(clock.now),
            name="live-hedged", reconcile=reconcile,
        )  # fmt: skip
        session.run(max_cycles=CYCLES)
        assert session.cycles == CYCLES and reads == [3] * CYCLES
        assert engine.parts.execution.rejections == []
        # levered on chain, hedged on the three venues
        data = account.account_data()
        assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.005)
        net_eth = (data["collateral_base"] - data["debt_base"]) / (
            history.get_data(START)["price:ETH"]
        )
        shorts = {
            venue: float(sum(p.size_base for p in state.positions.values()))
            for venue, state in fakes.states.items()
        }
        assert all(size < 0 for size in shorts.values()), shorts
        assert -sum(shorts.values()) == pytest.approx(net_eth, rel=0.02)
        folder = engine.write(tmp_path / "out", "hedged")
    assert (folder / "hourly_pnl.csv").exists()
