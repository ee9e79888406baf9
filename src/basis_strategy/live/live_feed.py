"""A session on live market feeds (issues 13 and 14): the engine, its live venues and its
market source, built from a request and the environment, where a replay builds them from the
stored history (`runner.py`).

What runs on live feeds so far:
- paper, every mode: the simulated venues with the chain's risk parameters and the config's
  capital, fed by the chain (`build_chain_feed`: no key, no account) and each hedge venue's
  public perp data (`cex_readers`: ccxt with no key);
- live, every mode: what is on chain executed on the chain the environment names
  (`build_live_chain`), what is on CEX venues on their accounts (`live_cex_venues`: the
  credentials, the withdrawal allow-list); the CEX-only modes (btc_basis, eth_basis) fed as
  paper is.
The chain's market (`ChainReader`: AAVE's indices and rates, the oracle's ETH and LST prices,
the DEX's LST price, the gas price) is read at the newest block at or before each cycle's
time.

- **Opening balance** (live): a fresh run's capital is what the account (and the operator's
  gas ETH) holds of the share class's currency, adopted as the initial deposit; anything else
  held (an AAVE position, an LST) refuses the start: it is not cash of this run. On CEX venues
  it is each account's USDT, kept in the live store (`LiveAccount.adopt_opening_balance`).
- **Resume** (live): the chain venue's own ledger is the chain's holdings, and the restored
  book must equal them (start-up reconciliation, REC-003) before a cycle runs. Each CEX
  account must hold what its fill ledger says (orders -> fills -> positions -> balances,
  `live/startup.py`); fills of the cycle a crash interrupted are in the ledger and not in the
  restored book: that cycle is redone with the same client ids and adopts them. Paper resumes
  from its checkpoint, its simulated venues bound again to the chain's risk.
- The engine's `data` is `LiveFacts`: the chain's AAVE risk parameters, and no backtest facts
  (no shocks, no benchmark, no data files: the feed is the chain).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.errors import ConfigError, OperationalError, ReconciliationHalt
from basis_strategy.core.logs import log_event
from basis_strategy.data.live import LiveDataProvider, LiveNeeds, cex_needs
from basis_strategy.data.live_reads import CcxtPerpReader, Reader
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.clients import public_clients
from basis_strategy.live.go_live import CEX_ONLY_MODES
from basis_strategy.live.service import LiveStartRequest
from basis_strategy.live.session import MarketSource
from basis_strategy.live.session_store import SessionRequest
from basis_strategy.live.startup import StartupMismatchError, reconcile_at_start
from basis_strategy.live.store import LiveStore, TransferState
from basis_strategy.strategies.basis import Basis
from basis_strategy.venues.live.account import (
    MIN_TOLERANCE_BASE,
    MIN_TOLERANCE_USDT,
    LiveAccount,
    confirm_all,
)
from basis_strategy.venues.live.build import live_cex_venues, opening_usdt
from basis_strategy.venues.live.chain import ChainAccount
from basis_strategy.venues.live.chain_build import build_chain_feed, build_live_chain
from basis_strategy.venues.live.withdrawals import ticket_of
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import wallet_key

LOG = logging.getLogger(__name__)
DUST = 1e-12  # a holding below this (in its units) is nothing
OPEN_ENDED_DAYS = 3650  # a live session's configured window ends this far ahead


class LiveFacts:
    """The engine's `data` on live feeds (module doc). The session passes each cycle's
    market to `engine.step`: the engine never reads one from here."""

    shocks_applied: list[dict[str, object]] = []  # noqa: RUF012 - read only
    files: dict[str, str] = {}  # noqa: RUF012 - read only
    times: tuple[datetime, ...] = ()

    def __init__(self, risk: Callable[[str, bool], AaveRisk], source: str = "chain") -> None:
        self._risk = risk
        self.origin: dict[str, object] = {"synthetic": False, "source": source}
        self.benchmark: dict[str, object] = {
            "name": None, "source": None, "method": None,
            "note": "no benchmark on live feeds", "first": None, "last": None, "gaps": [],
        }  # fmt: skip

    def aave_risk(self, asset: str, emode: bool) -> AaveRisk:
        """The chain's risk parameters. Simulated venues hold this method, not the reader's:
        a checkpoint refers to the engine's data by name, never copies a web3 connection."""
        return self._risk(asset, emode)

    def bridge_summary(self) -> list[dict[str, object]]:
        return []

    def set_clock(self, t: datetime) -> None:
        raise ConfigError("data", "a session on live feeds passes its market to the engine")

    def get_data(self, t: datetime) -> MarketState:
        raise ConfigError("data", "a session on live feeds passes its market to the engine")


def opening_capital(config: RunConfig, account: ChainAccount) -> tuple[float, dict[str, float]]:
    """What the account (with the operator's gas ETH) holds of the share class's currency, if
    that is all it holds, and what it holds in kind besides. The gas ETH is the operator
    key's, which the account cannot spend: in an ETH run it must fit in the mode's cash
    reserve, or the entry would invest ETH the account does not hold; in a USDT run it is the
    gas buffer, deposited in kind with the opening deposit (`Flows.deposit_in_kind`)."""
    currency = config.share_class.currency
    key, gas_key = wallet_key(currency), wallet_key("ETH")
    held = account.holdings()
    allowed = {key, gas_key}
    other = sorted(k for k, v in held.items() if k not in allowed and abs(v) > DUST)
    if other:
        raise ConfigError(
            "execution",
            f"the account holds {', '.join(other)} besides {currency}: a fresh live run starts "
            "from cash only",
        )
    capital = held.get(key, 0.0)
    if capital <= 0.0:
        raise ConfigError("execution", f"the account holds no {currency} to start with")
    if currency != "ETH":
        gas = held.get(gas_key, 0.0)
        return capital, ({"ETH": gas} if gas > DUST else {})
    gas_eth = int(account.w3.eth.get_balance(account.sender.address)) / 1e18
    reserve = config.mode.reserve_ratio * capital
    if gas_eth > reserve:
        raise ConfigError(
            "execution",
            f"the operator's gas ETH {gas_eth:.6g} is above the mode's cash reserve "
            f"{reserve:.6g} ETH (reserve_ratio × capital): the entry would invest ETH the "
            "account does not hold",
        )
    return capital, {}


def live_feed_sets(
    request: LiveStartRequest, env: Mapping[str, str], store: LiveStore | None, session_id: str
) -> tuple[str, ...]:
    """What a fresh session on live feeds adds to its request, stored with it (so a resume
    rebuilds the same run): its window is its clock's, from this hour (the opening deposit is
    due at its first cycle) and open-ended; live, its capital is what the chain account
    holds plus the CEX accounts' opening balances (each kept in the live store, with a USDT
    run's gas ETH); paper keeps the config's `initial_capital`."""
    config = load_run_config(request.mode, list(request.overrides), env=env)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=OPEN_ENDED_DAYS)
    window = (f"start={start.isoformat()}", f"end={end.isoformat()}")
    if request.execution == "paper":
        return window
    assert store is not None, "live execution keeps its orders in a live store"
    capital = 0.0
    if config.mode.mode in CEX_ONLY_MODES:
        build_chain_feed(config, env)  # its feed refuses before anything is set on a venue
    else:
        chain_capital, in_kind = opening_capital(config, build_live_chain(config, env).account)
        store.keep_opening(session_id, "wallet", chain_capital, config.share_class.currency)
        for asset, amount in in_kind.items():
            store.keep_opening(session_id, "wallet", amount, asset)
        capital += chain_capital
    if config.mode.hedge is not None:
        venues = live_cex_venues(config, env, dict(request.venue_urls), store, session_id)
        capital += sum(opening_usdt(venues).values())
    return (*window, f"initial_capital={capital!r}")


def cex_readers(config: RunConfig, base_urls: Mapping[str, str]) -> list[CcxtPerpReader]:
    """A paper run's CEX feed: each hedge venue's perp through a client with no key (mark,
    funding), the spot venue's index price as the asset's spot reference."""
    hedge, asset = config.mode.hedge, config.mode.asset
    if hedge is None or asset is None:
        return []
    venues = tuple(hedge.venues)
    reference = hedge.spot_venue if hedge.spot_venue in venues else venues[0]
    clients = public_clients(venues, base_urls)
    return [CcxtPerpReader(v, clients[v], asset, spot_reference=v == reference) for v in venues]


def build_live_feed(
    saved: SessionRequest,
    request: LiveStartRequest,
    env: Mapping[str, str],
    resuming: bool,
    store: LiveStore | None,
    session_id: str,
) -> tuple[EventDrivenStrategyEngine, MarketSource]:
    """The engine and its source on live feeds: live, on the live on-chain venues and the
    chain's feed (resuming, the chain venue's ledger is the chain's holdings;
    `reconcile_at_resume` then compares them with the restored book), or on the live CEX
    accounts fed as paper is; paper, on the simulated venues with the chain's risk
    parameters, fed by the chain and the CEX venues' public data, holding nothing anywhere."""
    config = load_run_config(saved.mode, list(saved.overrides), env=env)
    venues: dict[str, Any]
    readers: list[Reader]
    cex = cex_readers(config, dict(request.venue_urls))
    on_chain = config.mode.mode not in CEX_ONLY_MODES
    if request.execution == "live" and on_chain:
        chain = build_live_chain(config, env)
        facts = LiveFacts(chain.account.risk)
        if resuming:
            chain.account.ledger.quantities = dict(chain.account.holdings())
        venues = dict(chain.venues)
        readers = [chain.reader, *cex]
        readable = set(chain.reader.series) & set(chain.account.market_values())
        readable.update(name for reader in cex for name in reader.series)
        if config.mode.hedge is not None:
            assert store is not None, "live execution keeps its orders in a live store"
            venues.update(live_cex_venues(config, env, dict(request.venue_urls), store,
                                          session_id))  # fmt: skip
    else:
        feed = build_chain_feed(config, env)
        facts = LiveFacts(feed.risk)
        readers = [feed.reader, *cex]
        readable = set(feed.reader.series) & set(feed.market.market_values())
        readable.update(name for reader in cex for name in reader.series)
        if request.execution == "paper":
            venues = build_simulated_venues(config, facts.aave_risk)
        else:
            assert store is not None, "live execution keeps its orders in a live store"
            venues = live_cex_venues(config, env, dict(request.venue_urls), store, session_id)
    needs = cex_needs(config)
    names = (*needs.series, *needs.unread)
    unread = [n for n in names if n not in readable]
    if unread:
        raise ConfigError(
            "execution",
            f"{saved.mode} needs {', '.join(unread)}, which no live reader gives (set "
            "staking.rewards_mode=base_only for no reward token prices): not started",
        )
    max_age_s = request.limits().max_data_age_s
    source = LiveDataProvider(LiveNeeds(names, needs.funding), readers, max_age_s)
    data: Any = facts  # where the engine takes a provider
    engine = EventDrivenStrategyEngine(config, data, venues)
    if request.execution == "live":  # a checkpoint restores over it; a first cycle redone uses it
        assert store is not None, "live execution keeps its orders in a live store"
        _opening(engine, store, session_id, on_chain)
    return engine, source


def _opening(
    engine: EventDrivenStrategyEngine, store: LiveStore, session_id: str, on_chain: bool
) -> None:
    """The strategy's opening deposit as kept at the start (`live_feed_sets`): the capital
    where it lies (CEX accounts, the chain account), a USDT run's gas ETH in kind."""
    strategy = engine.parts.strategy
    capital = opening_usdt(engine.parts.execution.venues.venues)
    currency = engine.config.share_class.currency
    if capital:
        if on_chain:
            kept = store.opening(session_id, "wallet", currency)
            if kept is None:
                raise OperationalError(f"{session_id}: no opening {currency} kept for the wallet")
            capital["wallet"] = kept
        assert isinstance(strategy, Basis)
        strategy.start_on_venues(capital)
    gas = store.opening(session_id, "wallet", "ETH") if currency != "ETH" else None
    if gas:
        strategy.deposit_in_kind({"ETH": gas})


def reconcile_live_cycle(engine: EventDrivenStrategyEngine) -> None:
    """A live cycle's closing check: every CEX account's read, and the chain's holdings once
    (its venues share one account), against the book; ReconciliationHalt halts."""
    venues = engine.parts.execution.venues.venues
    book = engine.parts.positions.quantities
    confirm_all(venues, book)
    for venue in venues.values():
        confirm: Any = getattr(venue, "confirm_book", None)
        if confirm is not None and not isinstance(venue, LiveAccount):
            confirm(book)
            return


def reconcile_at_resume(engine: EventDrivenStrategyEngine, store: LiveStore, adopt: bool) -> None:
    """Start-up reconciliation of a resumed live session (REC-003 refusal, one line, when
    they differ): each CEX account against its own ledger (`_cex_at_resume`), and the
    restored book against the chain."""
    venues = engine.parts.execution.venues.venues
    accounts = [v for v in venues.values() if isinstance(v, LiveAccount)]
    if accounts:
        _cex_at_resume(engine, accounts, store, adopt)
    for venue in venues.values():
        confirm: Any = getattr(venue, "confirm_book", None)
        if confirm is None or isinstance(venue, LiveAccount):
            continue
        try:
            confirm(engine.parts.positions.quantities)
        except ReconciliationHalt as halt:
            raise ConfigError("resume", f"REC-003: {halt}: not resumed") from None
        return  # the on-chain venues share one account: one read


def _cex_at_resume(
    engine: EventDrivenStrategyEngine, accounts: list[LiveAccount], store: LiveStore, adopt: bool
) -> None:
    """Each account against its ledger (`live/startup.py`). With `adopt` (the operator's
    `--adopt-venue-state`), the venues' perp fills the ledger lacks are adopted first
    (`LiveCex.adopt_unbooked`, REC-006 each), booked at the next cycle; a difference left
    (money moved outside the run, a spot coin) still refuses: it is no trade of this run."""
    if adopt:
        for account in accounts:
            for fill in account.adopt_unbooked():
                log_event(LOG, "REC-006", f"{account.name}: adopted the venue's fill "
                          f"{fill.trade_id}: {fill.side.value} {fill.qty_base:.12g} "
                          f"{fill.symbol} at {fill.price_usdt:.12g}")  # fmt: skip
    ledger_book = {k: v for a in accounts for k, v in a.positions(whole_ledger=True).items()}
    sent = store.transfers(accounts[0].strategy_id, (TransferState.SENT,))
    capital = sum(a.opening_usdt for a in accounts)
    usdt_tolerance = max(MIN_TOLERANCE_USDT, engine.config.mode.reconciliation_tolerance * capital)
    now = MarketState(datetime.now(UTC), 0, {}, ())  # arrivals are read, not priced
    tickets = [ticket_of(r) for r in sent]
    booked = [set(a.transfers.arrivals_booked) if a.transfers else set() for a in accounts]
    try:
        reconcile_at_start(accounts, ledger_book, tickets, now, MIN_TOLERANCE_BASE, usdt_tolerance)
    except StartupMismatchError as refused:
        if not adopt:
            raise
        reason = str(refused).split(": ", 1)[-1]
        reason = reason.replace("or start with --adopt-venue-state", "(only fills are adopted)")
        raise ConfigError("start-up reconciliation", reason) from None
    for account, held in zip(accounts, booked, strict=True):  # a deposit it saw credited is
        if account.transfers is not None:  # booked by the next cycle, not by this check
            account.transfers.arrivals_booked = held
