"""`basis data check`: a coverage and quality report of a data folder (issue 6, part 2).

`check_folder(data_dir, modes, start, end)` returns a `FolderReport`: one `FileReport` per file
of the known families (see `check_files`), the OKX daily funding archive per instrument
(realised `real_funding_rate` vs predicted `funding_rate`), the common windows of the README's
coverage scopes, and per mode the series it needs and whether a run over its window can be
built (the `HistoricalDataProvider` either builds, listing its bridges, or raises DataError).
The report is `ok` when every checked mode can run and no file they read has a defect
(conflicting duplicates, bad values, short rows, rows out of order, implausible values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.errors import DataError
from basis_strategy.data.check_defects import mark_read, read_patterns
from basis_strategy.data.check_files import (
    FAMILIES,
    HOURS_PER_YEAR,
    MAX_LISTED,
    FileReport,
    check_file,
    describe_times,
    find_duplicates,
    iso_hour,
)
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.requirements import OKX_DAILY, Requirements, requirements_for
from basis_strategy.data.sources._common import try_parse_utc
from basis_strategy.data.sources.funding import OKX_DAILY_PATTERN

OKX_INSTRUMENTS = ("ETH-USDT-SWAP", "BTC-USDT-SWAP")

# The README's coverage scopes: the common window is the overlap of these files' windows.
_ETH_CEX = (
    "bybit_ETHUSDT_spot_1h_",
    "binance_ETHUSDT_perp_1h_",
    "bybit_ETHUSDT_perp_1h_",
    "binance_ETHUSDT_funding_rates_",
    "bybit_ETHUSDT_funding_rates_",
)
_BTC_CEX = (
    "binance_BTCUSDT_1h_",
    "bybit_BTCUSDT_spot_1h_",
    "binance_BTCUSDT_perp_1h_",
    "bybit_BTCUSDT_perp_1h_",
    "binance_BTCUSDT_funding_rates_",
    "bybit_BTCUSDT_funding_rates_",
)
_GAS_USDT_WETH = (
    "ethereum_gas_prices_",
    "aave-v3-ethereum_USDT_rates_",
    "aave-v3-ethereum_WETH_rates_",
)
_LST = (
    "aave-v3-ethereum_weETH_rates_",
    "aave-v3-ethereum_wstETH_rates_",
    "weETH_ETH_oracle_",
    "wstETH_ETH_oracle_",
    "weeth_oracle_yields_",
)
SCOPES: dict[str, tuple[str, ...]] = {
    "ETH CEX basis (Binance + Bybit spot/perp/funding, gas, AAVE USDT and WETH)": (
        *_ETH_CEX,
        *_GAS_USDT_WETH,
    ),
    "ETH modes on Binance + Bybit (+ AAVE four reserves, LST oracles, gas, weETH base yield)": (
        *_ETH_CEX,
        *_GAS_USDT_WETH,
        *_LST,
    ),
    "BTC modes on Binance + Bybit": _BTC_CEX,
    "BTC Binance + Bybit with gas and AAVE USDT": (
        *_BTC_CEX,
        "ethereum_gas_prices_",
        "aave-v3-ethereum_USDT_rates_",
    ),
    "All BTC-mode inputs (with OKX funding)": (*_BTC_CEX, "daily [BTC-USDT-SWAP]"),
    "All ETH-mode inputs (with OKX, EIGEN and ETHFI prices)": (
        *_ETH_CEX,
        *_GAS_USDT_WETH,
        *_LST,
        "uniswapv3_WETHUSDT_1h_",
        "okx_ETHUSDT_perp_1h_",
        "daily [ETH-USDT-SWAP]",
        "uniswapv3_EIGENWETH_1h_",
        "uniswapv3_ETHFIWETH_1h_",
    ),
}


@dataclass
class ModeReport:
    mode: str
    start: str
    end: str
    needs: list[str] = field(default_factory=list)
    can_run: bool = False
    error: str | None = None
    bridges: list[dict[str, object]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # patterns of the files and folders read

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "start": self.start,
            "end": self.end,
            "needs": self.needs,
            "can_run": self.can_run,
            "error": self.error,
            "bridges": self.bridges,
            "reads": self.reads,
        }


@dataclass
class FolderReport:
    data_dir: str
    files: list[FileReport]
    scopes: dict[str, tuple[str | None, str | None]]
    modes: list[ModeReport]

    @property
    def ok(self) -> bool:
        """Every checked mode can run, and no file they read has a defect (a defect outside
        a run's window does not stop that run but is one all the same)."""
        defects = any(f.engine_reads and f.defective for f in self.files)
        return all(mode.can_run for mode in self.modes) and not defects

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "files": [f.as_dict() for f in self.files],
            "scopes": {k: {"start": a, "end": b} for k, (a, b) in self.scopes.items()},
            "modes": [m.as_dict() for m in self.modes],
        }


# --- files ------------------------------------------------------------------------------------


def check_files(data_dir: Path) -> list[FileReport]:
    """A report for every file of the known families, then the OKX daily archive."""
    reports: list[FileReport] = []
    for family in FAMILIES:
        for path in sorted(data_dir.glob(family.pattern)):
            if path.is_file() and not (family.exclude and family.exclude in path.name):
                reports.append(check_file(path, family, data_dir))
    folder = data_dir / OKX_DAILY
    if folder.is_dir():
        reports.extend(check_okx_daily(folder, data_dir))
    return reports


def read_okx_daily(folder: Path) -> tuple[pd.DataFrame, list[Path]]:
    """Every daily file's rows (text), with the file name in `_file`."""
    paths = sorted(folder.glob(OKX_DAILY_PATTERN))
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False).assign(_file=p.name) for p in paths]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), paths


def check_okx_daily(folder: Path, data_dir: Path) -> list[FileReport]:
    """Per instrument: the realised series (`real_funding_rate`) with its gaps and duplicates,
    and the predicted `funding_rate` against it (conflicting duplicates, disagreement)."""
    frame, paths = read_okx_daily(folder)
    where = str(folder.relative_to(data_dir))
    needed = {"instrument", "funding_rate", "real_funding_rate", "funding_time"}
    if frame.empty or not needed <= set(frame.columns):
        report = FileReport(where, "okx daily funding")
        report.error = f"no daily files or missing columns {sorted(needed - set(frame.columns))}"
        return [report]
    reports = []
    for instrument in OKX_INSTRUMENTS:
        rows = frame[frame["instrument"] == instrument].reset_index(drop=True)
        reports.append(_okx_instrument(rows, f"{where} [{instrument}]", paths))
    return reports


def _okx_instrument(rows: pd.DataFrame, where: str, paths: list[Path]) -> FileReport:
    report = FileReport(where, "okx daily funding")
    if rows.empty:
        report.error = "no rows for this instrument"
        return report
    index, _ = try_parse_utc(rows["funding_time"])
    times = pd.Series(index, index=rows.index)
    describe_times(report, rows[["real_funding_rate"]], times, 8)
    _, predicted_conflicts = find_duplicates(rows[["funding_rate"]], times)
    realised = pd.to_numeric(rows["real_funding_rate"], errors="coerce").to_numpy(np.float64)
    predicted = pd.to_numeric(rows["funding_rate"], errors="coerce").to_numpy(np.float64)
    report.stats = funding_disagreement(predicted, realised)
    unique = ~times.duplicated(keep="first").to_numpy() & np.isfinite(realised)
    if unique.any():  # each settlement once (the 6-row days repeat it)
        report.stats["realised_mean_apr"] = float(realised[unique].mean() * HOURS_PER_YEAR / 8)
    report.notes.append(
        f"predicted funding_rate differs from realised real_funding_rate on "
        f"{int(report.stats['rows_differing'])} of {len(rows)} rows; "
        f"{len(predicted_conflicts)} timestamps carry conflicting predicted rates; "
        f"mean {report.stats['predicted_mean_apr']:.2%} a year predicted vs "
        f"{report.stats['realised_mean_apr']:.2%} realised"
    )
    missing_days = _missing_days(paths)
    if missing_days:
        report.notes.append(f"{len(missing_days)} days have no file: {', '.join(missing_days)}")
    return report


def funding_disagreement(predicted: np.ndarray, realised: np.ndarray) -> dict[str, float]:
    """How far the predicted rate is from the realised one, row by row (per 8 h fractions)."""
    both = np.isfinite(predicted) & np.isfinite(realised)
    p, r = predicted[both], realised[both]
    diff = p - r
    return {
        "rows_compared": float(both.sum()),
        "rows_differing": float(np.count_nonzero(diff != 0.0)),
        "mean_abs_difference": float(np.abs(diff).mean()) if diff.size else 0.0,
        "max_abs_difference": float(np.abs(diff).max()) if diff.size else 0.0,
        "predicted_mean_apr": float(p.mean() * HOURS_PER_YEAR / 8) if p.size else 0.0,
        "realised_mean_apr": float(r.mean() * HOURS_PER_YEAR / 8) if r.size else 0.0,
    }


def _missing_days(paths: list[Path]) -> list[str]:
    days = pd.to_datetime([p.stem.rsplit("_", 1)[-1] for p in paths], errors="coerce").dropna()
    if len(days) < 2:
        return []
    grid = pd.date_range(days.min(), days.max(), freq="D")
    return [d.strftime("%Y-%m-%d") for d in grid[~grid.isin(days)]]


def scope_windows(files: list[FileReport]) -> dict[str, tuple[str | None, str | None]]:
    """Each README scope's common window: latest first timestamp to earliest last one."""
    windows: dict[str, tuple[str | None, str | None]] = {}
    for name, needles in SCOPES.items():
        chosen = [f for f in files if f.first is not None and any(n in f.path for n in needles)]
        found = {n for n in needles if any(n in f.path for f in chosen)}
        if found != set(needles) or not chosen:
            windows[name] = (None, None)
            continue
        start = max(f.first for f in chosen if f.first is not None)
        end = min(f.last for f in chosen if f.last is not None)
        windows[name] = (iso_hour(start), iso_hour(end))
    return windows


# --- modes ------------------------------------------------------------------------------------


def describe_needs(needs: Requirements) -> list[str]:
    """One line per series a mode needs, sources primary first."""
    lines = [f"{p.name}: {' > '.join(s.label for s in p.sources)}" for p in needs.prices]
    for f in needs.funding:
        proxy = f" > proxy {f.proxy.source.label}" if f.proxy else ""
        lines.append(f"funding:{f.venue}:{f.base}: {f.source.label}{proxy}")
    lines += [f"aave:{a.asset}: {a.pattern}" for a in needs.aave]
    if needs.lst is not None:
        lines.append(f"lst:{needs.lst.lst}: {needs.lst.oracle.label}, {needs.lst.peg.label}")
    lines += [f"price:{t.token}: {t.pool.label}" for t in needs.tokens]
    if needs.rewards is not None:
        lines.append(f"rewards: {needs.rewards.rewards_mode}")
    return lines


def check_mode(mode: str, data_dir: Path, sets: Sequence[str] = ()) -> ModeReport:
    """Whether a run of ``mode`` (over its YAML window unless ``sets`` override it) can be built.

    Config errors propagate (bad input); data errors are reported."""
    config: RunConfig = load_run_config(mode, sets)
    report = ModeReport(mode, iso_hour(pd.Timestamp(config.mode.start)) or "", "")
    report.end = iso_hour(pd.Timestamp(config.mode.end)) or ""
    needs = requirements_for(config)
    report.needs = describe_needs(needs)
    report.reads = read_patterns(needs)
    try:
        provider = HistoricalDataProvider(config, data_dir)
    except DataError as err:
        report.error = str(err).replace("\n", " ")
        return report
    report.can_run = True
    report.bridges = summarise_bridges(provider.bridge_summary())
    return report


def summarise_bridges(bridges: list[dict[str, object]]) -> list[dict[str, object]]:
    """Bridges grouped by series, kind and source: stretches, hours and values."""
    groups: dict[tuple[str, str, str], dict[str, object]] = {}
    for bridge in bridges:
        key = (str(bridge["series"]), str(bridge["kind"]), str(bridge["source"]))
        group = groups.setdefault(
            key,
            {"series": key[0], "kind": key[1], "source": key[2], "stretches": 0, "values": 0},
        )
        group["stretches"] = int(str(group["stretches"])) + 1
        group["values"] = int(str(group["values"])) + int(str(bridge["values"]))
    return list(groups.values())


def check_folder(
    data_dir: Path, modes: Sequence[str] | None = None, sets: Sequence[str] = ()
) -> FolderReport:
    """The whole report; ``modes`` defaults to all seven. Raises DataError for a missing folder."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder not found: {data_dir}")
    files = check_files(data_dir)
    mode_reports = [check_mode(m, data_dir, sets) for m in (modes or MODE_NAMES)]
    mark_read(files, mode_reports)
    return FolderReport(str(data_dir), files, scope_windows(files), mode_reports)


# --- text report ------------------------------------------------------------------------------


def file_lines(report: FileReport) -> list[str]:
    """The findings of one file, one per line (empty when the file is clean)."""
    lines = [f"ERROR: {report.error}"] if report.error else []
    if report.gaps:
        lines.append(f"gaps: {report.gap_summary()}")
        lines += [
            f"  missing {g.missing}: {iso_hour(g.start)} -> {iso_hour(g.end)}"
            for g in report.gaps[:MAX_LISTED]
        ]
    for kind, stamps in (
        ("identical", report.identical_duplicates),
        ("conflicting", report.conflicting_duplicates),
    ):
        if stamps:
            listed = ", ".join(iso_hour(t) or "" for t in stamps[:MAX_LISTED])
            more = " ..." if len(stamps) > MAX_LISTED else ""
            lines.append(f"duplicates ({kind}): {len(stamps)} timestamps: {listed}{more}")
    lines += [f"bad values: {b}" for b in report.bad_values]
    lines += [f"structure: {b}" for b in report.structure]
    lines += [f"implausible: {b}" for b in report.implausible]
    if report.defective and not report.engine_reads:
        lines.append("not read by the checked modes: its defects do not fail the check")
    if report.interpolated_days:
        lines.append(
            f"interpolated: {len(report.interpolated_days)} days ({report.interpolated_hours} "
            "hours) are exact linear interpolations between 00:00 observations"
        )
    return lines + report.notes


def render(report: FolderReport, console: Console) -> None:
    """The readable report: files, README scopes, modes."""
    console.print(f"[bold]Data folder[/bold] {report.data_dir}")
    table = Table(title="Files", show_lines=False)
    table.add_column("file", no_wrap=True)
    for column in ("rows", "first", "last", "interval h", "gaps", "dup same", "dup differ"):
        table.add_column(column, no_wrap=True)
    for f in report.files:
        interval = "" if f.interval_hours is None else f"{f.interval_hours:g}"
        table.add_row(
            f.path,
            str(f.rows),
            iso_hour(f.first),
            iso_hour(f.last),
            interval,
            f.gap_summary(),
            str(len(f.identical_duplicates)),
            str(len(f.conflicting_duplicates)),
        )
    console.print(table)
    console.print("[bold]Findings[/bold]")
    for f in report.files:
        lines = file_lines(f)
        if lines:
            console.print(f"[bold]{f.path}[/bold]", highlight=False)
            for line in lines:
                console.print(f"  {line}", highlight=False, soft_wrap=True)
    defective = [f.path for f in report.files if f.engine_reads and f.defective]
    if defective:
        console.print(
            "[bold]DEFECTS in files the checked modes read[/bold]: " + ", ".join(defective)
        )
    console.print("[bold]Coverage windows (README scopes)[/bold]")
    for name, (start, end) in report.scopes.items():
        console.print(f"  {name}: {start} -> {end}", highlight=False, soft_wrap=True)
    render_modes(report.modes, console)


def render_modes(modes: list[ModeReport], console: Console) -> None:
    console.print("[bold]Modes[/bold]")
    for mode in modes:
        verdict = "can run" if mode.can_run else "CANNOT RUN"
        console.print(f"  {mode.mode} {mode.start} -> {mode.end}: {verdict}", highlight=False)
        for need in mode.needs:
            console.print(f"    needs {need}", highlight=False, soft_wrap=True)
        if mode.error:
            console.print(f"    why: {mode.error}", highlight=False, soft_wrap=True)
        for b in mode.bridges:
            console.print(
                f"    bridge {b['series']} {b['kind']} from {b['source']}: "
                f"{b['stretches']} stretches, {b['values']} values",
                highlight=False,
                soft_wrap=True,
            )
