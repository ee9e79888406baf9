"""A local fake of Binance's wallet ("capital") endpoints under /sapi/v1, for ccxt's real
withdraw / fetch_withdrawals / fetch_deposits / fetch_deposit_address.

Why: a withdrawal from Binance is not a futures call: it goes to the spot API host (ccxt's
`urls['api']['sapi']`), so this is its own server, pointed at by that one URL, sharing the
USDⓈ-M fake's account state and Binance's signing and error plumbing (binance_usdm.py). The
transfers themselves live in the shared `TransferNetwork` (transfer_network.py): register this
fake there (`network.register("binance", fake, ...)`), which sets `fake.wallet`.

Wire facts (developers.binance.com, Wallet > Capital): withdraw/apply answers `{"id"}` only;
the client reference is `withdrawOrderId`, and withdraw/history filters by it and echoes it;
withdrawal statuses 0 email sent, 2 awaiting approval, 4 processing, 6 completed; deposit
statuses 0 pending, 1 success; times in the history are "YYYY-MM-DD HH:MM:SS" UTC (applyTime)
and ms (insertTime). The network ids are Binance's ("ETH" for ERC20, "TRX" for TRC20). The fee
is taken out of the amount asked for (FeeMode.INSIDE).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.binance_usdm import API_KEY, API_SECRET, ApiError, _Handler, _missing
from tests.fakes.cex_state import CexAccountState, FaultKind, RejectReason, VenueRejection
from tests.fakes.http_fake import FakeServer
from tests.fakes.transfer_network import Deposit, VenueWallet, Withdrawal

# Binance network id -> the network's canonical name in the TransferNetwork (and back)
NETWORKS = {"ETH": "ERC20", "TRX": "TRC20", "BSC": "BEP20", "ARBITRUM": "ARBONE"}
WIRE_NETWORK = {canonical: wire for wire, canonical in NETWORKS.items()}
WITHDRAW_STATUS = {"processing": 4, "completed": 6}
DEPOSIT_STATUS = {"pending": 0, "credited": 1}
# capital refusals (Binance answers HTTP 400 with its own code)
REJECTIONS: dict[RejectReason, tuple[int, int, str]] = {
    RejectReason.INSUFFICIENT_MARGIN: (400, -4026, "You have insufficient balance."),
    RejectReason.INVALID_QUANTITY: (400, -4022, "Not less than the minimum pick-up quantity 2."),
    RejectReason.UNKNOWN_SYMBOL: (400, -4018, "We don't have this asset."),
}


class BinanceCapitalFake(FakeServer):
    """The /sapi/v1/capital server; `state` is the USDⓈ-M fake's account (one wallet)."""

    wallet: VenueWallet

    def __init__(
        self, state: CexAccountState, api_key: str = API_KEY, api_secret: str = API_SECRET
    ) -> None:
        super().__init__(state)
        self.api_key, self.api_secret = api_key, api_secret


class _CapitalHandler(_Handler):
    """Binance's plumbing (signature, faults, error bodies) with the capital routes."""

    fake: BinanceCapitalFake  # type: ignore[assignment]

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        key = f"{method} {url.path}"
        self.fake.requests.append((method, url.path, url.query or body))
        fault = self.fake.state.take_fault(key)
        if fault is not None and self._pre_fault(fault):
            return
        try:
            route = ROUTES.get(key)
            if route is None:
                raise ApiError(404, -5000, f"Path {url.path} not found")
            params = dict(parse_qsl(url.query)) | dict(parse_qsl(body))
            self._check_signed(url.query, body, params)
            answer = route(self, params)
        except ApiError as err:
            self._send(err.status, {"code": err.code, "msg": err.msg})
            return
        except VenueRejection as rej:
            status, code, msg = REJECTIONS[rej.reason]
            self._send(status, {"code": code, "msg": msg})
            return
        if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
            self._lose(fault)
            return
        self._send(200, answer)


def _require(params: dict[str, str], name: str) -> str:
    if not params.get(name):
        raise ApiError(*_missing(name))
    return params[name]


def _canonical(network: str) -> str:
    if network not in NETWORKS:
        raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, network)
    return NETWORKS[network]


def _withdraw(h: _CapitalHandler, params: dict[str, str]) -> dict[str, Any]:
    coin, address = _require(params, "coin"), _require(params, "address")
    try:
        amount = Decimal(_require(params, "amount"))
    except InvalidOperation:
        raise ApiError(*_missing("amount")) from None
    network = _canonical(params.get("network", "ETH"))
    made = h.fake.wallet.withdraw(coin, network, address, amount, params.get("withdrawOrderId"))
    return {"id": made.withdrawal_id}


def _in_window(time_ms: int, params: dict[str, str]) -> bool:
    start, end = params.get("startTime"), params.get("endTime")
    return (start is None or time_ms >= int(start)) and (end is None or time_ms <= int(end))


def _withdraw_history(h: _CapitalHandler, params: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for made, now in reversed(h.fake.wallet.withdrawals_now()):  # newest first, as Binance
        if params.get("coin") not in (None, made.coin) or not _in_window(made.created_ms, params):
            continue
        if params.get("withdrawOrderId") not in (None, made.client_ref):
            continue
        rows.append(_withdrawal_json(made, now))
    return rows[: int(params.get("limit", 1000))]


def _utc_text(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _withdrawal_json(made: Withdrawal, now: int) -> dict[str, Any]:
    status = made.status(now)
    row: dict[str, Any] = {
        "id": made.withdrawal_id,
        "amount": f"{made.amount:.8f}",
        "transactionFee": f"{made.fee:.8f}",
        "coin": made.coin,
        "status": WITHDRAW_STATUS[status],
        "address": made.address,
        "txId": made.txid_at(now),
        "applyTime": _utc_text(made.created_ms),
        "network": WIRE_NETWORK[made.network],
        "transferType": 0,
        "info": "",
        "confirmNo": 12 if status == "completed" else 0,
        "walletType": 0,
        "txKey": "",
    }
    if made.client_ref:
        row["withdrawOrderId"] = made.client_ref  # "not returned if there's no withdrawOrderId"
    if status == "completed":
        row["completeTime"] = _utc_text(made.broadcast_ms)
    return row


def _deposit_history(h: _CapitalHandler, params: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for deposit, now in reversed(h.fake.wallet.deposits_now()):
        if params.get("coin") not in (None, deposit.coin):
            continue
        if not _in_window(deposit.seen_ms, params):
            continue
        row = _deposit_json(deposit, now)
        if params.get("status") not in (None, str(row["status"])):
            continue
        rows.append(row)
    return rows[: int(params.get("limit", 1000))]


def _deposit_json(deposit: Deposit, now: int) -> dict[str, Any]:
    credited = deposit.status(now) == "credited"
    return {
        "id": deposit.deposit_id,
        "amount": f"{deposit.amount:.8f}",
        "coin": deposit.coin,
        "network": WIRE_NETWORK[deposit.network],
        "status": DEPOSIT_STATUS[deposit.status(now)],
        "address": deposit.address,
        "addressTag": "",
        "txId": deposit.txid,
        "insertTime": deposit.seen_ms,
        "transferType": 0,
        "confirmTimes": "12/12" if credited else "1/12",
        "unlockConfirm": 0,
        "walletType": 0,
    }


def _deposit_address(h: _CapitalHandler, params: dict[str, str]) -> dict[str, Any]:
    coin = _require(params, "coin")
    network = _canonical(params.get("network", "ETH"))
    address = h.fake.wallet.deposit_address(coin, network)
    return {"coin": coin, "address": address, "tag": "",
            "url": f"https://etherscan.io/address/{address}"}  # fmt: skip


ROUTES = {
    "POST /sapi/v1/capital/withdraw/apply": _withdraw,
    "GET /sapi/v1/capital/withdraw/history": _withdraw_history,
    "GET /sapi/v1/capital/deposit/hisrec": _deposit_history,
    "GET /sapi/v1/capital/deposit/address": _deposit_address,
}

BinanceCapitalFake.handler = _CapitalHandler
