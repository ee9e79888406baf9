"""The venues of a live CEX run (venues/live/build.py): what each venue must hold before the
run, and the refusals of what a run without the on-chain wallet cannot do.

Why: a live CEX run starts from capital already on the venues; the pre-flight must ask for the
split the entry will spend, or the entry would need a transfer (or fail) at its first cycle.
"""

from __future__ import annotations

import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.live.build import build_live_venues, cex_venues, required_usdt


def test_required_usdt_is_the_entrys_basis_split_with_the_long_leg_at_the_spot_venue() -> None:
    config = load_run_config("btc_basis", env={})  # 100 000 USDT, m* 0.5, 40/30/30 %
    need = required_usdt(config)
    long_usdt = 100_000 / 1.5
    margin = 0.5 * long_usdt
    assert need == pytest.approx(
        {"binance": long_usdt + 0.4 * margin, "bybit": 0.3 * margin, "okx": 0.3 * margin}
    )
    assert sum(need.values()) == pytest.approx(100_000)
    assert cex_venues(config) == ("binance", "bybit", "okx")


def test_a_mode_without_hedge_venues_cannot_run_on_cex_venues() -> None:
    with pytest.raises(ConfigError, match="has no CEX entry"):
        required_usdt(load_run_config("pure_lending", env={}))


def test_scheduled_flows_are_refused_without_a_wallet(store: LiveStore) -> None:
    flows = "flows.schedule=[{at: '2024-06-01T00:00:00Z', amount: 25000}]"
    config = load_run_config("btc_basis", [flows], env={})
    with pytest.raises(ConfigError, match="no on-chain wallet"):
        build_live_venues(config, {}, store, "s-1")


def test_every_venue_needs_a_client(store: LiveStore) -> None:
    config = load_run_config("eth_basis", env={})
    with pytest.raises(ConfigError, match=r"no ccxt client for \['bybit', 'okx'\]"):
        build_live_venues(config, {"binance": object()}, store, "s-1")
