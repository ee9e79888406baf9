"""A hedged mode's CEX pre-flight asks each venue for the margin of its short only: its long
leg is bought on chain (`go_live.margin_plan`)."""

from __future__ import annotations

import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.live.go_live import margin_plan


def test_the_margin_of_each_short_by_allocation() -> None:
    config = load_run_config("usdt_market_neutral", ["initial_capital=100000"], env={})
    plan = margin_plan(config)
    # E = 100k × (1 − 2 % reserve); m* = (1 − 0.5) / 0.5 = 1: L = M = E / 2 = 49,000
    assert plan.required_usdt == pytest.approx({"binance": 19_600, "bybit": 14_700,
                                                "okx": 14_700})  # fmt: skip
    assert plan.symbols == {v: ["ETHUSDT"] for v in ("binance", "bybit", "okx")}
