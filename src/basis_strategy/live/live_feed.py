"""A session on live market feeds (issues 13 and 14): the engine, its live venues and its
market source, built from a request and the environment, where a replay builds them from the
stored history (`runner.py`).

What runs on live feeds so far:
- paper, every mode: the simulated venues with the chain's risk parameters and the config's
  capital, fed by the chain (`build_chain_feed`: no key, no account) and each hedge venue's
  public perp data (`cex_readers`: ccxt with no key);
- live, the modes whose every position is on chain (eth_leveraged, pure_lending, ...),
  executed on the chain the environment names (`build_live_chain`). A mode with CEX legs is
  refused by name: its session process does not yet build the CEX clients.
The chain's market (`ChainReader`: AAVE's indices and rates, the oracle's ETH and LST prices,
the DEX's LST price, the gas price) is read at the newest block at or before each cycle's
time.

- **Opening balance** (live): a fresh run's capital is what the account (and the operator's
  gas ETH) holds of the share class's currency, adopted as the initial deposit; anything else
  held (an AAVE position, an LST) refuses the start: it is not cash of this run.
- **Resume** (live): the chain venue's own ledger is the chain's holdings, and the restored
  book must equal them (start-up reconciliation, REC-003) before a cycle runs. Paper resumes
  from its checkpoint, its simulated venues bound again to the chain's risk.
- The engine's `data` is `LiveFacts`: the chain's AAVE risk parameters, and no backtest facts
  (no shocks, no benchmark, no data files: the feed is the chain).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.errors import ConfigError, ReconciliationHalt
from basis_strategy.data.live import LiveDataProvider, LiveNeeds, cex_needs
from basis_strategy.data.live_reads import CcxtPerpReader, Reader
from basis_strategy.data.market import AaveRisk, MarketState
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.clients import public_clients
from basis_strategy.live.service import LiveStartRequest
from basis_strategy.live.session import MarketSource
from basis_strategy.live.session_store import SessionRequest
from basis_strategy.venues.live.chain import ChainAccount
from basis_strategy.venues.live.chain_build import build_chain_feed, build_live_chain
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import wallet_key

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


def opening_capital(config: RunConfig, account: ChainAccount) -> float:
    """What the account (with the operator's gas ETH) holds of the share class's currency, if
    that is all it holds. The gas ETH is the operator key's, which the account cannot spend:
    it must fit in the mode's cash reserve, or the entry would invest ETH the account does
    not hold. A USDT run would hold gas ETH beside its capital: not supported yet."""
    currency = config.share_class.currency
    key = wallet_key(currency)
    held = account.holdings()
    other = sorted(k for k, v in held.items() if k != key and abs(v) > DUST)
    if other:
        raise ConfigError(
            "execution",
            f"the account holds {', '.join(other)} besides {currency}: a fresh live run starts "
            "from cash only (and a USDT run's gas ETH is not supported yet)",
        )
    capital = held.get(key, 0.0)
    if capital <= 0.0:
        raise ConfigError("execution", f"the account holds no {currency} to start with")
    gas_eth = int(account.w3.eth.get_balance(account.sender.address)) / 1e18
    reserve = config.mode.reserve_ratio * capital
    if gas_eth > reserve:
        raise ConfigError(
            "execution",
            f"the operator's gas ETH {gas_eth:.6g} is above the mode's cash reserve "
            f"{reserve:.6g} ETH (reserve_ratio × capital): the entry would invest ETH the "
            "account does not hold",
        )
    return capital


def live_feed_sets(request: LiveStartRequest, env: Mapping[str, str]) -> tuple[str, ...]:
    """What a fresh session on live feeds adds to its request, stored with it (so a resume
    rebuilds the same run): its window is its clock's, from this hour (the opening deposit is
    due at its first cycle) and open-ended; live, its capital is what the account holds (paper
    keeps the config's `initial_capital`)."""
    config = load_run_config(request.mode, list(request.overrides), env=env)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=OPEN_ENDED_DAYS)
    window = (f"start={start.isoformat()}", f"end={end.isoformat()}")
    if request.execution == "paper":
        return window
    refuse_cex_legs(config)
    capital = opening_capital(config, build_live_chain(config, env).account)
    return (*window, f"initial_capital={capital!r}")


def refuse_cex_legs(config: RunConfig) -> None:
    if config.mode.hedge is not None:
        raise ConfigError(
            "execution",
            f"live execution of {config.mode.mode} on live feeds needs its CEX clients in the "
            "session process, not built yet: not started",
        )


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
) -> tuple[EventDrivenStrategyEngine, MarketSource]:
    """The engine and its source on live feeds: live, on the live on-chain venues and the
    chain's feed (resuming, the chain venue's ledger is the chain's holdings;
    `reconcile_at_resume` then compares them with the restored book); paper, on the simulated
    venues with the chain's risk parameters, fed by the chain and the CEX venues' public
    data, holding nothing anywhere."""
    config = load_run_config(saved.mode, list(saved.overrides), env=env)
    venues: dict[str, Any]
    readers: list[Reader]
    if request.execution == "paper":
        feed = build_chain_feed(config, env)
        facts = LiveFacts(feed.risk)
        venues = build_simulated_venues(config, facts.aave_risk)
        cex = cex_readers(config, dict(request.venue_urls))
        readers = [feed.reader, *cex]
        readable = set(feed.reader.series) & set(feed.market.market_values())
        readable.update(name for reader in cex for name in reader.series)
    else:
        refuse_cex_legs(config)
        chain = build_live_chain(config, env)
        facts = LiveFacts(chain.account.risk)
        if resuming:
            chain.account.ledger.quantities = dict(chain.account.holdings())
        venues = dict(chain.venues)
        readers = [chain.reader]
        readable = set(chain.reader.series) & set(chain.account.market_values())
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
    return EventDrivenStrategyEngine(config, data, venues), source


def reconcile_at_resume(engine: EventDrivenStrategyEngine) -> None:
    """The restored book against the chain (REC-003 refusal when they differ)."""
    for venue in engine.parts.execution.venues.venues.values():
        confirm: Any = getattr(venue, "confirm_book", None)
        if confirm is None:
            continue
        try:
            confirm(engine.parts.positions.quantities)
        except ReconciliationHalt as halt:
            raise ConfigError("resume", f"REC-003: {halt}: not resumed") from None
        return  # the on-chain venues share one account: one read
