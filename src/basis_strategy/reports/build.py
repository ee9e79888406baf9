"""Build a run's report from its folder (issue 4): `plots/*.html` and `index.html`.

Reads only `summary.json`, `hourly_pnl.csv` and `balance_sheet.csv` inside the folder and never
its name, so it also works on the temporary folder a run is written into before its rename.
Plotly's JavaScript is copied once into `plots/plotly.min.js`; the pages load it by relative
path, so the report opens with no network.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.core.errors import DataError, DataFileError
from basis_strategy.core.events import COMPONENTS
from basis_strategy.reports import page
from basis_strategy.reports.plots import (
    MAX_BARS,
    MAX_GRID_BUCKETS,
    MAX_LINE_POINTS,
    Grid,
    IntArray,
    RunData,
    build_plots,
)

SUMMARY_FIELDS = ("mode", "currency", "start", "end", "apy", "max_drawdown", "pnl_attribution")
PNL_COLUMNS = ("equity", "nav_per_share", "pnl", "cumulative_pnl", "benchmark_index")
BALANCE_COLUMNS = ("equity",)
PLOTLY_JS = "plotly.min.js"


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json of a run folder, with the fields a report needs; strict JSON (a NaN or
    Infinity token is refused, naming the file)."""
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder not found")
    if not path.is_file():
        raise DataFileError(path, "not found: not a run folder")
    try:
        summary = json.loads(
            path.read_text(encoding="utf-8"), parse_constant=_refuse, parse_float=_finite
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(path, f"not readable JSON: {exc}") from exc
    except ValueError as exc:
        raise DataFileError(path, f"not strict JSON: {exc}") from exc
    if not isinstance(summary, dict):
        raise DataFileError(path, f"must hold an object, was {type(summary).__name__}")
    missing = [f for f in (*SUMMARY_FIELDS, "config") if f not in summary]
    if missing:
        raise DataFileError(path, f"missing field(s) {missing}")
    if not isinstance(summary["config"], Mapping) or "mode" not in summary["config"]:
        raise DataFileError(path, "config: must hold the resolved config with a 'mode' section")
    return summary


def _refuse(token: str) -> float:
    raise ValueError(f"holds {token}, which is not a JSON number (written by an older version?)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"holds {text}, beyond the range of a float")
    return value


def read_frame(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """An hourly CSV indexed by UTC timestamps, with the `required` columns."""
    if not path.is_file():
        raise DataFileError(path, "not found")
    try:
        frame = pd.read_csv(path, index_col=0)
        frame.index = pd.to_datetime(frame.index, utc=True, format="ISO8601")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(path, f"not a readable hourly CSV: {exc}".splitlines()[0]) from exc
    if frame.empty:
        raise DataFileError(path, "no data rows")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFileError(path, f"missing column(s) {missing}")
    return frame


def hours_since_epoch(index: pd.DatetimeIndex, path: Path) -> IntArray:
    """Whole hours since 1970-01-01 UTC; every stamp must sit on the hour, increasing."""
    seconds = index.as_unit("s").asi8
    off = np.flatnonzero(seconds % 3600)
    if off.size:
        raise DataFileError(path, f"timestamp not on the hour: {index[off[0]]}", int(off[0]) + 2)
    hours = (seconds // 3600).astype(np.int64)
    back = np.flatnonzero(np.diff(hours) <= 0)
    if back.size:
        row = int(back[0]) + 1
        raise DataFileError(path, f"timestamps not increasing at {index[row]}", row + 2)
    return hours


def load_run(run_dir: Path) -> RunData:
    """Read a run folder's summary and hourly frames (both frames on the same hours)."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    pnl_path, balance_path = run_dir / "hourly_pnl.csv", run_dir / "balance_sheet.csv"
    pnl = read_frame(pnl_path, (*PNL_COLUMNS, *COMPONENTS))
    balance = read_frame(balance_path, BALANCE_COLUMNS)
    if not pnl.index.equals(balance.index):
        raise DataFileError(balance_path, f"timestamps differ from {pnl_path.name}")
    return RunData(summary, pnl, balance, hours_since_epoch(pnl.index, pnl_path))


def copy_plotly_js(folder: Path) -> Path:
    """plotly.min.js of the installed plotly into `folder` (skipped when already there)."""
    source = resources.files("plotly") / "package_data" / PLOTLY_JS
    target = folder / PLOTLY_JS
    with resources.as_file(source) as path:
        if not target.is_file() or target.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, target)
    return target


def sampling_note(run: RunData) -> str:
    n = len(run.hours)
    bars, grid = Grid.over(run.hours, MAX_BARS), Grid.over(run.hours, MAX_GRID_BUCKETS)
    return (
        f"{n:,} hours. Plots are downsampled to stay light: lines keep each bucket's first, "
        f"last, lowest and highest hour (at most {MAX_LINE_POINTS} points a line); attribution "
        f"bars are {bars.label()} sums; the balance sheet and cumulative attribution are "
        f"{grid.label()} values. Hourly detail is in hourly_pnl.csv and balance_sheet.csv."
    )


def build_report(run_dir: Path) -> Path:
    """Write `run_dir/plots/{name}.html` for every plot (a short page saying why, for plots
    that do not apply to the mode) and `run_dir/index.html`; return index.html's path.

    Raises DataError / DataFileError naming the folder or file when the run folder is
    missing, incomplete or malformed.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    plots_dir = run_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    copy_plotly_js(plots_dir)
    plots = build_plots(run)
    for plot in plots:
        text = (
            page.placeholder(plot)
            if plot.figure is None
            else page.standalone(plot.figure, plot.name + "-plot")
        )
        (plots_dir / f"{plot.name}.html").write_text(text, encoding="utf-8")
    index = run_dir / "index.html"
    index.write_text(page.run_page(run.summary, plots, sampling_note(run)), encoding="utf-8")
    return index
