"""`basis data download`, CEX part: spot and perp 1h OHLCV and funding history through ccxt.

For every asset × venue × {spot, perp, funding} series (`cex_layouts`), only the parts of the
window the manifest does not record as fetched are requested, page by page, forward in time:
each request asks for the rows in `[since, since + limit × step)` (`limit` = the endpoint's
maximum rows, so one request holds the whole sub-window whichever end the venue pages from),
and each page goes to the file's sink as it arrives, so an interrupted download keeps every page
already fetched. The next request starts where the previous sub-window ends, so a hole in the
venue's history (a page that jumps, an empty page) is stepped over and stays a hole, which the
manifest lists under `gaps`; every request moves the cursor forward, so paging always ends.

Rows are stamped at the bar's open (ccxt's candle timestamp) or the settlement time, and the
window is half-open: `start <= t < end`, cut at the last closed bar (and settlement) before now.
Rate limits, timeouts and outages (`RateLimitExceeded`, `DDoSProtection`, `RequestTimeout`,
`ExchangeNotAvailable`, `NetworkError`) are retried with backoff, honouring `Retry-After`; any
other venue error fails at once (`ConfigError` for a market the venue does not list, else
`DataError`). Only public endpoints are used: no API key is needed or read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
from tqdm import tqdm

from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.data.download.cex_layouts import (
    ASSETS,
    HOUR,
    KINDS,
    VENUES,
    CexSeries,
    all_series,
)
from basis_strategy.data.download.cex_okx import OkxDailySink
from basis_strategy.data.download.cex_rows import candle_rows, funding_rows, okx_daily_rows
from basis_strategy.data.download.files import TIME, CsvSink, PageSink
from basis_strategy.data.download.manifest import Manifest, Range
from basis_strategy.data.download.retry import RetryPolicy, with_retries

RETRY_ON: tuple[type[BaseException], ...] = (
    ccxt.RateLimitExceeded,
    ccxt.DDoSProtection,
    ccxt.RequestTimeout,
    ccxt.ExchangeNotAvailable,
    ccxt.NetworkError,
)
# Load only the markets the download uses: spot and USDT-margined perpetuals.
_MARKET_TYPES: dict[str, list[str]] = {
    "binance": ["spot", "linear"],
    "bybit": ["spot", "linear"],
    "okx": ["spot", "swap"],
}


def cex_exchange(venue: str) -> ccxt.Exchange:
    """A public-data ccxt client of `venue`: ccxt's rate limiter on, no API keys, raw responses
    kept (`last_json_response`: the candle columns ccxt's unified format drops)."""
    if venue not in VENUES:
        raise ConfigError("venues", f"unknown venue {venue!r} (known: {', '.join(VENUES)})")
    config = {
        "enableRateLimit": True,
        "enableLastJsonResponse": True,
        "timeout": 30_000,
        "options": {"fetchMarkets": {"types": _MARKET_TYPES[venue]}},
    }
    exchange: ccxt.Exchange = getattr(ccxt, venue)(config)
    return exchange


def _iso(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%SZ}"


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def retry_after(exchange: ccxt.Exchange) -> Callable[[BaseException], float | None]:
    """The venue's `Retry-After` (seconds) of a rate-limit answer, when it sent one."""

    def hint(exc: BaseException) -> float | None:
        if not isinstance(exc, ccxt.DDoSProtection):
            return None
        headers = exchange.last_response_headers or {}
        try:
            return float(headers.get("Retry-After", ""))
        except ValueError:
            return None

    return hint


@dataclass
class Pager:
    """Requests one series page by page (see the module docstring)."""

    exchange: ccxt.Exchange
    series: CexSeries
    policy: RetryPolicy
    limit: int
    pages: int = 0

    def _call(self, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
        """One request for rows in [since, until) (ccxt's `until` and OKX's `after` bound it)."""
        series, ex, last = self.series, self.exchange, _ms(until) - 1
        if series.kind != "funding":
            params = {**series.params, "until": last}
            candles = ex.fetch_ohlcv(series.symbol, "1h", _ms(since), self.limit, params)
            return candle_rows(series, candles, ex.last_json_response)
        if series.venue == "okx":  # ccxt's OKX funding history takes no `until`
            entries = ex.fetch_funding_rate_history(
                series.symbol, _ms(since), self.limit, {"after": last}
            )
            return okx_daily_rows(series, entries)
        entries = ex.fetch_funding_rate_history(
            series.symbol, _ms(since), self.limit, {"until": last}
        )
        return funding_rows(series, entries)

    def page(self, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
        """The rows in [since, until), sorted, each time once; retried per the policy."""
        what = f"{self.series.label} {_iso(since)} to {_iso(until)}"
        try:
            rows = with_retries(
                lambda: self._call(since, until),
                what,
                RETRY_ON,
                self.policy,
                wait_hint=retry_after(self.exchange),
            )
        except ccxt.BadSymbol as exc:
            venue, symbol = self.series.venue, self.series.symbol
            raise ConfigError("assets", f"{venue} lists no market {symbol}: {exc}") from exc
        except ccxt.BaseError as exc:
            raise DataError(f"{what}: {type(exc).__name__}: {exc}") from exc
        self.pages += 1
        rows = rows[(rows[TIME] >= since) & (rows[TIME] < until)]
        return rows.drop_duplicates(TIME, keep="last").sort_values(TIME, kind="stable")

    def check_full(self, rows: pd.DataFrame, since: pd.Timestamp, until: pd.Timestamp) -> None:
        """A window holds at most `limit` rows one step apart; a page of `limit` rows closer
        together means the venue may have left some out (Binance keeps the first `limit` of a
        window, Bybit and OKX the last): fail rather than write a series with silent holes."""
        step = self.series.step
        if len(rows) >= self.limit and bool((rows[TIME].diff() < step).any()):
            raise DataError(
                f"{self.series.label} {_iso(since)} to {_iso(until)}: a full page of "
                f"{len(rows)} rows closer together than {step}: the venue may have left rows "
                f"out of this window; the download cannot page this series"
            )


def fetch_range(
    pager: Pager, sink: PageSink, start: pd.Timestamp, end: pd.Timestamp, bar: Any
) -> None:
    """Page through [start, end) forward, handing each page to `sink` as it arrives."""
    step = pager.series.step
    since = start
    while since < end:
        until = min(since + pager.limit * step, end)
        rows = pager.page(since, until)
        pager.check_full(rows, since, until)
        sink.add(rows, fetched=(since, until))
        bar.update((until - since) / step)
        since = until


def _source(series: CexSeries) -> str:
    method = "fetch_funding_rate_history" if series.kind == "funding" else "fetch_ohlcv 1h"
    return f"ccxt {ccxt.__version__} {series.venue} {method} {series.symbol}"


def _sink(out: Path, series: CexSeries, manifest: Manifest) -> PageSink:
    if series.layout is None:
        return OkxDailySink(out, series.instrument, manifest, _source(series))
    return CsvSink(out, series.layout, manifest, _source(series))


def _progress_bar(series: CexSeries, missing: list[Range], progress: bool) -> Any:
    total = sum((b - a) / series.step for a, b in missing)
    unit = "settlement" if series.kind == "funding" else "h"
    on = progress and sys.stderr.isatty()
    return tqdm(total=total, desc=series.key, unit=unit, disable=not on, leave=False)


def download_series(
    out: Path,
    series: CexSeries,
    window: Range,
    manifest: Manifest,
    pager: Pager,
    progress: bool = True,
) -> dict[str, Any]:
    """Fetch what `manifest` lacks of `series` in `window`; return the file's summary."""
    missing = manifest.missing(series.key, *window)
    if missing:
        with _sink(out, series, manifest) as sink, _progress_bar(series, missing, progress) as bar:
            for start, end in missing:
                fetch_range(pager, sink, start, end, bar)
    entry = manifest.files.get(series.key, {})
    return {
        "pattern": series.key,
        "path": entry.get("path", ""),
        "source": entry.get("source", _source(series)),
        "rows": entry.get("rows", 0),
        "first": entry.get("first"),
        "last": entry.get("last"),
        "gaps": entry.get("gaps", []),
        "fetched": [[_iso(a), _iso(b)] for a, b in missing],
        "requests": pager.pages,
    }


def _utc(ts: pd.Timestamp, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        raise ConfigError(name, f"must be a UTC timestamp, was naive: {ts}")
    return ts.tz_convert("UTC").floor("s")


def _window(
    start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp | None
) -> tuple[Range, Range]:
    """[start, end) cut at the last closed bar and at the last settlement before `now`."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ConfigError("end", f"must be after start ({_iso(start)}), was {_iso(end)}")
    now = _utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    return (start, max(start, min(end, now.floor(HOUR)))), (start, max(start, min(end, now)))


def series_names(
    values: Sequence[str], known: tuple[str, ...], field: str, upper: bool
) -> list[str]:
    """`values` normalised and de-duplicated; ConfigError naming `field` if one is unknown."""
    names = [v.strip().upper() if upper else v.strip().lower() for v in values]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(field, f"must be a non-empty subset of {', '.join(known)}, was {values}")
    return list(dict.fromkeys(names))


def _exchanges(
    venues: list[str], given: Mapping[str, ccxt.Exchange] | None
) -> dict[str, ccxt.Exchange]:
    if given is None:
        return {v: cex_exchange(v) for v in venues}
    absent = [v for v in venues if v not in given]
    if absent:
        raise ConfigError("venues", f"no exchange given for {absent}")
    for venue in venues:
        given[venue].enableLastJsonResponse = True  # the candle columns ccxt's format drops
    return {v: given[v] for v in venues}


def download_cex(
    out: Path,
    start: pd.Timestamp,
    end: pd.Timestamp,
    assets: Sequence[str],
    venues: Sequence[str],
    manifest: Manifest,
    *,
    exchanges: Mapping[str, ccxt.Exchange] | None = None,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen, never mutated)
    progress: bool = True,
    kinds: Sequence[str] = KINDS,
    max_rows: int | None = None,
    now: pd.Timestamp | None = None,
) -> list[dict[str, Any]]:
    """Download the CEX series of `assets` × `venues` over [start, end) into `out`.

    Per series only what `manifest` does not record as fetched is requested. Returns one dict
    per file: `pattern` (the manifest key: the provider's glob; OKX funding: `folder
    [instrument]`), `path` (relative to `out`; "" while it holds no row), `source`, `rows`,
    `first`, `last`, `gaps` (holes `[first missing, last missing]`), `fetched` (the ranges
    requested this time) and `requests` (pages fetched this time).

    `exchanges`: ccxt clients by venue (default: `cex_exchange(venue)`); `kinds`: which of
    "spot", "perp", "funding" (default all); `max_rows` caps the rows asked per request below
    the venues' maxima; `now` (default: the clock) bounds the window at the last closed bar.
    `start`/`end` must be timezone-aware.
    """
    asset_names = series_names(assets, ASSETS, "assets", upper=True)
    venue_names = series_names(venues, VENUES, "venues", upper=False)
    kind_names = series_names(kinds, KINDS, "kinds", upper=False)
    bars, settlements = _window(start, end, now)
    clients = _exchanges(venue_names, exchanges)
    results = []
    for series in all_series(asset_names, venue_names, tuple(kind_names)):
        limit = series.limit if max_rows is None else max(1, min(series.limit, max_rows))
        pager = Pager(clients[series.venue], series, policy, limit)
        window = settlements if series.kind == "funding" else bars
        results.append(download_series(Path(out), series, window, manifest, pager, progress))
    return results


__all__ = ["RETRY_ON", "Pager", "cex_exchange", "download_cex", "download_series", "fetch_range"]
