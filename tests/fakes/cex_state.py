"""In-memory state of one exchange account, shared by the venue fakes (Binance now; Bybit, OKX).

Why: the HTTP fakes only translate a venue's wire format; the account's behaviour (margin,
positions, fills, funding, liquidation, faults) lives here once, so every venue fake books the
same way and tests can set up and inspect the account directly. One-way mode (one signed
position per symbol), USDT-margined linear perps, market orders only. Thread-safe: the HTTP
server answers on several threads, so every public method takes the same lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)
SPOT_DECIMALS = Decimal("0.00000001")  # spot balances, as Binance reports them


class OrderStatus(StrEnum):
    """Venue-neutral order states (each fake maps them to its wire names)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    """Why the venue refused a request; each fake maps a reason to its own error code."""

    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    UNKNOWN_SYMBOL = "unknown_symbol"
    UNKNOWN_ORDER = "unknown_order"
    INVALID_QUANTITY = "invalid_quantity"
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"


class VenueRejection(Exception):
    """A request the venue refuses with an error answer (nothing is booked)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


class FaultKind(StrEnum):
    """Injectable faults; each is queued for one endpoint and consumed by one request."""

    HTTP_ERROR = "http_error"  # answer `status` (429, 418, 500, 503) without doing anything
    DELAY = "delay"  # sleep `delay_s` (longer than the client timeout), then answer normally
    LOSE_RESPONSE = "lose_response"  # do the request, then close (status None) or answer 5xx
    PARTIAL_FILL = "partial_fill"  # fill a market order in `fill_parts` trades


@dataclass(frozen=True)
class Fault:
    """One queued fault. `endpoint` is the fake's key, e.g. "POST /fapi/v1/order"."""

    endpoint: str
    kind: FaultKind
    status: int | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0
    fill_parts: int = 1
    filled_fraction: Decimal = Decimal(1)


@dataclass
class Position:
    """A perp position; `size_base` > 0 long, < 0 short."""

    symbol: str
    size_base: Decimal = ZERO
    entry_price: Decimal = ZERO
    leverage: int = 20
    margin_mode: str = "cross"  # "cross" | "isolated"
    updated_ms: int = 0


@dataclass
class Order:
    """An order as the venue stores it, reachable by venue id and by client id."""

    venue_order_id: int
    client_order_id: str
    symbol: str
    side: str  # "BUY" | "SELL"
    qty_base: Decimal
    reduce_only: bool
    created_ms: int
    status: OrderStatus = OrderStatus.NEW
    filled_qty_base: Decimal = ZERO
    filled_quote: Decimal = ZERO
    updated_ms: int = 0

    @property
    def avg_price(self) -> Decimal:
        """Volume-weighted fill price, zero before the first fill (as venues report it)."""
        return self.filled_quote / self.filled_qty_base if self.filled_qty_base else ZERO


@dataclass(frozen=True)
class Fill:
    """One trade; `trade_id` is unique per account, `fee_quote` and PnL are in USDT."""

    trade_id: int
    venue_order_id: int
    symbol: str
    side: str
    qty_base: Decimal
    price: Decimal
    fee_quote: Decimal
    realized_pnl_quote: Decimal
    time_ms: int


@dataclass(frozen=True)
class FundingPayment:
    """A funding settlement booked to the wallet; `amount_quote` < 0 means paid."""

    payment_id: int
    symbol: str
    time_ms: int
    amount_quote: Decimal
    rate: Decimal


@dataclass
class SymbolState:
    """Per-symbol market data the account is valued with."""

    mark_price: Decimal
    funding_rate: Decimal = ZERO
    next_funding_ms: int = 0
    maint_margin_rate: Decimal = Decimal("0.004")
    qty_step_base: Decimal = Decimal("0.001")  # lot size partial fills are rounded to


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class CexAccountState:
    """One account on one venue: USDT wallet, positions, orders, fills, funding, faults."""

    wallet_balance_quote: Decimal = Decimal(10_000)
    taker_fee_rate: Decimal = Decimal("0.0005")
    symbols: dict[str, SymbolState] = field(default_factory=dict)
    clock_ms: Callable[[], int] = _now_ms
    positions: dict[str, Position] = field(default_factory=dict)
    orders_by_venue_id: dict[int, Order] = field(default_factory=dict)
    orders_by_client_id: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    funding_payments: list[FundingPayment] = field(default_factory=list)
    liquidations: list[Fill] = field(default_factory=list)
    _faults: deque[Fault] = field(default_factory=deque)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))

    # -- set-up and market data -------------------------------------------------------------

    def add_symbol(self, symbol: str, mark_price: Decimal, **kw: object) -> None:
        """Make `symbol` tradable at `mark_price` (kw: funding_rate, next_funding_ms, ...)."""
        with self._lock:
            self.symbols[symbol] = SymbolState(mark_price=mark_price, **kw)  # type: ignore[arg-type]

    def symbol_state(self, symbol: str) -> SymbolState:
        """A copy of the symbol's market data; unknown symbols are refused as the venue does."""
        with self._lock:
            if symbol not in self.symbols:
                raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, symbol)
            return replace(self.symbols[symbol])

    def set_mark_price(self, symbol: str, mark_price: Decimal) -> list[Fill]:
        """Move the mark; a jump that breaches maintenance margin liquidates (fills returned)."""
        with self._lock:
            self.symbols[symbol].mark_price = mark_price
            return self._liquidate_if_breached()

    def set_funding(self, symbol: str, rate: Decimal, next_funding_ms: int) -> None:
        """Set the rate the next settlement will use (served as the predicted rate)."""
        with self._lock:
            self.symbols[symbol].funding_rate = rate
            self.symbols[symbol].next_funding_ms = next_funding_ms

    def position(self, symbol: str) -> Position:
        """A copy of the position (created flat with default leverage on first use)."""
        with self._lock:
            return replace(self._position(symbol))

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Leverage used for the initial margin of new exposure."""
        with self._lock:
            self.symbol_state(symbol)
            self._position(symbol).leverage = leverage

    def set_margin_mode(self, symbol: str, margin_mode: str) -> bool:
        """Set "cross" / "isolated"; returns False when it was already so (venues say so)."""
        with self._lock:
            self.symbol_state(symbol)
            pos = self._position(symbol)
            changed = pos.margin_mode != margin_mode
            pos.margin_mode = margin_mode
            return changed

    # -- faults -----------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Queue a one-shot fault for the next request to `fault.endpoint`."""
        with self._lock:
            self._faults.append(fault)

    def take_fault(self, endpoint: str) -> Fault | None:
        """Pop the first queued fault for `endpoint` (None when there is none)."""
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint:
                    self._faults.remove(fault)
                    return fault
            return None

    # -- valuation --------------------------------------------------------------------------

    def unrealized_pnl_quote(self, symbol: str) -> Decimal:
        """Mark-to-market PnL of the open position."""
        with self._lock:
            pos = self._position(symbol)
            return pos.size_base * (self.symbols[symbol].mark_price - pos.entry_price)

    def initial_margin_quote(self, symbol: str) -> Decimal:
        """Notional at mark / leverage."""
        with self._lock:
            pos = self._position(symbol)
            return abs(pos.size_base) * self.symbols[symbol].mark_price / pos.leverage

    def maint_margin_quote(self, symbol: str) -> Decimal:
        """Notional at mark × maintenance rate."""
        with self._lock:
            state = self.symbols[symbol]
            return (
                abs(self._position(symbol).size_base) * state.mark_price * state.maint_margin_rate
            )

    def margin_balance_quote(self) -> Decimal:
        """Wallet plus unrealized PnL of every position."""
        with self._lock:
            return self.wallet_balance_quote + sum(
                (self.unrealized_pnl_quote(s) for s in self.positions), ZERO
            )

    def available_balance_quote(self) -> Decimal:
        """Margin balance less the initial margin in use (what new orders may use)."""
        with self._lock:
            used = sum((self.initial_margin_quote(s) for s in self.positions), ZERO)
            return self.margin_balance_quote() - used

    # -- orders -----------------------------------------------------------------------------

    def place_market_order(
        self,
        symbol: str,
        side: str,
        qty_base: Decimal,
        client_order_id: str,
        reduce_only: bool = False,
        fault: Fault | None = None,
    ) -> Order:
        """Fill at mark (in `fault.fill_parts` trades if asked); refuse duplicates and no margin.

        Initial margin of the added exposure = notional / leverage must fit in the available
        balance; reducing exposure is always allowed; reduce-only must face a position.
        """
        with self._lock:
            mark = self.symbol_state(symbol).mark_price
            if qty_base <= 0:
                raise VenueRejection(RejectReason.INVALID_QUANTITY, str(qty_base))
            if client_order_id in self.orders_by_client_id:
                raise VenueRejection(RejectReason.DUPLICATE_CLIENT_ORDER_ID, client_order_id)
            signed_qty = qty_base if side == "BUY" else -qty_base
            pos = self._position(symbol)
            if reduce_only and pos.size_base * signed_qty >= 0:
                raise VenueRejection(RejectReason.REDUCE_ONLY_REJECTED, "would not reduce")
            added_base = max(abs(pos.size_base + signed_qty) - abs(pos.size_base), ZERO)
            required_quote = added_base * mark / pos.leverage
            fee_quote = qty_base * mark * self.taker_fee_rate
            if added_base > 0 and required_quote + fee_quote > self.available_balance_quote():
                raise VenueRejection(RejectReason.INSUFFICIENT_MARGIN, f"{required_quote}")
            now = self.clock_ms()
            order = Order(
                next(self._ids), client_order_id, symbol, side, qty_base, reduce_only, now
            )
            self.orders_by_venue_id[order.venue_order_id] = order
            self.orders_by_client_id[client_order_id] = order
            self._fill(order, mark, fault or Fault("", FaultKind.PARTIAL_FILL))
            return replace(order)

    def find_order(self, venue_order_id: int | None, client_order_id: str | None) -> Order:
        """Look an order up by either id; unknown ids are refused."""
        with self._lock:
            order = None
            if venue_order_id is not None:
                order = self.orders_by_venue_id.get(venue_order_id)
            elif client_order_id is not None:
                order = self.orders_by_client_id.get(client_order_id)
            if order is None:
                raise VenueRejection(RejectReason.UNKNOWN_ORDER, f"{venue_order_id}")
            return replace(order)

    def fills_for(self, symbol: str) -> list[Fill]:
        """The symbol's trades, oldest first (liquidations included)."""
        with self._lock:
            return [f for f in self.fills if f.symbol == symbol]

    # -- funding ----------------------------------------------------------------------------

    def settle_funding(
        self, symbol: str, rate: Decimal, mark_price: Decimal | None = None
    ) -> FundingPayment | None:
        """Book one funding payment: longs pay size × mark × rate when the rate is positive."""
        with self._lock:
            state = self.symbols[symbol]
            mark = state.mark_price if mark_price is None else mark_price
            size = self._position(symbol).size_base
            if size == 0:
                return None
            amount = -size * mark * rate
            self.wallet_balance_quote += amount
            payment = FundingPayment(next(self._ids), symbol, self.clock_ms(), amount, rate)
            self.funding_payments.append(payment)
            return payment

    # -- internals --------------------------------------------------------------------------

    def _position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position(symbol))

    def _fill(self, order: Order, price: Decimal, fault: Fault) -> None:
        """Fill `filled_fraction` of the order in `fill_parts` equal trades at `price`."""
        to_fill = order.qty_base * fault.filled_fraction
        parts = max(fault.fill_parts, 1)
        part = (to_fill / parts).quantize(self.symbols[order.symbol].qty_step_base)
        for index in range(parts):
            qty = to_fill - part * (parts - 1) if index == parts - 1 else part
            self._book_trade(order, qty, price)
        order.status = (
            OrderStatus.FILLED
            if order.filled_qty_base == order.qty_base
            else (OrderStatus.PARTIALLY_FILLED)
        )
        order.updated_ms = self.clock_ms()

    def _book_trade(self, order: Order, qty_base: Decimal, price: Decimal) -> Fill:
        """Apply one trade to the position, wallet (fee, realized PnL) and order."""
        pos = self._position(order.symbol)
        signed = qty_base if order.side == "BUY" else -qty_base
        realized = ZERO
        if pos.size_base * signed < 0:  # reduces (and perhaps flips) the position
            closed = min(abs(signed), abs(pos.size_base))
            direction = 1 if pos.size_base > 0 else -1
            realized = closed * (price - pos.entry_price) * direction
            new_size = pos.size_base + signed
            if new_size == 0 or new_size * pos.size_base < 0:
                pos.entry_price = price if new_size != 0 else ZERO
            pos.size_base = new_size
        else:
            total = abs(pos.size_base) + qty_base
            pos.entry_price = (abs(pos.size_base) * pos.entry_price + qty_base * price) / total
            pos.size_base += signed
        fee = qty_base * price * self.taker_fee_rate
        self.wallet_balance_quote += realized - fee
        now = self.clock_ms()
        pos.updated_ms = now
        order.filled_qty_base += qty_base
        order.filled_quote += qty_base * price
        fill = Fill(
            next(self._ids),
            order.venue_order_id,
            order.symbol,
            order.side,
            qty_base,
            price,
            fee,
            realized,
            now,
        )
        self.fills.append(fill)
        return fill

    def _liquidate_if_breached(self) -> list[Fill]:
        """Cross margin: margin balance below total maintenance closes every position at mark.

        The loss is booked to the wallet (floored at zero: the insurance fund takes the rest);
        the closing orders get "autoclose-" client ids as Binance's do.
        """
        maint = sum((self.maint_margin_quote(s) for s in self.positions), ZERO)
        if maint == 0 or self.margin_balance_quote() >= maint:
            return []
        fills = []
        for symbol, pos in self.positions.items():
            if pos.size_base == 0:
                continue
            side = "SELL" if pos.size_base > 0 else "BUY"
            now = self.clock_ms()
            order = Order(
                next(self._ids),
                f"autoclose-{now}-{symbol}",
                symbol,
                side,
                abs(pos.size_base),
                True,
                now,
            )
            self.orders_by_venue_id[order.venue_order_id] = order
            self.orders_by_client_id[order.client_order_id] = order
            fill = self._book_trade(order, order.qty_base, self.symbols[symbol].mark_price)
            order.status, order.updated_ms = OrderStatus.FILLED, now
            fills.append(fill)
        self.wallet_balance_quote = max(self.wallet_balance_quote, ZERO)
        self.liquidations.extend(fills)
        return fills


# -- spot wallet ----------------------------------------------------------------------------


class SpotOrderStatus(StrEnum):
    """A spot market order's end: FILLED, or EXPIRED with what filled (Binance spot market
    orders that run out of liquidity expire with a partial fill; they never rest)."""

    FILLED = "FILLED"
    EXPIRED = "EXPIRED"


@dataclass
class SpotOrder:
    """A spot market order as the venue stores it; `quote_qty` is set for a buy sized in
    USDT (Binance quoteOrderQty), `qty_base` for one sized in base units."""

    venue_order_id: int
    client_order_id: str
    symbol: str
    side: str  # "BUY" | "SELL"
    qty_base: Decimal
    quote_qty: Decimal
    created_ms: int
    status: SpotOrderStatus = SpotOrderStatus.FILLED
    filled_qty_base: Decimal = ZERO
    filled_quote: Decimal = ZERO
    updated_ms: int = 0


@dataclass(frozen=True)
class SpotFill:
    """One spot trade; the fee is charged in `fee_asset` (Binance: the asset received, i.e.
    the base on a buy and USDT on a sell, or BNB when the account pays fees in BNB)."""

    trade_id: int
    venue_order_id: int
    symbol: str
    side: str
    qty_base: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int


@dataclass
class SpotMarket:
    """A spot symbol: its price and filters (lot step, minimum notional)."""

    base: str
    price: Decimal
    qty_step_base: Decimal
    min_notional_quote: Decimal = Decimal(5)


@dataclass
class SpotWallet:
    """The spot wallet of the account whose futures wallet is `account` (Binance keeps the
    two apart; a universal transfer moves USDT between them). Market orders fill at the
    symbol's price, fees at `taker_fee_rate` in the received asset, or in `fee_asset` if set
    (e.g. "BNB", valued at the BNBUSDT price). Shares the account's lock, ids and faults."""

    account: CexAccountState
    balances: dict[str, Decimal] = field(default_factory=dict)
    markets: dict[str, SpotMarket] = field(default_factory=dict)
    taker_fee_rate: Decimal = Decimal("0.001")
    fee_asset: str | None = None
    orders_by_client_id: dict[str, SpotOrder] = field(default_factory=dict)
    orders_by_venue_id: dict[int, SpotOrder] = field(default_factory=dict)
    fills: list[SpotFill] = field(default_factory=list)
    transfers: list[tuple[int, str, str, Decimal]] = field(default_factory=list)

    def add_market(self, symbol: str, base: str, price: Decimal, step: Decimal) -> None:
        with self.account._lock:
            self.markets[symbol] = SpotMarket(base, price, step)

    def market(self, symbol: str) -> SpotMarket:
        with self.account._lock:
            if symbol not in self.markets:
                raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, symbol)
            return replace(self.markets[symbol])

    def balance(self, asset: str) -> Decimal:
        with self.account._lock:
            return self.balances.get(asset, ZERO)

    def place_market_order(
        self,
        symbol: str,
        side: str,
        client_order_id: str,
        qty_base: Decimal | None = None,
        quote_qty: Decimal | None = None,
        fault: Fault | None = None,
    ) -> SpotOrder:
        """Fill at the symbol's price: a buy by `quote_qty` gets the whole lots it pays for,
        a sell of `qty_base` must be whole lots. Refuses a duplicate client id, a size off the
        filters and a balance too small (nothing booked then)."""
        with self.account._lock:
            market = self.market(symbol)
            if client_order_id in self.orders_by_client_id:
                raise VenueRejection(RejectReason.DUPLICATE_CLIENT_ORDER_ID, client_order_id)
            if quote_qty is not None:
                qty = (quote_qty / market.price // market.qty_step_base) * market.qty_step_base
            elif qty_base is not None and qty_base % market.qty_step_base == 0:
                qty = qty_base
            else:
                raise VenueRejection(RejectReason.INVALID_QUANTITY, f"lot size {qty_base}")
            if qty <= 0 or qty * market.price < market.min_notional_quote:
                raise VenueRejection(RejectReason.INVALID_QUANTITY, f"notional {qty}")
            paid, needed = ("USDT", qty * market.price) if side == "BUY" else (market.base, qty)
            if self.balance(paid) < needed:
                raise VenueRejection(RejectReason.INSUFFICIENT_MARGIN, f"{paid} {needed}")
            now = self.account.clock_ms()
            order = SpotOrder(
                next(self.account._ids), client_order_id, symbol, side, qty,
                quote_qty if quote_qty is not None else ZERO, now,
            )  # fmt: skip
            self.orders_by_client_id[client_order_id] = order
            self.orders_by_venue_id[order.venue_order_id] = order
            self._fill(order, market, fault or Fault("", FaultKind.PARTIAL_FILL))
            return replace(order)

    def find_order(self, venue_order_id: int | None, client_order_id: str | None) -> SpotOrder:
        with self.account._lock:
            order = None
            if venue_order_id is not None:
                order = self.orders_by_venue_id.get(venue_order_id)
            elif client_order_id is not None:
                order = self.orders_by_client_id.get(client_order_id)
            if order is None:
                raise VenueRejection(RejectReason.UNKNOWN_ORDER, f"{venue_order_id}")
            return replace(order)

    def fills_for(self, symbol: str) -> list[SpotFill]:
        with self.account._lock:
            return [f for f in self.fills if f.symbol == symbol]

    def transfer(self, asset: str, amount: Decimal, from_wallet: str, to_wallet: str) -> int:
        """Move `amount` of `asset` between the futures ("UMFUTURE") and spot ("MAIN")
        wallets; the futures side may give only its available balance. Returns the id."""
        with self.account._lock:
            if asset != "USDT" or {from_wallet, to_wallet} != {"UMFUTURE", "MAIN"}:
                raise VenueRejection(RejectReason.INVALID_QUANTITY, f"{from_wallet}->{to_wallet}")
            if amount <= 0:
                raise VenueRejection(RejectReason.INVALID_QUANTITY, str(amount))
            if from_wallet == "UMFUTURE":
                if self.account.available_balance_quote() < amount:
                    raise VenueRejection(RejectReason.INSUFFICIENT_MARGIN, str(amount))
                self.account.wallet_balance_quote -= amount
                self.balances["USDT"] = self.balance("USDT") + amount
            else:
                if self.balance("USDT") < amount:
                    raise VenueRejection(RejectReason.INSUFFICIENT_MARGIN, str(amount))
                self.balances["USDT"] = self.balance("USDT") - amount
                self.account.wallet_balance_quote += amount
            transfer_id = next(self.account._ids)
            self.transfers.append((transfer_id, from_wallet, to_wallet, amount))
            return transfer_id

    def _fill(self, order: SpotOrder, market: SpotMarket, fault: Fault) -> None:
        """Fill `filled_fraction` (cut to lots) in `fill_parts` trades; less than all of it
        leaves the order EXPIRED, as Binance does when a market order runs out of book."""
        step = market.qty_step_base
        to_fill = ((order.qty_base * fault.filled_fraction) // step) * step
        parts = max(fault.fill_parts, 1)
        part = ((to_fill / parts) // step) * step
        for index in range(parts):
            qty = to_fill - part * (parts - 1) if index == parts - 1 else part
            if qty > 0:
                self._book_trade(order, market, qty)
        if order.filled_qty_base < order.qty_base:
            order.status = SpotOrderStatus.EXPIRED
        order.updated_ms = self.account.clock_ms()

    def _book_trade(self, order: SpotOrder, market: SpotMarket, qty: Decimal) -> None:
        notional = (qty * market.price).quantize(SPOT_DECIMALS)  # Binance keeps 8 decimals
        buy = order.side == "BUY"
        received, received_qty = ("USDT", notional) if not buy else (market.base, qty)
        if self.fee_asset is None:
            fee_asset, fee = received, received_qty * self.taker_fee_rate
        else:
            bnb_price = self.markets[f"{self.fee_asset}USDT"].price
            fee_asset, fee = self.fee_asset, notional * self.taker_fee_rate * Decimal("0.75")
            fee /= bnb_price
        fee = fee.quantize(SPOT_DECIMALS)
        if buy:
            self.balances["USDT"] = self.balance("USDT") - notional
            self.balances[market.base] = self.balance(market.base) + qty
        else:
            self.balances[market.base] = self.balance(market.base) - qty
            self.balances["USDT"] = self.balance("USDT") + notional
        self.balances[fee_asset] = self.balance(fee_asset) - fee
        order.filled_qty_base += qty
        order.filled_quote += notional
        self.fills.append(
            SpotFill(
                next(self.account._ids), order.venue_order_id, order.symbol, order.side, qty,
                market.price, fee, fee_asset, self.account.clock_ms(),
            )
        )  # fmt: skip
