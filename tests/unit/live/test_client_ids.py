"""Client order ids: one format valid on Binance, Bybit and OKX, the same in every process,
unique over many (request, seq, leg) tuples, and pinned (a format change would orphan the
orders a running strategy already has on the venues)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from basis_strategy.live.client_ids import (
    MAX_LEG,
    MAX_SEQ,
    client_order_id,
    parse_client_order_id,
)

SRC = Path(__file__).resolve().parents[3] / "src"
BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
BYBIT_MAX = 36
OKX = re.compile(r"^[A-Za-z0-9]{1,32}$")
TUPLES = [("live-btc-basis-1", 0, 0), ("live-btc-basis-1", 42, 1), ("é/日本 x", MAX_SEQ, MAX_LEG)]


def test_the_format_is_pinned() -> None:
    assert client_order_id("live-btc-basis-1", 42, 0) == "bs303a6e41dcc98357s42l0"


@pytest.mark.parametrize(("request_id", "seq", "leg"), TUPLES)
def test_ids_are_valid_on_all_three_venues(request_id: str, seq: int, leg: int) -> None:
    client_id = client_order_id(request_id, seq, leg)
    assert BINANCE.fullmatch(client_id)
    assert len(client_id) <= BYBIT_MAX
    assert OKX.fullmatch(client_id)
    assert client_id == client_id.lower()  # OKX is case-sensitive: no case to lose


def test_the_longest_id_is_32_characters() -> None:
    assert len(client_order_id("any", MAX_SEQ, MAX_LEG)) == 32


def test_another_process_computes_the_same_ids() -> None:
    code = (
        "from basis_strategy.live.client_ids import client_order_id as c\n"
        f"for t in {TUPLES!r}: print(c(*t))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [client_order_id(*t) for t in TUPLES]


def test_ids_are_unique_over_100k_tuples_and_parse_back() -> None:
    requests = [f"live-{n}" for n in range(100)]
    tuples = list(itertools.product(requests, range(100), range(10)))
    ids = {client_order_id(*t) for t in tuples}
    assert len(tuples) == 100_000 and len(ids) == 100_000
    hashes = {parse_client_order_id(client_order_id(r, 0, 0))[0] for r in requests}
    assert len(hashes) == len(requests)


def test_seq_and_leg_cannot_run_into_each_other() -> None:
    # a plain concatenation would give "111" for both, and "123" for the last two
    assert client_order_id("r", 1, 11) != client_order_id("r", 11, 1)
    assert client_order_id("r", 12, 3) != client_order_id("r", 1, 23)
    assert parse_client_order_id(client_order_id("r", 1, 11))[1:] == (1, 11)
    assert parse_client_order_id(client_order_id("r", 11, 1))[1:] == (11, 1)


@pytest.mark.parametrize(
    ("request_id", "seq", "leg"), [("", 0, 0), ("r", -1, 0), ("r", MAX_SEQ + 1, 0), ("r", 0, 100)]
)
def test_out_of_range_inputs_are_refused(request_id: str, seq: int, leg: int) -> None:
    with pytest.raises(ValueError, match="client_order_id"):
        client_order_id(request_id, seq, leg)


def test_foreign_ids_are_not_parsed_as_ours() -> None:
    with pytest.raises(ValueError, match="not a basis-strategy client order id"):
        parse_client_order_id("x-xcKtGhcu123")
