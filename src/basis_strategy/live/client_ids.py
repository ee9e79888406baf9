"""Deterministic client order ids: the same (request id, instruction sequence, leg index) gives
the same id in every process, so a restart or a resend reuses it and the venue's duplicate check
refuses a second order (hummingbot #3374, #493: duplicates after a timeout on order creation).

Format: `bs` + the first 16 hex digits of sha256(request id) + `s` + seq + `l` + leg, e.g.
`bs303a6e41dcc98357s42l0` for ("live-btc-basis-1", 42, 0). At most 32 lowercase alphanumerics,
so one id is valid on all three venues: Binance newClientOrderId (<= 36,
`^[.A-Z:/a-z0-9_-]{1,36}$`), Bybit orderLinkId (<= 36) and OKX clOrdId (alphanumeric only,
<= 32, case-sensitive).
"""

from __future__ import annotations

import hashlib
import re

CLIENT_ID_PREFIX = "bs"
HASH_CHARS = 16  # 64 bits of sha256(request id): collisions between requests ~ n^2 / 2^65
MAX_SEQ = 10**10 - 1  # 10 digits ...
MAX_LEG = 99  # ... + 2 digits keep the id at <= 32 characters
CLIENT_ID_RE = re.compile(r"^bs([0-9a-f]{16})s([0-9]{1,10})l([0-9]{1,2})$")
# the strictest venue rule of the three (OKX clOrdId); Binance and Bybit accept a superset
OKX_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def client_order_id(request_id: str, seq: int, leg: int) -> str:
    """`bs{16 hex of sha256(request id)}s{seq}l{leg}`.

    At most 32 lowercase alphanumerics, so valid as a Binance newClientOrderId (<= 36,
    `[.A-Z:/a-z0-9_-]`), a Bybit orderLinkId (<= 36) and an OKX clOrdId (alphanumeric, <= 32).
    The letters `s` and `l` are not hex digits, so (seq, leg) = (1, 11) and (11, 1) differ.
    sha256, not `hash()`: the id must be the same in every process (PYTHONHASHSEED).
    """
    if not request_id:
        raise ValueError("client_order_id: request_id must not be empty")
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"client_order_id: seq must be in [0, {MAX_SEQ}], was {seq}")
    if not 0 <= leg <= MAX_LEG:
        raise ValueError(f"client_order_id: leg must be in [0, {MAX_LEG}], was {leg}")
    digest = hashlib.sha256(request_id.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{CLIENT_ID_PREFIX}{digest}s{seq}l{leg}"


def parse_client_order_id(client_id: str) -> tuple[str, int, int]:
    """(request hash, seq, leg) of one of our ids; ValueError for any other id (an order this
    platform did not place, e.g. one an operator placed by hand)."""
    match = CLIENT_ID_RE.fullmatch(client_id)
    if match is None:
        raise ValueError(f"not a basis-strategy client order id: {client_id!r}")
    return match.group(1), int(match.group(2)), int(match.group(3))
