"""Spot orders on the configured spot venue (Binance spot) through ccxt, behind `LiveCex`.

Why: the basis strategies buy their long leg spot (`hedge.spot_venue: binance`) and short the
perp. A spot order must keep the perp path's safety rules (cex.py, docs/live.md section 1), so
`SpotOrders` IS that order path, a `LiveCex` on the spot client: the order is INTENDED in the
LiveStore before it is sent, its client id is deterministic (Binance spot newClientOrderId), a
network error leaves it AMBIGUOUS and only a query by client id
(GET /api/v3/order?origClientOrderId=...) can lead to a resend with the same id, and the fills
are booked once by (venue, symbol, trade id) from myTrades (a partial fill books the filled
part: a Binance spot market order that runs out of book EXPIRES with what filled). Three
things differ:

- what is sent: a market BUY spends `quote_amount` USDT (quoteOrderQty, cut to the price
  precision as ccxt does; kept as the record's `quote_qty_usdt`); a market SELL sells
  `base_amount` cut to the lot size. Below the minimum notional both are refused before
  anything is stored (Binance's NOTIONAL refusal would otherwise read as ambiguous);
- fees: Binance spot takes a trade's fee in the asset received (a buy's in the coin, a sell's
  in USDT), or in BNB when the account pays fees with BNB. A coin fee is booked as the fill's
  `fee_base` (the coin received is qty - fee), a USDT fee as `fee_usdt`. A fee in any other
  asset cannot be valued honestly: the fill is refused (OperationalError, the order stays in
  the store for an operator; turn "pay fees with BNB" off);
- the wallets. Binance keeps spot and USDⓈ-M futures in two wallets of one account, while the
  book holds ONE `binance:BaseToken:USDT`, as the simulated venue. The rule: the futures
  wallet is USDT's home, the spot wallet holds USDT only while a spot order needs it. Before a
  buy, exactly its shortfall (quote amount - the spot wallet's free USDT) moves from futures
  to spot (universal transfer UMFUTURE_MAIN, instant); after every spot order the spot
  wallet's free USDT (a sell's proceeds, a buy's unspent rest) moves back (MAIN_UMFUTURE). The
  book's USDT is the two wallets' sum wherever it sits, and reconciliation sums both
  (`with_spot_wallet`). A transfer cannot lose money (both wallets are the account's): one
  whose answer is lost is checked by reading the spot balance, never blindly repeated, and a
  move back that fails is only logged (VEN-004): the USDT stays counted and the next spot
  order's sweep moves it.

Legs mirror `SimulatedCex._buy_spot/_sell_spot`: `SpotBought` (USDT paid, carrying the
execution cost; the coin received) and `SpotSold` (the coin sold; USDT received, carrying the
cost), from the fills only. The cost is the fee (a coin fee valued at the hour's reference
price) plus the fills' gap to the reference price `market.usd(base)`, `Σ q (fill - ref)`, so
equity valued at the reference price moves by -cost, as in the simulation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import ccxt

from basis_strategy.config.venues import CexVenue
from basis_strategy.core.errors import OperationalError, TemporaryError
from basis_strategy.core.instructions import BuySpot, Leg, SellSpot
from basis_strategy.core.instruments import cash_key
from basis_strategy.core.logs import log_event
from basis_strategy.data.market import MarketState
from basis_strategy.live.ledger import Fill
from basis_strategy.live.orders import OrderRecord, Side
from basis_strategy.live.retry import RetryPolicy
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected, cost_detail, require_amount
from basis_strategy.venues.live.amounts import to_contracts
from basis_strategy.venues.live.ccxt_orders import RATE_LIMITED, utc_ms
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings, utc_now
from basis_strategy.venues.live.dialects import Dialect
from basis_strategy.venues.live.legs import COST, mark_gap_usdt
from basis_strategy.venues.live.reconcile import VenueSnapshot, with_spot_wallet

QUOTE = "USDT"
FUTURES_WALLET, SPOT_WALLET = "linear", "spot"  # ccxt binance: UMFUTURE, MAIN
USDT_STEP = Decimal("0.00000001")  # Binance transfers USDT to 8 decimals
logger = logging.getLogger(__name__)


def _spot_lookup(client: Any, client_order_id: str, symbol: str) -> Mapping[str, Any] | None:
    """GET /api/v3/order?origClientOrderId=... (ccxt's unified call sends that field); an
    unknown id is -2013, OrderNotFound. The answer is checked to carry our id."""
    order = client.fetch_order_with_client_order_id(client_order_id, symbol)
    return order if order.get("clientOrderId") == client_order_id else None


BINANCE_SPOT = Dialect(
    exchange_id="binance",
    find_order=_spot_lookup,
    # -2010 "Duplicate order sent." is an InvalidOrder in ccxt; the same code with "Account
    # has insufficient balance for requested action." is InsufficientFunds: a refusal
    duplicate_markers=("duplicate order sent",),
)


def spot_fill_of(trade: Mapping[str, Any], venue: str, client_order_id: str | None) -> Fill:
    """A ccxt unified spot trade as a ledger fill: a fee in the coin is `fee_base`, in USDT
    `fee_usdt`; in any other asset (BNB) OperationalError, nothing booked for it."""
    symbol = str(trade["symbol"])
    base = symbol.split("/")[0]
    fee = trade.get("fee") or {}
    currency, cost = fee.get("currency"), float(fee.get("cost") or 0.0)
    if cost and currency not in (base, QUOTE):
        raise OperationalError(
            f"{venue} spot trade {trade.get('id')}: fee in {currency}; only {base} or {QUOTE} "
            "fees are booked (turn off paying fees with BNB)"
        )
    return Fill(
        venue=venue,
        symbol=symbol,
        trade_id=str(trade["id"]),
        client_order_id=client_order_id,
        side=Side(str(trade["side"])),
        qty_base=float(trade["amount"]),
        price_usdt=float(trade["price"]),
        fee_usdt=cost if currency == QUOTE else 0.0,
        filled_at=utc_ms(int(trade["timestamp"])),
        fee_base=cost if currency == base else 0.0,
    )


def spot_book(
    fills: Iterable[Fill], venue: str, symbols: Mapping[str, str]
) -> tuple[dict[str, float], float]:
    """(coins held by key, USDT moved) by the spot fills of `symbols` (coin -> ccxt spot
    symbol): coin = Σ signed qty - Σ coin fees; USDT = -Σ signed qty × price - Σ USDT fees."""
    held: dict[str, float] = {}
    usdt = 0.0
    fills = list(fills)
    for base, symbol in symbols.items():
        mine = [f for f in fills if (f.venue, f.symbol) == (venue, symbol)]
        if mine:
            held[cash_key(venue, base)] = sum(f.signed_qty_base - f.fee_base for f in mine)
            usdt -= sum(f.signed_qty_base * f.price_usdt + f.fee_usdt for f in mine)
    return held, usdt


def spot_trade_legs(
    venue: str, base: str, client_order_id: str, fills: list[Fill], reference_usd: float
) -> tuple[Leg, ...]:
    """The legs of the spot order `client_order_id` among `fills`; no fills of it: none."""
    mine = [f for f in fills if f.client_order_id == client_order_id]
    if not mine:
        return ()
    price = _average_price(mine)
    coin = sum(f.signed_qty_base - f.fee_base for f in mine)
    usdt = -sum(f.signed_qty_base * f.price_usdt + f.fee_usdt for f in mine)
    fee = sum(f.fee_usdt + f.fee_base * reference_usd for f in mine)
    gap = mark_gap_usdt(mine, reference_usd)
    cost, detail = fee + gap, cost_detail(fee, gap)
    coin_key, usdt_key = cash_key(venue, base), cash_key(venue, QUOTE)
    if mine[0].side is Side.BUY:
        return (
            Leg(usdt_key, usdt, "SpotBought", price, COST, -cost, QUOTE, detail=detail),
            Leg(coin_key, coin, "SpotBought", price),
        )
    return (
        Leg(coin_key, coin, "SpotSold", price),
        Leg(usdt_key, usdt, "SpotSold", price, COST, -cost, QUOTE, detail=detail),
    )


def _average_price(fills: list[Fill]) -> float:
    """The volume-weighted fill price, in decimals (one fill's price comes back exact)."""
    qty = sum(Decimal(repr(f.qty_base)) for f in fills)
    notional = sum(Decimal(repr(f.qty_base)) * Decimal(repr(f.price_usdt)) for f in fills)
    return float(notional / qty)


class SpotOrders(LiveCex):
    """The spot wallet's order path (module docstring). Not a venue of its own: `LiveCex`
    holds one on the configured spot venue and sends it BuySpot and SellSpot."""

    def __init__(
        self,
        config: CexVenue,
        client: ccxt.Exchange,
        store: LiveStore,
        strategy_id: str,
        *,
        settings: LiveCexSettings | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if getattr(client, "id", None) != BINANCE_SPOT.exchange_id:
            raise ValueError(f"live spot: only Binance spot is supported, not {client.id!r}")
        if config.spot_taker_fee is None or not config.slippage_bps.spot:
            raise ValueError(f"live spot: {config.name} has no spot market configured")
        super().__init__(config, client, store, strategy_id, settings=settings, policy=policy,
                         sleep=sleep, clock=clock, dialect=BINANCE_SPOT)  # fmt: skip
        # coin -> ccxt unified spot symbol (one spelling for the fill ledger)
        self.symbols = {base: f"{base}/{QUOTE}" for base in config.slippage_bps.spot}

    def prepare(self) -> list[OrderRecord]:
        """The spot markets (each configured coin must be listed spot), then `recover`."""
        self.client.load_markets()
        for symbol in self.symbols.values():
            if not (self.client.markets.get(symbol) or {}).get("spot"):
                raise OperationalError(f"{self.name}: spot market {symbol} is not listed")
        return self.recover()

    def trade(self, order: BuySpot | SellSpot, market: MarketState) -> tuple[Leg, ...]:
        """Buy for `quote_amount` USDT or sell `base_amount`; the legs of what filled."""
        symbol = self.symbols.get(order.base)
        if symbol is None:
            raise ExecutionRejected(f"{self.name} has no {order.base}/{QUOTE} spot market")
        reference_usd = market.usd(order.base)
        if isinstance(order, BuySpot):
            record = self._buy(symbol, order.quote_amount, reference_usd)
        else:
            record = self._sell(symbol, order.base_amount, reference_usd)
        fills = self._book_ledger(self.store.ledger(self.strategy_id)).fills  # none later
        return spot_trade_legs(self.name, order.base, record.client_order_id, fills, reference_usd)

    def book(self, fills: Iterable[Fill]) -> tuple[dict[str, float], float]:
        """Coins held and USDT moved by the ledger's spot fills (`spot_book`)."""
        return spot_book(fills, self.name, self.symbols)

    def add_wallet(self, snapshot: VenueSnapshot) -> VenueSnapshot:
        """The futures snapshot plus the spot wallet (`with_spot_wallet`)."""
        balance = self.pacer.read(self.client.fetch_balance)
        return with_spot_wallet(snapshot, balance, list(self.symbols), QUOTE)

    # --- orders -----------------------------------------------------------------------------

    def _buy(self, symbol: str, quote_amount: float, reference_usd: float) -> OrderRecord:
        require_amount(self.name, "spot quote_amount", quote_amount)
        quote = float(self.client.cost_to_precision(symbol, quote_amount))
        self._require_notional(symbol, quote)
        try:
            # an adopted order was funded when first placed; should the venue never have had
            # it and its USDT been swept back since, the resend is refused for balance:
            # REJECTED, nothing booked, and the strategy re-plans next hour
            record = self._adopt(symbol, Side.BUY, quote) or self._redone(symbol, Side.BUY)
            if record is None:
                self._fund(quote)
                record = self._place(symbol, Side.BUY, quote / reference_usd, quote)
            return record
        finally:
            self._sweep()

    def _sell(self, symbol: str, base_amount: float, reference_usd: float) -> OrderRecord:
        require_amount(self.name, "spot base_amount", base_amount)
        _, qty_base = to_contracts(self.client, self.name, symbol, base_amount)  # lots, or refused
        self._require_notional(symbol, qty_base * reference_usd)
        try:
            return self._adopt(symbol, Side.SELL, qty_base) or self._place(
                symbol, Side.SELL, qty_base
            )
        finally:
            self._sweep()

    def _require_notional(self, symbol: str, notional_usdt: float) -> None:
        minimum = (self.client.market(symbol).get("limits", {}).get("cost") or {}).get("min")
        if notional_usdt <= 0 or (minimum and notional_usdt < minimum):
            raise ExecutionRejected(
                f"{self.name}: {notional_usdt:g} USDT of {symbol} is below the minimum "
                f"notional {minimum}"
            )

    def _owns(self, symbol: str) -> bool:
        return ":" not in symbol

    def _sent_size(self, record: OrderRecord) -> float:
        return record.qty_base if record.quote_qty_usdt is None else record.quote_qty_usdt

    def _create(self, record: OrderRecord) -> Any:
        """A market order with our client id: a buy by its USDT (quoteOrderQty), a sell by
        its base units (already whole lots)."""
        params: dict[str, Any] = {"clientOrderId": record.client_order_id}
        amount = record.qty_base
        if record.quote_qty_usdt is not None:
            amount = params["quoteOrderQty"] = record.quote_qty_usdt
        return self.client.create_order(
            record.symbol, "market", record.side.value, amount, None, params
        )

    def _fill_of(self, trade: Any, record: OrderRecord, contract_size: float) -> Fill:
        return spot_fill_of(trade, self.name, record.client_order_id)

    # --- the two wallets --------------------------------------------------------------------

    def _spot_free_usdt(self) -> Decimal:
        balance = self.pacer.read(self.client.fetch_balance)
        return Decimal(repr(float((balance.get(QUOTE) or {}).get("free") or 0.0)))

    def _fund(self, quote_usdt: float) -> None:
        """Move the buy's shortfall from the futures wallet to the spot wallet. A lost answer
        is settled by reading the spot balance: never a blind second transfer."""
        needed = Decimal(repr(quote_usdt))
        shortfall = (needed - self._spot_free_usdt()).quantize(USDT_STEP, ROUND_UP)
        if shortfall <= 0:
            return
        try:
            self.client.transfer(QUOTE, float(shortfall), FUTURES_WALLET, SPOT_WALLET)
        except ccxt.InsufficientFunds as error:
            raise ExecutionRejected(
                f"{self.name}: the futures wallet cannot fund {shortfall} USDT for spot: {error}"
            ) from error
        except ccxt.OperationFailed as error:
            if isinstance(error, RATE_LIMITED):
                self.pacer.wait_rate_limited(0)
            if self._spot_free_usdt() < needed:
                raise TemporaryError(
                    f"{self.name}: USDT transfer to spot unconfirmed ({type(error).__name__}); "
                    "nothing ordered"
                ) from error

    def _sweep(self) -> None:
        """Move the spot wallet's free USDT back to the futures wallet. A failure is logged,
        not raised: the USDT stays in the account and in the book."""
        try:
            free = self._spot_free_usdt().quantize(USDT_STEP, ROUND_DOWN)
            if free > 0:
                self.client.transfer(QUOTE, float(free), SPOT_WALLET, FUTURES_WALLET)
        except (ccxt.BaseError, TemporaryError) as error:
            log_event(logger, "VEN-004", f"{self.name}: spot USDT not moved back: {error}")
