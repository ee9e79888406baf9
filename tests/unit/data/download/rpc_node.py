"""A fake Ethereum archive node served over real HTTP on 127.0.0.1, for the chain download tests.

It answers JSON-RPC 2.0 exactly as a node does (hex quantities, block objects, ABI-encoded
`eth_call` results, `eth_feeHistory` objects, error objects with codes), so web3.py's real
HTTPProvider, formatters and error paths run. The chain is post-merge: block timestamps sit on
the 12 s slot grid with some slots missed. Reserve and oracle states come from a small table of
recorded states (`STATES`) keyed by block; the test's expectations are computed from the same
table with `expected_*` below, independently of the code under test.

Knobs: `rate_limit(n, style)` answers the next n requests with a provider's rate-limit reply
(HTTP 429 + Retry-After, or a JSON-RPC -32005 error); `fail_after(n)` answers HTTP 503 to every
request after n more; `archive = False` answers "missing trie node" for state older than 128
blocks, as a full node does. `requests` logs every request (method, params).
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

GENESIS = 1606824023  # beacon chain genesis: slot k is stamped GENESIS + 12 k
SLOT = 12
RAY = 10**27
SPY = 365 * 24 * 3600
POOL = "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"
ORACLE = "0x54586be62e3c3580375ae3723c145253060ca0c2"
ASSETS = {
    "USDT": ("0xdac17f958d2ee523a2206206994597c13d831ec7", 6),
    "WETH": ("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", 18),
    "weETH": ("0xcd5fe23c85820f7b72d0926fc9b05b43e359b7ee", 18),
    "wstETH": ("0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0", 18),
}
BY_ADDRESS = {address: symbol for symbol, (address, _) in ASSETS.items()}
RATE_LIMIT_BODY = (
    "Your app has exceeded its compute units per second capacity. If you have retries enabled, "
    "you can safely ignore this message. If not, check out https://docs.alchemy.com/reference/"
    "throughput"
)


def selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


SELECTORS = {
    selector("getReserveData(address)"): "getReserveData",
    selector("getReserveNormalizedIncome(address)"): "income",
    selector("getReserveNormalizedVariableDebt(address)"): "debt",
    selector("getAssetPrice(address)"): "price",
    selector("totalSupply()"): "totalSupply",
}


def token_address(symbol: str, kind: int) -> str:
    """Fake aToken (1), stable debt (2) and variable debt (3) token addresses."""
    index = list(ASSETS).index(symbol)
    return to_checksum_address(f"0x{kind:02x}{index:02x}" + "ab" * 18)


RESERVE_DATA = (
    "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,"
    "address,address,address,address,uint128,uint128,uint128)"
)
TOKENS = {token_address(s, k).lower(): (s, k) for s in ASSETS for k in (1, 2, 3)}


@dataclass(frozen=True)
class ReserveState:
    """A recorded reserve state: stored indices and rates (rays), as of `updated` (unix s)."""

    liquidity_index: int
    liquidity_rate: int
    borrow_index: int
    borrow_rate: int
    stable_rate: int
    updated: int
    supply_scaled: int  # aToken scaled total (token base units)
    debt_scaled: int
    price: int  # AaveOracle, USD 8 decimals


@dataclass
class Chain:
    """Blocks `first_number`… on the slot grid from `first_slot`, with missed slots."""

    first_number: int
    first_slot: int
    slots: int
    missed: frozenset[int]

    def __post_init__(self) -> None:
        stamps = [
            GENESIS + SLOT * s
            for s in range(self.first_slot, self.first_slot + self.slots)
            if s not in self.missed
        ]
        self.timestamps: list[int] = stamps

    @property
    def head(self) -> int:
        return self.first_number + len(self.timestamps) - 1

    def timestamp(self, number: int) -> int | None:
        i = number - self.first_number
        return self.timestamps[i] if 0 <= i < len(self.timestamps) else None

    def last_at_or_before(self, t: int) -> int:
        """Brute force: the test's own answer to 'which block is stamped last at or before t'."""
        return self.first_number + bisect_right(self.timestamps, t) - 1


def make_chain(start: pd.Timestamp, hours: int) -> Chain:
    """A chain from an hour before `start` to `hours` after it; about 1 % of slots missed, plus
    a run of 7 missed slots just before 06:00 of the first day (the search must step back)."""
    first_slot = (int(start.timestamp()) - 3600 - GENESIS) // SLOT
    slots = (hours + 2) * 3600 // SLOT
    missed = {s for s in range(first_slot, first_slot + slots) if (s * 7919) % 97 == 0}
    six = (int((start + pd.Timedelta(hours=6)).timestamp()) - GENESIS) // SLOT
    missed |= set(range(six - 6, six + 1))
    return Chain(19_800_000, first_slot, slots, frozenset(missed))


def reserve_state(symbol: str, n: int, chain: Chain, listed_from: dict[str, int]) -> ReserveState:
    """The recorded state in force at block n: stored every 50 blocks (the stored index lags
    the block by up to 49 blocks; it grows faster than the current rates accrue, so the
    normalized indices never decrease), rates stepping every 500 blocks."""
    if n < listed_from.get(symbol, 0):
        return ReserveState(0, 0, 0, 0, 0, 0, 0, 0, 0)
    k = list(ASSETS).index(symbol)
    update = n - n % 50
    updated = chain.timestamp(update) or chain.timestamps[0]
    years = updated - chain.timestamps[0]
    step = (n - chain.first_number) // 500
    decimals = ASSETS[symbol][1]
    liquidity_index = (RAY + (k + 1) * 10**25) * (RAY + 2 * 10**26 * years // SPY) // RAY
    borrow_index = (RAY + (k + 2) * 10**25) * (RAY + 3 * 10**26 * years // SPY) // RAY
    return ReserveState(
        liquidity_index=liquidity_index,
        liquidity_rate=(2 + k) * 10**25 + step * 3 * 10**22,
        borrow_index=borrow_index,
        borrow_rate=(4 + k) * 10**25 + step * 5 * 10**22,
        stable_rate=0 if k % 2 else 7 * 10**25,
        updated=updated,
        supply_scaled=(1000 + k * 10 + step) * 10**decimals + 123456789,
        debt_scaled=(600 + k * 7 + step) * 10**decimals + 987654321,
        price=[100_000_000, 300_000_000_000, 312_000_000_000, 354_000_000_000][k]
        + (n % 997) * 1_000 * (k + 1),
    )


def normalized_income(state: ReserveState, ts: int) -> int:
    """AAVE v3 ReserveLogic.getNormalizedIncome: linear interest since the last update."""
    linear = RAY + state.liquidity_rate * (ts - state.updated) // SPY
    return (state.liquidity_index * linear + RAY // 2) // RAY


def normalized_debt(state: ReserveState, ts: int) -> int:
    """AAVE v3 ReserveLogic.getNormalizedDebt: MathUtils.calculateCompoundedInterest (the
    3-term binomial expansion of (1 + rate / SPY) ** dt)."""
    dt, rate = ts - state.updated, state.borrow_rate
    power_two = (rate * rate + RAY // 2) // RAY // (SPY * SPY)
    power_three = (power_two * rate + RAY // 2) // RAY // SPY
    second = dt * max(dt - 1, 0) * power_two // 2
    third = dt * max(dt - 1, 0) * max(dt - 2, 0) * power_three // 6
    compounded = RAY + rate * dt // SPY + second + third
    return (state.borrow_index * compounded + RAY // 2) // RAY


def base_fee(n: int) -> int:
    return 4_000_000_000 + (n % 611) * 13_000_007


def tips(n: int) -> list[int]:
    return [10_000_000 + n % 7 * 1_000_003, 50_000_000 + n % 11 * 2_000_001, 900_000_017 + n % 13]


class Node:
    """The node's state and answers (see the module docstring)."""

    def __init__(self, chain: Chain, listed_from: dict[str, int] | None = None) -> None:
        self.chain = chain
        self.listed_from = listed_from or {}
        self.archive = True
        self.chain_id = 1
        self.requests: list[tuple[str, list[Any], int]] = []  # method, params, HTTP status
        self._lock = threading.Lock()
        self._rate_limited = 0
        self._rate_style = "http"
        self._fail_after: int | None = None

    # knobs
    def rate_limit(self, count: int, style: str = "http") -> None:
        self._rate_limited, self._rate_style = count, style

    def fail_after(self, count: int | None) -> None:
        self._fail_after = count

    def calls(self, method: str) -> list[list[Any]]:
        return [params for m, params, _ in self.requests if m == method]

    # expectations, from the table
    def state(self, symbol: str, n: int) -> ReserveState:
        return reserve_state(symbol, n, self.chain, self.listed_from)

    # HTTP-level decision for one request body: (status, headers, body)
    def respond(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        status, headers, payload = self._reply(request)
        with self._lock:
            self.requests.append((request["method"], request["params"], status))
        return status, headers, payload

    def _reply(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._fail_after is not None:
                if self._fail_after <= 0:
                    return 503, {}, b"Service Unavailable"
                self._fail_after -= 1
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return self._rate_limit_reply(request["id"])
        reply = {"jsonrpc": "2.0", "id": request["id"]}
        try:
            reply["result"] = self.answer(request["method"], request["params"])
        except RpcFailure as failure:
            reply["error"] = failure.error
        return 200, {}, json.dumps(reply).encode()

    def _rate_limit_reply(self, request_id: Any) -> tuple[int, dict[str, str], bytes]:
        if self._rate_style == "http":
            error = {"code": 429, "message": RATE_LIMIT_BODY}
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})
            return 429, {"Retry-After": "3"}, body.encode()
        error = {"code": -32005, "message": "daily request count exceeded, request rate limited"}
        return 200, {}, json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()

    def answer(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_getBlockByNumber":
            return self.block(self.number(params[0]))
        if method == "eth_call":
            return self.call(params[0], self.number(params[1]))
        if method == "eth_feeHistory":
            return self.fee_history(int(params[0], 16), self.number(params[1]), params[2])
        raise RpcFailure(-32601, f"the method {method} does not exist/is not available")

    def number(self, tag: str) -> int:
        if tag in ("latest", "finalized", "safe"):
            return self.chain.head
        return int(tag, 16)

    def block(self, n: int) -> dict[str, Any] | None:
        ts = self.chain.timestamp(n)
        if ts is None:
            return None
        return {
            "number": hex(n),
            "hash": "0x" + f"{n:064x}",
            "parentHash": "0x" + f"{n - 1:064x}",
            "nonce": "0x0000000000000000",
            "sha3Uncles": "0x" + "1d" * 32,
            "logsBloom": "0x" + "00" * 256,
            "transactionsRoot": "0x" + "56" * 32,
            "stateRoot": "0x" + "ab" * 32,
            "receiptsRoot": "0x" + "56" * 32,
            "miner": "0x95222290dd7278aa3ddd389cc1e1d165cc4bafe5",
            "difficulty": "0x0",
            "totalDifficulty": "0xc70d815d562d3cfa955",
            "extraData": "0x6265617665726275696c642e6f7267",
            "size": "0x2b5c",
            "gasLimit": "0x1c9c380",
            "gasUsed": "0xe4e1c0",
            "timestamp": hex(ts),
            "transactions": [],
            "uncles": [],
            "baseFeePerGas": hex(base_fee(n)),
            "withdrawals": [],
            "withdrawalsRoot": "0x" + "77" * 32,
            "mixHash": "0x" + "42" * 32,
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
            "parentBeaconBlockRoot": "0x" + "99" * 32,
        }

    def _require_state(self, n: int) -> None:
        if self.chain.timestamp(n) is None:
            raise RpcFailure(-32000, "header not found")
        if not self.archive and n < self.chain.head - 128:
            raise RpcFailure(-32000, f"missing trie node {'3f' * 32} (path ) <nil>")

    def call(self, tx: dict[str, str], n: int) -> str:
        self._require_state(n)
        to, data = tx["to"].lower(), tx.get("data") or tx.get("input") or ""
        function = SELECTORS.get(data[:10])
        args = bytes.fromhex(data[10:])
        if to == POOL and function in ("getReserveData", "income", "debt"):
            (asset,) = decode(["address"], args)
            return self._pool(function, BY_ADDRESS[asset.lower()], n)
        if to == ORACLE and function == "price":
            (asset,) = decode(["address"], args)
            price = self.state(BY_ADDRESS[asset.lower()], n).price
            if price == 0:  # no source yet: the fallback oracle (address 0) has no code
                raise RpcFailure(-32000, "execution reverted")
            return "0x" + encode(["uint256"], [price]).hex()
        if to in TOKENS and function == "totalSupply":
            return "0x" + encode(["uint256"], [self.supply(*TOKENS[to], n)]).hex()
        return "0x"  # no code at that address: an empty return

    def _pool(self, function: str, symbol: str, n: int) -> str:
        state, ts = self.state(symbol, n), self.chain.timestamp(n)
        assert ts is not None
        if function == "income":
            value = normalized_income(state, ts) if state.updated else 0
            return "0x" + encode(["uint256"], [value]).hex()
        if function == "debt":
            value = normalized_debt(state, ts) if state.updated else 0
            return "0x" + encode(["uint256"], [value]).hex()
        listed = state.updated != 0
        tokens = [token_address(symbol, k) if listed else "0x" + "00" * 20 for k in (1, 2, 3)]
        fields = [
            (1 << 60) if listed else 0,
            state.liquidity_index,
            state.liquidity_rate,
            state.borrow_index,
            state.borrow_rate,
            state.stable_rate,
            state.updated,
            list(ASSETS).index(symbol) if listed else 0,
            *tokens,
            "0x" + "00" * 20,
            0,
            0,
            0,
        ]
        fields[0] = (fields[0],)
        return "0x" + encode([RESERVE_DATA], [tuple(fields)]).hex()

    def supply(self, symbol: str, kind: int, n: int) -> int:
        state, ts = self.state(symbol, n), self.chain.timestamp(n)
        assert ts is not None
        if kind == 1:
            return state.supply_scaled * normalized_income(state, ts) // RAY
        if kind == 2:
            return 0
        return state.debt_scaled * normalized_debt(state, ts) // RAY

    def fee_history(self, count: int, newest: int, percentiles: list[float]) -> dict[str, Any]:
        oldest = newest - count + 1
        blocks = range(oldest, newest + 1)
        return {
            "oldestBlock": hex(oldest),
            "baseFeePerGas": [hex(base_fee(n)) for n in range(oldest, newest + 2)],
            "gasUsedRatio": [0.5 for _ in blocks],
            "reward": [[hex(t) for t in tips(n)[: len(percentiles)]] for n in blocks],
        }


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message}


def _handler(node: Node) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1  # headers and body leave in one segment (no Nagle / delayed-ACK stall)
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, headers, payload = node.respond(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent (the request line holds the URL's key)."""

    return Handler


@contextmanager
def serve(node: Node) -> Iterator[str]:
    """Serve `node` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(node))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def expected_reserve(node: Node, symbol: str, n: int) -> dict[str, float]:
    """What the daily AAVE file must hold for a snapshot at block n (units of the README)."""
    state, ts = node.state(symbol, n), node.chain.timestamp(n)
    assert ts is not None
    decimals = ASSETS[symbol][1]
    return {
        "liquidity_index": normalized_income(state, ts) / RAY,
        "liquidity_rate": state.liquidity_rate / RAY,
        "borrow_index": normalized_debt(state, ts) / RAY,
        "borrow_rate": state.borrow_rate / RAY,
        "stable_rate": state.stable_rate / RAY,
        "total_atoken": node.supply(symbol, 1, n) / 10**decimals,
        "total_variable_debt": node.supply(symbol, 3, n) / 10**decimals,
        "price": state.price / 10**8,
    }
