"""A local fake of OKX v5 REST (USDT-margined SWAP perps) on 127.0.0.1, for ccxt's real client.

Why: OKX's demo trading needs the internet; this server speaks the v5 wire format (paths,
base64 HMAC-SHA256 `OK-ACCESS-SIGN` over timestamp + method + path + body, passphrase, the
`{"code","msg","data"}` envelope, per-order `sCode`s, OKX's error codes) and books into the
venue-neutral `CexAccountState`, so ccxt's signing, request building, parsing, contract-size
handling and error mapping all run for real. Sizes on the wire are in contracts (`sz`,
`fillSz`, `pos`); the state books base units (contracts × `ctVal`). The account is in net
(one-way) position mode, cross margin by default. Faults queued in the state are applied per
endpoint key, e.g. "POST /api/v5/trade/batch-orders" (ccxt's default route for create_order).

Usage:
    with OkxV5Fake() as fake:
        client = okx_client(fake)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
from tests.fakes.ccxt_client import rewrite_urls
from tests.fakes.cex_state import (
    CexAccountState,
    Fault,
    FaultKind,
    Fill,
    Order,
    OrderStatus,
    RejectReason,
    VenueRejection,
)
from tests.fakes.http_fake import FakeServer, QuietHandler

API_KEY = "fake-okx-key"
API_SECRET = "fake-okx-secret"
PASSPHRASE = "fake-okx-passphrase"
TIMESTAMP_WINDOW_MS = 30_000  # OKX refuses requests whose timestamp is 30 s off its clock
ZERO = Decimal(0)

# OKX v5 error codes and texts (okx.com/docs-v5 "Error Code"), as (HTTP status, code, msg).
KEY_MISSING = (401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.')
TIMESTAMP_EXPIRED = (401, "50102", "Timestamp request expired")
PASSPHRASE_WRONG = (401, "50105", "Invalid OK-ACCESS-PASSPHRASE")
KEY_INVALID = (401, "50111", "Invalid OK-ACCESS-KEY")
TIMESTAMP_INVALID = (401, "50112", "Invalid OK-ACCESS-TIMESTAMP")
SIGN_INVALID = (401, "50113", "Invalid Sign")
TOO_MANY_REQUESTS = ("50011", "Too Many Requests")
SERVICE_UNAVAILABLE = ("50001", "Service temporarily unavailable. Please try again later.")
# Refusals: OKX answers HTTP 200 with a non-zero code (order routes put it in data[].sCode).
REJECTIONS: dict[RejectReason, tuple[str, str]] = {
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: ("51016", "Duplicated clOrdId"),
    RejectReason.INSUFFICIENT_MARGIN: (
        "51008",
        "Order failed. Insufficient USDT margin in account",
    ),
    RejectReason.UNKNOWN_SYMBOL: ("51001", "Instrument ID does not exist"),
    RejectReason.UNKNOWN_ORDER: ("51603", "Order does not exist"),
    RejectReason.INVALID_QUANTITY: ("51000", "Parameter sz error"),
    RejectReason.REDUCE_ONLY_REJECTED: (
        "51169",
        "Order failed because you don't have any positions in this direction for this "
        "contract to reduce or close.",
    ),
}
LOT_SIZE = ("51121", "Order quantity must be a multiple of the lot size.")
CLIENT_ID_RULE = re.compile(r"^[A-Za-z0-9]{1,32}$")  # OKX: alphanumerics, at most 32

# Static instrument facts as OKX lists them (ctVal in base units per contract).
INSTRUMENT_SPECS: dict[str, dict[str, str]] = {
    "BTC-USDT-SWAP": {"ctVal": "0.01", "lotSz": "0.01", "minSz": "0.01", "tickSz": "0.1"},
    "ETH-USDT-SWAP": {"ctVal": "0.1", "lotSz": "0.01", "minSz": "0.01", "tickSz": "0.01"},
    "LTC-USDT-SWAP": {"ctVal": "1", "lotSz": "0.01", "minSz": "0.01", "tickSz": "0.01"},
}
LIST_TIME_MS = "1611916828000"
STATES = {
    OrderStatus.NEW: "live",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "canceled",
}


def _s(value: Decimal | int) -> str:
    """OKX sends numbers as plain decimal strings without exponent or trailing zeros."""
    if isinstance(value, int):
        return str(value)
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


class ApiError(Exception):
    """A top-level error answer: HTTP status, OKX code and message (data is empty)."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class OkxV5Fake(FakeServer):
    """The OkxV5 HTTP server plus the account it serves (`FakeServer`)."""

    def __init__(
        self,
        state: CexAccountState | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        passphrase: str = PASSPHRASE,
    ) -> None:
        super().__init__(state or default_state())
        self.api_key, self.api_secret, self.passphrase = api_key, api_secret, passphrase

    def contract_value(self, inst_id: str) -> Decimal:
        """Base units per contract (OKX's ctVal)."""
        return Decimal(INSTRUMENT_SPECS[inst_id]["ctVal"])


def default_state() -> CexAccountState:
    """10 000 USDT, BTC-USDT-SWAP at 60 000 and ETH-USDT-SWAP at 3 000, funding 0.01 %.

    `qty_step_base` is lotSz × ctVal, so partial fills stay whole lots on the wire.
    """
    state = CexAccountState(wallet_balance_quote=Decimal(10_000))
    next_ms = (int(time.time() * 1000) // 28_800_000 + 1) * 28_800_000
    for inst_id, mark, maint in (
        ("BTC-USDT-SWAP", Decimal(60_000), Decimal("0.004")),
        ("ETH-USDT-SWAP", Decimal(3_000), Decimal("0.005")),
    ):
        spec = INSTRUMENT_SPECS[inst_id]
        state.add_symbol(
            inst_id,
            mark,
            funding_rate=Decimal("0.0001"),
            next_funding_ms=next_ms,
            maint_margin_rate=maint,
            qty_step_base=Decimal(spec["lotSz"]) * Decimal(spec["ctVal"]),
        )
    return state


def okx_client(
    fake: OkxV5Fake,
    api_key: str = API_KEY,
    secret: str = API_SECRET,
    password: str = PASSPHRASE,
    timeout_ms: int = 3_000,
    enable_rate_limit: bool = False,
) -> ccxt.okx:
    """A sync ccxt okx client talking only to `fake`.

    OKX's URL is "https://{hostname}" and its error map does not depend on the host, so the
    rewrite alone suffices (no subclass, unlike binanceusdm). Markets are limited to SWAP and
    `fetchCurrencies` is off: with a key ccxt would call /api/v5/asset/currencies during
    load_markets. `defaultType` swap keeps fetch_balance / fetch_my_trades on the trading
    account and SWAP instruments.
    """
    client = ccxt.okx(
        {
            "apiKey": api_key,
            "secret": secret,
            "password": password,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
            "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"},
        }
    )
    mapping: dict[str, str] = {}
    client.urls["api"] = rewrite_urls(client.urls["api"], fake.base_url, mapping)
    client.urls["test"] = rewrite_urls(client.urls["test"], fake.base_url, mapping)
    client.has["fetchCurrencies"] = False
    return client


Route = Callable[["_Handler", Any], Any]


class _Handler(QuietHandler):
    """Routes one request: auth check, fault, then the endpoint's answer in the envelope."""

    fake: OkxV5Fake
    fill_fault: Fault | None = None  # a PARTIAL_FILL fault for this request's orders

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # -- plumbing ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        key = f"{method} {url.path}"
        self.fake.requests.append((method, url.path, url.query or body))
        route = ROUTES.get(key)
        fault = self.fake.state.take_fault(key)
        if fault is not None and self._pre_fault(fault):
            return
        try:
            if route is None:
                raise ApiError(404, "404", "Not Found")
            fn, private = route
            if private:
                self._check_auth(method, self.path, body)
            params: Any = json.loads(body) if body else dict(parse_qsl(url.query))
            self.fill_fault = fault if fault and fault.kind is FaultKind.PARTIAL_FILL else None
            answer = fn(self, params)
        except ApiError as err:
            self._send(err.status, {"code": err.code, "data": [], "msg": err.msg})
            return
        except VenueRejection as rej:
            asset_api = url.path.startswith("/api/v5/asset/")
            code, msg = (WITHDRAW_REJECTIONS if asset_api else REJECTIONS)[rej.reason]
            self._send(200, {"code": code, "data": [], "msg": msg})
            return
        if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
            self._lose(fault)
            return
        enveloped = isinstance(answer, dict) and "code" in answer  # order routes set their own
        self._send(200, answer if enveloped else {"code": "0", "data": answer, "msg": ""})

    def _pre_fault(self, fault: Fault) -> bool:
        """Apply a fault that acts before the request is handled; True when answered."""
        if fault.kind is FaultKind.DELAY:
            self.fake.stopping.wait(fault.delay_s)
            return False
        if fault.kind is not FaultKind.HTTP_ERROR:
            return False
        status = fault.status or 500
        headers = {}
        if fault.retry_after_s is not None:
            headers["Retry-After"] = str(fault.retry_after_s)
        if status == 429:
            code, msg = TOO_MANY_REQUESTS
        elif status == 503:  # OKX's own "try again later" answer, in JSON
            code, msg = SERVICE_UNAVAILABLE
        else:  # a gateway in front of it answers in HTML
            self._send(status, f"<html><body><h1>{status} Server Error</h1></body></html>")
            return True
        self._send(status, {"code": code, "data": [], "msg": msg}, headers)
        return True

    def _lose(self, fault: Fault) -> None:
        """The request took effect; the client gets a cut connection or a gateway error."""
        if fault.status is None:
            self.close_connection = True
            return
        self._send(fault.status, "<html><body><h1>502 Bad Gateway</h1></body></html>")

    def _check_auth(self, method: str, request_path: str, body: str) -> None:
        """Key, passphrase, timestamp within 30 s, then base64 HMAC-SHA256 of the prehash.

        The prehash is timestamp + METHOD + request path with its query + body, as OKX signs.
        """
        key = self.headers.get("OK-ACCESS-KEY")
        if not key:
            raise ApiError(*KEY_MISSING)
        if key != self.fake.api_key:
            raise ApiError(*KEY_INVALID)
        if self.headers.get("OK-ACCESS-PASSPHRASE") != self.fake.passphrase:
            raise ApiError(*PASSPHRASE_WRONG)
        stamp = self.headers.get("OK-ACCESS-TIMESTAMP") or ""
        try:
            sent = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(*TIMESTAMP_INVALID) from None
        if abs(time.time() * 1000 - sent.timestamp() * 1000) > TIMESTAMP_WINDOW_MS:
            raise ApiError(*TIMESTAMP_EXPIRED)
        prehash = stamp + method + request_path + body
        digest = hmac.new(self.fake.api_secret.encode(), prehash.encode(), hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        if not hmac.compare_digest(expected, self.headers.get("OK-ACCESS-SIGN") or ""):
            raise ApiError(*SIGN_INVALID)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        data = raw.encode()
        try:
            self.send_response(status)
            ctype = "text/html" if isinstance(payload, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout fault): nothing to tell it
            self.close_connection = True


def _fields(spec: str) -> dict[str, Any]:
    """Constant string fields as OKX sends them: space-separated "name=value" ("name=" is "").

    Why: OKX answers carry dozens of fields irrelevant to a USDT perp account; listing them
    keeps the key sets equal to the real answers (checked against ccxt's recordings).
    """
    return dict(item.split("=", 1) for item in spec.split())


def _require(params: dict[str, Any], name: str) -> str:
    if params.get(name) in (None, ""):
        raise ApiError(200, "50014", f"Parameter {name} can not be empty")
    return str(params[name])


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- public endpoints -----------------------------------------------------------------------

INSTRUMENT_STATIC = _fields(
    "alias= auctionEndTime= baseCcy= category=1 ctMult=1 ctType=linear expTime= "
    f"instType=SWAP lever=100 listTime={LIST_TIME_MS} contTdSwTime={LIST_TIME_MS} "
    "maxIcebergSz=100000000 maxLmtAmt=20000000 maxLmtSz=100000000 maxMktAmt= maxMktSz=12000 "
    "maxStopSz=12000 maxTriggerSz=100000000 maxTwapSz=100000000 openType= optType= quoteCcy= "
    "ruleType=normal settleCcy=USDT state=live stk="
)


def _instruments(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    if params.get("instType") != "SWAP":
        return []  # the fake lists perps only; other types are empty as for a new venue
    answer = []
    for code, inst_id in enumerate(s for s in h.fake.state.symbols if s in INSTRUMENT_SPECS):
        base = inst_id.split("-")[0]
        answer.append(
            INSTRUMENT_STATIC
            | INSTRUMENT_SPECS[inst_id]
            | {"ctValCcy": base, "futureSettlement": False, "instFamily": f"{base}-USDT"}
            | {"instId": inst_id, "instIdCode": 10_000 + code, "uly": f"{base}-USDT"}
        )
    return answer


def _time(h: _Handler, params: dict[str, str]) -> list[dict[str, str]]:
    return [{"ts": _s(_now_ms())}]


def _funding_rate(h: _Handler, params: dict[str, str]) -> list[dict[str, str]]:
    """`fundingTime` is the next settlement, at which `fundingRate` will be paid (OKX)."""
    inst_id = _require(params, "instId")
    market = h.fake.state.symbol_state(inst_id)
    static = _fields(
        "formulaType=withRate impactValue=20000 instType=SWAP interestRate=0.0001 "
        "maxFundingRate=0.00375 method=current_period minFundingRate=-0.00375 "
        "nextFundingRate= premium=0.0001 settState=settled"
    )
    return [
        static
        | {"fundingRate": _s(market.funding_rate), "fundingTime": _s(market.next_funding_ms)}
        | {"instId": inst_id, "nextFundingTime": _s(market.next_funding_ms + 28_800_000)}
        | {"settFundingRate": _s(market.funding_rate), "ts": _s(_now_ms())}
    ]


def _mark_price(h: _Handler, params: dict[str, str]) -> list[dict[str, str]]:
    """The swap's mark price (OKX docs, public data: get mark price; ccxt `fetch_mark_price`)."""
    inst_id = _require(params, "instId")
    market = h.fake.state.symbol_state(inst_id)
    return [{"instId": inst_id, "instType": "SWAP", "markPx": _s(market.mark_price),
             "ts": _s(_now_ms())}]  # fmt: skip


# -- account --------------------------------------------------------------------------------


def _config(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """Single-currency margin account (acctLv 2) in net (one-way) position mode."""
    static = _fields(
        "acctLv=2 acctStpMode=cancel_maker ctIsoMode=automatic greeksType=PA ip= kycLv=2 "
        "label=fake level=Lv1 levelTmp= liquidationGear=-1 mainUid=44705892343619584 "
        "mgnIsoMode=automatic opAuth=1 perm=read_only,trade posMode=net_mode roleType=0 "
        "spotOffsetType= spotRoleType=0 type=0 uid=44705892343619584"
    )
    flags = {"autoLoan": False, "enableSpotBorrow": False, "spotBorrowAutoRepay": False}
    return [static | flags | {"spotTraderInsts": [], "traderInsts": []}]


def _set_leverage(h: _Handler, params: dict[str, Any]) -> list[dict[str, str]]:
    inst_id, mode = _require(params, "instId"), _require(params, "mgnMode")
    lever = int(_require(params, "lever"))
    if mode not in ("cross", "isolated"):
        raise ApiError(200, "51000", "Parameter mgnMode error")
    if not 1 <= lever <= 100:  # ccxt checks 1..125; these perps' maximum is 100
        raise ApiError(200, "51000", "Parameter lever error")
    h.fake.state.set_leverage(inst_id, lever)
    h.fake.state.set_margin_mode(inst_id, mode)
    return [{"instId": inst_id, "lever": str(lever), "mgnMode": mode, "posSide": "net"}]


def _balance(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """Trading account: eq = wallet + upl, availEq = what new orders may use, imr = margin."""
    state = h.fake.state
    open_ids = [s for s in state.positions if state.position(s).size_base != 0]
    imr = sum((state.initial_margin_quote(s) for s in open_ids), ZERO)
    mmr = sum((state.maint_margin_quote(s) for s in open_ids), ZERO)
    upl = sum((state.unrealized_pnl_quote(s) for s in open_ids), ZERO)
    eq, avail = state.margin_balance_quote(), state.available_balance_quote()
    notional = sum(
        (abs(state.position(s).size_base) * state.symbols[s].mark_price for s in open_ids), ZERO
    )
    common = {"imr": _s(imr), "mmr": _s(mmr), "mgnRatio": _s(eq / mmr) if mmr else ""}
    common |= {"availEq": _s(avail), "upl": _s(upl), "uTime": _s(_now_ms())}
    detail = _fields(
        "accAvgPx= clSpotInUseAmt= maxSpotInUse= openAvgPx= rewardBal= spotBal= spotInUseAmt= "
        "spotUpl= spotUplRatio= totalPnl= totalPnlRatio= borrowFroz=0 colBorrAutoConversion=0 "
        "crossLiab=0 fixedBal=0 interest=0 isoEq=0 isoLiab=0 isoUpl=0 liab=0 maxLoan=0 "
        "ordFrozen=0 smtSyncEq=0 spotCopyTradingEq=0 spotIsoBal=0 stgyEq=0 twap=0 uplLiab=0 "
        "ccy=USDT"
    )
    detail |= common | {"collateralEnabled": False, "collateralRestrict": False}
    detail |= {"availBal": _s(avail), "cashBal": _s(state.wallet_balance_quote)}
    detail |= {"disEq": _s(eq), "eq": _s(eq), "eqUsd": _s(eq), "frozenBal": _s(imr)}
    detail["notionalLever"] = _s(notional / eq) if eq else "0"
    account = _fields(
        "borrowFroz=0 isoEq=0 notionalUsdForBorrow=0 notionalUsdForFutures=0 "
        "notionalUsdForOption=0 ordFroz=0"
    )
    account |= common | {"adjEq": _s(eq), "totalEq": _s(eq), "details": [detail]}
    return [account | {"notionalUsd": _s(notional), "notionalUsdForSwap": _s(notional)}]


def _positions(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """Open positions only (OKX omits flat ones); `instId` may list several, comma-separated."""
    state = h.fake.state
    wanted = params["instId"].split(",") if params.get("instId") else list(state.positions)
    for inst_id in wanted:
        state.symbol_state(inst_id)  # unknown instId → 51001, as OKX answers
    return [_position_json(h.fake, s) for s in wanted if state.position(s).size_base != 0]


POSITION_STATIC = _fields(
    "baseBal= baseBorrowed= baseInterest= bizRefId= bizRefType= clSpotInUseAmt= deltaBS= "
    "deltaPA= gammaBS= gammaPA= interest= liab= liabCcy= maxSpotInUseAmt= optVal= "
    "pendingCloseOrdLiabVal= posCcy= quoteBal= quoteBorrowed= quoteInterest= spotInUseAmt= "
    "spotInUseCcy= thetaBS= thetaPA= usdPx= vegaBS= vegaPA= adl=1 ccy=USDT instType=SWAP "
    "liqPenalty=0 posSide=net"
)


def _position_json(fake: OkxV5Fake, inst_id: str) -> dict[str, Any]:
    """Net mode: `pos` is signed contracts; fee/pnl/funding are over the symbol's history."""
    state = fake.state
    pos, market = state.position(inst_id), state.symbol_state(inst_id)
    contracts = pos.size_base / fake.contract_value(inst_id)
    isolated = pos.margin_mode == "isolated"
    initial, upl = state.initial_margin_quote(inst_id), state.unrealized_pnl_quote(inst_id)
    maint = state.maint_margin_quote(inst_id)
    fills = state.fills_for(inst_id)  # the fake does not track position lifetimes: all fills
    fee = -sum((f.fee_quote for f in fills), ZERO)
    closed_pnl = sum((f.realized_pnl_quote for f in fills), ZERO)
    funding = sum((p.amount_quote for p in state.funding_payments if p.symbol == inst_id), ZERO)
    liq, mark, upl_ratio = _liquidation_price(state, inst_id), market.mark_price, ZERO
    if initial:
        upl_ratio = upl / initial
    answer = POSITION_STATIC | {"closeOrderAlgo": [], "instId": inst_id, "lever": _s(pos.leverage)}
    answer |= {
        "avgPx": _s(pos.entry_price),
        "bePx": _s(pos.entry_price),
        "mgnMode": pos.margin_mode,
    }
    answer |= {"cTime": _s(pos.updated_ms), "uTime": _s(pos.updated_ms), "pos": _s(contracts)}
    answer |= {"availPos": _s(abs(contracts)) if isolated else "", "liqPx": _s(liq) if liq else ""}
    answer |= {"imr": "" if isolated else _s(initial), "margin": _s(initial) if isolated else ""}
    answer |= {"idxPx": _s(mark), "last": _s(mark), "markPx": _s(mark), "mmr": _s(maint)}
    answer |= {"mgnRatio": _s(state.margin_balance_quote() / maint) if maint else ""}
    answer |= {"notionalUsd": _s(abs(pos.size_base) * mark), "upl": _s(upl), "uplLastPx": _s(upl)}
    answer |= {"uplRatio": _s(upl_ratio), "uplRatioLastPx": _s(upl_ratio)}
    answer |= {"fee": _s(fee), "fundingFee": _s(funding), "pnl": _s(closed_pnl)}
    answer |= {"realizedPnl": _s(closed_pnl + fee + funding)}
    index = list(state.symbols).index(inst_id)
    answer |= {"posId": _s(700_000_000 + index), "tradeId": _s(fills[-1].trade_id) if fills else ""}
    return answer


def _liquidation_price(state: CexAccountState, inst_id: str) -> Decimal:
    """Cross, one position: the mark at which margin balance equals maintenance margin."""
    pos, rate = state.position(inst_id), state.symbol_state(inst_id).maint_margin_rate
    others = state.margin_balance_quote() - state.unrealized_pnl_quote(inst_id)
    size = pos.size_base
    denominator = size - abs(size) * rate
    price = (size * pos.entry_price - others) / denominator if denominator else ZERO
    return max(price, ZERO).quantize(Decimal("0.01"))


BILL_STATIC = _fields(
    "clOrdId= execType= fillFwdPx= fillIdxPx= fillMarkPx= fillMarkVol= fillPxUsd= fillPxVol= "
    "fillTime= from= notes= ordId= tag= to= tradeId= ccy=USDT fee=0 instType=SWAP interest=0 "
    "mgnMode=cross posBal=0 posBalChg=0 type=8"
)


def _bills(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """Funding-fee bills (type 8), newest first; other bill types are not modelled (empty).

    `bal` is the wallet right after the payment: today's wallet less every later booking
    (trades and payments share one id sequence, so "later" is "larger id"). Wrong only after
    a liquidation floored the wallet at zero. `sz` is today's position, not the one paid on.
    """
    if params.get("type", "8") != "8" or params.get("instType", "SWAP") != "SWAP":
        return []
    state = h.fake.state
    answer = []
    for p in reversed(state.funding_payments):
        if params.get("instId") not in (None, p.symbol):
            continue
        later = sum(
            (f.realized_pnl_quote - f.fee_quote for f in state.fills if f.trade_id > p.payment_id),
            ZERO,
        )
        later += sum(
            (q.amount_quote for q in state.funding_payments if q.payment_id > p.payment_id), ZERO
        )
        size = state.position(p.symbol).size_base / h.fake.contract_value(p.symbol)
        bill = BILL_STATIC | {"bal": _s(state.wallet_balance_quote - later)}
        bill |= {"balChg": _s(p.amount_quote), "pnl": _s(p.amount_quote), "ts": _s(p.time_ms)}
        bill |= {"billId": _s(p.payment_id), "instId": p.symbol, "sz": _s(abs(size))}
        bill |= {"px": _s(state.symbols[p.symbol].mark_price)}
        answer.append(bill | {"subType": "174" if p.amount_quote > 0 else "173"})
    return answer[: int(params.get("limit", 100))]


# -- trading --------------------------------------------------------------------------------


def _place_one(h: _Handler, request: dict[str, Any]) -> dict[str, str]:
    """One order of /trade/order or /trade/batch-orders; refusals become sCode answers."""
    client_id, tag = str(request.get("clOrdId") or ""), str(request.get("tag") or "")
    answer = {"clOrdId": client_id, "ordId": "", "sCode": "0", "sMsg": "Order placed", "tag": tag}
    try:
        answer["ordId"] = _s(_place(h, request, client_id).venue_order_id)
    except VenueRejection as rej:
        answer["sCode"], answer["sMsg"] = REJECTIONS[rej.reason]
    except ApiError as err:
        answer["sCode"], answer["sMsg"] = err.code, err.msg
    return answer | {"ts": _s(_now_ms())}


def _place(h: _Handler, request: dict[str, Any], client_id: str) -> Order:
    inst_id = _require(request, "instId")
    spec = INSTRUMENT_SPECS.get(inst_id)
    if spec is None or inst_id not in h.fake.state.symbols:
        raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, inst_id)
    side = _require(request, "side")
    if side not in ("buy", "sell"):
        raise ApiError(200, "51000", "Parameter side error")
    if _require(request, "ordType") != "market":  # the fake fills market orders only
        raise ApiError(200, "51000", "Parameter ordType error")
    if _require(request, "tdMode") not in ("cross", "isolated"):
        raise ApiError(200, "51000", "Parameter tdMode error")
    if request.get("posSide") not in (None, "", "net"):  # long/short need long_short_mode
        raise ApiError(200, "51000", "Parameter posSide error")
    if not CLIENT_ID_RULE.match(client_id):
        raise ApiError(200, "51000", "Parameter clOrdId error")
    contracts = Decimal(_require(request, "sz"))
    if contracts < Decimal(spec["minSz"]) or contracts % Decimal(spec["lotSz"]):
        raise ApiError(200, *LOT_SIZE)
    return h.fake.state.place_market_order(
        inst_id,
        side.upper(),
        contracts * Decimal(spec["ctVal"]),
        client_id,
        reduce_only=request.get("reduceOnly") in (True, "true"),
        fault=h.fill_fault,
    )


def _order(h: _Handler, params: dict[str, Any]) -> dict[str, Any]:
    """POST /trade/order: code "1", msg "Operation failed." when refused (µs in/out times)."""
    in_us = time.time_ns() // 1000
    answer = _place_one(h, params)
    times = {"inTime": _s(in_us), "outTime": _s(time.time_ns() // 1000)}
    if answer["sCode"] == "0":
        return {"code": "0", "data": [answer], "msg": ""} | times
    return {"code": "1", "data": [answer], "msg": "Operation failed."} | times


def _batch_orders(h: _Handler, params: list[dict[str, Any]]) -> dict[str, Any]:
    """POST /trade/batch-orders: code 0 all placed, 1 none, 2 some (ccxt sends a list of one)."""
    in_us = time.time_ns() // 1000
    answers = [_place_one(h, request) for request in params]
    failed = sum(a["sCode"] != "0" for a in answers)
    code = "0" if not failed else ("1" if failed == len(answers) else "2")
    times = {"inTime": _s(in_us), "outTime": _s(time.time_ns() // 1000)}
    msg = "All operations failed" if code == "1" else ""
    return {"code": code, "data": answers, "msg": msg} | times


def _get_order(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    inst_id = _require(params, "instId")
    h.fake.state.symbol_state(inst_id)
    if not params.get("ordId") and not params.get("clOrdId"):
        raise ApiError(200, "51003", "Either client order ID or order ID is required.")
    venue_id = int(params["ordId"]) if params.get("ordId") else None
    order = h.fake.state.find_order(venue_id, params.get("clOrdId"))
    if order.symbol != inst_id:
        raise VenueRejection(RejectReason.UNKNOWN_ORDER, inst_id)
    return [_order_json(h.fake, order)]


ORDER_STATIC = _fields(
    "algoClOrdId= algoId= attachAlgoClOrdId= cancelSource= cancelSourceReason= ccy= px= pxType= "
    "pxUsd= pxVol= quickMgnType= slOrdPx= slTriggerPx= slTriggerPxType= source= stpId= tag= "
    "tgtCcy= tpOrdPx= tpTriggerPx= tpTriggerPxType= feeCcy=USDT instType=SWAP isTpLimit=false "
    "ordType=market posSide=net rebate=0 rebateCcy=USDT stpMode=cancel_maker"
)


def _order_json(fake: OkxV5Fake, order: Order) -> dict[str, Any]:
    """Liquidation orders carry category full_liquidation and no clOrdId, as OKX's do."""
    ct_val, state = fake.contract_value(order.symbol), fake.state
    fills = [f for f in state.fills_for(order.symbol) if f.venue_order_id == order.venue_order_id]
    last: Fill | None = fills[-1] if fills else None
    liquidation = order.client_order_id.startswith("autoclose-")
    position = state.position(order.symbol)
    answer = ORDER_STATIC | {"attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""}}
    answer |= {"accFillSz": _s(order.filled_qty_base / ct_val), "sz": _s(order.qty_base / ct_val)}
    answer |= {"avgPx": _s(order.avg_price) if fills else "", "state": STATES[order.status]}
    answer |= {"cTime": _s(order.created_ms), "uTime": _s(order.updated_ms)}
    answer |= {"category": "full_liquidation" if liquidation else "normal"}
    answer |= {"clOrdId": "" if liquidation else order.client_order_id}
    answer |= {"fee": _s(-sum((f.fee_quote for f in fills), ZERO))}
    answer |= {"pnl": _s(sum((f.realized_pnl_quote for f in fills), ZERO))}
    answer |= {
        "fillPx": _s(last.price) if last else "",
        "fillTime": _s(last.time_ms) if last else "",
    }
    answer |= {"fillSz": _s(last.qty_base / ct_val) if last else "0"}
    answer |= {"tradeId": _s(last.trade_id) if last else ""}
    answer |= {"instId": order.symbol, "ordId": _s(order.venue_order_id)}
    answer |= {"lever": _s(position.leverage), "tdMode": position.margin_mode}
    answer |= {"reduceOnly": "true" if order.reduce_only else "false", "side": order.side.lower()}
    return answer


FILL_STATIC = _fields(
    "fillFwdPx= fillIdxPx= fillMarkVol= fillPxUsd= fillPxVol= tag= subType= execType=T "
    "feeCcy=USDT instType=SWAP posSide=net"
)


def _fills(h: _Handler, params: dict[str, str]) -> list[dict[str, Any]]:
    """Newest first, as OKX lists them; filters instId / ordId; `limit` newest (default 100)."""
    state = h.fake.state
    if params.get("instType", "SWAP") != "SWAP":
        return []
    fills = [f for f in state.fills if params.get("instId") in (None, f.symbol)]
    if params.get("ordId"):
        fills = [f for f in fills if f.venue_order_id == int(params["ordId"])]
    answer = []
    for f in reversed(fills[-int(params.get("limit", 100)) :]):
        client_id = state.find_order(f.venue_order_id, None).client_order_id
        row = FILL_STATIC | {"billId": _s(f.trade_id + 1_000_000_000), "tradeId": _s(f.trade_id)}
        row |= {"clOrdId": "" if client_id.startswith("autoclose-") else client_id}
        row |= {"fee": _s(-f.fee_quote), "feeRate": _s(-state.taker_fee_rate)}
        row |= {
            "fillPx": _s(f.price),
            "fillMarkPx": _s(f.price),
            "fillPnl": _s(f.realized_pnl_quote),
        }
        row |= {"fillSz": _s(f.qty_base / h.fake.contract_value(f.symbol))}
        row |= {"fillTime": _s(f.time_ms), "ts": _s(f.time_ms), "instId": f.symbol}
        answer.append(row | {"ordId": _s(f.venue_order_id), "side": f.side.lower()})
    return answer


# -- wallet: withdrawals and deposits (transfer_network.py sets `fake.wallet`) --------------

# OKX chain "USDT-ERC20" -> the network's canonical name in the TransferNetwork
CHAIN_NETWORKS = {"ERC20": "ERC20", "TRC20": "TRC20", "Arbitrum One": "ARBONE"}
WIRE_CHAIN = {canonical: wire for wire, canonical in CHAIN_NETWORKS.items()}
WITHDRAW_STATE = {"processing": "1", "completed": "2"}  # 1 withdrawing, 2 success
DEPOSIT_STATE = {"pending": "0", "credited": "2"}  # 0 waiting for confirmation, 2 successful
WITHDRAW_REJECTIONS: dict[RejectReason, tuple[str, str]] = {
    RejectReason.INSUFFICIENT_MARGIN: ("58350", "Insufficient balance"),
    RejectReason.INVALID_QUANTITY: ("51000", "Parameter amt error"),
    RejectReason.UNKNOWN_SYMBOL: ("51000", "Parameter chain error"),
}


def num(value: Decimal) -> str:
    """OKX sends decimals as plain strings ("99", "0.5")."""
    return format(value.normalize(), "f")


def _network(chain: str, ccy: str) -> str:
    name = chain.removeprefix(f"{ccy}-")
    if name not in CHAIN_NETWORKS:
        raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, chain)
    return CHAIN_NETWORKS[name]


def _withdrawal(h: _Handler, params: dict[str, Any]) -> list[dict[str, Any]]:
    """OKX charges the fee besides `amt` (the recipient gets `amt`): FeeMode.ON_TOP."""
    ccy, to_addr, amt = _require(params, "ccy"), _require(params, "toAddr"), _require(params, "amt")
    if _require(params, "dest") != "4":
        raise ApiError(200, "51000", "Parameter dest error")
    client_id = params.get("clientId")
    if client_id is not None and not CLIENT_ID_RULE.fullmatch(str(client_id)):
        raise ApiError(200, "51000", "Parameter clientId error")
    network = _network(_require(params, "chain"), ccy)
    if "fee" in params and Decimal(str(params["fee"])) != h.fake.wallet.withdrawal_fee:
        raise ApiError(200, "51000", "Parameter fee error")
    made = h.fake.wallet.withdraw(ccy, network, to_addr, Decimal(amt), client_id)
    return [{"amt": amt, "wdId": made.withdrawal_id, "ccy": ccy, "clientId": client_id or "",
             "chain": params["chain"]}]  # fmt: skip


def _before_after(time_ms: int, params: dict[str, Any]) -> bool:
    """OKX pages by time: `after` = older than, `before` = newer than (ms)."""
    after, before = params.get("after"), params.get("before")
    return (after is None or time_ms < int(after)) and (before is None or time_ms > int(before))


def _withdrawal_history(h: _Handler, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for made, now in reversed(h.fake.wallet.withdrawals_now()):
        if params.get("ccy") not in (None, made.coin) or not _before_after(made.created_ms, params):
            continue
        if params.get("clientId") not in (None, made.client_ref or ""):
            continue
        if params.get("wdId") not in (None, made.withdrawal_id):
            continue
        chain = f"{made.coin}-{WIRE_CHAIN[made.network]}"
        rows.append({
            "chain": chain, "fee": num(made.fee), "feeCcy": made.coin, "ccy": made.coin,
            "clientId": made.client_ref or "", "amt": num(made.amount),
            "txId": made.txid_at(now), "from": "", "areaCodeFrom": "", "to": made.address,
            "areaCodeTo": "", "state": WITHDRAW_STATE[made.status(now)],
            "ts": str(made.created_ms), "nonTradableAsset": False, "wdId": made.withdrawal_id,
            "toAddrType": "1", "tag": "", "pmtId": "", "memo": "", "addrEx": None, "note": "",
        })  # fmt: skip
    return rows[: int(params.get("limit", 100))]


def _deposit_history(h: _Handler, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for deposit, now in reversed(h.fake.wallet.deposits_now()):
        if params.get("ccy") not in (None, deposit.coin):
            continue
        if not _before_after(deposit.seen_ms, params):
            continue
        if params.get("txId") not in (None, deposit.txid):
            continue
        credited = deposit.status(now) == "credited"
        rows.append({
            "actualDepBlkConfirm": "64" if credited else "1", "amt": num(deposit.amount),
            "areaCodeFrom": "", "ccy": deposit.coin,
            "chain": f"{deposit.coin}-{WIRE_CHAIN[deposit.network]}",
            "depId": deposit.deposit_id, "from": "", "fromWdId": "",
            "state": DEPOSIT_STATE[deposit.status(now)], "to": deposit.address,
            "ts": str(deposit.seen_ms), "txId": deposit.txid,
        })  # fmt: skip
    return rows[: int(params.get("limit", 100))]


def _deposit_address(h: _Handler, params: dict[str, Any]) -> list[dict[str, Any]]:
    ccy = _require(params, "ccy")
    return [{"chain": f"{ccy}-{WIRE_CHAIN[network]}", "ctAddr": "831ec7", "ccy": ccy, "to": "6",
             "addr": address, "verifiedName": "", "selected": True}
            for (coin, network), address in h.fake.wallet.addresses.items()
            if coin == ccy]  # fmt: skip


def _currencies(h: _Handler, params: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (currency, chain) the wallet has an address on; ccxt names networks by it
    (fetch_currencies), without which it cannot tell a deposit address's network."""
    wallet, rows = h.fake.wallet, []
    for coin, network in wallet.addresses:
        if params.get("ccy") not in (None, coin):
            continue
        fee = num(wallet.withdrawal_fee)
        rows.append({
            "ccy": coin, "chain": f"{coin}-{WIRE_CHAIN[network]}", "name": "Tether",
            "canDep": True, "canWd": True, "canInternal": True, "fee": fee, "minFee": fee,
            "maxFee": fee, "minWd": "2", "maxWd": "10000000", "wdTickSz": "6",
            "wdQuota": "10000000", "usedWdQuota": "0", "minDep": "0.00000001",
            "minDepArrivalConfirm": "64", "minWdUnlockConfirm": "96", "mainNet": False,
            "needTag": False, "logoLink": "", "ctAddr": "831ec7", "minInternal": "0",
            **_fields("depQuotaFixed= usedDepQuotaFixed= depQuoteDailyLayer2= burningFeeRate= "
                      "depEstOpenTime= wdEstOpenTime= maxFeeForCtAddr= minFeeForCtAddr="),
        })  # fmt: skip
    return rows


ROUTES: dict[str, tuple[Route, bool]] = {
    "GET /api/v5/public/instruments": (_instruments, False),
    "GET /api/v5/public/time": (_time, False),
    "GET /api/v5/public/funding-rate": (_funding_rate, False),
    "GET /api/v5/public/mark-price": (_mark_price, False),
    "GET /api/v5/account/config": (_config, True),
    "POST /api/v5/account/set-leverage": (_set_leverage, True),
    "GET /api/v5/account/balance": (_balance, True),
    "GET /api/v5/account/positions": (_positions, True),
    "GET /api/v5/account/bills": (_bills, True),
    "GET /api/v5/account/bills-archive": (_bills, True),
    "POST /api/v5/trade/order": (_order, True),
    "POST /api/v5/trade/batch-orders": (_batch_orders, True),
    "GET /api/v5/trade/order": (_get_order, True),
    "GET /api/v5/trade/fills": (_fills, True),
    "GET /api/v5/trade/fills-history": (_fills, True),
    "POST /api/v5/asset/withdrawal": (_withdrawal, True),
    "GET /api/v5/asset/withdrawal-history": (_withdrawal_history, True),
    "GET /api/v5/asset/deposit-history": (_deposit_history, True),
    "GET /api/v5/asset/deposit-address": (_deposit_address, True),
    "GET /api/v5/asset/currencies": (_currencies, True),
}


OkxV5Fake.handler = _Handler
