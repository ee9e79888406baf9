"""Stress paths on real data with injected shocks (issue 3 scope 6-8).

Each shock drives one risk path; the test finds the intended action in event_log.csv, checks
the book is sound at the end of that hour, and rebuilds the books from the log alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests.integration.conftest import defi_sets
from tests.integration.rebuild import close_enough, replay

SHOCK_AT = "2024-06-03T00:00:00Z"
WINDOW = ["end=2024-07-01T00:00:00Z"]


def shock(series: str, kind: str, value: float, start: str = SHOCK_AT, end: str = SHOCK_AT) -> str:
    spec = f"series: [{series}], start: {start}, end: {end}, kind: {kind}, value: {value}"
    return f"shocks=[{{{spec}}}]"


LST_MOVE = "lst_rate:weETH, lst_market:weETH"
ETH_MOVE = "price:ETH, perp:*:ETHUSDT"


def stress_run(runs, mode: str, *extra: str):
    return runs.get(mode, [*defi_sets(mode, "weETH", "base_only"), *WINDOW, *extra])


def notes_at(run, hour: str):
    events = run.events
    return events[events["time"] == hour]


def assert_rebuilds(run) -> None:
    book, equities, flows = replay(run)
    final = run.balance.iloc[-1]
    for key, qty in book.qty.items():
        reported = final.get(f"qty:{key}", 0.0)
        reported = 0.0 if math.isnan(reported) else reported
        assert close_enough(qty, reported, book.scale[key]), (key, qty, reported)
    assert equities[-1] - flows == pytest.approx(run.summary["cumulative_pnl"], rel=1e-9)
    hourly = run.hourly  # an emptied book (equity 0) must show no residual either: the hour a
    # full redemption empties it is measured against the equity it started with
    scale = np.maximum(hourly["equity"].abs(), hourly["equity"].shift(1, fill_value=0).abs())
    assert (hourly["residual"].abs() <= 1e-6 * scale + 1e-12).all()


def test_oracle_drop_triggers_atomic_deleverage(runs):
    """ρ −2.5 %: LTV 0.91 -> 0.933 >= critical 0.93, HF 1.018: deleverage back to 0.91."""
    run = stress_run(runs, "eth_leveraged", shock(LST_MOVE, "move", -0.025))
    hour = notes_at(run, SHOCK_AT)
    assert run.balance.loc[SHOCK_AT, "aave_ltv_pre_trade"] == pytest.approx(0.91 / 0.975, abs=1e-3)
    assert hour["note"].str.startswith("exit_partial:ltv_critical").any()
    assert "Liquidated" not in set(hour["event_type"])
    assert run.balance.loc[SHOCK_AT, "aave_ltv"] == pytest.approx(0.91, abs=1e-6)
    assert run.summary["liquidations"] == 0
    assert_rebuilds(run)


def test_oracle_rise_triggers_relever(runs):
    """ρ +3 %: LTV 0.91 -> 0.883 < λ − band: re-lever to 0.91 in one bundle."""
    run = stress_run(runs, "eth_leveraged", shock(LST_MOVE, "move", 0.03))
    hour = notes_at(run, SHOCK_AT)
    assert hour["note"].str.startswith("entry_partial:ltv_band").any()
    assert run.balance.loc[SHOCK_AT, "aave_ltv"] == pytest.approx(0.91, abs=1e-6)
    assert_rebuilds(run)


def test_oracle_crash_is_liquidated_then_deleveraged(runs):
    """ρ −6 %: HF 0.98 < 1: AAVE liquidates (close factor 0.5, bonus 1 %) before the strategy
    acts, the loss is booked as liquidation_penalty, then the strategy deleverages."""
    run = stress_run(runs, "eth_leveraged", shock(LST_MOVE, "move", -0.06))
    hour = notes_at(run, SHOCK_AT)
    liquidated = hour[hour["event_type"] == "Liquidated"]
    assert not liquidated.empty
    assert liquidated["seq"].max() < hour[hour["note"].str.contains("ltv_")]["seq"].min()
    penalty = run.hourly.loc[SHOCK_AT, "liquidation_penalty"]
    assert penalty < 0
    assert run.summary["liquidations"] == 1
    hf_before = liquidated["note"].str.extract(r"hf_before=([0-9.]+)")[0].dropna().astype(float)
    assert hf_before.iloc[0] == pytest.approx(0.95 * 0.94 / 0.91, abs=2e-3)
    assert run.balance.loc[SHOCK_AT, "aave_hf_pre_trade"] >= 1.0  # after the liquidation
    assert run.balance.loc[SHOCK_AT, "aave_hf"] >= 1.0
    assert run.balance.loc[SHOCK_AT, "aave_ltv"] == pytest.approx(0.91, abs=1e-6)
    assert_rebuilds(run)


def test_eth_rally_tops_up_margin_from_the_onchain_leg(runs):
    """ETH +60 % over a week: CEX margin falls towards the warning band; margin is restored
    by partial exits of the levered leg (flash bundles) with the shorts cut to match."""
    rally = shock(ETH_MOVE, "move", 0.6, SHOCK_AT, "2024-06-09T23:00:00Z")
    run = stress_run(runs, "usdt_market_neutral", rally)
    events = run.events
    topups = events[events["note"].str.contains("margin_(?:warning|critical):", regex=True)]
    assert not topups.empty
    assert (topups["event_type"] == "FlashBorrowed").any()
    assert (topups["instrument"].str.contains("Perp")).any()
    ratios = run.balance[[c for c in run.balance if c.startswith("margin_ratio:")]]
    assert ratios.min().min() > 0.2
    assert run.balance["delta_drift:ETH"].iloc[1:].max() <= 0.01 + 1e-9
    assert_rebuilds(run)


def test_eth_doubling_in_an_hour_liquidates_the_cex_legs_then_rehedges(runs):
    """ETH +100 % in one hour: each venue's short loses more than its margin (margin ratio
    about 0.55 before), so every venue is liquidated: perps closed at the mark and the USDT
    balance set to max(0, equity − fee × notional) = 0. The venue absorbs the negative equity,
    which shows as a positive liquidation_penalty of exactly −equity. The strategy then
    re-hedges and restores each venue's margin from the on-chain leg in the same hour."""
    run = stress_run(runs, "usdt_market_neutral_no_leverage", shock(ETH_MOVE, "move", 1.0))
    hour = notes_at(run, SHOCK_AT)
    liquidated = hour[hour["event_type"] == "Liquidated"]
    assert set(liquidated["venue"]) == {"binance", "bybit"}
    booked = liquidated[liquidated["pnl_component"] == "liquidation_penalty"]
    equity = booked["note"].str.extract(r"equity_usdt=(-?[0-9.]+)")[0].astype(float)
    assert (equity < 0).all() and (booked["after_qty"] == 0.0).all()
    assert booked["pnl_amount"].to_numpy() == pytest.approx(-equity.to_numpy(), rel=1e-9)
    assert run.hourly.loc[SHOCK_AT, "liquidation_penalty"] == pytest.approx(-equity.sum())
    assert hour["note"].str.contains("margin_critical").any()
    assert hour["note"].str.contains("delta").any()
    assert run.balance.loc[SHOCK_AT, "delta_drift:ETH"] <= 0.01 + 1e-9
    after = run.balance.loc[SHOCK_AT:]
    ratios = after[[c for c in after if c.startswith("margin_ratio:")]]
    assert ratios.min().min() > 0.2
    assert_rebuilds(run)


def test_negative_funding_for_a_month_is_paid_by_the_shorts(runs):
    """Funding −0.1 % per 8 h on every venue for a month: each settlement costs the shorts
    0.1 % of their notional, booked as funding."""
    month = shock("funding:*:ETH", "set", -0.001, SHOCK_AT, "2024-07-01T00:00:00Z")
    run = stress_run(runs, "usdt_market_neutral_no_leverage", month)
    funding = run.events[run.events["event_type"].str.startswith("Funding")]
    in_window = funding[funding["time"] >= SHOCK_AT]
    assert not in_window.empty and (in_window["pnl_amount"] < 0).all()
    assert run.hourly.loc[SHOCK_AT:, "funding"].sum() < 0
    assert_rebuilds(run)


def test_protocol_unstake_route_pays_the_redeemer_when_the_claim_lands(runs):
    """unstake_route protocol: a withdrawal above the reserve queues LST at EtherFi; the ETH
    is pending (earning nothing, still ETH) for the 7-day delay, then claimed and paid."""
    request, claim = "2024-06-03T00:00:00Z", "2024-06-10T00:00:00Z"
    flows = f"flows=[{{at: {request}, amount: -10}}]"
    run = stress_run(runs, "eth_staking_only", "staking.unstake_route=protocol", flows)
    events = run.events
    queued = events[(events["event_type"] == "UnstakeRequested") & (events["time"] == request)]
    assert set(queued["instrument"]) == {"etherfi:LST:weETH", "etherfi:Pending:ETH"}
    pending = queued.loc[queued["instrument"] == "etherfi:Pending:ETH", "amount"].iloc[0]
    claimed = events[events["event_type"] == "UnstakeClaimed"]
    assert set(claimed["time"]) == {pd.Timestamp(claim)}
    paid = events[events["event_type"] == "WithdrawalPaid"]
    assert list(paid["time"]) == [pd.Timestamp(claim)]
    assert paid["pnl_amount"].iloc[0] == pytest.approx(-10.0, rel=1e-12)
    assert paid["note"].iloc[0].startswith("flow:withdrawal_claimed;flow=")
    (record,) = [f for f in run.summary["flows"] if f["kind"] == "withdrawal"]
    assert record["at"] == pd.Timestamp(claim).isoformat()  # settled when paid
    held = run.balance.loc[request:claim, "qty:etherfi:Pending:ETH"]
    assert list(held.iloc[:-1]) == pytest.approx([pending] * (len(held) - 1), rel=1e-12)
    assert held.iloc[-1] == 0.0
    assert_rebuilds(run)


@pytest.mark.parametrize("mode", ["eth_leveraged", "usdt_market_neutral"])
def test_deposit_is_an_incremental_entry_and_a_full_redemption_a_full_exit(runs, mode):
    """Flows through the flash recipes: a deposit is levered at λ in one bundle (10.2); a
    redemption of every share unwinds debt and collateral in one bundle (10.5 / exit_full)
    and leaves nothing behind (issue 11)."""
    deposit = 10 if mode == "eth_leveraged" else 30_000
    flows = (
        f"flows=[{{at: 2024-06-03T00:00:00Z, amount: {deposit}}}, "
        "{at: 2024-06-20T00:00:00Z, shares: all}]"
    )
    run = stress_run(runs, mode, flows)
    events = run.events
    kinds = events.loc[events["event_type"] == "FlashBorrowed", ["time", "note"]]
    kinds["kind"] = kinds["note"].str.extract(r"kind=(\w+)")[0]
    at = dict(zip(kinds["kind"], kinds["time"], strict=False))
    assert at["entry"] == pd.Timestamp("2024-05-12T01:00:00Z")
    assert at["incremental_entry"] == pd.Timestamp("2024-06-03T00:00:00Z")
    assert at["full_exit"] == pd.Timestamp("2024-06-20T00:00:00Z")
    assert run.balance.loc["2024-06-03T00:00:00Z", "aave_ltv"] == pytest.approx(0.91, abs=2e-3)
    final = run.balance.iloc[-1]
    assert final.get("qty:aave_v3:debtToken:debtWETH", 0.0) == 0.0
    assert final.get("qty:aave_v3:aToken:aweETH", 0.0) == 0.0
    paid = events[events["event_type"] == "WithdrawalPaid"]
    assert set(paid["time"]) == {pd.Timestamp("2024-06-20T00:00:00Z")}
    assert run.summary["final_equity"] == 0.0
    assert final["shares"] == 0.0 if "shares" in final else run.hourly["shares"].iloc[-1] == 0.0
    assert run.summary["rejected_instructions"] == []
    assert_rebuilds(run)


def test_usdt_class_gas_debt_is_settled_past_the_line(runs):
    """A tiny gas buffer and margin transfers: gas draws wallet ETH below zero (gas debt);
    ETH a trade brings in pays the debt down before it is used, and a debt past
    −gas_debt_settle_eth at the hour's deviation step is bought back (domain 5)."""
    rally = shock(ETH_MOVE, "move", 0.6, SHOCK_AT, "2024-06-09T23:00:00Z")  # margin transfers
    sets = ["gas_buffer_eth=0.002", "gas_debt_settle_eth=0.001", rally]
    run = stress_run(runs, "usdt_market_neutral", *sets)
    events = run.events
    wallet = events[events["instrument"] == "wallet:BaseToken:ETH"]
    debt = wallet[wallet["after_qty"] < -0.001]
    settled = events[events["note"].str.startswith("entry_partial:gas_debt")]
    assert not debt.empty and not settled.empty
    assert set(settled["time"]) <= set(debt["time"])
    assert run.balance["qty:wallet:BaseToken:ETH"].min() >= -0.001
    assert run.summary["rejected_instructions"] == []
    assert_rebuilds(run)


def test_eth_class_gas_debt_is_repaid_out_of_the_next_withdrawal(runs):
    """ETH class with no reserve: gas leaves wallet ETH negative; the next withdrawal
    raises enough to pay it off as well as the redeemer."""
    sets = ["reserve_ratio=0", "flows=[{at: 2024-06-20T00:00:00Z, amount: -1}]"]
    run = stress_run(runs, "eth_leveraged", *sets)
    wallet = run.balance["qty:wallet:BaseToken:ETH"]
    before = wallet.loc[:"2024-06-19T23:00:00Z"]
    assert before.min() < 0
    assert wallet.loc["2024-06-20T00:00:00Z"] >= -1e-9
    assert_rebuilds(run)
