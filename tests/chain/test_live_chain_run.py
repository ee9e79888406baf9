"""eth_leveraged runs live on the local chain (issue 14 acceptance): the paper session's loop on
the on-chain venues, at an accelerated clock, the chain driven through replayed history, every
instruction reconciled with the chain, and files of the same shape as a backtest's."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.chain.anvil import Anvil
from tests.chain.fund import FundChain, deploy_fund_chain
from tests.chain.live_world import ChainReplay, chain_account, chain_venues

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.replay import AcceleratedClock, SleptWall
from basis_strategy.live.session import PaperSession
from basis_strategy.services.backtest import resolve_data_dir

START = datetime(2025, 3, 1, tzinfo=UTC)
CYCLES = 6
CAPITAL_ETH = 60  # in the account; the operator's 1 ETH of gas is the fund's too


@pytest.fixture(scope="module")
def past_chain() -> Iterator[Anvil]:
    """A chain whose clock starts two days before the replayed window."""
    genesis = int((START - timedelta(days=2)).timestamp())
    with Anvil("--timestamp", str(genesis)) as node:
        yield node


@pytest.fixture(scope="module")
def fund(past_chain: Anvil) -> FundChain:
    return deploy_fund_chain(past_chain, capital_eth=CAPITAL_ETH)


def config_for(capital: float) -> object:
    end = START + timedelta(hours=CYCLES)
    return load_run_config(
        "eth_leveraged",
        [f"start={START.isoformat()}", f"end={end.isoformat()}",
         "staking.rewards_mode=base_only", f"initial_capital={capital!r}"],
        env={},
    )  # fmt: skip


def test_eth_leveraged_runs_live_on_chain_reconciled_every_cycle(
    fund: FundChain, tmp_path: Path
) -> None:
    capital = (
        sum(fund.w3.eth.get_balance(a) for a in (fund.account.address, fund.operator.address))
        / 1e18
    )
    config = config_for(capital)
    history = HistoricalDataProvider(config, resolve_data_dir(None, os.environ))
    account = chain_account(fund, config)
    engine = EventDrivenStrategyEngine(config, history, dict(chain_venues(account)))
    wall = SleptWall()
    clock = AcceleratedClock(START - timedelta(minutes=1), 3600 / 0.01, wall, wall.sleep)
    checked: list[int] = []

    def reconcile(e: EventDrivenStrategyEngine) -> None:
        account.confirm_book(e.parts.positions.quantities)
        checked.append(len(account.mined))

    session = PaperSession(
        engine, ChainReplay(fund, history, account, clock.now), clock.now, clock.sleep_until,
        HeartbeatRegistry(clock.now), name="live-chain", reconcile=reconcile,
    )  # fmt: skip
    session.run(max_cycles=CYCLES)
    assert session.cycles == CYCLES and len(checked) == CYCLES
    assert engine.parts.execution.rejections == []
    # levered on chain at the target: AAVE's own account data
    data = account.account_data()
    assert data["debt_base"] / data["collateral_base"] == pytest.approx(0.91, abs=0.005)
    # the book is the chain's, to the wei of every holding
    held = account.holdings()
    book = engine.parts.positions.quantities
    for key, amount in held.items():
        # (float sums of legs of ~1e3 ETH: exact to ~1e-13)
        assert book.get(key, 0.0) == pytest.approx(amount, rel=1e-12, abs=1e-12), key
    # files of the same shape as a backtest's of the same window
    live_dir = engine.write(tmp_path / "live", "live")
    backtest = EventDrivenStrategyEngine(config, history, _simulated(config, history))
    backtest.run()
    back_dir = backtest.write(tmp_path / "backtest", "backtest")
    for name in ("hourly_pnl.csv", "event_log.csv"):
        assert _header(live_dir / name) == _header(back_dir / name), name
    # a column per holding: live also holds the LST dust a bundle leaves (module chain.py)
    extra = set(_header(live_dir / "balance_sheet.csv")) - set(
        _header(back_dir / "balance_sheet.csv")
    )
    assert set(_header(back_dir / "balance_sheet.csv")) <= set(
        _header(live_dir / "balance_sheet.csv")
    )
    assert all("weETH" in column for column in extra), extra
    live_summary = json.loads((live_dir / "summary.json").read_text())
    back_summary = json.loads((back_dir / "summary.json").read_text())
    assert set(live_summary) == set(back_summary)
    events = _column(live_dir / "event_log.csv", "event_type")
    assert {"Deposited", "FlashBorrowed", "Staked", "Supplied", "Borrowed", "FlashRepaid"} <= set(
        events
    )
    assert sum(1 for e in events if e.startswith("GasPaid")) == len(account.mined)


def _simulated(config: object, history: HistoricalDataProvider) -> dict[str, object]:
    from basis_strategy.venues.simulated.build import build_simulated_venues

    return build_simulated_venues(config, history.aave_risk)  # type: ignore[arg-type]


def _header(path: Path) -> list[str]:
    with path.open() as handle:
        return next(csv.reader(handle))


def _column(path: Path, name: str) -> list[str]:
    with path.open() as handle:
        return [row[name] for row in csv.DictReader(handle)]
