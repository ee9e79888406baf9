"""The chain download (data/download/chain*.py) against a fake archive node served over real HTTP
(rpc_node.py): web3's own HTTPProvider, formatters and error paths run; only the node is fake."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from web3 import Web3
from web3.exceptions import Web3RPCError

from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.data.download.chain import download_chain, plan
from basis_strategy.data.download.chain_blocks import MERGE_TIMESTAMP, Block, search
from basis_strategy.data.download.chain_files import aave_layout, oracle_layout
from basis_strategy.data.download.chain_rpc import ChainRpc, url_secrets
from basis_strategy.data.download.manifest import Manifest
from basis_strategy.data.download.retry import RetryPolicy
from basis_strategy.data.requirements import GAS, aave_rates_pattern, lst_series
from basis_strategy.data.sources import read_aave_daily, read_gas_price, read_oracle
from basis_strategy.data.sources.aave import read_aave_daily_price
from basis_strategy.data.sources.oracle import read_oracle_reads

try:  # a package when tests/unit/data/download has an __init__.py, plain modules otherwise
    from .rpc_node import Node, base_fee, expected_reserve, make_chain, serve, tips
except ImportError:
    from rpc_node import Node, base_fee, expected_reserve, make_chain, serve, tips

H = pd.Timedelta(hours=1)
START = pd.Timestamp("2024-05-10", tz="UTC")
HOURS = 48
END = START + (HOURS - 1) * H  # inclusive: 2024-05-11 23:00
SECRET = "k3y-0f-the-user-5ecret"
ALL_FILES = (
    *(aave_rates_pattern(a) for a in ("USDT", "WETH", "weETH", "wstETH")),
    *(lst_series(lst).oracle.pattern for lst in ("weETH", "wstETH")),
    GAS,
)


def unix(ts: pd.Timestamp) -> int:
    return int(ts.timestamp())


@pytest.fixture
def node() -> Node:
    chain = make_chain(START, HOURS)
    return Node(chain, {"weETH": chain.last_at_or_before(unix(START + 30 * H))})


@pytest.fixture
def url(node: Node) -> Iterator[str]:
    with serve(node) as base:
        yield f"{base}/v2/{SECRET}"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(out: Path, url: str, sleeps: Sleeps | None = None, **kw: Any) -> list[dict[str, Any]]:
    policy = RetryPolicy(
        attempts=kw.pop("attempts", 4), sleep=sleeps if sleeps is not None else Sleeps()
    )
    return download_chain(
        out,
        kw.pop("start", START),
        kw.pop("end", END),
        Manifest(out),
        rpc_url=url,
        policy=policy,
        progress=False,
        **kw,
    )


def one(out: Path, pattern: str) -> Path:
    (path,) = sorted(out.glob(pattern))
    return path


def csv_texts(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.csv"))}


# --- block by timestamp -------------------------------------------------------------------


def test_block_search_finds_the_last_block_at_or_before_each_hour_in_few_reads(
    node: Node, url: str, tmp_path: Path
) -> None:
    run(tmp_path, url)
    blocks = pd.read_csv(one(tmp_path, "blockchain_data/blocks/ethereum_hourly_blocks_*.csv"))
    hours = pd.to_datetime(blocks["timestamp"], utc=True)
    assert list(hours) == list(pd.date_range(START, END, freq="h"))
    truth = [node.chain.last_at_or_before(unix(h)) for h in hours]
    assert list(blocks["block_number"]) == truth
    assert all(blocks["block_timestamp"] <= [unix(h) for h in hours])
    # 06:00 of the first day follows 7 missed slots: its block is stamped 84 s before the hour
    assert unix(START + 6 * H) - blocks["block_timestamp"].iloc[6] > 60
    reads = [p for p in node.calls("eth_getBlockByNumber") if p[0] != "finalized"]
    assert len(reads) <= 2.2 * HOURS  # about two reads an hour (the first search included)


def test_block_search_before_the_merge_interpolates_irregular_block_times() -> None:
    rng = random.Random(7)
    stamps = [1_600_000_000]
    for _ in range(20_000):
        stamps.append(stamps[-1] + rng.choice((1, 5, 9, 13, 14, 20, 35)))
    assert stamps[-1] < MERGE_TIMESTAMP
    reads: list[int] = []

    def read(number: int) -> Block:
        reads.append(number)
        return Block(number, stamps[number])

    head = Block(len(stamps) - 1, stamps[-1])
    for t in (stamps[0], stamps[0] + 3, stamps[5_000] + 2, stamps[-1] - 1):
        reads.clear()
        found = search(t, None, head, read)
        assert found.timestamp <= t < stamps[found.number + 1]
        assert len(reads) <= 30
    with pytest.raises(ConfigError, match="start"):
        search(stamps[0] - 1, None, head, read)


# --- files, read back through the provider's readers -------------------------------------


def test_files_read_back_through_the_provider_readers_with_the_chain_values(
    node: Node, url: str, tmp_path: Path
) -> None:
    summary = run(tmp_path, url)
    assert [s["pattern"] for s in summary][: len(ALL_FILES)] == list(ALL_FILES)
    for pattern in ALL_FILES:  # the provider's own globs find each file (weETH: listed later)
        expected = 0 if pattern == aave_rates_pattern("weETH") else 1
        assert len(list(tmp_path.glob(pattern))) == expected, pattern
    block_of = {
        h: node.chain.last_at_or_before(unix(h)) for h in pd.date_range(START, END, freq="h")
    }
    for asset in ("USDT", "WETH", "wstETH"):
        path = one(tmp_path, aave_rates_pattern(asset))
        daily = read_aave_daily(path)
        assert list(daily.index) == [START, START + 24 * H]
        prices = read_aave_daily_price(path)
        raw = pd.read_csv(path)
        for day in daily.index:
            want = expected_reserve(node, asset, block_of[day])
            got = daily.loc[day]
            assert got["liquidity_index"] == want["liquidity_index"]
            assert got["liquidity_rate"] == want["liquidity_rate"]
            assert got["borrow_index"] == want["borrow_index"]
            assert got["borrow_rate"] == want["borrow_rate"]
            assert prices[day] == want["price"]
            row = raw[raw["targetDate"] == f"{day:%Y-%m-%dT%H:%M:%SZ}"].iloc[0]
            assert row["blockNumber"] == block_of[day] and row["timestamp"] == unix(day)
            assert row["totalAToken"] == want["total_atoken"]
            assert row["totalVariableDebt"] == want["total_variable_debt"]
            assert row["totalStableDebt"] == 0.0 and row["date"] == f"{day:%Y-%m-%d}"
            assert row["currentStableBorrowRate"] == want["stable_rate"]
    usdt = pd.read_csv(one(tmp_path, aave_rates_pattern("USDT")))
    assert usdt["reserve"].iloc[0] == "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    assert (
        usdt["totalAToken"].iloc[0]
        == expected_reserve(node, "USDT", block_of[START])["total_atoken"]
    )  # 6 decimals
    oracle = one(tmp_path, lst_series("wstETH").oracle.pattern)
    rate = read_oracle(oracle)
    assert len(rate) == HOURS and rate.name == "oracle_price_eth"
    assert read_oracle_reads(oracle).observed_hourly  # the engine takes every hour's read
    for hour, value in rate.items():
        n = block_of[hour]
        assert value == node.state("wstETH", n).price / node.state("WETH", n).price
    gas = read_gas_price(one(tmp_path, GAS))
    assert len(gas) == HOURS
    for hour, value in gas.items():
        n = block_of[hour]
        assert value == (base_fee(n) + tips(n)[1]) / 1e9
    raw_gas = pd.read_csv(one(tmp_path, GAS))
    n0 = block_of[START]
    assert raw_gas["base_fee_gwei"].iloc[0] == base_fee(n0) / 1e9
    assert list(raw_gas.iloc[0][["priority_fee_p25_gwei", "priority_fee_p75_gwei"]]) == [
        tips(n0)[0] / 1e9,
        tips(n0)[2] / 1e9,
    ]


def test_oracle_file_written_without_comment_lines_reads_like_the_seed(
    url: str, tmp_path: Path
) -> None:
    run(tmp_path, url, lsts=("wstETH",))
    path = one(tmp_path, "protocol_data/aave/oracle/wstETH_ETH_oracle_*.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,oracle_price_eth,asset,source,quote_currency"
    assert lines[1].startswith("2024-05-10 00:00:00+00:00,")
    assert read_oracle(path).index[0] == START
    assert not list(tmp_path.glob("protocol_data/aave/*/weETH*"))  # only the LSTs asked for


# --- gaps, rate limits, resume --------------------------------------------------------------


def test_a_reserve_not_listed_yet_is_a_gap_at_the_start_not_an_error(
    url: str, tmp_path: Path
) -> None:
    summary = {s["pattern"]: s for s in run(tmp_path, url)}
    daily = summary[aave_rates_pattern("weETH")]
    assert daily["rows"] == 0 and daily["path"] == ""  # listed at 06:00 of day 2: no 00:00 row
    assert daily["fetched"] == [["2024-05-10T00:00:00Z", "2024-05-11T23:00:00Z"]]
    hourly = summary[lst_series("weETH").oracle.pattern]
    assert hourly["rows"] == HOURS - 30 and hourly["gaps"] == []
    rate = read_oracle(tmp_path / hourly["path"])
    assert rate.index[0] == START + 30 * H
    entry = json.loads((tmp_path / "manifest.json").read_text())["files"][
        lst_series("weETH").oracle.pattern
    ]
    assert entry["first"] == "2024-05-11T06:00:00Z"
    assert entry["fetched"] == [["2024-05-10T00:00:00Z", "2024-05-11T23:00:00Z"]]
    # a later run for the same window asks the node nothing but its head
    assert run(tmp_path, url)[0]["fetched"] == []


@pytest.mark.parametrize(
    ("style", "waits"), [("http", [3.0, 3.0]), ("rpc", [1.0, 2.0])], ids=["http-429", "rpc-32005"]
)
def test_rate_limit_then_success(
    node: Node, url: str, tmp_path: Path, style: str, waits: list[float]
) -> None:
    reference = tmp_path / "reference"
    run(reference, url)
    node.requests.clear()
    node.rate_limit(2, style)
    sleeps = Sleeps()
    run(tmp_path / "limited", url, sleeps)
    assert sleeps == waits  # HTTP 429 waits the Retry-After (3 s); -32005 the backoff
    assert [s for _, _, s in node.requests[:3]] == [429 if style == "http" else 200] * 2 + [200]
    assert csv_texts(tmp_path / "limited") == csv_texts(reference)


def test_interrupted_download_resumes_without_duplicates_or_refetching(
    node: Node, url: str, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    run(reference, url)
    out = tmp_path / "resumed"
    node.requests.clear()
    node.fail_after(150)  # then HTTP 503 on every request: the run gives up mid-window
    with pytest.raises(OperationalError, match="HTTP 503"):
        run(out, url, attempts=2)
    first = [(m, p) for m, p, status in node.requests if status == 200]
    assert any(status == 503 for _, _, status in node.requests)
    partial = read_gas_price(one(out, GAS))
    assert 5 < len(partial) < HOURS  # what was fetched before the failure is on disk
    manifest = Manifest(out)
    assert manifest.missing(GAS, START, END)[0][0] == partial.index[-1]
    node.fail_after(None)
    node.requests.clear()
    summary = {s["pattern"]: s for s in run(out, url)}
    resumed_from = f"{partial.index[-1]:%Y-%m-%dT%H:%M:%SZ}"
    assert summary[GAS]["fetched"] == [[resumed_from, "2024-05-11T23:00:00Z"]]
    second = [(m, p) for m, p, status in node.requests if status == 200]
    assert csv_texts(out) == csv_texts(reference)  # same files, same names, same rows
    for path in out.rglob("*.csv"):
        assert not pd.read_csv(path).iloc[:, 0].duplicated().any(), path
    fee_blocks = [int(p[1], 16) for m, p in first + second if m == "eth_feeHistory"]
    assert len(fee_blocks) == len(set(fee_blocks)) == HOURS  # no hour fetched twice
    cached = pd.read_csv(one(out, "blockchain_data/blocks/*.csv"))
    last_before = node.chain.last_at_or_before(unix(partial.index[-1]))
    probes = [
        int(p[0], 16) for m, p in second if m == "eth_getBlockByNumber" and p[0] != "finalized"
    ]
    assert probes and min(probes) > last_before  # no search again for the hours cached
    assert len(cached) == HOURS


def test_plan_requests_only_the_stamps_not_yet_fetched(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    hourly, daily = oracle_layout("weETH"), aave_layout("WETH")
    manifest.record(
        hourly.pattern, path="", source="t", fetched=[(START, START + 5 * H)], coverage={}
    )
    steps, empty = plan(manifest, hourly, START, START + 9 * H)
    assert [s for s, _ in steps] == [START + k * H for k in range(6, 10)]
    assert steps[0][1] == (START + 5 * H, START + 6 * H)  # touches the fetched range
    assert steps[-1][1] == (START + 8 * H, START + 9 * H)
    assert empty == []
    steps, empty = plan(manifest, daily, START + 2 * H, START + 23 * H)
    assert steps == [] and empty == [(START + 2 * H, START + 23 * H)]  # no 00:00 inside
    steps, _ = plan(manifest, daily, START, START + 50 * H)
    day = 24 * H
    assert steps == [
        (START, (START, START)),  # each range ends at its stamp; the last one runs to the end
        (START + day, (START, START + day)),
        (START + 2 * day, (START + day, START + 50 * H)),
    ]


def test_hours_after_the_finalized_head_are_left_for_a_later_run(
    node: Node, url: str, tmp_path: Path
) -> None:
    head_time = node.chain.timestamps[-1]
    summary = {s["pattern"]: s for s in run(tmp_path, url, end=END + 10 * H)}
    last = pd.Timestamp(head_time - 1, unit="s", tz="UTC").floor("h")  # the last hour < head
    assert summary[GAS]["fetched"] == [["2024-05-10T00:00:00Z", f"{last:%Y-%m-%dT%H:%M:%SZ}"]]
    assert read_gas_price(one(tmp_path, GAS)).index[-1] == last


# --- failures -------------------------------------------------------------------------------


def test_a_non_archive_node_fails_fast_saying_an_archive_node_is_needed(
    node: Node, url: str, tmp_path: Path
) -> None:
    node.archive = False
    sleeps = Sleeps()
    with pytest.raises(ConfigError, match=r"BASIS_ETH_RPC_URL: .*archive node") as caught:
        run(tmp_path, url, sleeps)
    assert "missing trie node" in str(caught.value)
    assert len(node.calls("eth_call")) == 1 and sleeps == []  # no retry


def test_missing_url_and_wrong_chain_are_configuration_errors(
    node: Node, url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="BASIS_ETH_RPC_URL: not set"):
        run(tmp_path, None)  # type: ignore[arg-type]
    node.chain_id = 5
    with pytest.raises(ConfigError, match="chain id 5, expected 1"):
        run(tmp_path, url)
    with pytest.raises(ConfigError, match="start: not a UTC timestamp"):
        run(tmp_path, url, start=pd.Timestamp("2024-05-10"))


def test_the_rpc_url_never_appears_in_logs_or_messages(
    node: Node, url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    node.rate_limit(1)
    run(tmp_path / "a", url, end=START + 2 * H)
    node.fail_after(0)
    with pytest.raises(OperationalError) as gave_up:
        run(tmp_path / "b", url, attempts=2)
    closed = url.replace(url.split("/")[2], "127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(OperationalError) as refused:
        run(tmp_path / "c", closed, attempts=2)
    text = caplog.text + str(gave_up.value) + str(refused.value) + "".join(capsys.readouterr())
    assert '"POST *** HTTP/1.1" 429' in caplog.text  # urllib3's debug line, masked
    assert "retrying" in caplog.text and "***" in str(refused.value)
    for secret in url_secrets(url):
        assert secret not in text
    assert SECRET not in text
    assert SECRET not in (tmp_path / "a" / "manifest.json").read_text()


@pytest.mark.parametrize(
    ("code", "message", "block", "error", "retried"),
    [
        (-32000, "header not found", 19_000_000, ConfigError, False),  # far below the head
        (-32000, "header not found", 19_999_990, OperationalError, True),  # a lagging node
        (-32000, "request timed out", None, OperationalError, True),
        (-32007, "100/second request limit reached", None, OperationalError, True),
        (-32000, "execution gas limit hit", None, OperationalError, False),
    ],
)
def test_rpc_errors_are_retried_or_fail_by_what_they_mean(
    code: int, message: str, block: int | None, error: type[Exception], retried: bool
) -> None:
    sleeps = Sleeps()
    rpc = ChainRpc(Web3(), RetryPolicy(attempts=3, sleep=sleeps), ["secret"])
    rpc.head_number = 20_000_000

    def node_answers() -> None:  # what web3 raises for a JSON-RPC error object
        response = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}
        raise Web3RPCError(repr(response["error"]), rpc_response=response)  # type: ignore[arg-type]

    with pytest.raises(error) as caught:
        rpc.call("eth_call x", node_answers, block=block)
    assert rpc.calls == (3 if retried else 1) and len(sleeps) == (2 if retried else 0)
    if error is ConfigError:
        assert "archive node" in str(caught.value)


def test_url_secrets_cover_path_query_and_user_info() -> None:
    secrets = url_secrets("https://user:pw@eth.example.com/v2/abc?key=def")
    assert {"pw", "user", "/v2/abc", "v2/abc", "key=def"} <= set(secrets)
    assert secrets[0] == "https://user:pw@eth.example.com/v2/abc?key=def"


def test_calls_are_spaced_by_the_policy_interval() -> None:
    """The RPC has no rate limiter of its own: `min_interval_seconds` keeps a steady pace."""
    waits: list[float] = []
    rpc = ChainRpc(Web3(), RetryPolicy(sleep=waits.append, min_interval_seconds=30.0), ["s"])
    assert [rpc.call("eth_blockNumber", lambda: 7) for _ in range(3)] == [7, 7, 7]
    assert len(waits) == 2 and all(29.0 < w <= 30.0 for w in waits)
