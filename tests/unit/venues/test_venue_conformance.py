"""Conformance of every simulated venue to the VenueInterface contract (conventions 7, ADR-008).

One parametrised module over SimulatedCex, SimulatedWallet, SimulatedAave and SimulatedDex
(the staking, leverage and flash-bundle instructions have their own modules, and
test_value_conservation.py checks (b) for them in both share classes):

(a) after `execute`, `positions()` is the ledger before plus the legs' amounts per key;
(b) a trade moves the value of the holdings (at the same market) only by the P&L its legs
    book (`pnl_native` × USD price of `pnl_asset`, USDT share class), domain 12.2;
(c) with gas and execution costs switched off every trade is value-neutral and pays no gas;
(d) unsupported instructions and over-draws raise ExecutionRejected and change nothing;
(e) `settle` books funding `−size × mark × rate` in USDT on the venue's own perps only.

Transfers move value between venues, so (b) and (c) value the whole system (every ledger)
and route instructions through the VenueInterfaceManager, which credits the destination.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import pytest

from basis_strategy.components.execution import VenueInterfaceManager
from basis_strategy.components.monitors import unit_value
from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.venues import AaveVenue, CexVenue, DexVenue, RpcVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import (
    ApproveToken,
    BuySpot,
    ExecutionResult,
    Instruction,
    Leg,
    PayWithdrawal,
    ReceiveDeposit,
    SellSpot,
    SupplyToAave,
    SwapOnDex,
    TradePerp,
    Transfer,
    WithdrawFromAave,
)
from basis_strategy.core.instruments import instrument
from basis_strategy.data.market import AaveRisk, FundingRate, MarketState
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.cex import SimulatedCex
from basis_strategy.venues.simulated.chain import SimulatedAave, SimulatedDex, SimulatedWallet
from basis_strategy.venues.simulated.flash import SimulatedFlashLender
from basis_strategy.venues.simulated.staking import SimulatedStaking

T0 = datetime(2024, 6, 1, tzinfo=UTC)
VALUES = {
    "price:ETH": 3000.0,
    "price:BTC": 60000.0,
    "perp:binance:BTCUSDT": 60030.0,
    "perp:bybit:BTCUSDT": 59985.0,
    "perp:okx:BTCUSDT": 60010.0,
    "perp:binance:ETHUSDT": 3001.5,
    "perp:bybit:ETHUSDT": 2999.0,
    "perp:okx:ETHUSDT": 3002.0,
    "gas_gwei": 12.5,
    "aave_li:USDT": 1.1,
    "aave_bi:USDT": 1.2,
    "aave_lr:USDT": 0.05,
}
COSTS_ON = CostSwitches(gas=True, execution=True)
COSTS_OFF = CostSwitches(gas=False, execution=False)
CEXES = ("binance", "bybit", "okx")

# (quantity, entry or None) per key, per ledger ("chain" is the one on-chain wallet ledger).
SEED: dict[str, dict[str, tuple[float, float | None]]] = {
    "chain": {
        "wallet:BaseToken:USDT": (50_000.0, None),
        "wallet:BaseToken:ETH": (1.0, None),
        "aave_v3:aToken:aUSDT": (10_000.0, None),
    },
    "binance": {
        "binance:BaseToken:USDT": (50_000.0, None),
        "binance:BaseToken:BTC": (0.5, None),
        "binance:BaseToken:ETH": (2.0, None),
        "binance:Perp:BTCUSDT": (-0.5, 59_500.0),
        "binance:Perp:ETHUSDT": (-2.0, 3_100.0),
    },
    "bybit": {
        "bybit:BaseToken:USDT": (20_000.0, None),
        "bybit:Perp:BTCUSDT": (-0.5, 59_000.0),
        "bybit:Perp:ETHUSDT": (1.0, 2_950.0),
    },
    "okx": {
        "okx:BaseToken:USDT": (20_000.0, None),
        "okx:Perp:BTCUSDT": (-0.5, 61_000.0),
    },
}


def market(funding: tuple[FundingRate, ...] = (), **changes: float) -> MarketState:
    return MarketState(T0, 0, {**VALUES, **changes}, funding)


@cache
def btc_config() -> RunConfig:
    return load_run_config("btc_basis", env={})


@cache
def lending_config() -> RunConfig:
    return load_run_config("pure_lending", env={})


def cex_config(name: str) -> CexVenue:
    venue = btc_config().venues[name]
    assert isinstance(venue, CexVenue)
    return venue


def seed(ledger: Ledger, holdings: dict[str, tuple[float, float | None]]) -> None:
    ledger.apply(
        tuple(Leg(key, qty, "Seeded", entry_after=e) for key, (qty, e) in holdings.items())
    )


def build_system(
    costs: CostSwitches,
) -> dict[str, SimulatedCex | SimulatedWallet | SimulatedAave | SimulatedDex]:
    """Every simulated venue implementation, seeded; the on-chain ones share one ledger."""
    btc, lending = btc_config(), lending_config()
    rpc, dex, aave = btc.venues["alchemy"], btc.venues["uniswap"], lending.venues["aave_v3"]
    assert isinstance(rpc, RpcVenue) and isinstance(dex, DexVenue) and isinstance(aave, AaveVenue)
    chain = Ledger()
    seed(chain, SEED["chain"])
    system: dict[str, SimulatedCex | SimulatedWallet | SimulatedAave | SimulatedDex] = {
        "wallet": SimulatedWallet(chain, costs, rpc),
        "aave_v3": SimulatedAave(chain, costs, aave),
        "uniswap": SimulatedDex(chain, costs, dex),
    }
    for name in CEXES:
        cex = SimulatedCex(cex_config(name), costs)
        seed(cex.ledger, SEED[name])
        system[name] = cex
    return system


def ledgers(
    system: dict[str, SimulatedCex | SimulatedWallet | SimulatedAave | SimulatedDex],
) -> list[Ledger]:
    unique: dict[int, Ledger] = {}
    for venue in system.values():
        unique.setdefault(id(venue.ledger), venue.ledger)
    return list(unique.values())


def holdings_value(ledger: Ledger, at: MarketState) -> float:
    """USDT-class value: `unit_value` for holdings, size × (mark − entry) for perps."""
    total = 0.0
    for key, qty in ledger.quantities.items():
        if qty == 0.0:
            continue
        inst = instrument(key)
        if inst.is_perp:
            total += qty * (at["perp:" + inst.venue + ":" + inst.symbol] - ledger.entries[key])
        else:
            total += qty * unit_value(key, at, "USDT")
    return total


def gross_value(ledger: Ledger, at: MarketState) -> float:
    total = 0.0
    for key, qty in ledger.quantities.items():
        inst = instrument(key)
        if inst.is_perp:
            total += abs(qty) * at["perp:" + inst.venue + ":" + inst.symbol]
        else:
            total += abs(qty * unit_value(key, at, "USDT"))
    return total


def leg_pnl_usd(leg: Leg, at: MarketState) -> float:
    return leg.pnl_native * at.usd(leg.pnl_asset) if leg.pnl_component else 0.0


def expected_positions(before: dict[str, float], legs: tuple[Leg, ...]) -> dict[str, float]:
    expected = dict(before)
    for leg in legs:
        expected[leg.instrument] = expected.get(leg.instrument, 0.0) + leg.amount
    return expected


def assert_same_positions(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for key, qty in expected.items():
        assert actual[key] == pytest.approx(qty, rel=1e-12, abs=1e-12), key


# --- the instructions each venue supports --------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    venue: str
    instruction: Instruction


def _i(cls: type[Instruction], venue: str, **fields: object) -> Instruction:
    return cls(venue=venue, action="entry_partial", trigger="test", **fields)  # type: ignore[arg-type]


CASES = [
    # SimulatedCex: spot
    Case("cex-buy-btc", "binance", _i(BuySpot, "binance", base="BTC", quote_amount=20_000.0)),
    Case("cex-buy-eth", "bybit", _i(BuySpot, "bybit", base="ETH", quote_amount=5_000.0)),
    Case("cex-sell-btc", "binance", _i(SellSpot, "binance", base="BTC", base_amount=0.25)),
    Case("cex-sell-all-eth", "binance", _i(SellSpot, "binance", base="ETH", base_amount=2.0)),
    # SimulatedCex: perps (seeded shorts / long; okx holds no ETH perp)
    Case("perp-open-short", "okx", _i(TradePerp, "okx", base="ETH", size_delta=-1.5)),
    Case("perp-add-short", "bybit", _i(TradePerp, "bybit", base="BTC", size_delta=-0.3)),
    Case("perp-add-long", "bybit", _i(TradePerp, "bybit", base="ETH", size_delta=0.5)),
    Case("perp-reduce-short", "okx", _i(TradePerp, "okx", base="BTC", size_delta=0.2)),
    Case("perp-close-short", "binance", _i(TradePerp, "binance", base="ETH", size_delta=2.0)),
    Case(
        "perp-flip-short-to-long", "binance", _i(TradePerp, "binance", base="BTC", size_delta=0.8)
    ),
    Case("perp-flip-long-to-short", "bybit", _i(TradePerp, "bybit", base="ETH", size_delta=-3.0)),
    # SimulatedCex: withdrawals (flat fee out of the amount sent)
    Case(
        "cex-withdraw-usdt",
        "binance",
        _i(Transfer, "binance", destination="wallet", asset="USDT", amount=10_000.0),
    ),
    Case(
        "cex-withdraw-btc",
        "binance",
        _i(Transfer, "binance", destination="wallet", asset="BTC", amount=0.1),
    ),
    Case(
        "cex-to-cex-usdt",
        "okx",
        _i(Transfer, "okx", destination="bybit", asset="USDT", amount=5_000.0),
    ),
    # SimulatedWallet
    Case("wallet-deposit", "wallet", _i(ReceiveDeposit, "wallet", asset="USDT", amount=25_000.0)),
    Case("wallet-payout", "wallet", _i(PayWithdrawal, "wallet", asset="USDT", amount=10_000.0)),
    Case(
        "wallet-transfer",
        "wallet",
        _i(Transfer, "wallet", destination="binance", asset="USDT", amount=10_000.0),
    ),
    Case("wallet-approve", "wallet", _i(ApproveToken, "wallet", token="USDT", spender="aave_v3")),
    # SimulatedAave
    Case("aave-supply", "aave_v3", _i(SupplyToAave, "aave_v3", asset="USDT", amount=20_000.0)),
    Case("aave-withdraw", "aave_v3", _i(WithdrawFromAave, "aave_v3", asset="USDT", amount=5_000.0)),
    Case(
        "aave-withdraw-all",
        "aave_v3",
        _i(WithdrawFromAave, "aave_v3", asset="USDT", amount=math.inf),
    ),
    # SimulatedDex
    Case(
        "dex-usdt-to-eth",
        "uniswap",
        _i(SwapOnDex, "uniswap", sell="USDT", buy="ETH", sell_amount=1_000.0),
    ),
    Case(
        "dex-eth-to-usdt",
        "uniswap",
        _i(SwapOnDex, "uniswap", sell="ETH", buy="USDT", sell_amount=0.5),
    ),
]
IDS = [case.id for case in CASES]


def route(
    costs: CostSwitches, case: Case
) -> tuple[
    dict[str, SimulatedCex | SimulatedWallet | SimulatedAave | SimulatedDex],
    float,
    float,
    list[ExecutionResult],
    float,
]:
    """Run `case` through the venue interface manager; value of all ledgers before and after."""
    system = build_system(costs)
    at = market()
    before = sum(holdings_value(ledger, at) for ledger in ledgers(system))
    results = [result for _, result in VenueInterfaceManager(system).route(case.instruction, at)]
    after = sum(holdings_value(ledger, at) for ledger in ledgers(system))
    gross = sum(gross_value(ledger, at) for ledger in ledgers(system))
    return system, before, after, results, gross


def test_cases_cover_every_supported_instruction_of_every_venue() -> None:
    covered = {(type(build_system(COSTS_ON)[c.venue]), type(c.instruction)) for c in CASES}
    assert covered == {
        (SimulatedCex, BuySpot),
        (SimulatedCex, SellSpot),
        (SimulatedCex, TradePerp),
        (SimulatedCex, Transfer),
        (SimulatedWallet, ReceiveDeposit),
        (SimulatedWallet, PayWithdrawal),
        (SimulatedWallet, Transfer),
        (SimulatedWallet, ApproveToken),
        (SimulatedAave, SupplyToAave),
        (SimulatedAave, WithdrawFromAave),
        (SimulatedDex, SwapOnDex),
    }


def _risk(asset: str, emode: bool) -> AaveRisk:
    return AaveRisk(0.93, 0.95, 0.01) if emode else AaveRisk(0.8, 0.85, 0.05)


@pytest.mark.parametrize(
    "mode",
    [
        "btc_basis",
        "eth_basis",
        "pure_lending",
        "eth_staking_only",
        "eth_leveraged",
        "usdt_market_neutral_no_leverage",
        "usdt_market_neutral",
    ],
)
def test_build_creates_the_modes_venues_on_one_wallet_ledger(mode: str) -> None:
    config = load_run_config(mode, env={})
    built = build_simulated_venues(config, _risk)
    assert set(built) == {"wallet", *config.mode.venues} - {"alchemy"}
    assert {type(v) for v in built.values()} <= {
        SimulatedCex,
        SimulatedWallet,
        SimulatedAave,
        SimulatedDex,
        SimulatedStaking,
        SimulatedFlashLender,
    }
    chain = [v.ledger for v in built.values() if not isinstance(v, SimulatedCex)]
    assert all(ledger is chain[0] for ledger in chain), "on-chain venues share one wallet ledger"
    cex = [v.ledger for v in built.values() if isinstance(v, SimulatedCex)]
    assert len({id(ledger) for ledger in cex}) == len(cex), "each CEX account has its own ledger"
    flash = built.get("morpho")
    if flash is not None:
        assert isinstance(flash, SimulatedFlashLender)
        assert flash.venues == {n: v for n, v in built.items() if n not in (*CEXES, "morpho")}


def test_build_needs_the_rpc_venue() -> None:
    config = load_run_config("pure_lending", env={})
    venues = {k: v for k, v in config.venues.items() if k != "alchemy"}
    with pytest.raises(ConfigError, match="alchemy"):
        build_simulated_venues(RunConfig(config.mode, config.share_class, venues), _risk)


# --- (a) positions move by exactly the legs ----------------------------------------------------


@pytest.mark.parametrize("costs", [COSTS_ON, COSTS_OFF], ids=["costs", "no-costs"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_positions_move_by_the_legs(case: Case, costs: CostSwitches) -> None:
    venue = build_system(costs)[case.venue]
    before = venue.positions()
    result = venue.execute(case.instruction, market())
    if costs.gas or not isinstance(case.instruction, ApproveToken):  # approval: gas only
        assert result.legs, "every supported instruction produces at least one leg"
    assert_same_positions(venue.positions(), expected_positions(before, result.legs))
    for leg in result.legs:
        if leg.entry_after is not None:
            assert venue.ledger.entries[leg.instrument] == leg.entry_after


def test_positions_is_a_copy() -> None:
    venue = build_system(COSTS_ON)["binance"]
    view = venue.positions()
    view["binance:BaseToken:USDT"] = 0.0
    assert venue.positions()["binance:BaseToken:USDT"] == 50_000.0


# --- (b) a trade moves value only by its booked P&L ------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_changes_only_by_booked_pnl(case: Case) -> None:
    _, before, after, results, gross = route(COSTS_ON, case)
    at = market()
    booked = sum(leg_pnl_usd(leg, at) for result in results for leg in result.legs)
    assert after - before == pytest.approx(booked, rel=1e-9, abs=1e-12 * gross)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if not isinstance(c.instruction, ReceiveDeposit | PayWithdrawal)],
    ids=[c.id for c in CASES if not isinstance(c.instruction, ReceiveDeposit | PayWithdrawal)],
)
def test_trades_with_costs_on_lose_value(case: Case) -> None:
    """Every trade or transfer costs something (a fee, slippage or gas) when costs are on."""
    _, before, after, results, _ = route(COSTS_ON, case)
    assert after < before
    components = {leg.pnl_component for r in results for leg in r.legs if leg.pnl_component}
    assert components <= {"gas", "execution_costs"}
    assert components


def test_perp_trade_cost_is_fee_plus_slippage_on_notional() -> None:
    # Open 1.5 ETH short at okx: notional 1.5 × 3002 = 4503 USDT (below $10k: 3 bps slippage)
    # fee 5 bps → cost 4503 × 0.0008 = 3.6024 USDT; fill 3002 × (1 − 0.0003) = 3001.0994.
    case = next(c for c in CASES if c.id == "perp-open-short")
    venue = build_system(COSTS_ON)["okx"]
    perp, cash = venue.execute(case.instruction, market()).legs
    assert perp.price == pytest.approx(3002.0 * (1 - 0.0003), rel=1e-12)
    assert perp.entry_after == pytest.approx(3002.0 * (1 - 0.0003), rel=1e-12)
    assert perp.pnl_native == pytest.approx(-4503.0 * 0.0008, rel=1e-12)
    assert cash.amount == pytest.approx(-4503.0 * 0.0005, rel=1e-12)


def test_cex_withdrawal_delivers_amount_less_fee() -> None:
    case = next(c for c in CASES if c.id == "cex-withdraw-usdt")
    system, _, _, results, _ = route(COSTS_ON, case)
    assert system["binance"].ledger.qty("binance:BaseToken:USDT") == 40_000.0
    assert system["wallet"].ledger.qty("wallet:BaseToken:USDT") == 50_000.0 + 9_999.0
    assert [leg.pnl_native for leg in results[0].legs] == [-1.0]


# --- (c) costs switched off: value-neutral, no gas -------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_without_costs_every_trade_is_value_neutral(case: Case) -> None:
    _, before, after, results, gross = route(COSTS_OFF, case)
    at = market()
    legs = [leg for result in results for leg in result.legs]
    assert not any(leg.pnl_component == "gas" for leg in legs)
    assert not any(leg.event_type.startswith("GasPaid") for leg in legs)
    assert all(leg.pnl_native == 0.0 for leg in legs if leg.pnl_component != "flow")
    flows = sum(leg_pnl_usd(leg, at) for leg in legs if leg.pnl_component == "flow")
    assert after - before == pytest.approx(flows, abs=1e-12 * gross)


# --- (d) rejections leave everything unchanged ----------------------------------------------

INSTRUCTION_KINDS: dict[str, Callable[[str], Instruction]] = {
    "BuySpot": lambda v: _i(BuySpot, v, base="BTC", quote_amount=10.0),
    "SellSpot": lambda v: _i(SellSpot, v, base="BTC", base_amount=0.0001),
    "TradePerp": lambda v: _i(TradePerp, v, base="BTC", size_delta=-0.001),
    "Transfer": lambda v: _i(Transfer, v, destination="bybit", asset="USDT", amount=10.0),
    "ReceiveDeposit": lambda v: _i(ReceiveDeposit, v, asset="USDT", amount=10.0),
    "PayWithdrawal": lambda v: _i(PayWithdrawal, v, asset="USDT", amount=10.0),
    "ApproveToken": lambda v: _i(ApproveToken, v, token="USDT", spender="aave_v3"),
    "SupplyToAave": lambda v: _i(SupplyToAave, v, asset="USDT", amount=10.0),
    "WithdrawFromAave": lambda v: _i(WithdrawFromAave, v, asset="USDT", amount=10.0),
    "SwapOnDex": lambda v: _i(SwapOnDex, v, sell="USDT", buy="ETH", sell_amount=10.0),
}
SUPPORTED = {
    "binance": {"BuySpot", "SellSpot", "TradePerp", "Transfer"},
    "wallet": {"ReceiveDeposit", "PayWithdrawal", "Transfer", "ApproveToken"},
    "aave_v3": {"SupplyToAave", "WithdrawFromAave"},
    "uniswap": {"SwapOnDex"},
}
UNSUPPORTED = [
    (venue, kind)
    for venue, kinds in SUPPORTED.items()
    for kind in INSTRUCTION_KINDS
    if kind not in kinds
]
OVERDRAWS = [
    Case("cex-buy-more-usdt", "binance", _i(BuySpot, "binance", base="BTC", quote_amount=50_001.0)),
    Case("cex-sell-more-btc", "binance", _i(SellSpot, "binance", base="BTC", base_amount=0.5001)),
    Case("cex-sell-unheld", "okx", _i(SellSpot, "okx", base="ETH", base_amount=0.1)),
    Case(
        "cex-withdraw-more",
        "bybit",
        _i(Transfer, "bybit", destination="wallet", asset="USDT", amount=20_000.5),
    ),
    Case(
        "cex-withdraw-below-fee",
        "bybit",
        _i(Transfer, "bybit", destination="wallet", asset="USDT", amount=0.5),
    ),
    Case("wallet-pay-more", "wallet", _i(PayWithdrawal, "wallet", asset="USDT", amount=50_001.0)),
    Case(
        "wallet-transfer-more",
        "wallet",
        _i(Transfer, "wallet", destination="binance", asset="USDT", amount=50_001.0),
    ),
    Case(
        "wallet-transfer-unheld",
        "wallet",
        _i(Transfer, "wallet", destination="binance", asset="BTC", amount=0.1),
    ),
    Case("aave-supply-more", "aave_v3", _i(SupplyToAave, "aave_v3", asset="USDT", amount=50_001.0)),
    Case(
        "aave-withdraw-more",
        "aave_v3",
        _i(WithdrawFromAave, "aave_v3", asset="USDT", amount=11_000.5),
    ),
    Case(
        "dex-sell-more-eth",
        "uniswap",
        _i(SwapOnDex, "uniswap", sell="ETH", buy="USDT", sell_amount=1.01),
    ),
    Case(
        "dex-no-pool",
        "uniswap",
        _i(SwapOnDex, "uniswap", sell="USDT", buy="BTC", sell_amount=100.0),
    ),
]


def assert_rejected_without_change(case: Case, at: MarketState | None = None) -> None:
    system = build_system(COSTS_ON)
    system["binance"].ledger.apply((Leg("binance:BaseToken:SOL", 10.0, "Seeded"),))
    before = {name: (v.positions(), dict(v.ledger.entries)) for name, v in system.items()}
    with pytest.raises(ExecutionRejected):
        VenueInterfaceManager(system).route(case.instruction, at or market())
    after = {name: (v.positions(), dict(v.ledger.entries)) for name, v in system.items()}
    assert after == before


@pytest.mark.parametrize(("venue", "kind"), UNSUPPORTED, ids=[f"{v}-{k}" for v, k in UNSUPPORTED])
def test_unsupported_instruction_is_rejected(venue: str, kind: str) -> None:
    case = Case(f"{venue}-{kind}", venue, INSTRUCTION_KINDS[kind](venue))
    assert_rejected_without_change(case)


@pytest.mark.parametrize("case", OVERDRAWS, ids=[c.id for c in OVERDRAWS])
def test_taking_more_than_held_is_rejected(case: Case) -> None:
    assert_rejected_without_change(case)


UNLISTED = [
    Case("perp-unlisted-symbol", "binance", _i(TradePerp, "binance", base="SOL", size_delta=-1.0)),
    Case("spot-unlisted-base", "binance", _i(BuySpot, "binance", base="SOL", quote_amount=100.0)),
    Case(
        "withdraw-asset-without-fee",
        "binance",
        _i(Transfer, "binance", destination="wallet", asset="SOL", amount=1.0),
    ),
]


@pytest.mark.parametrize("case", UNLISTED, ids=[c.id for c in UNLISTED])
def test_market_the_venue_does_not_list_is_rejected(case: Case) -> None:
    """binance lists perps BTCUSDT/ETHUSDT, spot slippage for BTC/ETH and withdrawal fees for
    USDT/ETH/BTC only: anything else is an instruction it does not support (interface contract:
    ExecutionRejected, nothing applied), even with a SOL price and mark in the market."""
    at = market(**{"price:SOL": 150.0, "perp:binance:SOLUSDT": 150.1})
    assert_rejected_without_change(case, at)


def test_spot_order_at_venue_without_spot_market_is_rejected() -> None:
    no_spot = cex_config("okx").model_copy(update={"spot_taker_fee": None})
    venue = SimulatedCex(no_spot, COSTS_ON)
    seed(venue.ledger, SEED["okx"])
    before = venue.positions()
    with pytest.raises(ExecutionRejected):
        venue.execute(_i(BuySpot, "okx", base="BTC", quote_amount=100.0), market())
    assert venue.positions() == before


# --- (e) funding settlement ------------------------------------------------------------------


def test_settle_credits_funding_on_own_perps() -> None:
    funding = (
        FundingRate("binance", "BTC", 1e-4),
        FundingRate("binance", "ETH", -2e-4),
        FundingRate("bybit", "BTC", 3e-4),
    )
    venue = build_system(COSTS_ON)["binance"]
    result = venue.settle(market(funding))
    # BTC short −0.5 at mark 60030, rate +1e-4: receives 0.5 × 60030 × 1e-4 = 3.0015 USDT.
    # ETH short −2 at mark 3001.5, rate −2e-4: pays 2 × 3001.5 × 2e-4 = 1.2006 USDT.
    cash = [leg.amount for leg in result.legs]
    assert cash == pytest.approx([3.0015, -1.2006], rel=1e-12)
    assert all(leg.instrument == "binance:BaseToken:USDT" for leg in result.legs)
    assert [leg.pnl_component for leg in result.legs] == ["funding", "funding"]
    assert [leg.pnl_native for leg in result.legs] == cash
    assert [leg.pnl_asset for leg in result.legs] == ["USDT", "USDT"]
    assert venue.positions()["binance:BaseToken:USDT"] == pytest.approx(50_000 + 3.0015 - 1.2006)
    assert venue.positions()["binance:Perp:BTCUSDT"] == -0.5


def test_settle_long_pays_positive_funding() -> None:
    venue = build_system(COSTS_ON)["bybit"]
    result = venue.settle(market((FundingRate("bybit", "ETH", 1e-4),)))
    assert [leg.amount for leg in result.legs] == pytest.approx([-1.0 * 2999.0 * 1e-4])


@pytest.mark.parametrize("name", CEXES)
def test_settle_without_funding_books_nothing(name: str) -> None:
    venue = build_system(COSTS_ON)[name]
    before = venue.positions()
    assert venue.settle(market()).legs == ()
    assert venue.positions() == before


def test_settle_ignores_other_venues_and_flat_positions() -> None:
    venue = build_system(COSTS_ON)["okx"]  # holds a BTC short, no ETH perp
    before = venue.positions()
    result = venue.settle(
        market((FundingRate("binance", "BTC", 1e-4), FundingRate("okx", "ETH", 5e-4)))
    )
    assert result.legs == ()
    assert venue.positions() == before


@pytest.mark.parametrize("name", ["wallet", "aave_v3", "uniswap"])
def test_chain_venues_settle_nothing(name: str) -> None:
    venue = build_system(COSTS_ON)[name]
    before = venue.positions()
    assert venue.settle(market((FundingRate("binance", "BTC", 1e-4),))).legs == ()
    assert venue.positions() == before


@pytest.mark.parametrize("name", ["binance", "wallet"])
def test_receive_credits_the_receiving_account(name: str) -> None:
    venue = build_system(COSTS_ON)[name]
    key = f"{name}:BaseToken:USDT"
    before = venue.positions()[key]
    result = venue.receive("USDT", 123.0, market())
    assert [(leg.instrument, leg.amount) for leg in result.legs] == [(key, 123.0)]
    assert venue.positions()[key] == before + 123.0
