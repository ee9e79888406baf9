"""The transaction sender under injected faults (issue 14): at most one execution, always.

Each test sends one state-changing call of our BasisAccount through `TxSender` (wrapping
1 ETH of the account into WETH), with the sender's submissions going through `RpcProxy`
in front of anvil, and counts what the chain holds afterwards: WETH +1 and the operator's
nonce +1 is one execution. Time is fake (`FakeTime`): the sender's polls and waits cost
nothing, and its sleep hook is where a test mines a block or acts in the middle of a send.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from tests.chain.anvil import Anvil
from tests.chain.fund import ETH, OPERATOR_KEY, FundChain
from tests.chain.rpc_proxy import Fault, RpcProxy
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

from basis_strategy.core.errors import ConfigError
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain_revert import RevertDecoder
from basis_strategy.venues.live.chain_tx import (
    GasPolicy,
    MinedRevert,
    NonceTaken,
    TransactionUnknown,
    TxSender,
    key_from_environment,
)

GWEI = 10**9
MAX = 2**256 - 1
ZERO = "0x0000000000000000000000000000000000000000"
CLIENT_TIMEOUT_S = 0.5
FAST = GasPolicy(
    max_fee_gwei=100.0, poll_s=0.05, replace_after_s=0.2, receipt_timeout_s=1.0, receipt_lag_s=0.2
)
SEND = "eth_sendRawTransaction"
UNDERPRICED = {"code": -32003, "message": "replacement transaction underpriced"}


class FakeTime:
    """The sender's clock and sleep: sleeping advances the clock and runs the hooks."""

    def __init__(self) -> None:
        self.now = 0.0
        self.hooks: list[Callable[[], None]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for hook in list(self.hooks):
            hook()


@pytest.fixture
def proxy(anvil: Anvil) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as running:
        yield running


@pytest.fixture
def manual_mining(anvil: Anvil) -> Iterator[Anvil]:
    """Transactions wait in the pool until the test mines; the pool is emptied after."""
    anvil.rpc("evm_setAutomine", [False])
    yield anvil
    anvil.rpc("anvil_dropAllTransactions")
    anvil.rpc("evm_setAutomine", [True])


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client(url: str, timeout_s: float = CLIENT_TIMEOUT_S) -> Web3:
    """A web3 client without web3's own retries: the sender's policy is under test."""
    return Web3(
        HTTPProvider(url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None)
    )


def decoder() -> RevertDecoder:
    return RevertDecoder(*(chain_abi.compiled(n)["abi"] for n in ("BasisAccount", "SwapPool")))


def sender_for(
    fund: FundChain,
    submit: RpcProxy,
    time_: FakeTime,
    policy: GasPolicy = FAST,
    read: Web3 | None = None,
) -> TxSender:
    return TxSender(
        read or fund.w3,
        fund.operator,
        policy,
        decoder(),
        submit=client(submit.url),
        sleep=time_.sleep,
        clock=time_.clock,
    )


NO_CAP = ("0x0000000000000000000000000000000000000000", 0, 0)  # BasisAccount.Call: no cap


def wrap_call(fund: FundChain, eth: int = 1) -> Any:
    """The account wraps `eth` of its ETH into WETH: one execution is +`eth` WETH."""
    deposit = bytes.fromhex(fund.weth.encode_abi("deposit")[2:])
    return fund.account.functions.execute(
        [(fund.weth.address, eth * ETH, deposit, *NO_CAP)], 0, MAX
    )


def weth_of(fund: FundChain) -> int:
    return int(fund.weth.functions.balanceOf(fund.account.address).call())


def nonce_of(fund: FundChain) -> int:
    return int(fund.w3.eth.get_transaction_count(fund.operator.address))


def hash_of(raw_hex: str) -> bytes:
    return keccak(hexstr=raw_hex)


def once(action: Callable[[], None]) -> Callable[[], None]:
    """A sleep hook that runs `action` at the first sleep only."""
    done: list[bool] = []

    def hook() -> None:
        if not done:
            done.append(True)
            action()

    return hook


def mine_when(anvil: Anvil, ready: Callable[[], bool]) -> Callable[[], None]:
    """A sleep hook that mines one block the first time `ready()` holds."""
    done: list[bool] = []

    def hook() -> None:
        if not done and ready():
            done.append(True)
            anvil.rpc("evm_mine")

    return hook


# --- network errors on the submission -------------------------------------------------------


def test_timeout_after_arrival_resends_the_same_bytes_and_executes_once(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime
) -> None:
    """The node got (and mined) the transaction but the answer never came back within the
    client's timeout: the resend of the same bytes is told "nonce too low", which is ours."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "hang", seconds=CLIENT_TIMEOUT_S + 0.3))
    sender = sender_for(fund, proxy, fake_time)
    sent = sender.send(wrap_call(fund), "wrap")
    # one execution (the chain says so) before anything else
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1
    raws = proxy.sent_raw()
    assert len(raws) == 2 and raws[0] == raws[1]  # the same bytes, twice
    assert sent.receipt["transactionHash"] == hash_of(raws[0])
    assert sender.resends == 1 and sender.replacements == 0


def test_lost_answer_while_pending_is_watched_not_refused(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    """Arrived but not mined yet: the resend is told "transaction already imported". That is
    not a refusal: reporting one would let the caller retry while ours is still pending."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "drop"))
    sender = sender_for(fund, proxy, fake_time)
    fake_time.hooks.append(mine_when(manual_mining, lambda: len(proxy.sent_raw()) == 2))
    sent = sender.send(wrap_call(fund), "wrap")
    # one execution (the chain says so) before anything else
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1
    raws = proxy.sent_raw()
    assert len(raws) == 2 and raws[0] == raws[1]
    assert sent.receipt["transactionHash"] == hash_of(raws[0])


def test_submission_that_never_arrived_is_resent_and_executes_once(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime
) -> None:
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "refuse", times=2))
    sender = sender_for(fund, proxy, fake_time)
    sent = sender.send(wrap_call(fund), "wrap")
    # one execution (the chain says so) before anything else
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1
    assert [s.action for s in proxy.seen if s.method == SEND] == ["refuse", "refuse", "forward"]
    assert len(set(proxy.sent_raw())) == 1
    assert sent.receipt["transactionHash"] == hash_of(proxy.sent_raw()[0])
    assert sender.resends == 2


def test_every_send_failing_is_not_final_the_stuck_nonce_is_replaced(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime
) -> None:
    """All `send_attempts` tries fail: the sender still watches the nonce, and its
    replacement (same nonce) gets through: one execution, not an error."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "refuse", times=FAST.send_attempts))
    sender = sender_for(fund, proxy, fake_time)
    sent = sender.send(wrap_call(fund), "wrap")
    # one execution (the chain says so) before anything else
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1
    forwarded = proxy.sent_raw(forwarded_only=True)
    assert len(forwarded) == 1 and sender.replacements == 1
    assert sent.receipt["transactionHash"] == hash_of(forwarded[0])


def test_reads_failing_while_watching_are_retried(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, anvil: Anvil
) -> None:
    """The read RPC loses receipts and nonce reads after the send: still one execution,
    and the receipt is returned, not an error (a network error is never final)."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    with RpcProxy(anvil.url) as reads:
        reads.inject(Fault("eth_getTransactionReceipt", "refuse", times=3))
        reads.inject(Fault("eth_getTransactionReceipt", "result", times=6, result=None))
        reads.inject(Fault("eth_getTransactionCount", "drop", skip=1, times=6))  # not "pending"
        sender = sender_for(fund, proxy, fake_time, read=client(reads.url))
        sent = sender.send(wrap_call(fund), "wrap")
        assert weth_of(fund) == weth + ETH
        assert nonce_of(fund) == nonce + 1
        refused = [s for s in reads.seen if s.action != "forward"]
        assert len(refused) == 15  # for longer than receipt_lag_s, yet no NonceTaken
    assert sent.receipt["transactionHash"] == hash_of(proxy.sent_raw()[0])
    assert len(proxy.sent_raw()) == 1


def test_a_receipt_lagging_its_nonce_is_waited_for_not_taken_for_foreign(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, anvil: Anvil
) -> None:
    """The read RPC (load-balanced, one node behind) shows the nonce used but no receipt
    yet, for less than `receipt_lag_s`: ours is mined, not a foreign transaction."""
    weth = weth_of(fund)
    with RpcProxy(anvil.url) as reads:
        reads.inject(Fault("eth_getTransactionReceipt", "result", times=6, result=None))
        policy = replace(FAST, receipt_lag_s=1.0, receipt_timeout_s=2.0)
        sender = sender_for(fund, proxy, fake_time, policy, read=client(reads.url))
        sent = sender.send(wrap_call(fund), "wrap")
        assert weth_of(fund) == weth + ETH
        assert [s.action for s in reads.seen].count("result") == 6
    assert sent.receipt["transactionHash"] == hash_of(proxy.sent_raw()[0])
    assert sender.replacements == 0  # a used nonce is never replaced


# --- stuck transactions ---------------------------------------------------------------------


def test_stuck_transaction_is_replaced_and_only_one_executes(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    weth, nonce = weth_of(fund), nonce_of(fund)
    priority = int(FAST.priority_fee_gwei * GWEI)
    first_fee = 2 * int(fund.w3.eth.get_block("latest")["baseFeePerGas"]) + priority
    sender = sender_for(fund, proxy, fake_time)
    fake_time.hooks.append(mine_when(manual_mining, lambda: sender.replacements == 1))
    sent = sender.send(wrap_call(fund), "wrap")
    original, replacement = (hash_of(raw) for raw in proxy.sent_raw())
    assert sender.replacements == 1
    assert sent.receipt["transactionHash"] == replacement
    with pytest.raises(TransactionNotFound):  # replaced in the pool, never mined
        fund.w3.eth.get_transaction(original)
    mined = fund.w3.eth.get_transaction(replacement)
    assert mined["nonce"] == nonce
    assert mined["maxFeePerGas"] == int(first_fee * 1.125) + 1
    assert mined["maxPriorityFeePerGas"] == int(priority * 1.125) + 1
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1


def test_underpriced_replacement_keeps_watching_the_original(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "error", skip=1, error=UNDERPRICED))
    sender = sender_for(fund, proxy, fake_time, replace(FAST, max_replacements=1))
    fake_time.hooks.append(mine_when(manual_mining, lambda: len(proxy.sent_raw()) >= 2))
    sent = sender.send(wrap_call(fund), "wrap")
    original, refused = proxy.sent_raw()[:2]
    assert original != refused
    assert sent.receipt["transactionHash"] == hash_of(original)
    assert sender.replacements == 0  # the refused one is not counted
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1


# --- the nonce ------------------------------------------------------------------------------


def foreign_wrap(
    fund: FundChain, nonce: int, tip_gwei: float = 1.0, mined: bool = True
) -> Callable[[Any], None]:
    """A proxy hook: the same key sends the same wrap by hand with `nonce`, straight to the
    node, just before our bytes arrive (a second instance of this program, an operator);
    `mined`: it is mined before ours arrives."""

    def hook(_request: Any) -> None:
        tx = wrap_call(fund).build_transaction(
            {"from": fund.operator.address, "nonce": nonce, "gas": 200_000,
             "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": int(tip_gwei * GWEI)}
        )  # fmt: skip
        raw = fund.operator.sign_transaction(tx).raw_transaction
        tx_hash = fund.w3.eth.send_raw_transaction(raw)
        if mined:
            fund.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=5)

    return hook


def test_nonce_used_by_a_foreign_transaction_halts_without_a_retry(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime
) -> None:
    """The foreign transaction is mined first: ours is told "nonce too low" and can never
    execute. The sender does not retry with a fresh nonce (the foreign one may have done the
    very same thing): it halts, and the chain shows one execution."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(Fault(SEND, "forward", before=foreign_wrap(fund, nonce)))
    sender = sender_for(fund, proxy, fake_time)
    outcome: Exception | None = None
    try:
        sender.send(wrap_call(fund), "wrap")
    except NonceTaken as exc:
        outcome = exc
    assert weth_of(fund) == weth + ETH  # the foreign one only
    assert nonce_of(fund) == nonce + 1
    assert len(proxy.sent_raw()) == 1  # no retry
    assert f"nonce {nonce} was used by a transaction that is not ours" in str(outcome)
    assert fund.w3.eth.get_transaction_count(fund.operator.address, "pending") == nonce + 1


def test_nonce_held_by_a_foreign_pending_transaction_halts(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    """The foreign transaction is pending with higher fees: the node refuses ours as an
    underpriced replacement; the sender halts at once and ours is in no pool."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    proxy.inject(
        Fault(SEND, "forward", before=foreign_wrap(fund, nonce, tip_gwei=50.0, mined=False))
    )
    sender = sender_for(fund, proxy, fake_time)
    with pytest.raises(NonceTaken, match="held by another pending transaction"):
        sender.send(wrap_call(fund), "wrap")
    assert len(proxy.sent_raw()) == 1
    manual_mining.rpc("evm_mine")
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1


def test_a_new_transaction_takes_the_next_nonce_after_a_pending_one_of_ours(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    """Ours at nonce n is still pending (its send ended unknown): the next takes n + 1 (the
    pending count), does not replace it, and leaves no gap: both execute, once, in order."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    sender = sender_for(fund, proxy, fake_time)
    with pytest.raises(TransactionUnknown):
        sender.send(wrap_call(fund), "first wrap")
    first_raws = proxy.sent_raw()
    fake_time.hooks.append(mine_when(manual_mining, lambda: True))
    sent = sender.send(wrap_call(fund, eth=2), "second wrap")
    second = fund.w3.eth.get_transaction(sent.receipt["transactionHash"])
    assert second["nonce"] == nonce + 1
    assert hash_of(proxy.sent_raw()[len(first_raws)]) == sent.receipt["transactionHash"]
    block = fund.w3.eth.get_block(sent.receipt["blockNumber"], full_transactions=True)
    ours = [t for t in block["transactions"] if t["from"] == fund.operator.address]
    assert [t["nonce"] for t in ours] == [nonce, nonce + 1]  # in order, in one block
    assert hash_of(first_raws[-1]) == ours[0]["hash"]  # the first one's latest replacement
    assert weth_of(fund) == weth + 3 * ETH
    assert nonce_of(fund) == nonce + 2


# --- the gas cap ----------------------------------------------------------------------------


def test_gas_above_the_cap_sends_nothing(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime
) -> None:
    weth, nonce = weth_of(fund), nonce_of(fund)
    sender = sender_for(fund, proxy, fake_time, GasPolicy(max_fee_gwei=1e-6))
    with pytest.raises(ExecutionRejected, match="GasAboveCap"):
        sender.send(wrap_call(fund), "wrap")
    assert SEND not in proxy.methods()
    assert (weth_of(fund), nonce_of(fund)) == (weth, nonce)


def test_replacement_above_the_cap_is_not_sent_the_outcome_is_unknown(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    """The first fee is at the cap: no replacement may be sent. The sender rebroadcasts the
    same bytes, then gives up as unknown; mined later, the transaction executes once."""
    weth, nonce = weth_of(fund), nonce_of(fund)
    base_fee = int(fund.w3.eth.get_block("latest")["baseFeePerGas"])
    cap_gwei = (2 * base_fee + int(FAST.priority_fee_gwei * GWEI)) / GWEI
    sender = sender_for(fund, proxy, fake_time, replace(FAST, max_fee_gwei=cap_gwei))
    with pytest.raises(TransactionUnknown, match=f"no receipt for nonce {nonce}"):
        sender.send(wrap_call(fund), "wrap")
    raws = proxy.sent_raw()
    assert len(set(raws)) == 1 and len(raws) > 1  # rebroadcast, never replaced
    assert sender.replacements == 0 and sender.rebroadcasts == len(raws) - 1
    assert int(fund.w3.eth.get_transaction(hash_of(raws[0]))["maxFeePerGas"]) <= cap_gwei * GWEI
    assert weth_of(fund) == weth
    manual_mining.rpc("evm_mine")
    assert weth_of(fund) == weth + ETH
    assert nonce_of(fund) == nonce + 1


# --- a revert when mined --------------------------------------------------------------------


def test_mined_revert_names_the_reason_and_the_gas_paid(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, manual_mining: Anvil
) -> None:
    """The estimate passes at the DEX's price; the DEX's owner lowers the price in the same
    block, ahead of ours (a higher tip): ours reverts on `minOut` when mined."""
    fund.dex.functions.setPrice(ZERO, fund.weth.address, ETH).transact({"from": fund.admin})
    manual_mining.rpc("evm_mine")
    swap = bytes.fromhex(fund.dex.encode_abi("swap", args=[ZERO, fund.weth.address, ETH, ETH])[2:])
    call = fund.account.functions.execute([(fund.dex.address, ETH, swap, *NO_CAP)], 0, MAX)
    weth, nonce = weth_of(fund), nonce_of(fund)
    eth = fund.w3.eth.get_balance(fund.account.address)

    def front_run() -> None:
        fund.dex.functions.setPrice(ZERO, fund.weth.address, ETH // 2).transact(
            {"from": fund.admin, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": 10 * GWEI}
        )
        manual_mining.rpc("evm_mine")

    fake_time.hooks.append(once(front_run))
    sender = sender_for(fund, proxy, fake_time)
    with pytest.raises(MinedRevert, match=r"call 0: BelowMinimum") as raised:
        sender.send(call, "swap")
    assert raised.value.gas_eth > 0 and raised.value.gas_gwei > 0
    assert weth_of(fund) == weth
    assert fund.w3.eth.get_balance(fund.account.address) == eth
    assert nonce_of(fund) == nonce + 1  # mined, reverted, paid


# --- keys -----------------------------------------------------------------------------------


def secrets_in(text: str) -> bool:
    bare = OPERATOR_KEY[2:]
    return any(s in text for s in (bare, bare.upper(), bare.lower()))


def test_key_from_a_hex_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (OPERATOR_KEY, OPERATOR_KEY[2:]):
        monkeypatch.setenv("TXTEST_KEY", value)
        assert key_from_environment("TXTEST_KEY").address == Account.from_key(OPERATOR_KEY).address


def test_key_from_an_encrypted_keystore(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keystore = tmp_path / "operator.json"
    encrypted = Account.encrypt(OPERATOR_KEY, "correct horse", kdf="pbkdf2", iterations=1000)
    keystore.write_text(json.dumps(encrypted))
    monkeypatch.setenv("TXTEST_PASSWORD", "correct horse")
    monkeypatch.setenv("TXTEST_KEYSTORE", str(keystore))
    signer = key_from_environment("TXTEST_PASSWORD", "TXTEST_KEYSTORE")
    assert signer.address == Account.from_key(OPERATOR_KEY).address


def full_text(exc: BaseException) -> str:
    """The exception as a log or a crash would print it, with its chained causes."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(
    ("environment", "keystore_variable", "named"),
    [
        ({}, "", "TXTEST_KEY is not set"),
        ({"TXTEST_KEY": OPERATOR_KEY[:-1] + "z"}, "", "TXTEST_KEY does not hold a usable key"),
        ({"TXTEST_KEY": OPERATOR_KEY[:-2]}, "", "TXTEST_KEY does not hold a usable key"),
        ({"TXTEST_KEY": "wrong password"}, "TXTEST_KEYSTORE", "keystore TXTEST_KEYSTORE"),
        ({"TXTEST_KEY": OPERATOR_KEY}, "TXTEST_UNSET", "TXTEST_UNSET is not set"),
    ],
)
def test_key_errors_name_the_variable_never_the_secret(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environment: dict[str, str],
    keystore_variable: str,
    named: str,
) -> None:
    keystore = tmp_path / "operator.json"
    keystore.write_text(json.dumps(Account.encrypt(OPERATOR_KEY, "right", kdf="pbkdf2",
                                                   iterations=1000)))  # fmt: skip
    monkeypatch.delenv("TXTEST_KEY", raising=False)
    monkeypatch.delenv("TXTEST_UNSET", raising=False)
    monkeypatch.setenv("TXTEST_KEYSTORE", str(keystore))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named) as raised:
        key_from_environment("TXTEST_KEY", keystore_variable)
    assert not secrets_in(full_text(raised.value))
    assert "wrong password" not in full_text(raised.value)


def test_the_key_is_in_no_log_record_and_no_error(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything logged (DEBUG, web3's own records included) and every error's text across
    sends that hit a lost answer, the gas cap and a revert in the estimate."""
    caplog.set_level(logging.DEBUG)
    proxy.inject(Fault(SEND, "drop"))
    sender = sender_for(fund, proxy, fake_time)
    sender.send(wrap_call(fund), "wrap")
    errors: list[BaseException] = []
    too_much = fund.account.functions.execute(
        [(fund.weth.address, 10**6 * ETH, b"", *NO_CAP)], 0, MAX
    )
    for policy, call in ((GasPolicy(max_fee_gwei=1e-6), wrap_call(fund)), (FAST, too_much)):
        try:
            sender_for(fund, proxy, fake_time, policy).send(call, "refused")
        except ExecutionRejected as exc:
            errors.append(exc)
    assert len(errors) == 2
    texts = [r.getMessage() for r in caplog.records] + [full_text(e) for e in errors]
    texts += [repr(sender), repr(vars(sender)), str(sender.signer)]
    assert any("send failed" in t for t in texts)  # the warning path was taken
    assert not any(secrets_in(t) for t in texts)


# --- a private submission RPC ---------------------------------------------------------------


def test_submissions_go_only_to_the_private_rpc_reads_only_to_the_read_rpc(
    fund: FundChain, proxy: RpcProxy, fake_time: FakeTime, anvil: Anvil
) -> None:
    """The account's contract object is built on the read RPC too (as ChainAccount does):
    estimates and calls go where the sender's reads go."""
    weth = weth_of(fund)
    with RpcProxy(anvil.url) as reads:
        read_w3 = client(reads.url, timeout_s=10)
        account = read_w3.eth.contract(address=fund.account.address, abi=fund.account.abi)
        deposit = bytes.fromhex(fund.weth.encode_abi("deposit")[2:])
        call = account.functions.execute([(fund.weth.address, ETH, deposit, *NO_CAP)], 0, MAX)
        sender = sender_for(fund, proxy, fake_time, read=read_w3)
        sent = sender.send(call, "wrap")
        assert proxy.methods() == {SEND}
        assert SEND not in reads.methods()
        assert {"eth_estimateGas", "eth_getTransactionCount", "eth_getTransactionReceipt"} <= (
            reads.methods()
        )
    assert sent.receipt["transactionHash"] == hash_of(proxy.sent_raw()[0])
    assert weth_of(fund) == weth + ETH
