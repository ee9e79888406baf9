"""Historical data provider (ADR-004, 009, 053): every series on one hourly UTC grid.

Built once per run from a data root (a data folder, or the database it was loaded into:
`data.store`): reads the files the mode needs (cached per process, read-only), checks
they cover the run window (naming the file and the window when they do not), bridges holes
explicitly (the freshest of the own series held a bounded time and the documented fallbacks or
configured proxy venues, `data.price_bridge`; each bridge is recorded), carries daily
observations (LST ρ, AAVE indices) between their days at a growth rate known at each one, and
holds the result in numpy arrays. `get_data(t)` is O(1) and refuses any hour after the
engine's clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import DataError, LookAheadError
from basis_strategy.data.align import (
    NS_PER_HOUR,
    Accrual,
    Bridge,
    accrued_by_hour,
    asof_hours,
    carry_aave_daily,
    carry_rho_daily,
    first_ns,
    midnight_rows,
    ns,
    runs,
)
from basis_strategy.data.benchmark import apy_index, coverage
from basis_strategy.data.estimates import estimate_columns
from basis_strategy.data.market import (
    NOTHING_ACCRUED,
    AaveRisk,
    FundingRate,
    MarketState,
    RewardPayout,
)
from basis_strategy.data.plausibility import check_columns
from basis_strategy.data.price_pick import PricePick, source_labels, sources_by_hour
from basis_strategy.data.requirements import (
    EMODE_PARAMS,
    RESERVE_PARAMS,
    AaveSeries,
    BenchmarkSeries,
    FundingSeries,
    LstSeries,
    PriceSeries,
    Requirements,
    RewardFiles,
    Source,
    TokenPriceSeries,
    requirements_for,
)
from basis_strategy.data.rewards_schedule import RewardInputs, reward_schedule
from basis_strategy.data.run_reads import SETTLEMENT_HOURS, RunReads, no_rows, stamp
from basis_strategy.data.shocks import apply_shocks
from basis_strategy.data.sources.aave import read_aave_daily
from basis_strategy.data.store import DataRoot

HOUR = timedelta(hours=1)
BENCHMARK = "benchmark_index"


class HistoricalDataProvider(RunReads):
    """Market data for one run, aligned on the hourly grid [start, end].

    `data`: a data folder (a path), or any `DataRoot` (`basis_strategy.data.db.DatabaseData`
    for a database); the same files give the same columns either way.
    """

    def __init__(self, config: RunConfig, data: str | os.PathLike[str] | DataRoot) -> None:
        super().__init__(config, data)
        mode = config.mode
        self.price_bridge = mode.data.price_bridge
        self._risk: dict[tuple[str, bool], AaveRisk] = {}
        self._token_eth: dict[str, np.ndarray] = {}
        self._reanchored: dict[str, Accrual] = {}
        self._source_codes: dict[str, np.ndarray] = {}
        self._source_labels: dict[str, list[str]] = {}
        needs = requirements_for(config)
        columns = self._build_columns(needs)
        check_columns(columns, self.times, mode.data)
        self.rewards = self._reward_schedule(needs.rewards, columns)
        funding = self._funding_schedule(needs.funding)
        self.columns, self._funding, self.shocks_applied = apply_shocks(
            mode.shocks, self._grid_ns, columns, funding
        )
        hours, with_rewards = len(self.times), needs.rewards is not None
        self.columns.update(
            estimate_columns(self.columns, self._funding, self.rewards, hours, with_rewards)
        )
        self.benchmark = self._add_benchmark(needs, columns)
        self._accrued = accrued_by_hour(self.columns, self._reanchored)
        self._mark_sources = sources_by_hour(
            self._source_codes, self._source_labels, len(self.times)
        )
        self._names = list(self.columns)
        columns_in_order = [self.columns[name] for name in self._names]
        matrix = np.column_stack(columns_in_order) if columns_in_order else None
        self._rows: list[list[float]] = matrix.tolist() if matrix is not None else []
        self._now: datetime | None = None

    def _build_columns(self, needs: Requirements) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        for price in needs.prices:
            columns[price.name] = self._price_column(price)
        for aave in needs.aave:
            for prefix, column in zip(
                ("aave_li", "aave_bi", "aave_lr", "aave_br"), self._aave_columns(aave), strict=True
            ):
                columns[f"{prefix}:{aave.asset}"] = column
        if needs.lst is not None:
            rho = self._lst_rate_column(needs.lst)
            columns[f"lst_rate:{needs.lst.lst}"] = rho
            columns[f"lst_market:{needs.lst.lst}"] = self._lst_market_column(needs.lst, rho)
        for token in needs.tokens:
            self._token_eth[token.token] = self._token_price_eth(token)
            columns[f"price:{token.token}"] = self._token_eth[token.token] * columns["price:ETH"]
        return columns

    # --- hourly prices ---------------------------------------------------------------------

    def _price_column(self, spec: PriceSeries) -> np.ndarray:
        """Own observations and fallbacks, each held at most `max_ffill_hours`, picked per hour
        by `data.price_bridge` (see `price_pick`); the bridges used are recorded, and the
        source of each hour's value is kept for the balance sheet. Fallback files are read only
        when they can change the pick."""
        pick = PricePick(len(self._grid_ns), self.price_bridge)
        files: list[str] = []
        for rank, source in enumerate(spec.sources):
            if rank and pick.complete():
                break
            series = self._optional_series(source) if spec.extend else self._series(source)
            if rank == 0 and not spec.extend:
                self._check_span(source, series, self.max_ffill_hours)
            files.append(self._file(source))
            if series is not None:
                pick.offer(rank, *asof_hours(series, self._grid_ns, self.max_ffill_hours))
        for rank, file in enumerate(files):
            as_proxy = rank > 0 or not spec.own_file
            self._record(spec.name, file, pick.rank == rank, pick.age_hours, as_proxy=as_proxy)
        why = (
            f"no bridge within {self.max_ffill_hours} h forward fill or a configured fallback/proxy"
        )
        self._require_values(spec.sources[0], pick.values, why)
        if spec.name.startswith(("price:", "perp:")):
            self._source_codes[spec.name] = pick.source_codes(self.max_ffill_hours)
            self._source_labels[spec.name] = source_labels(
                [source.label for source in spec.sources], spec.own_file, self.max_ffill_hours
            )
        return pick.values

    # --- LSTs and reward tokens --------------------------------------------------------------

    def _lst_rate_column(self, spec: LstSeries) -> np.ndarray:
        """ρ: a file read on chain every hour (`observed_hourly`) gives every hour's read, held at
        most `max_ffill_hours`. Otherwise only its 00:00 rows are observations: each is carried
        to the next at ρ's trailing growth (`align.carry_rho_daily`), and the next one
        re-anchors it (the difference is booked as `staking_correction`). A
        missing day is carried at most 24 + `max_ffill_hours` h. Hours before the file's first
        observation take the 00:00 snapshots of the AAVE daily `price` columns (LST / WETH),
        recorded as a proxy.
        """
        name = f"lst_rate:{spec.lst}"
        reads = self._series(spec.oracle)
        if reads.observed_hourly:
            return self._lst_rate_reads(spec, reads.rate)
        oracle = midnight_rows(reads.rate)
        start = first_ns(oracle)
        lead = self._lst_snapshots(spec, before=start)
        observed = pd.concat([lead, oracle]) if len(lead) else oracle
        max_age = 24 + self.max_ffill_hours
        accrual = self._reanchored[name] = carry_rho_daily(observed, self._grid_ns, max_age)
        known = ~np.isnan(accrual.values)
        from_lead = known & (self._grid_ns < start)
        self._record_snapshot_lead(spec, from_lead, accrual.age_hours)
        self._record(
            name,
            self._file(spec.oracle),
            known & ~from_lead,
            accrual.age_hours,
            as_proxy=False,
            held_hours=23,
        )
        self._require_values(
            spec.oracle, accrual.values, f"no 00:00 snapshot within the {max_age} h before"
        )
        return accrual.values

    def _lst_rate_reads(self, spec: LstSeries, rate: pd.Series) -> np.ndarray:
        """ρ from hourly on-chain reads, each held at most `max_ffill_hours`."""
        values, age = asof_hours(rate, self._grid_ns, self.max_ffill_hours)
        known = ~np.isnan(values)
        self._record(f"lst_rate:{spec.lst}", self._file(spec.oracle), known, age, as_proxy=False)
        lead = ~known & (self._grid_ns < first_ns(rate))
        if lead.any():
            snapshots = self._lst_snapshots(spec, before=first_ns(rate))
            held, held_age = asof_hours(snapshots, self._grid_ns, 24 + self.max_ffill_hours)
            take = lead & ~np.isnan(held)
            values[take] = held[take]
            self._record_snapshot_lead(spec, take, held_age)
        why = f"no read within the {self.max_ffill_hours} h before"
        self._require_values(spec.oracle, values, why)
        return values

    def _lst_snapshots(self, spec: LstSeries, before: int) -> pd.Series:
        """ρ at the AAVE daily snapshots stamped before `before` (ns), from the LST and WETH
        `price` columns; not read (empty) when the run starts at or after `before`."""
        if self._grid_ns[0] >= before:
            return no_rows()
        lst_usd, weth_usd = (self._series(source) for source in spec.snapshots)
        ratio = (lst_usd / weth_usd).dropna()
        return ratio[ns(pd.DatetimeIndex(ratio.index)) < before]

    def _record_snapshot_lead(self, spec: LstSeries, take: np.ndarray, age: np.ndarray) -> None:
        files = " / ".join(self._file(source) for source in spec.snapshots)
        self._record(f"lst_rate:{spec.lst}", files, take, age, as_proxy=True)

    def _lst_market_column(self, spec: LstSeries, rho: np.ndarray) -> np.ndarray:
        """ρ_mkt: the peg file's market rate (a trailing 24 h median, usable at its stamp),
        forward-filled at most `max_ffill_hours`; before its first row, ρ (recorded)."""
        name = f"lst_market:{spec.lst}"
        peg = self._optional_series(spec.peg)
        peg = no_rows() if peg is None else peg
        values, age = asof_hours(peg, self._grid_ns, self.max_ffill_hours)
        self._record(name, self._file(spec.peg), ~np.isnan(values), age, as_proxy=False)
        lead = np.isnan(values) & (self._grid_ns < first_ns(peg))
        values[lead] = rho[lead]
        self._record(name, self._file(spec.oracle), lead, age, as_proxy=True)
        self._require_values(
            spec.peg, values, f"no bridge within {self.max_ffill_hours} h forward fill"
        )
        return values

    def _token_price_eth(self, spec: TokenPriceSeries) -> np.ndarray:
        """WETH per token (bar open): NaN before the pool's first bar (no reward of that token
        exists yet), forward-filled at most `max_ffill_hours` after it."""
        pool = self._optional_series(spec.pool)
        pool = no_rows() if pool is None else pool
        values, age = asof_hours(pool, self._grid_ns, self.max_ffill_hours)
        name = f"price:{spec.token}"
        self._record(name, self._file(spec.pool), ~np.isnan(values), age, as_proxy=False)
        listed = self._grid_ns >= first_ns(pool)
        why = f"no bridge within {self.max_ffill_hours} h forward fill"
        self._require_values(spec.pool, values, why, where=listed)
        return values

    def _reward_schedule(
        self, spec: RewardFiles | None, columns: dict[str, np.ndarray]
    ) -> dict[int, tuple[RewardPayout, ...]]:
        """Grid position -> reward payouts of that hour; each needs its token's price then."""
        if spec is None:
            return {}
        inputs = RewardInputs(  # a file without rows yet pays nothing (None)
            eigen=self._optional_series(spec.eigen),
            topups=self._optional_series(spec.topups),
            seasonal=None if spec.seasonal is None else self._optional_series(spec.seasonal),
            reward_apy=None if spec.reward_apy is None else self._optional_series(spec.reward_apy),
            eigen_price_eth=self._token_eth.get("EIGEN"),
            sources={
                "reward_apy": self.files.get("eETH reward APY", ""),
                "eigen_price": self.files.get("uniswap v3 EIGEN/WETH", ""),
            },
        )
        schedule = reward_schedule(spec.rewards_mode, self.times, inputs)
        for i, payouts in schedule.items():
            for payout in payouts:
                price = columns.get(f"price:{payout.token}")
                if price is None or np.isnan(price[i]):
                    label = f"uniswap v3 {payout.token}/WETH"
                    raise DataError(
                        f"{self.files.get(label, label)}: no {payout.token} price at "
                        f"{stamp(self.times[i])}, when a {payout.kind} payout of it is paid"
                    )
        return schedule

    # --- AAVE ------------------------------------------------------------------------------

    def _aave_columns(self, spec: AaveSeries) -> tuple[np.ndarray, ...]:
        """Liquidity and borrow indices carried between the daily snapshots (`align`); the next
        snapshot re-anchors each (the difference is booked as `supply_correction` /
        `borrow_correction`). Supply and borrow APRs: the last snapshot's."""
        source = Source(f"aave v3 {spec.asset} daily rates", spec.pattern, read_aave_daily)
        daily: pd.DataFrame = self._series(source)
        max_age = 24 + self.max_ffill_hours  # a daily snapshot carries a day ahead
        self._check_span(source, daily, max_age)
        li, bi, supply_apr, borrow_apr = carry_aave_daily(daily, self._grid_ns, max_age)
        self._reanchored[f"aave_li:{spec.asset}"] = li
        self._reanchored[f"aave_bi:{spec.asset}"] = bi
        if np.isnan(li.values).any():
            gap = runs(np.isnan(li.values))[0]
            raise DataError(
                f"{self.files[source.label]}: no daily snapshot within {max_age} h before "
                f"{stamp(self.times[gap[0]])}"
            )
        return li.values, bi.values, supply_apr, borrow_apr

    # --- funding ---------------------------------------------------------------------------

    def settlement_positions(self) -> np.ndarray:
        """Grid positions of funding settlements in (start, end] (00/08/16 UTC)."""
        hours = (self._grid_ns // NS_PER_HOUR) % 24
        is_settlement = np.isin(hours, SETTLEMENT_HOURS)
        is_settlement[0] = False  # nothing is open before the first hour's trades
        return np.flatnonzero(is_settlement)

    def _funding_schedule(
        self, specs: tuple[FundingSeries, ...]
    ) -> dict[int, tuple[FundingRate, ...]]:
        positions = self.settlement_positions()
        by_hour: dict[int, list[FundingRate]] = {int(p): [] for p in positions}
        for spec in specs:
            rates = self._funding_rates(spec, positions)
            for pos, rate in zip(positions.tolist(), rates.tolist(), strict=True):
                by_hour[pos].append(FundingRate(spec.venue, spec.base, rate))
        return {pos: tuple(rates) for pos, rates in by_hour.items() if rates}

    def _funding_rates(self, spec: FundingSeries, positions: np.ndarray) -> np.ndarray:
        series = self._series(spec.source)
        times = self._grid_ns[positions]
        if len(times) and (
            series.index[0] > self.times[positions[0]]
            or series.index[-1] < self.times[positions[-1]]
        ):
            raise self._coverage_error(spec.source, series.index[0], series.index[-1])
        rates = series.reindex(pd.DatetimeIndex(times).tz_localize(UTC)).to_numpy(
            dtype=np.float64, copy=True
        )
        missing = np.isnan(rates)
        if missing.any() and spec.proxy is not None:
            proxy = self._series(spec.proxy.source)
            proxy_rates = proxy.reindex(pd.DatetimeIndex(times[missing]).tz_localize(UTC))
            rates[missing] = proxy_rates.to_numpy(dtype=np.float64)
            self._record_funding_proxies(spec, positions, missing)
        if np.isnan(rates).any():
            at = self.times[positions[np.flatnonzero(np.isnan(rates))[0]]]
            raise DataError(
                f"{self.files[spec.source.label]} ({spec.source.label}): no funding settlement at "
                f"{stamp(at)} and no proxy venue configured (data.funding_proxies)"
            )
        return rates

    def _record_funding_proxies(
        self, spec: FundingSeries, positions: np.ndarray, missing: np.ndarray
    ) -> None:
        assert spec.proxy is not None
        times = [self.times[p] for p in positions[missing]]
        day_runs: list[list[datetime]] = []
        for t in times:  # group settlements no more than 8 h apart into one bridge
            if day_runs and t - day_runs[-1][-1] <= timedelta(hours=8):
                day_runs[-1].append(t)
            else:
                day_runs.append([t])
        for group in day_runs:
            self.bridges.append(
                Bridge(
                    f"funding:{spec.venue}:{spec.base}USDT",
                    "proxy",
                    self.files[spec.proxy.source.label],
                    group[0],
                    group[-1],
                    int((group[-1] - group[0]) / HOUR) + 1,
                    len(group),
                )
            )

    # --- benchmark (issue 4) ---------------------------------------------------------------

    def _add_benchmark(
        self, needs: Requirements, unshocked: dict[str, np.ndarray]
    ) -> dict[str, object]:
        """Add the `benchmark_index` column (NaN where there is none) and describe it.

        Added after the shocks and from the unshocked columns: the benchmark is history, and
        no shock glob reaches it. Never fails for missing benchmark data (information only).
        """
        spec = needs.benchmark
        values = np.full(len(self._grid_ns), np.nan)
        info: dict[str, object] = {"name": None, "source": None, "method": None, "note": None}
        if spec is not None and spec.lst is not None and needs.lst is not None:
            values = unshocked[f"lst_rate:{spec.lst}"].copy()
            info.update(
                name=spec.name,
                source=self._file(needs.lst.oracle),
                method=f"ETH value of 1 {spec.lst}: the lst_rate:{spec.lst} column (oracle ρ)",
            )
        elif spec is not None and spec.apy is not None:
            values = self._apy_index(spec, info)
        self.columns[BENCHMARK] = values
        return {**info, **coverage(values, self.times)}

    def _apy_index(self, spec: BenchmarkSeries, info: dict[str, object]) -> np.ndarray:
        """index_t = index_{t−1} × (1 + apy_{t−1})^(1/8760), 1.0 at the first hour with an APY.

        apy: the daily observation stamped 00:00 UTC of its date, held to the next one (23 h by
        design) plus at most `max_ffill_hours` (a recorded forward fill). Hours without an APY
        are NaN and accrue nothing. A missing or empty file gives an all-NaN index.
        """
        assert spec.apy is not None
        source = spec.apy
        info.update(
            name=spec.name,
            source=source.pattern,
            method=(
                "index_t = index_{t-1} * (1 + apy_{t-1})^(1/8760), 1.0 at the first hour with "
                "an APY; apy: the daily file's value stamped 00:00 UTC of its date, held to the "
                f"next day plus at most {self.max_ffill_hours} h"
            ),
        )
        found = self.root.exists(source.pattern)
        daily = self._optional_series(source) if found else None
        if daily is None:
            info["note"] = "benchmark file not found" if not found else "benchmark file has no rows"
            return np.full(len(self._grid_ns), np.nan)
        info["source"] = self._file(source)
        apy, age = asof_hours(daily, self._grid_ns, 24 + self.max_ffill_hours)
        known = ~np.isnan(apy)
        self._record(BENCHMARK, self._file(source), known, age, as_proxy=False, held_hours=23)
        return apy_index(apy)

    # --- reads -----------------------------------------------------------------------------

    def set_clock(self, t: datetime) -> None:
        """The engine's current hour: nothing after it may be read."""
        self._now = t

    def position(self, t: datetime) -> int:
        offset = t - self.start
        i = int(offset // HOUR)
        if offset % HOUR or not 0 <= i < len(self.times):
            raise DataError(
                f"{t.isoformat()} is not an hour of the run grid "
                f"{stamp(self.start)} -> {stamp(self.end)}"
            )
        return i

    def get_data(self, t: datetime) -> MarketState:
        """The market as known at `t` (O(1))."""
        if self._now is None or t > self._now:
            raise LookAheadError(f"read at {t.isoformat()} after the clock ({self._now})")
        i = self.position(t)
        return MarketState(
            self.times[i],
            i,
            dict(zip(self._names, self._rows[i], strict=True)),
            self._funding.get(i, ()),
            self.rewards.get(i, ()),
            self._accrued.get(i, NOTHING_ACCRUED),
            self._mark_sources[i],
        )

    def aave_risk(self, asset: str, emode: bool) -> AaveRisk:
        """AAVE v3 risk parameters of `asset` as collateral (domain 4.1): e-mode (LST against
        WETH) from the risk-parameter JSON, else the real standard ones from the manual reserve
        table. Read on first use, then cached."""
        key = (asset, emode)
        if key not in self._risk:
            source = EMODE_PARAMS if emode else RESERVE_PARAMS
            table: dict[str, dict[str, float]] = self._series(source)
            if asset not in table:
                raise DataError(
                    f"{self._file(source)} ({source.label}): no parameters for {asset!r}; "
                    f"it has {', '.join(sorted(table))}"
                )
            params = table[asset]
            self._risk[key] = AaveRisk(
                params["max_ltv" if emode else "ltv"],
                params["liquidation_threshold"],
                params["liquidation_bonus"],
            )
        return self._risk[key]

    def bridge_summary(self) -> list[dict[str, object]]:
        return [bridge.as_dict() for bridge in self.bridges]
