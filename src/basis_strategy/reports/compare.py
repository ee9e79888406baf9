"""Side-by-side report of several runs (issue 4): metrics table and overlaid curves.

`build_comparison` reads each run folder (summary.json, hourly_pnl.csv, balance_sheet.csv),
validates all of them before writing anything, and writes `out_dir/index.html` with
`out_dir/plots/plotly.min.js` so the page opens with no network.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.events import COMPONENTS
from basis_strategy.reports import page
from basis_strategy.reports.build import copy_plotly_js, load_run
from basis_strategy.reports.plots import PALETTE, RunData, finite_values, line, subplots_figure

MISSING = "—"


def run_labels(runs: Sequence[RunData], run_dirs: Sequence[Path]) -> list[str]:
    """Column titles: each run's request id (its folder name when the summary has none),
    numbered so that the same run given twice still gets two columns."""
    names = [
        str(r.summary.get("request_id") or d.name) for r, d in zip(runs, run_dirs, strict=True)
    ]
    return [f"{i}. {name}" for i, name in enumerate(names, start=1)]


def _headline(summary: Mapping[str, Any]) -> dict[str, str]:
    unit = str(summary["currency"])
    cells = {
        "mode": str(summary["mode"]),
        "currency": unit,
        "window (UTC)": f"{summary['start'][:16]} → {summary['end'][:16]}",
    }
    for key in ("initial_capital", "final_equity", "cumulative_pnl"):
        if key in summary:
            cells[key.replace("_", " ")] = f"{float(summary[key]):,.4f} {unit}"
    for key in ("total_return", "apy", "max_drawdown"):
        if key in summary:
            cells[key] = page.percent(summary[key])
    if "hours" in summary:
        cells["hours"] = f"{int(summary['hours']):,}"
    attribution = summary["pnl_attribution"]
    for name in COMPONENTS:
        if name in attribution:
            cells[f"P&L: {name}"] = f"{float(attribution[name]):,.4f} {unit}"
    return cells


def comparison_rows(summaries: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per field: the field, one cell per run, then how the field is measured (the
    first run's convention). Headline fields, attribution, then every metric any run has
    (flattened), in first-seen order; a dash where a run lacks the field."""
    columns = [
        _headline(s) | {key: value for key, value, _ in page.metric_rows(s)} for s in summaries
    ]
    keys: dict[str, None] = {}
    for column in columns:
        keys.update(dict.fromkeys(column))
    rows = []
    for key in keys:
        how = next((b for s in summaries if (b := page.basis(s, key))), "")
        rows.append([key, *(column.get(key, MISSING) for column in columns), how])
    return rows


def comparison_figure(runs: Sequence[RunData], labels: Sequence[str]) -> go.Figure:
    """NAV-per-share return (%) and cumulative P&L of every run, overlaid."""
    currencies = sorted({run.currency for run in runs})
    unit = currencies[0] if len(currencies) == 1 else f"each run's own: {', '.join(currencies)}"
    titles = ("return of NAV per share (%)", f"cumulative P&L ({unit})")
    fig = subplots_figure(2, titles, "Runs compared", 680)
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        nav_return = (finite_values(run.pnl["nav_per_share"]) - 1.0) * 100.0
        first = line(run.hours, nav_return, label, line_color=colour, legendgroup=label)
        fig.add_trace(first, 1, 1)
        pnl = np.asarray(finite_values(run.pnl["cumulative_pnl"]))
        second = line(run.hours, pnl, f"{label} ({run.currency})", line_color=colour)
        fig.add_trace(second.update(legendgroup=label, showlegend=False), 2, 1)
    fig.update_yaxes(ticksuffix=" %", row=1, col=1)
    return fig


def build_comparison(run_dirs: Sequence[Path], out_dir: Path) -> Path:
    """Write `out_dir/index.html` comparing the runs (one table column per run) with
    overlaid NAV-return and cumulative-P&L curves; return its path.

    Raises ConfigError for an empty list and DataError / DataFileError naming the folder or
    file of a run that is missing or malformed (then nothing is written).
    """
    if not run_dirs:
        raise ConfigError("run_dirs", "give at least one run folder, was none")
    dirs = [Path(d) for d in run_dirs]
    runs = [load_run(d) for d in dirs]
    labels = run_labels(runs, dirs)
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    copy_plotly_js(out_dir / "plots")
    rows = comparison_rows([r.summary for r in runs])
    sources = "".join(
        f"<li>{html.escape(label)}: <code>{html.escape(str(d.resolve()))}</code></li>"
        for label, d in zip(labels, dirs, strict=True)
    )
    body = (
        f"<h1>Runs compared ({len(runs)})</h1>\n<ul>{sources}</ul>\n"
        f"<h2>Metrics</h2>\n{page.table(rows, ('field', *labels, 'convention'), 1)}\n"
        '<p class="note">Curves keep each bucket\'s first, last, lowest and highest hour; '
        "hourly detail is in each run's CSVs.</p>\n"
        f"{page.figure_div(comparison_figure(runs, labels), 'comparison-plot')}"
    )
    index = out_dir / "index.html"
    index.write_text(page.shell("Runs compared", body, "plots/plotly.min.js"), encoding="utf-8")
    return index
