"""Why a transaction reverted, by name (issue 14): revert data -> `RevertReason`.

- `Error(string)`: AAVE v3.0 reverts with a numeric string ("36"), named from its Errors table
  (`COLLATERAL_CANNOT_COVER_NEW_BORROW`); any other string is kept as it is.
- `Panic(uint256)`: the compiler's checks (0x11: arithmetic over/underflow, as when borrowing
  from an empty reserve).
- Custom errors (AAVE v3.6, our own contracts): by their 4-byte selector, from the ABIs given;
  our account's `CallFailed(index, reason)` is opened to name the inner call's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector

from basis_strategy.venues.live.chain_abi import AAVE_V3_0_ERRORS, Abi

ERROR_STRING = bytes.fromhex("08c379a0")
PANIC = bytes.fromhex("4e487b71")
PANICS = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x32: "array index out of bounds",
}


@dataclass(frozen=True)
class RevertReason:
    name: str  # e.g. COLLATERAL_CANNOT_COVER_NEW_BORROW, HealthFactorBelow, Panic
    detail: str = ""
    call: int | None = None  # which of the account's calls failed, when known

    def __str__(self) -> str:
        where = f"call {self.call}: " if self.call is not None else ""
        return f"{where}{self.name}" + (f" ({self.detail})" if self.detail else "")


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_type(p) for p in entry['inputs'])})"


def _type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


class RevertDecoder:
    """Names revert data with the custom errors of `abis`."""

    def __init__(self, *abis: Abi) -> None:
        self.errors: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") == "error":
                    self.errors[function_signature_to_4byte_selector(_signature(entry))] = entry

    def decode(self, data: bytes | str | None) -> RevertReason:
        raw = _as_bytes(data)
        if len(raw) < 4:
            return RevertReason("Reverted", "no reason given")
        selector, body = raw[:4], raw[4:]
        if selector == ERROR_STRING:
            (text,) = decode(["string"], body)
            name = AAVE_V3_0_ERRORS.get(text)
            return RevertReason(name, f"AAVE error {text}") if name else RevertReason(text)
        if selector == PANIC:
            (code,) = decode(["uint256"], body)
            return RevertReason("Panic", f"0x{code:02x} {PANICS.get(code, 'panic')}")
        entry = self.errors.get(selector)
        if entry is None:
            return RevertReason("UnknownError", "0x" + raw.hex())
        values = decode([_type(p) for p in entry["inputs"]], body)
        if entry["name"] == "CallFailed":
            index, inner = values
            return RevertReason(**{**self.decode(inner).__dict__, "call": int(index)})
        detail = ", ".join(f"{p['name']}={v}" for p, v in zip(entry["inputs"], values, strict=True))
        return RevertReason(entry["name"], detail)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""


def revert_data(exc: BaseException) -> bytes | str | None:
    """The revert data web3 attached to a ContractLogicError / ContractCustomError / panic."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, bytes | str) else None
