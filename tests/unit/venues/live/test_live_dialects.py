"""The per-venue dialects of the live CEX (venues/live/dialects.py) without a fake.

Why: OKX has no fake yet, so what its dialect asks of ccxt is pinned here against a recording
client; the error texts are the ones ccxt raises (`<id> <body>`). Bybit and Binance are also
run end to end against their fakes (test_live_cex_bybit.py, test_live_cex.py).
"""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest

from basis_strategy.venues.live.dialects import (
    BINANCE_USDM,
    BYBIT,
    DIALECTS,
    OKX,
    bybit_wait_s,
    dialect_for,
)

ETH = "ETH/USDT:USDT"


class Recorder:
    """A ccxt client stand-in: records calls, answers `answer`."""

    def __init__(self, exchange_id: str, answer: Any) -> None:
        self.id, self.answer = exchange_id, answer
        self.calls: list[tuple[Any, ...]] = []

    def fetch_order(self, *args: Any) -> Any:
        self.calls.append(("fetch_order", *args))
        return self.answer


def test_every_ccxt_id_has_its_dialect() -> None:
    assert {d: dialect_for(Recorder(d, None)).exchange_id for d in DIALECTS} == {
        "binanceusdm": "binanceusdm",
        "bybit": "bybit",
        "okx": "okx",
    }
    assert (BINANCE_USDM.tested, BYBIT.tested, OKX.tested) == (True, True, True)


@pytest.mark.parametrize(
    ("dialect", "text", "duplicate"),
    [
        (BINANCE_USDM, 'binanceusdm {"code":-4116,"msg":"ClientOrderId is duplicated."}', True),
        (BYBIT, 'bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate"}', True),
        (OKX, 'okx {"code":"1","data":[{"sCode":"51016","sMsg":"Duplicated clOrdId"}]}', True),
        (BYBIT, 'bybit {"retCode":110017,"retMsg":"reduce-only"}', False),
        (BINANCE_USDM, 'bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate"}', False),
    ],
)
def test_duplicate_client_id_in_each_venues_words(dialect: Any, text: str, duplicate: bool) -> None:
    assert dialect.is_duplicate(ccxt.InvalidOrder(text)) is duplicate
    assert dialect.is_duplicate(ccxt.ExchangeError(text)) is False  # ccxt maps them InvalidOrder


def test_already_set_is_only_what_says_so() -> None:
    assert BYBIT.is_already_set(ccxt.BadRequest('bybit {"retCode":110043,"retMsg":"leverage'
                                                ' not modified"}'))  # fmt: skip
    assert BINANCE_USDM.is_already_set(ccxt.ExchangeError("No need to change margin type."))
    # OKX 59107 is "cancel pending orders before changing leverage": a refusal, not a no-op
    assert not OKX.is_already_set(ccxt.ExchangeError('okx {"code":"59107"}'))
    assert not BYBIT.is_already_set(ccxt.BadRequest('bybit {"retCode":10001}'))


def test_funding_signs_give_usdt_received() -> None:
    """ccxt's `amount`: Binance income and OKX balChg are negative when paid, Bybit's execFee
    positive when paid."""
    paid = {"amount": -0.3}
    assert BINANCE_USDM.funding_received_usdt(paid) == OKX.funding_received_usdt(paid) == -0.3
    assert BYBIT.funding_received_usdt({"amount": 0.3}) == -0.3


def test_okx_lookup_asks_by_clordid_and_refuses_another_order() -> None:
    ours = {"id": "1", "clientOrderId": "bsabc", "status": "closed"}
    client = Recorder("okx", ours)
    assert OKX.find_order(client, "bsabc", ETH) is ours
    assert client.calls == [("fetch_order", None, ETH, {"clOrdId": "bsabc"})]
    other = Recorder("okx", {"id": "2", "clientOrderId": "someone-else"})
    assert OKX.find_order(other, "bsabc", ETH) is None
    assert OKX.margin_mode_params(3) == {"lever": 3}
    assert OKX.leverage_params("cross") == {"marginMode": "cross"}


def test_bybit_wait_until_the_reset_timestamp() -> None:
    reset_ms = time.time() * 1000 + 2_000
    assert 1.5 < bybit_wait_s({"X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}) <= 2.0  # type: ignore[operator]
    assert bybit_wait_s({"Retry-After": "7"}) == 7.0
    assert bybit_wait_s({"X-Bapi-Limit-Reset-Timestamp": "1"}) == 0.0  # already passed
    assert bybit_wait_s({}) is None
