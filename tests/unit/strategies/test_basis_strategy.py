"""btc_basis on a short real window (domain 9.2, 11.1): the entry split and request isolation.

Entry (hour 0): spot S = E'/(1 + m*) bought at the spot venue, shorts equal to the units
bought split by the hedge allocation, every venue at m* after entry (up to fees), and equity
= capital + the hour's booked costs. Isolation (ADR-005): two engines from one config give
identical hourly results, alone or interleaved hour by hour.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from basis_strategy.components.results_store import PNL_COLUMNS
from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.events import COMPONENTS
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.strategies.basis import Basis
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
WINDOW = ["start=2024-05-01T00:00:00Z", "end=2024-05-03T00:00:00Z"]  # includes a Binance hole
COLUMNS = PNL_COLUMNS

VENUES = ("binance", "bybit", "okx")
ALLOCATION = {"binance": 0.4, "bybit": 0.3, "okx": 0.3}


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (DATA_DIR / "README.md").is_file():
        pytest.fail(f"data folder not found: {DATA_DIR} (set BASIS_DATA_DIR)")
    return DATA_DIR


def build(config: RunConfig, data_dir: Path) -> EventDrivenStrategyEngine:
    return EventDrivenStrategyEngine(
        config, HistoricalDataProvider(config, data_dir), build_simulated_venues(config)
    )


@pytest.fixture(scope="module")
def entry_run(data_dir: Path) -> EventDrivenStrategyEngine:
    engine = build(load_run_config("btc_basis", WINDOW, env={}), data_dir)
    engine.run()
    return engine


def row(engine: EventDrivenStrategyEngine, hour: int) -> dict[str, float]:
    return dict(zip(COLUMNS, engine.parts.results.pnl_rows[hour], strict=True))


def test_strategy_is_the_basis_manager(entry_run: EventDrivenStrategyEngine) -> None:
    assert isinstance(entry_run.parts.strategy, Basis)
    assert len(entry_run.parts.results.pnl_rows) == 49


def test_entry_spot_equals_total_short_split_by_allocation(
    entry_run: EventDrivenStrategyEngine,
) -> None:
    quantities, *_ = entry_run.parts.results.books[0]
    spot = quantities["binance:BaseToken:BTC"]
    sizes = {v: quantities[f"{v}:Perp:BTCUSDT"] for v in VENUES}
    assert spot > 0 and all(size < 0 for size in sizes.values())
    short = -sum(sizes.values())
    assert short == pytest.approx(spot, rel=1e-9)
    for venue, size in sizes.items():
        assert -size / short == pytest.approx(ALLOCATION[venue], rel=1e-12), venue


def test_entry_spends_capital_split_by_target_margin(entry_run: EventDrivenStrategyEngine) -> None:
    """Spot S = E'/(1 + m*) and venue v gets m* × S × a_v (+ S at the spot venue)."""
    events = entry_run.parts.logger.events
    sent = {
        e.instrument.split(":")[0]: e.amount
        for e in events
        if e.event_type == "TransferReceived" and e.t == entry_run.data.times[0]
    }
    spent = -next(e.amount for e in events if e.event_type == "SpotBought" and e.amount < 0)
    deployed = sum(sent.values())
    assert spent == pytest.approx(deployed / 1.5, rel=1e-12)
    for venue in VENUES:
        expected = 0.5 * spent * ALLOCATION[venue] + (spent if venue == "binance" else 0.0)
        assert sent[venue] == pytest.approx(expected, rel=1e-12), venue
    # Deployed = the capital less what the gas buffer swap used.
    swap = next(e for e in events if e.event_type == "Swapped" and e.amount < 0)
    assert deployed == pytest.approx(100_000.0 + swap.amount, rel=1e-12)


def test_each_venue_is_at_target_margin_after_entry(entry_run: EventDrivenStrategyEngine) -> None:
    _, exposure, pre_trade, post_trade, _ = entry_run.parts.results.books[0]
    assert pre_trade.margin_ratio == {}  # nothing held before the first trades
    assert set(post_trade.margin_ratio) == set(VENUES)
    for venue in VENUES:
        assert post_trade.margin_ratio[venue] == pytest.approx(0.5, rel=0.02), venue
        assert post_trade.margin_level[venue] == "ok"
        ratio = exposure.venue_equity_usdt[venue] / exposure.venue_notional_usdt[venue]
        assert post_trade.margin_ratio[venue] == ratio
    assert post_trade.delta_drift["BTC"] == pytest.approx(0.0, abs=1e-9)


def test_equity_after_entry_is_capital_less_entry_costs(
    entry_run: EventDrivenStrategyEngine,
) -> None:
    first = row(entry_run, 0)
    costs = first["gas"] + first["execution_costs"]
    assert first["gas"] < 0 and first["execution_costs"] < 0
    assert first["equity"] == pytest.approx(100_000.0 + costs, rel=1e-9)
    assert first["net_flow"] == 100_000.0
    assert first["shares"] == 100_000.0
    others = [c for c in COMPONENTS if c not in ("gas", "execution_costs")]
    assert all(first[c] == 0.0 for c in others)
    assert abs(first["residual"]) <= 1e-9 * first["equity"]


def test_residual_is_noise_every_hour(entry_run: EventDrivenStrategyEngine) -> None:
    for hour, t in enumerate(entry_run.data.times):
        r = row(entry_run, hour)
        assert abs(r["residual"]) <= 1e-9 * r["equity"], t
        assert (r["funding"] != 0.0) == (hour > 0 and t.hour in (0, 8, 16)), t


# --- request isolation ----------------------------------------------------------------------


def same_rows(a: Sequence[tuple[float, ...]], b: Sequence[tuple[float, ...]]) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y)
        and all(p == q or (math.isnan(p) and math.isnan(q)) for p, q in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def run_interleaved(engines: list[EventDrivenStrategyEngine]) -> list[int]:
    """Run the engines hour by hour in turn (A0, B0, A1, B1, ...); returns the order of hours."""
    turns = [threading.Semaphore(0) for _ in engines]
    order: list[int] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        def progress(done: int, total: int) -> None:
            order.append(i)
            turns[(i + 1) % len(engines)].release()
            if not turns[i].acquire(timeout=120):
                raise TimeoutError(f"engine {i} waited too long for its turn")

        try:
            if not turns[i].acquire(timeout=120):
                raise TimeoutError(f"engine {i} never started")
            engines[i].run(progress, every=1)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            turns[(i + 1) % len(engines)].release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    turns[0].release()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return order


@pytest.fixture(scope="module")
def no_execution_costs() -> RunConfig:
    return load_run_config("btc_basis", [*WINDOW, "costs.execution=false"], env={})


def test_two_engines_from_one_config_agree(no_execution_costs: RunConfig, data_dir: Path) -> None:
    first = build(no_execution_costs, data_dir)
    second = build(no_execution_costs, data_dir)
    first.run()
    second.run()
    rows = first.parts.results.pnl_rows
    assert len(rows) == 49
    assert all(r[COLUMNS.index("execution_costs")] == 0.0 for r in rows)
    assert same_rows(rows, second.parts.results.pnl_rows)
    assert first.parts.positions.quantities == second.parts.positions.quantities


def test_interleaved_engines_match_a_run_alone(
    no_execution_costs: RunConfig, data_dir: Path
) -> None:
    alone = build(no_execution_costs, data_dir)
    alone.run()
    engines = [build(no_execution_costs, data_dir), build(no_execution_costs, data_dir)]
    order = run_interleaved(engines)
    assert order == [0, 1] * 49  # really one hour each in turn
    for engine in engines:
        assert same_rows(engine.parts.results.pnl_rows, alone.parts.results.pnl_rows)
        assert engine.parts.positions.quantities == alone.parts.positions.quantities
        assert len(engine.parts.logger.events) == len(alone.parts.logger.events)
