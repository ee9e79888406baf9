"""LiveDataProvider, CEX part (issue 13): ccxt's real binanceusdm client against the local
Binance USDⓈ-M fake, with a fake local clock.

The fake serves /fapi/v1/premiumIndex from its account state (mark, funding rate, next funding
time). Its index price always equals the mark and its `time` is the wall clock, so a test that
must tell them apart sets them per symbol through `venue` (a wrapper of the fake's answer); the
value names are then checked against what the historical provider calls btc_basis's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import binance_usdm
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.ccxt_client import binance_client
from tests.fakes.cex_state import Fault, FaultKind

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError, LookAheadError
from basis_strategy.data.live import LiveDataProvider, LiveNeeds, cex_needs
from basis_strategy.data.live_reads import (
    CcxtPerpReader,
    NoObservation,
    ReadFailed,
    StaleData,
)
from basis_strategy.data.market import FundingRate
from basis_strategy.data.requirements import requirements_for

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SETTLEMENT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
NEXT_SETTLEMENT = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
MAX_AGE_S = 60.0
S = timedelta(seconds=1)
BINANCE_BTC = ("perp:binance:BTCUSDT", "price:BTC", "price:ETH")


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Venue:
    """Per-symbol overrides of the fake's premiumIndex answer (e.g. `time`, `indexPrice`)."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def at(self, when: datetime, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> None:
        """Stamp the next answers of `symbols` at `when` (the venue's clock)."""
        for symbol in symbols:
            self.answers.setdefault(symbol, {})["time"] = ms(when)


@dataclass
class FakeClock:
    now: datetime = datetime(2030, 1, 1, tzinfo=UTC)  # far from any venue stamp

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def venue(monkeypatch: pytest.MonkeyPatch) -> Venue:
    overrides = Venue()
    original: Callable[..., dict[str, Any]] = binance_usdm._premium_one

    def premium_one(state: Any, symbol: str) -> dict[str, Any]:
        return original(state, symbol) | overrides.answers.get(symbol, {})

    monkeypatch.setattr(binance_usdm, "_premium_one", premium_one)
    return overrides


@pytest.fixture
def fake() -> Iterator[BinanceUsdmFake]:
    with BinanceUsdmFake() as started:
        started.state.set_funding("BTCUSDT", Decimal("0.0003"), ms(SETTLEMENT))
        started.state.set_funding("ETHUSDT", Decimal("0.0002"), ms(SETTLEMENT))
        yield started


def btc_basis_binance() -> LiveNeeds:
    """btc_basis's CEX needs, cut to the Binance venue (the one fake there is)."""
    needs = cex_needs(load_run_config("btc_basis", [], env={}))
    series = tuple(n for n in needs.series if "binance" in n or n.startswith("price:"))
    funding = tuple(pair for pair in needs.funding if pair[0] == "binance")
    return LiveNeeds(series, funding)


def provider(
    fake: BinanceUsdmFake, clock: FakeClock | None = None, timeout_ms: int = 3_000
) -> LiveDataProvider:
    client = binance_client(fake, timeout_ms=timeout_ms)
    clock = clock or FakeClock()
    readers = [
        CcxtPerpReader("binance", client, "BTC", spot_reference=True, clock=clock),
        CcxtPerpReader("binance", client, "ETH", spot_reference=True, clock=clock),
    ]
    return LiveDataProvider(btc_basis_binance(), readers, MAX_AGE_S, clock)


def cycle(live: LiveDataProvider, t: datetime) -> Any:
    live.set_clock(t)
    return live.get_data(t)


# --- names and observation times ----------------------------------------------------------


def test_cex_needs_are_the_historical_column_names_of_btc_basis() -> None:
    config = load_run_config("btc_basis", [], env={})
    needs = cex_needs(config)
    historical = [spec.name for spec in requirements_for(config).prices]
    assert set(needs.series) | set(needs.unread) == set(historical)
    assert set(BINANCE_BTC) <= set(needs.series)
    assert {"perp:bybit:BTCUSDT", "perp:okx:BTCUSDT"} <= set(needs.series)
    assert ("binance", "BTC") in needs.funding and ("okx", "BTC") in needs.funding
    assert needs.unread == ("gas_gwei",)  # read through web3 later, never by a CEX reader


def test_the_defi_series_of_a_staking_mode_are_listed_as_unread() -> None:
    config = load_run_config("usdt_market_neutral", [], env={})
    needs = cex_needs(config)
    assert "price:ETH" in needs.series and "perp:binance:ETHUSDT" in needs.series
    assert not any(name.startswith(("aave", "lst", "gas")) for name in needs.series)
    assert {"gas_gwei", "aave_li:weETH", "aave_bi:WETH", "lst_rate:weETH"} <= set(needs.unread)
    assert {"price:EIGEN", "price:ETHFI"} <= set(needs.unread)


def test_values_are_named_as_historically_and_carry_the_venue_stamp(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    venue.answers = {
        "BTCUSDT": {"indexPrice": "59990.50000000"},
        "ETHUSDT": {"indexPrice": "2999.25000000"},
    }
    venue.at(T0)
    live = provider(fake)
    live.refresh()
    state = cycle(live, T0 + 2 * S)
    assert state.values == {
        "perp:binance:BTCUSDT": 60_000.0,
        "price:BTC": 59_990.5,
        "price:ETH": 2_999.25,
    }
    assert {name: obs.observed_at for name, obs in live.observations.items()} == {
        "perp:binance:BTCUSDT": T0,
        "price:BTC": T0,
        "price:ETH": T0,
        "funding:binance:BTCUSDT": T0,
    }
    assert state.mark_sources["price:BTC"] == "binance BTCUSDT index"
    assert state.t == T0 + 2 * S and state.funding == ()


def test_without_a_venue_stamp_the_local_receive_time_is_used(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    venue.answers = {"BTCUSDT": {"time": None}, "ETHUSDT": {"time": None}}
    clock = FakeClock(T0 + 5 * S)
    live = provider(fake, clock)
    assert live.refresh() == T0 + 5 * S
    cycle(live, T0 + 6 * S)
    assert live.observations["perp:binance:BTCUSDT"].observed_at == T0 + 5 * S


def test_the_newest_observation_at_or_before_t_is_used(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0)
    live.refresh()
    fake.state.set_mark_price("BTCUSDT", Decimal(61_000))
    venue.at(T0 + 10 * S)
    live.refresh()
    assert cycle(live, T0 + 5 * S)["perp:binance:BTCUSDT"] == 60_000.0
    assert cycle(live, T0 + 10 * S)["perp:binance:BTCUSDT"] == 61_000.0


def test_an_observation_stamped_after_t_is_refused(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0, ("ETHUSDT",))
    venue.at(T0 + 3 * S, ("BTCUSDT",))  # a venue clock ahead of the cycle's
    live.refresh()
    with pytest.raises(NoObservation, match="after it and refused") as refused:
        cycle(live, T0)
    assert str(refused.value).startswith("price:BTC: no observation at or before 2026-03-02T15:00")
    assert live.skipped_cycles == 1


def test_get_data_after_the_clock_is_look_ahead(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0)
    live.refresh()
    live.set_clock(T0)
    with pytest.raises(LookAheadError):
        live.get_data(T0 + S)
    assert live.skipped_cycles == 0  # a caller's bug, not a skipped cycle
    naive = T0.replace(tzinfo=None)
    live.set_clock(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        live.get_data(naive)


# --- funding ------------------------------------------------------------------------------------


def settle_on_venue(fake: BinanceUsdmFake) -> None:
    """The venue settled: it now announces the next settlement, at another rate."""
    fake.state.set_funding("BTCUSDT", Decimal("0.0001"), ms(NEXT_SETTLEMENT))


def test_funding_is_emitted_once_at_its_time_never_before(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    live = provider(fake)
    funding = []
    for at, settled in ((T0, False), (SETTLEMENT - 20 * S, False), (SETTLEMENT + 5 * S, True)):
        if settled:
            settle_on_venue(fake)
        venue.at(at)
        live.refresh()
        funding.append(cycle(live, at + S).funding)
    venue.at(SETTLEMENT + 30 * S)
    live.refresh()
    funding.append(cycle(live, SETTLEMENT + 31 * S).funding)
    assert funding == [(), (), (FundingRate("binance", "BTC", 0.0003),), ()]


def test_a_cycle_exactly_at_the_funding_time_emits_it(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0)
    live.refresh()
    cycle(live, T0)
    venue.at(SETTLEMENT - S)
    live.refresh()
    assert cycle(live, SETTLEMENT).funding == (FundingRate("binance", "BTC", 0.0003),)


def test_a_settlement_at_or_before_the_first_cycle_is_not_emitted(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    live = provider(fake)
    venue.at(SETTLEMENT - S)
    live.refresh()
    assert cycle(live, SETTLEMENT).funding == ()  # nothing was held before the first cycle
    settle_on_venue(fake)
    venue.at(SETTLEMENT + 10 * S)
    live.refresh()
    assert cycle(live, SETTLEMENT + 11 * S).funding == ()


def test_funding_due_in_a_skipped_cycle_comes_in_the_next_good_one(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    live = provider(fake)
    venue.at(SETTLEMENT - 60 * S)
    live.refresh()
    cycle(live, SETTLEMENT - 59 * S)
    with pytest.raises(StaleData):
        cycle(live, SETTLEMENT + 5 * S)  # no refresh since: 65 s old
    settle_on_venue(fake)
    for seconds in range(10, 20):  # more polls than observations are kept per series
        venue.at(SETTLEMENT + seconds * S)
        live.refresh()
    assert cycle(live, SETTLEMENT + 20 * S).funding == (FundingRate("binance", "BTC", 0.0003),)
    assert cycle(live, SETTLEMENT + 21 * S).funding == ()
    assert live.skipped_cycles == 1


# --- staleness and failed reads ---------------------------------------------------------------


def test_stale_data_names_the_series_its_age_and_the_limit(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    live = provider(fake)
    venue.at(T0, ("BTCUSDT",))
    venue.at(T0 - 61 * S, ("ETHUSDT",))
    live.refresh()
    t = T0 + 2 * S
    with pytest.raises(StaleData) as stale:
        cycle(live, t)
    message = str(stale.value)
    assert "\n" not in message
    assert message.startswith("price:ETH: ")
    assert "63.0 s before" in message and "max_data_age_s 60 s" in message
    assert [skip.t for skip in live.skipped] == [t]
    assert live.skipped[0].reason == message


def test_data_exactly_at_the_age_limit_is_used(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0)
    live.refresh()
    assert cycle(live, T0 + 60 * S)["perp:binance:BTCUSDT"] == 60_000.0
    with pytest.raises(StaleData):
        cycle(live, T0 + 61 * S)


def test_a_5xx_answer_is_a_clear_error_and_no_values(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake)
    venue.at(T0)
    live.refresh()
    cycle(live, T0)
    fake.state.inject(Fault("GET /fapi/v1/premiumIndex", FaultKind.HTTP_ERROR, status=502))
    venue.at(T0 + 5 * S)
    live.refresh()
    with pytest.raises(ReadFailed) as failed:
        cycle(live, T0 + 6 * S)  # the 5 s old values would still be fresh: not used
    message = str(failed.value)
    assert "binance BTCUSDT perp" in message and "fetch_funding_rate(BTC/USDT:USDT)" in message
    assert "ExchangeNotAvailable" in message and "502" in message
    assert live.skipped_cycles == 1
    live.refresh()  # the next good read clears it
    assert cycle(live, T0 + 7 * S)["perp:binance:BTCUSDT"] == 60_000.0


def test_a_timeout_is_a_clear_error(fake: BinanceUsdmFake, venue: Venue) -> None:
    live = provider(fake, timeout_ms=300)
    venue.at(T0)
    live.refresh()  # markets loaded
    fake.state.inject(Fault("GET /fapi/v1/premiumIndex", FaultKind.DELAY, delay_s=1.0))
    live.refresh()
    with pytest.raises(ReadFailed, match="RequestTimeout"):
        cycle(live, T0 + S)
    assert live.skipped_cycles == 1


def test_a_malformed_mark_fails_the_read(fake: BinanceUsdmFake, venue: Venue) -> None:
    venue.answers = {"BTCUSDT": {"markPrice": "0.00000000"}}
    venue.at(T0)
    live = provider(fake)
    live.refresh()
    with pytest.raises(ReadFailed, match=r"markPrice=0\.0"):
        cycle(live, T0)


def test_a_funding_answer_without_the_mark_takes_it_from_fetch_mark_price(
    fake: BinanceUsdmFake, venue: Venue
) -> None:
    """As OKX answers: the funding endpoint has no mark; the mark price call gives it."""
    client = binance_client(fake)
    fetch_funding_rate = client.fetch_funding_rate

    def without_prices(symbol: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = fetch_funding_rate(symbol)
        return answer | {"markPrice": None, "indexPrice": None, "timestamp": ms(T0 - 10 * S)}

    client.fetch_funding_rate = without_prices  # type: ignore[method-assign]
    venue.answers = {"BTCUSDT": {"indexPrice": "59990.00000000"}}
    venue.at(T0, ("BTCUSDT",))
    reading = CcxtPerpReader("binance", client, "BTC", spot_reference=True).read()
    assert reading.values["perp:binance:BTCUSDT"].value == 60_000.0
    assert reading.values["price:BTC"].value == 59_990.0
    assert reading.values["perp:binance:BTCUSDT"].observed_at == T0
    assert reading.funding[0].observed_at == T0 - 10 * S
    assert reading.funding[0].funding_time == SETTLEMENT
    assert fake.paths_called().count("GET /fapi/v1/premiumIndex") == 2


def test_a_funding_interval_other_than_8h_fails_the_read(fake: BinanceUsdmFake) -> None:
    """A 4-hourly rate is not a rate per 8 h: refused, not silently scaled or used."""
    client = binance_client(fake)
    fetch_funding_rate = client.fetch_funding_rate

    def four_hourly(symbol: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return fetch_funding_rate(symbol) | {"interval": "4h"}

    client.fetch_funding_rate = four_hourly  # type: ignore[method-assign]
    with pytest.raises(ReadFailed, match="funding interval 4h, not 8h"):
        CcxtPerpReader("binance", client, "BTC").read()


def test_a_value_never_read_is_no_observation(fake: BinanceUsdmFake) -> None:
    live = provider(fake)
    with pytest.raises(NoObservation, match="price:ETH: never observed"):
        cycle(live, T0)


# --- configuration ------------------------------------------------------------------------------


def test_every_need_has_exactly_one_reader(fake: BinanceUsdmFake) -> None:
    client = binance_client(fake)
    btc = CcxtPerpReader("binance", client, "BTC", spot_reference=True)
    with pytest.raises(ConfigError, match="no reader provides price:ETH"):
        LiveDataProvider(btc_basis_binance(), [btc], MAX_AGE_S)
    eth_twice = [
        btc,
        CcxtPerpReader("binance", client, "ETH", spot_reference=True),
        CcxtPerpReader("binance", client, "ETH", spot_reference=True),
    ]
    with pytest.raises(ConfigError, match="perp:binance:ETHUSDT is provided by"):
        LiveDataProvider(btc_basis_binance(), eth_twice, MAX_AGE_S)
