"""The transfer network fake (tests/fakes/transfer_network.py) and the venue fakes' wallet
endpoints (Binance /sapi/v1/capital, Bybit /v5/asset, OKX /api/v5/asset) through ccxt.

Why: the live withdrawal tests are only as honest as these fakes. The network must debit the
fee the venue's way, credit a deposit once and only after its latency, and lose or delay one
when told; each venue's endpoints must check signatures like the rest of its fake and answer
in shapes ccxt parses like the venue's recorded answers (ccxt's static fixtures).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pytest
from tests.fakes.binance_capital import BinanceCapitalFake
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake, bybit_client
from tests.fakes.ccxt_client import binance_client, route_sapi_to
from tests.fakes.cex_state import CexAccountState, VenueRejection
from tests.fakes.okx_v5 import OkxV5Fake, okx_client
from tests.fakes.transfer_network import (
    DepositFault,
    FeeMode,
    ManualClock,
    TransferNetwork,
    VenueWallet,
)
from tests.unit.venues.live_fakes.test_okx_fake import assert_same_shape, recorded, shape

REFERENCE = Path("/work/shared/reference/ccxt_static")
HERE = "0x1111111111111111111111111111111111111111"
THERE = "0x2222222222222222222222222222222222222222"


class Account:
    """Stands in for a venue fake: the network only needs its `state`."""

    def __init__(self, usdt: int = 1_000) -> None:
        self.state = CexAccountState(wallet_balance_quote=Decimal(usdt))


def two_wallets(
    fee_mode: FeeMode = FeeMode.INSIDE,
) -> tuple[TransferNetwork, VenueWallet, VenueWallet]:
    network = TransferNetwork(ManualClock(1_700_000_000_000), latency_s=600, broadcast_s=30)
    here = network.register("here", Account(), {("USDT", "ERC20"): HERE}, Decimal(1), fee_mode)
    there = network.register("there", Account(), {("USDT", "ERC20"): THERE})
    return network, here, there


# -- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "debited", "arrives"),
    [(FeeMode.INSIDE, Decimal(100), Decimal(99)), (FeeMode.ON_TOP, Decimal(101), Decimal(100))],
)
def test_fee_is_taken_the_venues_way_and_the_deposit_credited_once_after_the_latency(
    mode: FeeMode, debited: Decimal, arrives: Decimal
) -> None:
    network, here, there = two_wallets(mode)
    made = here.withdraw("USDT", "ERC20", THERE, Decimal(100), "ref1")
    assert (made.amount, made.fee) == (arrives, Decimal(1))
    assert here.state.wallet_balance_quote == Decimal(1_000) - debited
    assert there.deposits_now() == []  # not broadcast yet
    assert made.status(network.clock()) == "processing" and made.txid_at(network.clock()) == ""
    network.clock.advance(30)
    ((deposit, now),) = there.deposits_now()
    assert deposit.status(now) == "pending" and deposit.txid == made.txid_at(now)
    assert there.state.wallet_balance_quote == Decimal(1_000)
    network.clock.advance(570)
    ((deposit, now),) = there.deposits_now()
    assert deposit.status(now) == "credited" and deposit.amount == arrives
    there.deposits_now()
    assert there.state.wallet_balance_quote == Decimal(1_000) + arrives  # credited once


def test_a_repeated_client_reference_returns_the_first_withdrawal() -> None:
    _, here, _ = two_wallets()
    first = here.withdraw("USDT", "ERC20", THERE, Decimal(100), "ref1")
    again = here.withdraw("USDT", "ERC20", THERE, Decimal(100), "ref1")
    assert again == first and len(here.withdrawals) == 1 and here.requests == 2
    assert here.state.wallet_balance_quote == Decimal(900)


def test_lost_and_delayed_deposits() -> None:
    network, here, there = two_wallets()
    network.fault_next_deposit(DepositFault.LOST)
    here.withdraw("USDT", "ERC20", THERE, Decimal(100), "lost")
    network.fault_next_deposit(DepositFault.DELAYED, extra_s=3_600)
    here.withdraw("USDT", "ERC20", THERE, Decimal(50), "late")
    network.clock.advance(601)
    ((late, now),) = there.deposits_now()  # the lost one never appears
    assert late.amount == Decimal(49) and late.status(now) == "pending"
    network.clock.advance(3_600)
    ((late, now),) = there.deposits_now()
    assert late.status(now) == "credited"
    assert there.state.wallet_balance_quote == Decimal(1_049)


@pytest.mark.parametrize("amount", [Decimal(1), Decimal(2_000)])
def test_refused_withdrawals_move_nothing(amount: Decimal) -> None:
    _, here, _ = two_wallets()
    with pytest.raises(VenueRejection):
        here.withdraw("USDT", "ERC20", THERE, amount, None)
    assert here.withdrawals == [] and here.state.wallet_balance_quote == Decimal(1_000)


# -- the venues' wallet endpoints through ccxt --------------------------------------------------


@pytest.fixture
def binance() -> Iterator[tuple[Any, BinanceCapitalFake, TransferNetwork]]:
    network = TransferNetwork()
    with BinanceUsdmFake() as futures, BinanceCapitalFake(futures.state) as capital:
        network.register("binance", capital, {("USDT", "ERC20"): HERE})
        client = binance_client(futures)
        route_sapi_to(client, capital.base_url)
        yield client, capital, network
        client.session.close()


def test_binance_withdraw_is_found_by_withdraw_order_id(
    binance: tuple[Any, BinanceCapitalFake, TransferNetwork],
) -> None:
    client, _, network = binance
    made = client.withdraw("USDT", 100, THERE, {"network": "ERC20", "withdrawOrderId": "bsx1"})
    client.withdraw("USDT", 50, THERE, {"network": "ERC20", "withdrawOrderId": "bsx2"})
    (found,) = client.fetch_withdrawals("USDT", None, None, {"withdrawOrderId": "bsx1"})
    assert (found["id"], found["amount"], found["fee"]["cost"]) == (made["id"], 99.0, 1.0)
    assert found["status"] == "pending" and found["txid"] is None
    network.clock.advance(61)
    (found,) = client.fetch_withdrawals("USDT", None, None, {"withdrawOrderId": "bsx1"})
    assert found["status"] == "ok" and found["txid"].startswith("0x")
    assert client.fetch_deposit_address("USDT", {"network": "ERC20"})["address"] == HERE


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
def test_wallet_endpoints_check_signatures(venue: str) -> None:
    network = TransferNetwork()
    with (
        BinanceUsdmFake() as futures,
        BinanceCapitalFake(futures.state) as capital,
        BybitV5Fake() as bybit,
        OkxV5Fake() as okx,
    ):
        servers = {"binance": capital, "bybit": bybit, "okx": okx}
        network.register(venue, servers[venue], {("USDT", "ERC20"): HERE})
        bad: Any
        if venue == "binance":
            bad = binance_client(futures, secret="wrong")
            route_sapi_to(bad, capital.base_url)
        elif venue == "bybit":
            bad = bybit_client(bybit, secret="wrong")
        else:
            bad = okx_client(okx, secret="wrong")
        try:
            with pytest.raises(ccxt.AuthenticationError):
                bad.withdraw("USDT", 100, THERE, {"network": "ERC20", "feeType": 1})
        finally:
            bad.session.close()
        assert network.wallets[venue].withdrawals == []


def raw_rows(answer: Any) -> list[dict[str, Any]]:
    """The records of a raw answer (Binance: a list or an object; OKX: data)."""
    if isinstance(answer, dict) and "data" in answer:
        return list(answer["data"])
    return list(answer) if isinstance(answer, list) else [answer]


BINANCE_CONFORMANCE = [
    ("withdraw", "withdraw", "withdraw", ["USDT", 10.34332, THERE, {"network": "TRC20"}]),
    ("fetchWithdrawals", "fetchWithdrawals", "fetch_withdrawals", []),
    ("fetchDeposits", "fetchDeposits", "fetch_deposits", []),
    ("fetchDepositAddress", "with code", "fetch_deposit_address", ["USDT"]),
]


@pytest.mark.parametrize(("method", "description", "call", "args"), BINANCE_CONFORMANCE)
def test_binance_wallet_answers_parse_like_recorded_ones(
    method: str, description: str, call: str, args: list[Any]
) -> None:
    network = TransferNetwork()
    with BinanceUsdmFake() as futures, BinanceCapitalFake(futures.state) as capital:
        network.register("binance", capital, {("USDT", "ERC20"): HERE, ("USDT", "TRC20"): HERE})
        other = Account()
        network.register("other", other, {("USDT", "ERC20"): THERE})
        live, replay = binance_client(futures), binance_client(futures)
        route_sapi_to(live, capital.base_url)
        try:
            other_wallet = network.wallets["other"]
            other_wallet.withdraw("USDT", "ERC20", HERE, Decimal(10), None)  # a deposit to us
            live.withdraw("USDT", 9, THERE, {"network": "ERC20"})
            network.clock.advance(3_600)  # completed, credited
            ours = getattr(live, call)(*args)
            our_raw = raw_rows(json.loads(live.last_http_response))
            answer = recorded(REFERENCE / "response/binance.json", method, description)
            replay.load_markets()  # from the fake, before its answers are replaced
            replay.fetch = lambda *a, **k: answer["httpResponse"]
            theirs = getattr(replay, call)(*args)
        finally:
            live.session.close()
            replay.session.close()
    their_raw = raw_rows(answer["httpResponse"])
    assert set(their_raw[0]) - {"type", "isDefault"} <= set(our_raw[0])  # ccxt adds "type"
    assert_same_shape(shape(ours), shape(theirs))


def test_okx_deposit_address_parses_like_the_recorded_one() -> None:
    network = TransferNetwork()
    with OkxV5Fake() as okx:
        network.register("okx", okx, {("USDT", "TRC20"): HERE, ("USDT", "ERC20"): THERE})
        live, replay = okx_client(okx), okx_client(okx)
        live.has["fetchCurrencies"] = replay.has["fetchCurrencies"] = True
        try:
            live.load_markets()
            replay.load_markets()
            ours = live.fetch_deposit_address("USDT", {"network": "TRC20"})
            our_raw = raw_rows(json.loads(live.last_http_response))
            entry = recorded(REFERENCE / "response/okx.json", "fetchDepositAddress",
                             "fetch trc20 usdt address")  # fmt: skip
            replay.fetch = lambda *a, **k: entry["httpResponse"]
            theirs = replay.fetch_deposit_address("USDT", {"network": "TRC20"})
        finally:
            live.session.close()
            replay.session.close()
    assert ours["address"] == HERE and ours["network"] == "TRC20"
    assert set(raw_rows(entry["httpResponse"])[0]) <= set(our_raw[0])
    assert_same_shape(shape(ours), shape(theirs))


def test_the_recorded_withdraw_requests_are_accepted() -> None:
    """ccxt's recorded wire requests (Binance query, OKX JSON body) reach the fakes as sent."""
    network = TransferNetwork()
    binance_entry = recorded(REFERENCE / "request/binance.json", "withdraw",
                             "withdraw using trc20 network")  # fmt: skip
    okx_entry = recorded(REFERENCE / "request/okx.json", "withdraw", "withdraw usdt-trc20")
    with (
        BinanceUsdmFake() as futures,
        BinanceCapitalFake(futures.state) as capital,
        OkxV5Fake() as okx,
    ):
        network.register("binance", capital, {("USDT", "TRC20"): HERE})
        network.register("okx", okx, {("USDT", "TRC20"): THERE})
        client = binance_client(futures)
        route_sapi_to(client, capital.base_url)
        okx_live = okx_client(okx)
        try:
            code, amount, address, _, params = binance_entry["input"]
            client.withdraw(code, amount, address, params)
            code, amount, address, _, params = okx_entry["input"]
            okx_live.withdraw(code, amount, address, params)
        finally:
            client.session.close()
            okx_live.session.close()
    sent = dict(parse_qsl(capital.requests[-1][2]))
    wanted = dict(parse_qsl(binance_entry["output"]))
    for volatile in ("timestamp", "signature"):
        sent.pop(volatile), wanted.pop(volatile)
    assert sent == wanted
    assert json.loads(okx.requests[-1][2]) == json.loads(okx_entry["output"])
    assert len(network.wallets["binance"].withdrawals) == len(network.wallets["okx"].withdrawals)


READ_REQUESTS = [
    ("binance", "fetchDeposits", "Default fetch deposits"),
    ("binance", "fetchWithdrawals", "fetch USDT withrawals"),
    ("bybit", "fetchDeposits", "Default fetchDeposits"),
    ("okx", "fetchWithdrawals", "fetch USDT withdrawals"),
    ("okx", "fetchDeposits", "fetch USDT deposits"),
    ("okx", "fetchDepositAddress", "fetch USDT address"),
]
CALLS = {
    "fetchDeposits": "fetch_deposits",
    "fetchWithdrawals": "fetch_withdrawals",
    "fetchDepositAddress": "fetch_deposit_address",
}


@pytest.mark.parametrize(("venue", "method", "description"), READ_REQUESTS)
def test_the_recorded_wallet_reads_are_sent_and_answered(
    venue: str, method: str, description: str
) -> None:
    """ccxt's recorded request (path and query, less timestamp and signature) is what reaches
    the fake, and the fake answers it (ccxt parses the answer without error)."""
    entry = recorded(REFERENCE / f"request/{venue}.json", method, description)
    network = TransferNetwork()
    with (
        BinanceUsdmFake() as futures,
        BinanceCapitalFake(futures.state) as capital,
        BybitV5Fake() as bybit,
        OkxV5Fake() as okx,
    ):
        servers: dict[str, Any] = {"binance": capital, "bybit": bybit, "okx": okx}
        network.register(venue, servers[venue], {("USDT", "ERC20"): HERE})
        client: Any
        if venue == "binance":
            client = binance_client(futures)
            route_sapi_to(client, capital.base_url)
        else:
            client = bybit_client(bybit) if venue == "bybit" else okx_client(okx)
        try:
            getattr(client, CALLS[method])(*entry["input"])
        finally:
            client.session.close()
        _, path, query = servers[venue].requests[-1]
    wanted = urlsplit(entry["url"])
    volatile = {"timestamp", "signature"}
    assert path == wanted.path
    assert {k: v for k, v in parse_qsl(query) if k not in volatile} == {
        k: v for k, v in parse_qsl(wanted.query) if k not in volatile
    }
