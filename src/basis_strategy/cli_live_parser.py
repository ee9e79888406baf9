"""The `basis live` sub-commands' arguments (issue 13), apart from what runs them
(`cli_live.py`): building the command line imports nothing of the live service."""

from __future__ import annotations

from typing import Any


def add_live_parser(commands: Any) -> None:
    live = commands.add_parser("live", help="paper and live trading sessions")
    subs = live.add_subparsers(dest="live_command", required=True)
    start = subs.add_parser("start", help="run a session in this process (Ctrl-C stops it)")
    start.add_argument("mode", help="a mode name (see `basis modes`)")
    start.add_argument("--execution", choices=("paper", "live"), default="paper")
    start.add_argument("--interval", default="1h", help="cycle interval: 1h, 15m, 30s (default 1h)")
    start.add_argument("--not-aligned", action="store_true", help="cycles not on the clock grid")
    start.add_argument("--cycles", type=int, help="stop after this many cycles (default: never)")
    start.add_argument("--replay", help="paper on the stored history from this UTC hour")
    start.add_argument("--speed", type=float, default=1.0, help="replayed s per wall s (replay)")
    start.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    start.add_argument(
        "--limit", dest="limits", action="append", default=[], metavar="NAME=VALUE",
        help="a risk limit (max_drawdown, max_daily_loss, max_position_usd, "
        "max_order_notional_usd, max_orders_per_minute, heartbeat_limit_s, max_data_age_s)",
    )  # fmt: skip
    start.add_argument("--enable-live-trading", action="store_true", help="live: one of two keys")
    start.add_argument("--session-id", help="(the service names its sessions)")
    start.add_argument(
        "--venue-url", dest="venue_urls", action="append", default=[], metavar="VENUE=URL",
        help="another host with the venue's REST API (its testnet); repeatable",
    )  # fmt: skip
    start.add_argument("--data-dir", help="data folder of a replay (default: $BASIS_DATA_DIR)")
    start.add_argument(
        "--results-dir", help="results folder (default: $BASIS_RESULTS_DIR or ./results)"
    )
    status = subs.add_parser("status", help="one session, or all of them")
    status.add_argument("session_id", nargs="?")
    status.add_argument("--json", action="store_true", help="print JSON")
    helps = (
        ("stop", "stop after the current cycle"),
        ("emergency-stop", "HALTED within one cycle (freeze, or --flatten)"),
        ("resume", "restart a stopped or crashed session where it left off"),
        ("activate", "back to ACTIVE from REDUCING or HALTED (an operator's decision)"),
    )
    for name, text in helps:
        sub = subs.add_parser(name, help=text)
        sub.add_argument("session_id")
        sub.add_argument(
            "--results-dir", help="results folder (default: $BASIS_RESULTS_DIR or ./results)"
        )
        if name == "emergency-stop":
            sub.add_argument("--flatten", action="store_true", help="close positions, then freeze")
        if name == "activate":
            sub.add_argument("--operator", required=True, help="who decides (in the alert)")
        if name == "resume":
            sub.add_argument(
                "--cold", action="store_true", help="re-step the journal, no checkpoint"
            )
            sub.add_argument(
                "--adopt-venue-state", action="store_true",
                help="live: take the venues' state where it differs from the ledger (REC-006)",
            )  # fmt: skip
            sub.add_argument("--data-dir", help="data folder of a replay")
            sub.add_argument(
                "--speed", type=float, help="a replay's new speed (default: as before)"
            )
    status.add_argument(
        "--results-dir", help="results folder (default: $BASIS_RESULTS_DIR or ./results)"
    )
