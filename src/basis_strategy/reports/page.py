"""HTML of the report pages: tables, figure divs, the page shell (issue 4).

Pure string building: nothing here reads or writes files. Every text from a run is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from basis_strategy.reports.plots import Plot

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
PERCENT_WORDS = ("rate", "apy", "apr", "volatility", "drawdown", "share", "return")
CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
.note { color: #555; font-size: 0.9rem; }
.tables { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
pre { background: #f7f7f7; padding: 0.8rem; overflow: auto; font-size: 0.8rem; }
"""


def flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """`{"a": {"b": 1}}` -> `[("a.b", 1)]`, in insertion order."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += flatten(value, name + ".")
        else:
            out.append((name, value))
    return out


def format_metric(key: str, value: Any) -> str:
    """A metric as text, by its key: `*_hours` and `*_days` whole numbers; rates, APY,
    volatility, drawdown, shares and returns as %; other numbers with 4 decimals (6
    significant digits below 1); strings (timestamps, names) as they are; None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool | str):
        return str(value)
    if not isinstance(value, int | float):
        return json.dumps(value, default=str)
    number = float(value)
    name = key.lower()
    if name.endswith(("_hours", "_days")) or name == "hours":
        return f"{round(number):,}"
    if any(word in name for word in PERCENT_WORDS):
        return f"{number:.4%}"
    return f"{number:,.4f}" if abs(number) >= 1 else f"{number:.6g}"


def percent(value: Any) -> str:
    """A fraction as a percentage; None (an undefined figure) as a dash."""
    return "—" if value is None else f"{float(value):.4%}"


def basis(summary: Mapping[str, Any], key: str) -> str:
    """How a figure is measured: its convention in summary.json up to the first `": "`
    (`daily NAV per share at 00:00 UTC`); a field of a figure (`worst_day.return`) has its
    figure's. Empty when the summary has none."""
    conventions = summary.get("conventions")
    if not isinstance(conventions, Mapping):
        return ""
    return str(conventions.get(key.split(".", 1)[0], "")).split(": ", 1)[0]


def table(
    rows: Iterable[Sequence[str]], header: Sequence[str] | None = None, text_cells: int = 0
) -> str:
    """An HTML table of already formatted cells (escaped here): a label, then numbers aligned
    right, then `text_cells` cells of text (aligned left)."""
    parts = ["<table>"]
    if header is not None:
        parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        label, *cells = row
        split = len(cells) - text_cells
        tds = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i < split else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        parts.append(f"<tr><th>{html.escape(label)}</th>{tds}</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's headline numbers, formatted; optional summary fields only when present."""
    unit = str(summary["currency"])
    rows = [
        ("mode", str(summary["mode"])),
        ("share class", f"{summary.get('share_class', '')} ({unit})"),
        ("window (UTC)", f"{summary['start'][:16]} → {summary['end'][:16]}"),
    ]
    money = ("initial_capital", "final_equity", "net_flows", "cumulative_pnl")
    rows += [(k.replace("_", " "), f"{summary[k]:,.4f} {unit}") for k in money if k in summary]
    for key in ("total_return", "apy", "max_drawdown"):
        if key in summary:
            how = basis(summary, key)
            label = key.replace("_", " ") + (f" ({how})" if how else "")
            rows.append((label, percent(summary[key])))
    if "reconciliation_residual" in summary:
        rows.append(("reconciliation residual", f"{summary['reconciliation_residual']:.3e}"))
    counts = ("hours", "events", "liquidations")
    rows += [(k, f"{summary[k]:,}") for k in counts if k in summary]
    lists = ("rejected_instructions", "data_bridges", "shocks_applied")
    rows += [(k.replace("_", " "), f"{len(summary[k]):,}") for k in lists if k in summary]
    return rows


def attribution_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    unit = str(summary["currency"])
    return [(k, f"{float(v):,.6f} {unit}") for k, v in summary["pnl_attribution"].items()]


def metric_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """`summary["metrics"]`, flattened: (key, formatted value, basis); empty when the block
    is missing."""
    metrics = summary.get("metrics")
    if not isinstance(metrics, Mapping):
        return []
    return [
        (key, format_metric(key, value), basis(summary, key)) for key, value in flatten(metrics)
    ]


def conventions_note(summary: Mapping[str, Any]) -> str:
    """The end-of-day definition and why each undefined figure is null, as HTML."""
    parts = []
    conventions = summary.get("conventions")
    if isinstance(conventions, Mapping) and "end_of_day" in conventions:
        text = f"End of day: {conventions['end_of_day']}."
        parts.append(f'<p class="note" id="end-of-day">{html.escape(text)}</p>')
    undefined = summary.get("undefined")
    if isinstance(undefined, Mapping) and undefined:
        items = "".join(
            f"<li><code>{html.escape(str(k))}</code>: {html.escape(str(v))}</li>"
            for k, v in undefined.items()
        )
        parts.append(
            f'<p class="note">Undefined figures (null):</p><ul id="undefined">{items}</ul>'
        )
    return "\n".join(parts)


def figure_div(fig: go.Figure, div_id: str) -> str:
    """The figure as a div and its Plotly.newPlot script (plotly.js loaded by the page)."""
    return str(
        pio.to_html(
            fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG
        )
    )


def standalone(fig: go.Figure, div_id: str) -> str:
    """A full page of one figure that loads plotly.min.js from its own folder."""
    return str(
        pio.to_html(
            fig, include_plotlyjs="directory", full_html=True, div_id=div_id, config=PLOTLY_CONFIG
        )
    )


def placeholder(plot: Plot) -> str:
    """The page written for a plot that does not apply to the run's mode."""
    return shell(plot.title, f"<h1>{html.escape(plot.title)}</h1>\n<p>Not applicable: "
                 f"{html.escape(plot.note)}.</p>", script=None)  # fmt: skip


def shell(title: str, body: str, script: str | None) -> str:
    """A complete HTML document; `script` is the relative path of plotly.min.js, if any."""
    head = f'<script charset="utf-8" src="{html.escape(script)}"></script>' if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n{head}\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def plot_sections(plots: Sequence[Plot]) -> str:
    """One section per applicable plot; one list of the plots that do not apply."""
    parts = []
    for plot in plots:
        if plot.figure is None:
            continue
        note = f'<p class="note">{html.escape(plot.note)}</p>' if plot.note else ""
        link = f'<a href="plots/{plot.name}.html">open alone</a>'
        parts.append(
            f'<section id="{plot.name}">\n<h2>{html.escape(plot.title)} '
            f'<small class="note">({link})</small></h2>\n{note}\n'
            f"{figure_div(plot.figure, plot.name + '-plot')}\n</section>"
        )
    missing = [p for p in plots if p.figure is None]
    if missing:
        items = "".join(f"<li>{html.escape(p.title)}: {html.escape(p.note)}</li>" for p in missing)
        parts.append(f"<h2>Not applicable to this mode</h2>\n<ul>{items}</ul>")
    return "\n".join(parts)


def synthetic_banner(summary: Mapping[str, Any]) -> str:
    """A loud line when the run's data folder is synthetic (its manifest says so)."""
    origin = summary.get("data_origin") or {}
    if not origin.get("synthetic"):
        return ""
    text = (
        f"SYNTHETIC DATA: scenario {origin.get('scenario')!s}, seed {origin.get('seed')!s}. "
        "These figures are not history."
    )
    return f'<p class="synthetic" id="synthetic"><strong>{html.escape(text)}</strong></p>\n'


def run_page(summary: Mapping[str, Any], plots: Sequence[Plot], sampling_note: str) -> str:
    """index.html of one run: summary, attribution and metrics tables, plots, config."""
    title = f"{summary['mode']} — {summary.get('request_id', '')}"
    metrics = metric_rows(summary)
    metrics_html = (
        table(metrics, ("metric", "value", "convention"), text_cells=1)
        if metrics
        else '<p class="note">No metrics block in summary.json.</p>'
    )
    files = ("summary.json", "hourly_pnl.csv", "balance_sheet.csv", "event_log.csv")
    links = " · ".join(f'<a href="{f}">{f}</a>' for f in files)
    config = html.escape(json.dumps(summary["config"], indent=2, default=str))
    body = f"""<h1>{html.escape(title)}</h1>
{synthetic_banner(summary)}<p class="note">Files: {links}</p>
<div class="tables">
<div><h2>Summary</h2>
{table(summary_rows(summary))}</div>
<div><h2>P&amp;L attribution</h2>
{table(attribution_rows(summary), ("component", "total"))}</div>
<div><h2>Metrics</h2>
{metrics_html}</div>
</div>
{conventions_note(summary)}
<p class="note">{html.escape(sampling_note)}</p>
{plot_sections(plots)}
<h2>Resolved configuration</h2>
<details><summary>summary.json → config (click to open)</summary>
<pre id="config">{config}</pre></details>"""
    return shell(title, body, script="plots/plotly.min.js")
