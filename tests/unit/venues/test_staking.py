"""SimulatedStaking: mint at ρ, unstake queue and claim timing, gas, restaking rewards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from venue_book import COSTS_OFF, COSTS_ON, HOUR, T0, VALUES, chain, market, order, staking_config

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import RequestUnstake, Stake, SupplyToAave
from basis_strategy.data.market import AaveRisk, MarketState, RewardPayout
from basis_strategy.venues.interface import ExecutionRejected, Ledger
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.staking import HoldingRecord, SimulatedStaking

GWEI = VALUES["gas_gwei"]
WEETH = "etherfi:LST:weETH"
PENDING = "etherfi:Pending:ETH"
ETH = "wallet:BaseToken:ETH"


def test_stake_mints_at_the_oracle_rate_and_pays_stake_gas() -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    result = system.etherfi.execute(order(Stake, "etherfi", amount=4.2), market())
    stake, mint, gas = result.legs
    assert (stake.instrument, stake.amount) == (ETH, -4.2)
    assert (mint.instrument, mint.amount) == (WEETH, pytest.approx(4.2 / 1.05, rel=1e-15))
    assert mint.pnl_component == "" and stake.pnl_component == ""  # no execution cost
    assert gas.pnl_component == "gas"
    assert gas.amount == pytest.approx(-150_000 * GWEI * 1e-9, rel=1e-12)
    assert system.ledger.qty(ETH) == pytest.approx(10.0 - 4.2 - 150_000 * GWEI * 1e-9)


def test_lido_mints_wsteth() -> None:
    system = chain(COSTS_OFF, {ETH: 2.4})
    system.lido.execute(order(Stake, "lido", amount=2.4), market())
    assert system.ledger.qty("lido:LST:wstETH") == pytest.approx(2.4 / 1.2, rel=1e-15)
    assert system.ledger.qty(ETH) == 0.0


@pytest.mark.parametrize("amount", [11.0, 0.0, -1.0, float("nan"), float("inf")])
def test_stake_more_than_held_or_a_bad_amount_is_rejected(amount: float) -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    with pytest.raises(ExecutionRejected):
        system.etherfi.execute(order(Stake, "etherfi", amount=amount), market())
    assert system.ledger.quantities == {ETH: 10.0}


def test_unstake_fixes_value_at_rho_and_claims_after_the_delay() -> None:
    system = chain(COSTS_ON, {WEETH: 10.0})
    requested = system.etherfi.execute(order(RequestUnstake, "etherfi", amount=4.0), market(5))
    out, pending, gas = requested.legs
    assert (out.instrument, out.amount) == (WEETH, -4.0)
    assert (pending.instrument, pending.amount) == (PENDING, pytest.approx(4.2, rel=1e-15))
    assert gas.amount == pytest.approx(-200_000 * GWEI * 1e-9, rel=1e-12)
    claim_at = T0 + 5 * HOUR + timedelta(days=7)
    assert pending.detail == f"claim_at={claim_at.isoformat()}"
    # ρ moves afterwards: the pending ETH does not
    for i in range(6, 5 + 168):
        assert system.etherfi.settle(market(i, **{"lst_rate:weETH": 1.06})).legs == ()
    assert system.ledger.qty(PENDING) == pytest.approx(4.2)
    claimed = system.etherfi.settle(market(5 + 168, **{"lst_rate:weETH": 1.06}))
    back, cash, claim_gas = claimed.legs
    assert (back.instrument, back.amount, back.event_type) == (PENDING, -4.2, "UnstakeClaimed")
    assert (cash.instrument, cash.amount) == (ETH, 4.2)
    assert claim_gas.pnl_component == "gas"
    assert claim_gas.amount == pytest.approx(-200_000 * GWEI * 1e-9, rel=1e-12)
    assert system.ledger.qty(PENDING) == 0.0
    assert system.etherfi.settle(market(5 + 169)).legs == ()  # claimed once


def test_claims_in_request_order_with_each_its_own_gas() -> None:
    system = chain(COSTS_ON, {"lido:LST:wstETH": 10.0})
    system.lido.execute(order(RequestUnstake, "lido", amount=1.0), market(0))
    system.lido.execute(order(RequestUnstake, "lido", amount=2.0), market(10))
    assert system.lido.settle(market(71)).legs == ()  # lido: 3 days
    first = system.lido.settle(market(72)).legs
    assert [
        leg.amount for leg in first if leg.instrument == ETH and leg.pnl_component != "gas"
    ] == [pytest.approx(1.2)]
    late = system.lido.settle(market(200)).legs  # the second, claimed late, once
    assert [leg.amount for leg in late if leg.instrument == "lido:Pending:ETH"] == [
        pytest.approx(-2.4)
    ]
    assert sum(leg.pnl_component == "gas" for leg in late) == 1


def test_unstake_more_than_held_is_rejected_without_a_claim() -> None:
    system = chain(COSTS_ON, {WEETH: 1.0})
    with pytest.raises(ExecutionRejected):
        system.etherfi.execute(order(RequestUnstake, "etherfi", amount=1.5), market())
    assert not system.etherfi.claims
    assert system.ledger.quantities == {WEETH: 1.0}


def test_delay_comes_from_the_mode_when_set_else_the_venue() -> None:
    def risk(asset: str, emode: bool) -> AaveRisk:
        raise AssertionError("not needed")

    default = build_simulated_venues(load_run_config("eth_staking_only", env={}), risk)
    overridden = build_simulated_venues(
        load_run_config("eth_staking_only", ["staking.unstake_delay_days=2.5"], env={}), risk
    )
    assert isinstance(default["etherfi"], SimulatedStaking)
    assert default["etherfi"].delay == timedelta(days=7)
    assert isinstance(default["lido"], SimulatedStaking)
    assert default["lido"].delay == timedelta(days=3)
    assert isinstance(overridden["etherfi"], SimulatedStaking)
    assert overridden["etherfi"].delay == timedelta(days=2.5)


def test_a_venue_with_a_foreign_lst_is_a_config_error() -> None:
    wrong = staking_config("lido").model_copy(update={"lst": "weETH"})
    with pytest.raises(ConfigError, match=r"lido\.lst"):
        SimulatedStaking(Ledger(), COSTS_ON, wrong, 3.0)


# --- restaking rewards (domain 4.4) ---------------------------------------------------------


def rate_at(i: int) -> float:
    return 1.05 + 1e-5 * i


def payout(start: int, end: int, per_hour: float, token: str = "EIGEN") -> RewardPayout:
    return RewardPayout(token, "eigen_weekly", T0 + start * HOUR, T0 + end * HOUR, per_hour, False)


def li_at(i: int) -> float:
    return 1.01 + 1e-6 * i


def hour_market(i: int, *rewards: RewardPayout) -> MarketState:
    return market(i, rewards=rewards, **{"lst_rate:weETH": rate_at(i), "aave_li:weETH": li_at(i)})


def test_reward_is_pro_rata_for_a_holding_that_starts_mid_period() -> None:
    """Period [0, 168h): 7 weETH minted during hour 84 are held for hours 84..167. Each hour's
    holding is recorded when it ends (at the next settle), valued at that time's ρ."""
    system = chain(COSTS_OFF, {ETH: 100.0})
    per_hour = 0.2 / 168
    for i in range(168):
        assert system.etherfi.settle(hour_market(i)).legs == ()
        if i == 84:
            system.etherfi.execute(order(Stake, "etherfi", amount=7.0 * rate_at(i)), hour_market(i))
    result = system.etherfi.settle(hour_market(168, payout(0, 168, per_hour)))
    (leg,) = result.legs
    expected = per_hour * sum(7.0 * rate_at(h + 1) for h in range(84, 168))
    assert leg.amount == pytest.approx(expected, rel=1e-12)
    # about half the week's 0.2 EIGEN per eETH on ~7.35 eETH
    assert leg.amount == pytest.approx(0.2 * 7.0 * 1.05 * 84 / 168, rel=2e-3)
    assert leg.instrument == "wallet:BaseToken:EIGEN"
    assert (leg.pnl_component, leg.pnl_native, leg.pnl_asset) == ("rewards", leg.amount, "EIGEN")
    assert leg.event_type == "RewardPaid"
    king = expected * VALUES["price:EIGEN"] / VALUES["price:ETH"]
    assert leg.detail == (
        f"kind=eigen_weekly;period={T0.isoformat()}/{(T0 + 168 * HOUR).isoformat()};"
        f"estimate=false;king_value_eth={king:.12g}"
    )
    assert system.ledger.qty("wallet:BaseToken:EIGEN") == pytest.approx(expected, rel=1e-12)


def test_reward_counts_weeth_supplied_to_aave() -> None:
    """From hour 100, 3 of the 7 weETH are supplied to AAVE: they still count, as scaled ×
    LI × ρ (the supplied amount grows with the liquidity index)."""
    system = chain(COSTS_OFF, {ETH: 100.0})
    per_hour = 0.2 / 168
    for i in range(168):
        system.etherfi.settle(hour_market(i))
        if i == 84:
            system.etherfi.execute(order(Stake, "etherfi", amount=7.0 * rate_at(i)), hour_market(i))
        if i == 100:
            supply = order(SupplyToAave, "aave_v3", asset="weETH", amount=3.0)
            system.aave.execute(supply, hour_market(i))
    eth_rewards = payout(0, 168, 0.0, "ETHFI")  # a zero rate credits nothing
    result = system.etherfi.settle(hour_market(168, payout(0, 168, per_hour), eth_rewards))
    scaled = 3.0 / li_at(100)
    expected = per_hour * sum(
        (7.0 if h < 100 else 4.0 + scaled * li_at(h + 1)) * rate_at(h + 1) for h in range(84, 168)
    )
    (leg,) = result.legs
    assert leg.amount == pytest.approx(expected, rel=1e-12)
    wallet_only = per_hour * sum((7.0 if h < 100 else 4.0) * rate_at(h + 1) for h in range(84, 168))
    assert leg.amount > wallet_only * 1.2


def test_hours_before_the_first_record_count_zero() -> None:
    system = chain(COSTS_OFF, {WEETH: 2.0})
    for i in range(50, 168):
        system.etherfi.settle(market(i))
    (leg,) = system.etherfi.settle(market(168, rewards=(payout(0, 168, 1e-3),))).legs
    assert leg.amount == pytest.approx(1e-3 * 2.0 * 1.05 * (168 - 50 + 1), rel=1e-12)


def test_a_payout_with_nothing_held_credits_nothing() -> None:
    system = chain(COSTS_OFF, {})
    for i in range(24):
        system.etherfi.settle(market(i))
    assert system.etherfi.settle(market(24, rewards=(payout(0, 24, 1e-3),))).legs == ()
    assert system.ledger.quantities == {}


def test_lido_pays_no_restaking_rewards() -> None:
    system = chain(COSTS_OFF, {WEETH: 2.0, "lido:LST:wstETH": 2.0})
    for i in range(24):
        system.lido.settle(market(i))
    assert system.lido.settle(market(24, rewards=(payout(0, 24, 1e-3),))).legs == ()


def test_holding_record_sums_by_grid_index() -> None:
    record = HoldingRecord()
    assert record.total(0, 10) == 0.0
    record.record(3, 2.0)  # hour ending at 3
    record.record(4, 5.0)
    record.record(4, 100.0)  # a second record for the same hour is ignored
    record.record(7, 1.0)  # 5, 6, 7 each 1.0
    assert record.cumulative(2) == 0.0
    assert record.total(2, 4) == 7.0
    assert record.total(3, 7) == 8.0
    assert record.total(0, 100) == 10.0
