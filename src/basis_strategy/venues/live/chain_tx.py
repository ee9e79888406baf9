"""Sending the account's transactions (issue 14): one instruction, at most one execution.

- **Key**: from the environment (a hex private key, or an encrypted keystore file whose
  password is in the environment); held by an `eth_account` LocalAccount, never logged, and
  never in an error's text (nor in the exception it chains).
- **Nonce**: re-read from the chain (`pending`, so a transaction of ours still pending keeps
  its nonce and the new one takes the next: no gap, no replacement) for every new
  transaction; every resend or replacement of that transaction keeps it, so at most one of
  them can execute.
- **Gas**: estimated first, which runs the transaction on the chain's current state: a
  revert there is a clean refusal (`ExecutionRejected` naming the reason), nothing is sent.
  The fee is `min(cap, 2 × base fee + priority)`; when base fee + priority already exceeds
  the cap (`max_fee_gwei`), the transaction is refused (GasAboveCap), nothing is sent.
- **Submission**: the signed bytes go to the submit RPC (a private, MEV-protected endpoint
  when configured, else the read RPC; nonce, fees and receipts come from the read RPC, the
  estimate and the revert replay from the call's contract, built on it too). A network
  error is never final: the same bytes (same hash) are sent again. A node's answer is final
  (`ExecutionRejected`, nothing sent) only for the first bytes at their first try: after a
  network error they may have arrived, so any answer leaves their hash watched. "already
  known" / "already imported" means the bytes are in the node's pool; "nonce too low" means
  the nonce is used, by one of ours or not: the watch tells which.
- **Nonce taken by a transaction that is not ours** (the key used elsewhere: an operator by
  hand, a second instance of this program): ours can then never execute (all of ours share
  the nonce), but the other may have done the same thing, so retrying with a fresh nonce
  could execute the instruction twice. We do not retry: `NonceTaken` (a TransactionUnknown)
  halts the run, whether the nonce is already mined ("nonce too low", then no receipt of
  ours within `receipt_lag_s`) or held by another pending transaction ("replacement
  transaction underpriced" to our first bytes).
- **Stuck**: with no receipt after `replace_after_s`, the transaction is replaced with the
  same nonce and both fees raised by 12.5 % (geth's minimum is 10 %), up to
  `max_replacements` tries and never above the cap; a replacement the node refuses
  (underpriced) leaves the earlier ones watched. When no replacement is allowed, the latest
  accepted bytes are rebroadcast (same hash: a node that dropped them gets them back). Every
  hash sent is watched. None mined in `receipt_timeout_s`: the outcome is unknown
  (`TransactionUnknown`, an OperationalError, halts the run; it may still be mined): only a
  read of the chain can settle it. A read that fails while watching is no answer: it is
  made again at the next poll (no replacement is sent on a failed read).
- A mined transaction with status 0 is a revert (`MinedRevert`, with the gas paid): its
  reason is replayed on the state at the end of its block, which holds the transactions mined
  before it (the cause, typically), else on the block before.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    BadResponseFormat,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    RequestTimedOut,
    TooManyRequests,
    TransactionNotFound,
    Web3RPCError,
)

from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.chain_revert import RevertDecoder, RevertReason, revert_data

LOG = logging.getLogger(__name__)
GWEI = 10**9
BUMP = 1.125  # a replacement must raise both fees by at least 10 % (geth); 12.5 % is safe
GAS_MARGIN = 1.25  # gas limit over the estimate
# nodes' answers, lower case (geth, anvil, besu, nethermind)
KNOWN = ("already known", "already imported", "known transaction", "alreadyknown")
NONCE_USED = ("nonce too low", "oldnonce")
# requests' errors are OSErrors; a node's own timeout or rate limit is no answer either
NETWORK_ERRORS = (OSError, BadResponseFormat, ProviderConnectionError, TooManyRequests)
REVERTS = (ContractLogicError, ContractCustomError, ContractPanicError)


class TransactionUnknown(OperationalError):
    """A transaction was sent but its outcome is unknown: halt until the chain is read."""


class NonceTaken(TransactionUnknown):
    """The nonce went to a transaction that is not ours: ours cannot execute any more, but
    the key is used elsewhere and that transaction may have done the same: halt."""


@dataclass(frozen=True)
class GasPolicy:
    max_fee_gwei: float  # refuse when base fee + priority fee is above this
    priority_fee_gwei: float = 0.01
    replace_after_s: float = 30.0
    max_replacements: int = 3
    receipt_timeout_s: float = 180.0
    poll_s: float = 0.05
    receipt_lag_s: float = 5.0  # how long a receipt may lag its nonce on the read RPC
    send_attempts: int = 5  # tries of the same signed bytes on network errors


def key_from_environment(
    key_variable: str, keystore_variable: str = "", env: Mapping[str, str] | None = None
) -> LocalAccount:
    """The signing key: `$key_variable` holds a hex private key or, when `keystore_variable`
    is given, `$keystore_variable` a keystore file path whose password is in `$key_variable`.
    Errors name the variables only, and chain no exception that could quote the secret.
    `env`: os.environ unless a test passes its own."""
    variables = os.environ if env is None else env
    secret = variables.get(key_variable, "")
    if not secret:
        raise ConfigError("chain.key", f"environment variable {key_variable} is not set")
    keystore = variables.get(keystore_variable, "") if keystore_variable else ""
    if keystore_variable and not keystore:
        # never fall back to reading the password as a key
        raise ConfigError("chain.key", f"environment variable {keystore_variable} is not set")
    try:
        if keystore:
            encrypted = Path(keystore).read_text()
            return Account.from_key(Account.decrypt(encrypted, secret))
        return Account.from_key(secret)
    except (ValueError, OSError) as exc:
        source = (
            f"keystore {keystore_variable} (password in {key_variable})"
            if keystore
            else key_variable
        )
        kind = type(exc).__name__
        raise ConfigError("chain.key", f"{source} does not hold a usable key ({kind})") from None


@dataclass(frozen=True)
class Sent:
    """A mined transaction of ours."""

    receipt: Any  # web3 TxReceipt
    gas_eth: float  # gas used × effective gas price
    gas_gwei: float  # effective gas price


class TxSender:
    """Signs, sends and follows the account owner's transactions (module doc)."""

    def __init__(
        self,
        w3: Web3,
        signer: LocalAccount,
        policy: GasPolicy,
        decoder: RevertDecoder,
        submit: Web3 | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.w3, self.signer, self.policy, self.decoder = w3, signer, policy, decoder
        self.submit_w3 = submit or w3
        self.address = signer.address
        self._sleep, self._clock = sleep, clock
        self.chain_id = w3.eth.chain_id
        self.replacements = 0  # replacements a node accepted (all transactions)
        self.resends = 0  # the same bytes sent again after a network error
        self.rebroadcasts = 0  # the same bytes sent again while stuck

    def reason(self, exc: BaseException) -> RevertReason:
        return self.decoder.decode(revert_data(exc))

    def send(self, call: Any, what: str, value_wei: int = 0) -> Sent:
        """Run `call` (a web3 ContractFunction of the account) as one transaction."""
        base: dict[str, Any] = {"from": self.address, "value": value_wei}
        try:
            gas = int(call.estimate_gas(base) * GAS_MARGIN)
        except REVERTS as exc:
            raise ExecutionRejected(f"{what}: reverted: {self.reason(exc)}") from exc
        max_fee, priority = self._fees()
        nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        tx = call.build_transaction(
            {**base, "gas": gas, "nonce": nonce, "chainId": self.chain_id,
             "maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority}
        )  # fmt: skip
        first = self._submit(tx, what, replacing=False)
        assert first is not None  # the first bytes are either sent (maybe) or refused
        return self._follow(tx, [first], call, base, what)

    def _follow(
        self, tx: dict[str, Any], hashes: list[bytes], call: Any, base: dict[str, Any], what: str
    ) -> Sent:
        """Watch every hash of this nonce until one is mined; replace or rebroadcast when
        stuck (module doc)."""
        nonce = tx["nonce"]
        accepted = tried = tx  # the latest bytes a node took / the latest fees tried
        tries = 0
        started = last = self._clock()
        used_at: float | None = None  # when the nonce was first seen used with no receipt
        while True:
            now = self._clock()
            used: bool | None = None  # None: the chain could not be read this time
            try:
                receipt = self._first_receipt(hashes)
                if receipt is not None:
                    return self._mined(receipt, call, base, what)
                used = self._nonce_used(nonce)
            except NETWORK_ERRORS as exc:
                LOG.warning("%s: read failed (%s), reading again", what, type(exc).__name__)
            if now - started > self.policy.receipt_timeout_s:
                raise TransactionUnknown(
                    f"{what}: no receipt for nonce {nonce} after {self.policy.receipt_timeout_s}s "
                    f"({len(hashes)} transactions sent): halt and read the chain"
                )
            if used:
                # one of ours is mined (its receipt may lag the nonce on a load-balanced
                # RPC), or the nonce went to a transaction that is not ours
                used_at = now if used_at is None else used_at
                if now - used_at > self.policy.receipt_lag_s:
                    raise NonceTaken(
                        f"{what}: nonce {nonce} was used by a transaction that is not ours "
                        f"(none of our {len(hashes)} is mined, nor can be): the key is used "
                        "elsewhere; halt and read the chain"
                    )
            elif used is False and now - last > self.policy.replace_after_s:
                bumped = self._bumped(tried) if tries < self.policy.max_replacements else None
                if bumped is not None:
                    tries, tried = tries + 1, bumped
                    tx_hash = self._submit(bumped, what, replacing=True)
                    if tx_hash is not None and tx_hash not in hashes:
                        hashes.append(tx_hash)
                        accepted = bumped
                        self.replacements += 1
                        LOG.warning("%s: replaced nonce %d with higher fees", what, nonce)
                else:
                    self._submit(accepted, what, replacing=True)
                    self.rebroadcasts += 1
                    LOG.warning("%s: rebroadcast nonce %d (no replacement allowed)", what, nonce)
                last = now
            self._sleep(self.policy.poll_s)

    def _fees(self) -> tuple[int, int]:
        base_fee = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        priority = int(self.policy.priority_fee_gwei * GWEI)
        cap = int(self.policy.max_fee_gwei * GWEI)
        if base_fee + priority > cap:
            raise ExecutionRejected(
                f"reverted: GasAboveCap (base fee {base_fee / GWEI:.4g} gwei + priority "
                f"{priority / GWEI:.4g} gwei > cap {self.policy.max_fee_gwei:.4g} gwei); "
                "nothing sent"
            )
        return min(cap, 2 * base_fee + priority), priority

    def _bumped(self, tx: dict[str, Any]) -> dict[str, Any] | None:
        """The same transaction with both fees raised by BUMP, or None above the cap."""
        max_fee = int(tx["maxFeePerGas"] * BUMP) + 1
        priority = int(tx["maxPriorityFeePerGas"] * BUMP) + 1
        if max_fee > int(self.policy.max_fee_gwei * GWEI):
            return None
        return {**tx, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority}

    def _submit(self, tx: dict[str, Any], what: str, replacing: bool) -> bytes | None:
        """Send the signed bytes until a node has them. Returns the hash to watch, or None
        when a node refused a replacement (module doc: which answers are final)."""
        signed = self.signer.sign_transaction(tx)
        tx_hash = bytes(signed.hash)
        maybe_arrived = False  # true after a network error: the bytes may be in a pool
        for attempt in range(self.policy.send_attempts):
            try:
                self.submit_w3.eth.send_raw_transaction(signed.raw_transaction)
                return tx_hash
            except RequestTimedOut:
                pass  # the node's own timeout: no answer (below)
            except Web3RPCError as exc:
                text = str(exc).lower()
                if any(known in text for known in KNOWN + NONCE_USED) or maybe_arrived:
                    return tx_hash  # in a pool, or the nonce is used: the watch tells
                if replacing:
                    LOG.warning("%s: replacement of nonce %d refused: %s", what, tx["nonce"], exc)
                    return None
                if "replacement" in text and "underpriced" in text:
                    raise NonceTaken(
                        f"{what}: nonce {tx['nonce']} is held by another pending transaction "
                        "that is not ours: the key is used elsewhere; halt and read the chain"
                    ) from exc
                raise ExecutionRejected(f"{what}: transaction refused by the node: {exc}") from exc
            except NETWORK_ERRORS as exc:
                LOG.warning("%s: send failed (%s), sending the same bytes again",
                            what, type(exc).__name__)  # fmt: skip
            maybe_arrived = True
            self.resends += 1
            self._sleep(self.policy.poll_s * 2**attempt)
        return tx_hash  # it may have arrived all the same: watched

    def _nonce_used(self, nonce: int) -> bool:
        return int(self.w3.eth.get_transaction_count(self.address, "latest")) > nonce

    def _first_receipt(self, hashes: list[bytes]) -> Any:
        """The receipt of the first of `hashes` mined, or None (network errors propagate:
        a failed read is not "not mined")."""
        for tx_hash in hashes:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
        return None

    def _mined(self, receipt: Any, call: Any, base: dict[str, Any], what: str) -> Sent:
        gwei = int(receipt["effectiveGasPrice"]) / GWEI
        gas_eth = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"]) / 1e18
        if receipt["status"] != 1:
            reason = self._replayed_reason(call, base, receipt)
            raise MinedRevert(f"{what}: reverted on chain: {reason}", gas_eth, gwei)
        return Sent(receipt, gas_eth, gwei)

    def _replayed_reason(self, call: Any, base: dict[str, Any], receipt: Any) -> RevertReason:
        """A mined revert carries no reason: replay the call at the end of its block (after
        the transactions that made it revert), else at the block before."""
        block = int(receipt["blockNumber"])
        for at in (block, block - 1):
            try:
                call.call(base, block_identifier=at)
            except REVERTS as exc:
                return self.reason(exc)
        return RevertReason("Reverted", "mined with status 0")


class MinedRevert(ExecutionRejected):
    """A transaction reverted on chain: nothing changed but its gas was paid."""

    def __init__(self, message: str, gas_eth: float, gas_gwei: float) -> None:
        super().__init__(message)
        self.gas_eth, self.gas_gwei = gas_eth, gas_gwei
