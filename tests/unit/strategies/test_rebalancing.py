"""Cost-aware optional actions (issue 11): the gate's rules, and expected costs equal to what
the simulated venues charge (the gate weighs the same figures the run then pays)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from basis_strategy.components.execution import (
    EventLogger,
    ExecutionManager,
    PositionUpdateHandler,
    Reconciliation,
    VenueInterfaceManager,
)
from basis_strategy.components.fund import FundBooks
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor
from basis_strategy.config.loader import load_run_config
from basis_strategy.core.instructions import (
    BuySpot,
    EndGroup,
    Instruction,
    Leg,
    ReceiveDeposit,
    StartRebalance,
    SwapOnDex,
    TradePerp,
    Transfer,
)
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.rebalancing import CostModel, Proposal, RebalanceGate
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import SimulatedWallet

T0 = datetime(2024, 6, 1, 8, tzinfo=UTC)
VALUES = {
    "price:ETH": 3000.0,
    "price:BTC": 60000.0,
    "perp:binance:BTCUSDT": 59990.0,
    "perp:bybit:BTCUSDT": 60010.0,
    "perp:okx:BTCUSDT": 60005.0,
    "gas_gwei": 12.0,
}
MARKET = MarketState(T0, 0, dict(VALUES), ())


def gate(*sets: str) -> RebalanceGate:
    return RebalanceGate(load_run_config("btc_basis", list(sets), env={}))


@pytest.mark.parametrize(
    ("proposal", "reason"),
    [
        (Proposal("margin_excess:okx", 999.0, 1.0, 100.0), "below_min_amount"),
        (Proposal("margin_excess:okx", 5_000.0, 50.5, 1e6), "cost_above_max_fraction"),
        (Proposal("relever", 5_000.0, 20.0, 39.9), "benefit_below_cost"),
        (Proposal("relever", 5_000.0, 20.0, -1.0), "benefit_below_cost"),
        (Proposal("relever", 5_000.0, 20.0, math.nan), "benefit_below_cost"),
        (Proposal("deploy", 5_000.0, math.nan, 100.0), "cost_above_max_fraction"),
    ],
)
def test_the_gate_skips_and_counts_by_trigger_and_reason(proposal: Proposal, reason: str) -> None:
    g = gate()  # defaults: ratio 2, min $1,000, cost <= 1 % of the amount
    assert not g.allows(proposal, MARKET)
    assert g.skipped_summary() == {proposal.trigger.split(":")[0]: {reason: 1}}


def test_the_gate_lets_through_what_pays_and_frames_it() -> None:
    g = gate()
    proposal = Proposal("margin_excess", 5_000.0, 20.0, 40.0)  # ratio exactly 2
    assert g.allows(proposal, MARKET)
    refill = Proposal("reserve_refill", 1_000.0, 10.0, None)  # no carry: min and cap only
    assert g.allows(refill, MARKET)
    steps: list[Instruction] = [
        ReceiveDeposit(venue="wallet", action="flow", trigger="x", asset="USDT", amount=1.0)
    ]
    framed = list(g.run(proposal, "entry_partial", steps))
    assert isinstance(framed[0], StartRebalance) and isinstance(framed[-1], EndGroup)
    assert (framed[0].expected_cost, framed[0].expected_benefit) == (20.0, 40.0)
    assert framed[0].horizon_days == 60.0
    assert framed[1:-1] == steps
    assert math.isnan(next(iter(g.run(refill, "exit_partial", ()))).expected_benefit)  # type: ignore[attr-defined]
    assert g.skipped_summary() == {}


def test_optional_off_skips_everything_and_says_so() -> None:
    g = gate("rebalancing.optional=false")
    assert not g.allows(Proposal("relever", 1e6, 0.0, 1e9), MARKET)
    assert not g.enabled("dust:EIGEN")
    assert g.skipped_summary() == {"relever": {"optional_off": 1}, "dust": {"optional_off": 1}}


def test_min_amount_is_in_usd_in_the_eth_class() -> None:
    g = RebalanceGate(load_run_config("eth_staking_only", [], env={}))
    assert not g.allows(Proposal("deploy", 0.3, 0.0, 1.0), MARKET)  # $900
    assert g.allows(Proposal("deploy", 0.34, 0.0, 1.0), MARKET)  # $1,020


# --- expected costs are what the venues charge -------------------------------------------


class Loop:
    """btc_basis venues (+ the wallet) behind one execution manager; costs are the equity
    an instruction loses."""

    def __init__(self, *sets: str) -> None:
        config = load_run_config("btc_basis", list(sets), env={})
        venues = build_simulated_venues(config)
        self.positions = PositionMonitor()
        self.exposure = ExposureMonitor(self.positions, "USDT")
        updates = PositionUpdateHandler(
            self.positions, EventLogger("USDT"), Reconciliation(self.positions), "USDT"
        )
        self.manager = ExecutionManager(
            VenueInterfaceManager(venues), updates, self.exposure, FundBooks("pool")
        )
        self.costs = CostModel(config)
        wallet = venues["wallet"]
        assert isinstance(wallet, SimulatedWallet)
        seed = Leg("wallet:BaseToken:ETH", 1.0, "Seeded")
        wallet.ledger.apply((seed,))
        self.positions.apply(seed.instrument, 1.0, None)
        self.run(
            ReceiveDeposit(
                venue="wallet", action="flow", trigger="x", asset="USDT", amount=1_000_000.0
            )
        )

    def run(self, instruction: Instruction) -> float:
        """The instruction's cost: the equity it lost."""
        before = self.exposure.compute(MARKET).equity
        self.manager.run(instruction, MARKET)
        return before - self.exposure.compute(MARKET).equity


def to(venue: str, amount: float) -> Transfer:
    return Transfer(
        venue="wallet",
        action="entry_full",
        trigger="t",
        destination=venue,
        asset="USDT",
        amount=amount,
    )


@pytest.mark.parametrize("usdt", [2_000.0, 150_000.0])
@pytest.mark.parametrize("costs", [(), ("costs.gas=false",), ("costs.execution=false",)])
def test_expected_costs_equal_the_venues_charges(usdt: float, costs: tuple[str, ...]) -> None:
    loop = Loop(*costs)
    model = loop.costs
    swap = SwapOnDex(
        venue="uniswap", action="entry_full", trigger="t", sell="USDT", buy="ETH", sell_amount=usdt
    )
    assert loop.run(swap) == pytest.approx(model.swap(usdt, "ETH/USDT", MARKET), rel=1e-9, abs=1e-9)
    assert loop.run(to("binance", 400_000.0)) == pytest.approx(
        model.wallet_transfer(MARKET), abs=1e-9
    )
    spot = BuySpot(venue="binance", action="entry_full", trigger="t", base="BTC", quote_amount=usdt)
    assert loop.run(spot) == pytest.approx(
        model.spot("binance", "BTC", usdt, MARKET), rel=1e-9, abs=1e-9
    )
    units = usdt / VALUES["perp:binance:BTCUSDT"]
    perp = TradePerp(
        venue="binance", action="entry_full", trigger="t", base="BTC", size_delta=-units
    )
    expected = model.perp("binance", "BTC", units * VALUES["perp:binance:BTCUSDT"], MARKET)
    assert loop.run(perp) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # a CEX withdrawal: its flat fee, plus the network gas the estimate adds (domain 11.2)
    withdraw = Transfer(
        venue="binance",
        action="entry_full",
        trigger="t",
        destination="bybit",
        asset="USDT",
        amount=1_000.0,
    )
    charged = loop.run(withdraw)
    assert charged == (0.0 if "costs.execution=false" in costs else 1.0)
    assert model.withdrawal("binance", MARKET) == pytest.approx(
        charged + model.wallet_transfer(MARKET)
    )
