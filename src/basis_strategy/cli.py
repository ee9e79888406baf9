"""`basis` command line: a thin shell over the services.

    basis backtest MODE [--start --end --capital --data-dir --out --set k=v ...]
    basis modes
    basis validate FILE.yaml
    basis report RUN_DIR
    basis compare RUN_DIR RUN_DIR... [--out DIR]
    basis serve [--host 127.0.0.1] [--port 8000] [--workers 2] [--max-queued 100]
                [--data-dir] [--results-dir]
    basis data check [--mode MODE] [--start --end] [--json PATH] DIR

Bad input exits with code 2 and a one-line reason on stderr; nothing is written. That includes
empty option values, and output folders or files that could not be written (checked before
any work starts).

Each command imports what it uses when it runs (pandas, the engine, SQLAlchemy, plotly, the
API): parsing the command line, and `basis --help`, import none of them (issue 15;
`benchmarks/cli_start.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from basis_strategy.cli_live_parser import add_live_parser
from basis_strategy.config.outputs import (
    MIN_FREE_REPORT_BYTES,
    check_output_file,
    check_output_folder,
    write_text_atomic,
)
from basis_strategy.core.errors import BasisError, ConfigError
from basis_strategy.defaults import DEFAULT_DATA_DB_URL, DEFAULT_MAX_QUEUED, SCENARIO_NAMES

if TYPE_CHECKING:
    from basis_strategy.services.backtest import BacktestOutcome

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# folders named by the environment: set but empty is a mistake, not "use the default"
FOLDER_VARIABLES = ("BASIS_DATA_DIR", "BASIS_RESULTS_DIR", "BASIS_CONFIG_DIR", "BASIS_SYNTH_DIR")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2), like every other bad input, and no
    empty option values (`--capital=` is a mistake, not "use the default")."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("action", "store") == "store" and "type" not in kwargs:
            kwargs["type"] = _text
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"basis: error: {self.prog}: {message}\n")


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("empty value")
    return value


def _seed(value: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer, was {value!r}") from None
    if not 0 <= seed < 2**63:
        raise argparse.ArgumentTypeError(f"must be 0 to 2**63 - 1, was {seed}")
    return seed


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="basis", description="Backtest crypto yield strategies.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("backtest", help="run a backtest and write results/{request_id}/")
    run.add_argument("mode", help="a mode name (see `basis modes`) or a mode YAML file")
    run.add_argument("--start", help="first hour, UTC (e.g. 2024-01-01 or 2024-01-01T08:00)")
    run.add_argument("--end", help="last hour, UTC")
    run.add_argument("--capital", help="initial capital in share-class units")
    run.add_argument("--data-dir", help="data folder (default: $BASIS_DATA_DIR)")
    run.add_argument(
        "--out", default=None, help="results folder (default: $BASIS_RESULTS_DIR or ./results)"
    )
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted for nesting); repeatable",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("modes", help="list the strategy modes")
    check = commands.add_parser("validate", help="validate a mode config file")
    check.add_argument("file", help="a mode YAML file (or a mode name)")
    check.add_argument("--data-dir", help="also check data coverage against this folder")
    report = commands.add_parser("report", help="rebuild a run folder's report (index.html)")
    report.add_argument("run_dir", help="a results/{request_id}/ folder")
    compare = commands.add_parser("compare", help="write a side-by-side report of runs")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    compare.add_argument(
        "--out",
        default=None,
        help="output folder (default: $BASIS_RESULTS_DIR or ./results, then compare-{UTC time})",
    )
    serve = commands.add_parser("serve", help="run the REST API and web UI (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=2, help="backtest worker processes")
    serve.add_argument(
        "--max-queued",
        type=int,
        default=DEFAULT_MAX_QUEUED,
        help=f"runs that may wait for a worker; beyond, submissions get 429 "
        f"(default {DEFAULT_MAX_QUEUED})",
    )
    serve.add_argument("--data-dir", help="data folder (default: $BASIS_DATA_DIR)")
    serve.add_argument(
        "--results-dir", help="results folder (default: $BASIS_RESULTS_DIR or ./results)"
    )
    _data_parser(commands)
    add_live_parser(commands)
    return parser


def _data_parser(commands: Any) -> None:
    """`basis data <sub>`: data-folder tools (`check`, `synth`)."""
    data = commands.add_parser("data", help="data folder tools")
    subs = data.add_subparsers(dest="data_command", required=True)
    check = subs.add_parser("check", help="coverage and quality report of a data folder")
    check.add_argument("dir", help="the data folder")
    check.add_argument("--mode", help="check only this mode (default: all seven)")
    check.add_argument("--start", help="first hour, UTC (default: the mode YAML's)")
    check.add_argument("--end", help="last hour, UTC (default: the mode YAML's)")
    check.add_argument("--json", dest="json_path", help="also write the report as JSON here")
    synth = subs.add_parser("synth", help="write a synthetic data folder (a named scenario)")
    synth.add_argument("--scenario", required=True, choices=SCENARIO_NAMES)
    synth.add_argument("--seed", type=_seed, default=0, help="0 to 2**63 - 1 (default 0)")
    synth.add_argument("--start", required=True, help="first day, UTC (e.g. 2024-06-01)")
    synth.add_argument("--end", required=True, help="last day, UTC")
    synth.add_argument("--out", required=True, help="an empty or new folder")
    load = subs.add_parser("load", help="load a data folder into a database (BASIS_DATA_MODE=db)")
    load.add_argument("dir", help="the data folder")
    load.add_argument("--db", help=f"SQLAlchemy URL (default: {DEFAULT_DATA_DB_URL})")
    fetch = subs.add_parser("download", help="fetch the real history (ccxt, archive RPC)")
    fetch.add_argument("--start", required=True, help="first hour, UTC (e.g. 2024-06-01)")
    fetch.add_argument("--end", required=True, help="last hour, UTC, included")
    fetch.add_argument("--assets", default="ETH,BTC", help="comma-separated (default ETH,BTC)")
    fetch.add_argument("--venues", default="binance,bybit,okx", help="comma-separated")
    fetch.add_argument(
        "--only",
        choices=("cex", "chain"),
        help="one part (default both; chain needs BASIS_ETH_RPC_URL)",
    )
    fetch.add_argument("--out", required=True, help="data folder (created; resumed if present)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "modes": lambda _: _modes(),
        "validate": _validate,
        "backtest": _backtest,
        "report": _report,
        "compare": _compare,
        "serve": _serve,
        "data": _data,
        "live": _live,
    }
    try:
        _check_folder_variables(os.environ)
        if args.command == "serve":  # the service writes every run under its results folder
            check_output_folder(*_results_dir(args.results_dir, "--results-dir", os.environ))
        return commands[args.command](args)
    except BasisError as exc:
        print("basis: error: " + " ".join(str(exc).splitlines()), file=sys.stderr)
        return exc.exit_code


def _live(args: argparse.Namespace) -> int:
    from basis_strategy.cli_live import run_live

    return run_live(args, _results_dir(args.results_dir, "--results-dir", os.environ)[0])


def _check_folder_variables(env: Mapping[str, str]) -> None:
    for name in FOLDER_VARIABLES:
        if name in env and not env[name].strip():
            raise ConfigError(name, "set but empty: unset it or name a folder")


def _results_dir(given: str | None, option: str, env: Mapping[str, str]) -> tuple[Path, str]:
    """The results folder and the option or variable that named it (for error messages)."""
    if given is not None:
        return Path(given), option
    if env.get("BASIS_RESULTS_DIR"):
        return Path(env["BASIS_RESULTS_DIR"]), "BASIS_RESULTS_DIR"
    return Path("results"), f"{option} (default ./results)"


def _modes() -> int:
    from basis_strategy.config.models import MODE_NAMES
    from basis_strategy.config.validation import MODE_RULES

    for name in MODE_NAMES:
        rule = MODE_RULES[name]
        print(f"{name:<34} {rule.share_class:<16} {rule.summary}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Coverage is checked against the data the run would read: a folder, or the database."""
    from basis_strategy.config.loader import load_run_config
    from basis_strategy.services.backtest import data_mode, prepare

    if data_mode(os.environ) == "db" or args.data_dir or os.environ.get("BASIS_DATA_DIR"):
        config, _ = prepare(args.file, data_dir=args.data_dir)
        print(f"ok: {args.file} ({config.mode.mode}) is valid and its data covers the window")
    else:
        config = load_run_config(args.file)
        print(
            f"ok: {args.file} ({config.mode.mode}) is valid "
            "(data coverage not checked: no --data-dir)"
        )
    return 0


def _data(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "check": _data_check,
        "synth": _data_synth,
        "download": _data_download,
        "load": _data_load,
    }
    return commands[args.data_command](args)


def _data_check(args: argparse.Namespace) -> int:
    """Exit 0 when every checked mode can run, 1 when one cannot, 2 on bad input."""
    from rich.console import Console

    from basis_strategy.data.check import check_folder, render
    from basis_strategy.reports import strict_json

    sets = [f"{key}={getattr(args, key)}" for key in ("start", "end") if getattr(args, key)]
    modes = [args.mode] if args.mode else None
    json_path = None if args.json_path is None else check_output_file(args.json_path, "--json")
    report = check_folder(Path(args.dir), modes, sets)
    render(report, Console(width=260))
    if json_path is not None:
        write_text_atomic(json_path, strict_json.dumps(report.as_dict(), indent=2) + "\n")
    for mode in report.modes:
        if not mode.can_run:
            print(f"basis: {mode.mode} cannot run: {mode.error}", file=sys.stderr)
    return 0 if report.ok else 1


def _data_synth(args: argparse.Namespace) -> int:
    from basis_strategy.data.synth import write_scenario

    start, end = (_utc_day(getattr(args, key), key) for key in ("start", "end"))
    out = write_scenario(
        args.scenario, args.seed, start, end, check_output_folder(args.out, "--out")
    )
    print(f"synthetic data ({args.scenario}, seed {args.seed}): {out}")
    return 0


def _data_load(args: argparse.Namespace) -> int:
    from basis_strategy.data.db import load_folder

    url = args.db or DEFAULT_DATA_DB_URL
    report = load_folder(Path(args.dir), url)
    print(
        f"loaded {report.files} files ({report.tables} tables, {report.rows:,} rows, "
        f"{report.documents} documents) from {report.folder} into {report.url_masked} "
        f"in {report.seconds:.1f} s"
    )
    for problem in report.problems:
        print(f"basis: warning: stored unreadable: {problem}", file=sys.stderr)
    print(f"run on it with: BASIS_DATA_MODE=db BASIS_DATABASE_URL={report.url_masked}")
    return 0


def _data_download(args: argparse.Namespace) -> int:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from basis_strategy.data.download.run import PARTS, download  # ccxt and web3: on demand

    start, end = (_utc_day(getattr(args, key), key) for key in ("start", "end"))
    results = download(
        check_output_folder(args.out, "--out"),
        pd.Timestamp(start),
        pd.Timestamp(end),
        assets=[a for a in args.assets.split(",") if a],
        venues=[v for v in args.venues.split(",") if v],
        parts=[args.only] if args.only else PARTS,
        env=os.environ,
        progress=sys.stderr.isatty(),
    )
    table = Table("file", "rows", "first", "last", "holes", title=f"downloaded into {args.out}")
    for r in results:
        table.add_row(
            r["path"] or r["pattern"],
            str(r["rows"]),
            str(r["first"] or ""),
            str(r["last"] or ""),
            str(len(r["gaps"])),
        )
    Console(width=200).print(table)
    print(f"manifest: {Path(args.out) / 'manifest.json'}")
    return 0


def _utc_day(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(field, f"not a date (YYYY-MM-DD), was {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _report(args: argparse.Namespace) -> int:
    from basis_strategy.reports.build import build_report

    folder = check_output_folder(args.run_dir, "run_dir", MIN_FREE_REPORT_BYTES)
    print(build_report(folder))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from basis_strategy.reports.compare import build_comparison

    given = _results_dir(args.out, "--out", os.environ)
    out = check_output_folder(*given, MIN_FREE_REPORT_BYTES)
    if args.out is None:
        out /= f"compare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    print(build_comparison([Path(d) for d in args.run_dirs], out))
    return 0


def _serve(args: argparse.Namespace) -> int:
    """The API and web UI on HOST:PORT until interrupted (Ctrl-C stops the service cleanly).
    Exit 2 when the port is taken or another server holds the results folder or run index."""
    from basis_strategy.api import create_app
    from basis_strategy.api.server import serve

    if not 0 < args.port < 65536:
        raise ConfigError("--port", f"must be in 1..65535, was {args.port}")
    token = os.environ.get("BASIS_API_TOKEN") or None
    if token is None and args.host not in LOOPBACK_HOSTS:
        print(
            f"basis: warning: serving on {args.host} without BASIS_API_TOKEN: anyone who can "
            "reach this port can start and cancel runs",
            file=sys.stderr,
        )
    app = create_app(
        data_dir=args.data_dir,
        results_dir=args.results_dir,
        workers=args.workers,
        max_queued=args.max_queued,
        api_token=token,
    )
    serve(app, args.host, args.port)
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from basis_strategy.config.loader import load_run_config
    from basis_strategy.services.backtest import data_mode, run_backtest

    sets = list(args.sets)
    for key in ("start", "end"):
        if getattr(args, key) is not None:
            sets.insert(0, f"{key}={getattr(args, key)}")
    if args.capital is not None:
        sets.insert(0, f"initial_capital={args.capital}")
    out = check_output_folder(*_results_dir(args.out, "--out", os.environ))
    csv = data_mode(os.environ) == "csv"
    if csv and not (args.data_dir or os.environ.get("BASIS_DATA_DIR")):
        load_run_config(args.mode, sets)  # a bad config is the one line on stderr, not this
        print(
            "basis: no data folder given (--data-dir or BASIS_DATA_DIR): running on the "
            "SYNTHETIC 'base' scenario, not on history",
            file=sys.stderr,
        )
    console = Console(stderr=True)
    if args.quiet or not console.is_terminal:
        outcome = run_backtest(args.mode, sets, args.data_dir, out)
    else:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} h"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(args.mode, total=None)
            outcome = run_backtest(
                args.mode,
                sets,
                args.data_dir,
                out,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    _print_result(outcome)
    print(outcome.path)
    return 0


def _print_result(outcome: BacktestOutcome) -> None:
    from rich.console import Console
    from rich.table import Table

    from basis_strategy.core.events import COMPONENTS
    from basis_strategy.reports.page import percent

    s = outcome.summary
    origin = s.get("data_origin") or {}
    if origin.get("synthetic"):
        print(
            f"basis: SYNTHETIC DATA (scenario {origin.get('scenario')}, seed "
            f"{origin.get('seed')}): these figures are not history",
            file=sys.stderr,
        )
    for refused in s["rejected_instructions"]:  # e.g. a withdrawal above the fund's equity
        print(f"basis: warning: {refused}", file=sys.stderr)
    unit = s["currency"]
    table = Table(title=f"{s['mode']}  {s['start'][:16]} -> {s['end'][:16]}", show_header=False)
    rows = [
        ("initial capital", f"{s['initial_capital']:,.4f} {unit}"),
        ("final equity", f"{s['final_equity']:,.4f} {unit}"),
        ("total return", percent(s["total_return"])),
        ("APY (NAV per share)", percent(s["apy"])),
        ("max drawdown (daily NAV)", percent(s["max_drawdown"])),
        *(
            (name, f"{s['pnl_attribution'][name]:,.4f} {unit}")
            for name in COMPONENTS
            if s["pnl_attribution"][name]
        ),
        ("residual (sum)", f"{s['reconciliation_residual']:.3e} {unit}"),
        ("hours / events", f"{s['hours']:,} / {s['events']:,}"),
        ("data bridges", str(len(s["data_bridges"]))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
