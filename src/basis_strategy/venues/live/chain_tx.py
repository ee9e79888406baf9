"""Sending the account's transactions (issue 14): one instruction, at most one execution.

- **Key**: from the environment (a hex private key, or an encrypted keystore file whose
  password is in the environment); held by an `eth_account` LocalAccount, never logged.
- **Nonce**: re-read from the chain (`pending`) for every new transaction; every resend or
  replacement of that transaction keeps it, so at most one of them can execute.
- **Gas**: estimated first, which runs the transaction on the chain's current state: a
  revert there is a clean refusal (`ExecutionRejected` naming the reason), nothing is sent.
  The fee is `min(cap, 2 × base fee + priority)`; when base fee + priority already exceeds
  the cap (`max_fee_gwei`), the transaction is refused (GasAboveCap), nothing is sent.
- **Submission**: the signed bytes go to the submit RPC (a private, MEV-protected endpoint
  when configured, else the read RPC). A network error is never final: the same bytes (same
  hash) are sent again, and a node that answers "already known" or "nonce too low" means it
  arrived: we then look for its receipt.
- **Stuck**: with no receipt after `replace_after_s`, the transaction is replaced with the
  same nonce and both fees raised by 12.5 % (the minimum nodes accept), up to
  `max_replacements` times and never above the cap; every hash sent is then watched. If the
  nonce is used but none of our hashes has a receipt, or none is mined in
  `receipt_timeout_s`, the outcome is unknown: `TransactionUnknown` (an OperationalError) halts
  the run: only a read of the chain can settle it.
- A mined transaction with status 0 is a revert: decoded like an estimate's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
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
ARRIVED = ("already known", "nonce too low", "replacement transaction underpriced")


class TransactionUnknown(OperationalError):
    """A transaction was sent but its outcome is unknown: halt until the chain is read."""


@dataclass(frozen=True)
class GasPolicy:
    max_fee_gwei: float  # refuse when base fee + priority fee is above this
    priority_fee_gwei: float = 0.01
    replace_after_s: float = 30.0
    max_replacements: int = 3
    receipt_timeout_s: float = 180.0
    poll_s: float = 0.05
    send_attempts: int = 5  # tries of the same signed bytes on network errors


def key_from_environment(key_variable: str, keystore_variable: str = "") -> LocalAccount:
    """The signing key: `$key_variable` holds a hex private key, or `$keystore_variable` a
    keystore file path whose password is in `$key_variable`. Errors name the variable only."""
    secret = os.environ.get(key_variable, "")
    if not secret:
        raise ConfigError("chain.key", f"environment variable {key_variable} is not set")
    keystore = os.environ.get(keystore_variable, "") if keystore_variable else ""
    try:
        if keystore:
            encrypted = Path(keystore).read_text()
            return Account.from_key(Account.decrypt(encrypted, secret))
        return Account.from_key(secret)
    except (ValueError, OSError) as exc:
        source = f"keystore {keystore_variable}" if keystore else key_variable
        raise ConfigError("chain.key", f"{source} does not hold a usable key") from exc


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
        self.replacements = 0  # replacements sent (all transactions)
        self.resends = 0  # the same bytes sent again after a network error

    def reason(self, exc: BaseException) -> RevertReason:
        return self.decoder.decode(revert_data(exc))

    def send(self, call: Any, what: str, value_wei: int = 0) -> Sent:
        """Run `call` (a web3 ContractFunction of the account) as one transaction."""
        base: dict[str, Any] = {"from": self.address, "value": value_wei}
        try:
            gas = int(call.estimate_gas(base) * GAS_MARGIN)
        except (ContractLogicError, ContractCustomError, ContractPanicError) as exc:
            raise ExecutionRejected(f"{what}: reverted: {self.reason(exc)}") from exc
        max_fee, priority = self._fees()
        nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        tx = call.build_transaction(
            {**base, "gas": gas, "nonce": nonce, "chainId": self.chain_id,
             "maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority}
        )  # fmt: skip
        hashes = [self._submit(tx)]
        started = last = self._clock()
        while True:
            receipt = self._first_receipt(hashes)
            if receipt is not None:
                return self._mined(receipt, call, base, what)
            now = self._clock()
            if now - started > self.policy.receipt_timeout_s:
                raise TransactionUnknown(
                    f"{what}: no receipt for nonce {nonce} after {self.policy.receipt_timeout_s}s "
                    f"({len(hashes)} transactions sent): halt and read the chain"
                )
            if self.w3.eth.get_transaction_count(self.address, "latest") > nonce:
                # the nonce is used: one of ours is mined (its receipt may lag a poll)
                self._sleep(self.policy.poll_s)
                receipt = self._first_receipt(hashes)
                if receipt is None:
                    raise TransactionUnknown(
                        f"{what}: nonce {nonce} was used by a transaction that is not ours"
                    )
                return self._mined(receipt, call, base, what)
            if (
                now - last > self.policy.replace_after_s
                and len(hashes) <= self.policy.max_replacements
            ):
                tx = self._bumped(tx)
                if tx is not None:
                    hashes.append(self._submit(tx))
                    self.replacements += 1
                    LOG.warning("%s: replaced nonce %d with higher fees", what, nonce)
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

    def _submit(self, tx: dict[str, Any]) -> bytes:
        """Send the signed bytes until a node has them; returns the hash."""
        signed = self.signer.sign_transaction(tx)
        for attempt in range(self.policy.send_attempts):
            try:
                self.submit_w3.eth.send_raw_transaction(signed.raw_transaction)
                return bytes(signed.hash)
            except Web3RPCError as exc:
                if any(text in str(exc) for text in ARRIVED):
                    return bytes(signed.hash)
                raise ExecutionRejected(f"transaction refused by the node: {exc}") from exc
            except (OSError, TimeoutError) as exc:  # requests' errors are OSErrors
                self.resends += 1
                LOG.warning("send failed (%s), sending the same transaction again", type(exc))
                self._sleep(self.policy.poll_s * 2**attempt)
        # it may have arrived all the same: the caller watches its hash
        return bytes(signed.hash)

    def _first_receipt(self, hashes: list[bytes]) -> Any:
        for tx_hash in hashes:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
            except (OSError, TimeoutError):
                return None
        return None

    def _mined(self, receipt: Any, call: Any, base: dict[str, Any], what: str) -> Sent:
        gwei = int(receipt["effectiveGasPrice"]) / GWEI
        gas_eth = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"]) / 1e18
        if receipt["status"] != 1:
            reason = self._replayed_reason(call, base, receipt)
            raise MinedRevert(f"{what}: reverted on chain: {reason}", gas_eth, gwei)
        return Sent(receipt, gas_eth, gwei)

    def _replayed_reason(self, call: Any, base: dict[str, Any], receipt: Any) -> RevertReason:
        """A mined revert carries no reason: replay the call at the block before it."""
        try:
            call.call(base, block_identifier=int(receipt["blockNumber"]) - 1)
        except (ContractLogicError, ContractCustomError, ContractPanicError) as exc:
            return self.reason(exc)
        return RevertReason("Reverted", "mined with status 0")


class MinedRevert(ExecutionRejected):
    """A transaction reverted on chain: nothing changed but its gas was paid."""

    def __init__(self, message: str, gas_eth: float, gas_gwei: float) -> None:
        super().__init__(message)
        self.gas_eth, self.gas_gwei = gas_eth, gas_gwei
