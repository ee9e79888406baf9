"""A paper or live session's results folder, kept current after every cycle (issue 13).

Why: reports, compare and the API read a run's files (`hourly_pnl.csv`, `event_log.csv`,
`balance_sheet.csv`, `summary.json`); a live session must write the same files, growing as it
runs, so an operator can look at a running session with the tools of a backtest. The rows of
a cycle are written exactly as the backtest writes them (same columns, same number formats),
so the files of a replayed day equal the backtest's of that day byte for byte.

- `sync()` after each cycle: the new hourly P&L and event rows are APPENDED (both files have
  fixed columns; `cumulative_pnl` continues the running sum, adding in the same order as the
  backtest's `cumsum`, so the same bits); `balance_sheet.csv` (its columns widen when a new
  position appears) and `summary.json` are rewritten atomically, at most 5 % of the wall
  time: a rewrite that took d seconds is next done once 20 d have passed (a year of hourly
  rows takes about 0.7 s to rewrite; short cycles would otherwise spend their time on it).
- `rewrite()` at start and on resume: every file from the engine's state. A process killed
  between its cycle's commit and its append (or in the middle of an append) left the files
  behind or torn; the resumed engine holds every row, so the folder is made whole again.
- `finish()` when the loop ends: `summary.json` and the report (`index.html`, plots).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from basis_strategy.components.results_store import (
    PNL_COLUMNS,
    ResultsStore,
    json_default,
)
from basis_strategy.config.outputs import write_text_atomic
from basis_strategy.core.events import Event
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.reports import strict_json
from basis_strategy.reports.build import build_report
from basis_strategy.reports.csv_text import frame_csv

HOURLY, EVENTS, BALANCE, SUMMARY = (
    "hourly_pnl.csv",
    "event_log.csv",
    "balance_sheet.csv",
    "summary.json",
)

LOG = logging.getLogger(__name__)
REWRITE_BUDGET = 20.0  # wall time between rewrites, in multiples of the last one's duration


class RunFolder:
    """`path` (created if missing) holds the session's files; `request_id` names the run in
    its summary (the session id)."""

    def __init__(
        self,
        path: Path,
        request_id: str,
        engine: EventDrivenStrategyEngine,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.request_id, self.engine = Path(path), request_id, engine
        self._clock = clock
        self._next_rewrite = -math.inf  # clock time of the next rewrite allowed
        self.path.mkdir(parents=True, exist_ok=True)
        self._hours = 0  # hourly rows written
        self._events = 0  # event rows written
        self._cumulative_pnl = 0.0

    def rewrite(self) -> None:
        """Every file from the engine's state (start, resume)."""
        for name in (HOURLY, EVENTS):
            (self.path / name).unlink(missing_ok=True)
        self._hours = self._events = 0
        self._cumulative_pnl = 0.0
        self.sync(force=True)

    def sync(self, force: bool = False) -> None:
        """Append the rows of the cycles since the last sync; rewrite the balance sheet and
        the summary if any hour was added (unless the last rewrite is too recent and not
        `force`: module doc)."""
        results = self.engine.parts.results
        events = self.engine.parts.logger.events
        hours = len(results.times)
        if hours > self._hours or not (self.path / HOURLY).exists():
            self._append_hours(results, hours)
        if len(events) > self._events or not (self.path / EVENTS).exists():
            self._append_events(results, events)
        if hours > 0 and (force or self._clock() >= self._next_rewrite):
            began = self._clock()
            self._write_table(BALANCE, results.balance_sheet(), index=True)
            self._write_summary(results)
            ended = self._clock()
            self._next_rewrite = ended + REWRITE_BUDGET * (ended - began)

    def finish(self) -> None:
        """The final summary and the report (built from the files just written). The report
        reads hourly files: a session whose cycles are not on the hour (a short interval)
        gets none, said in the log."""
        self.sync(force=True)
        times = self.engine.parts.results.times
        if times and all((t.minute, t.second, t.microsecond) == (0, 0, 0) for t in times):
            build_report(self.path)
        elif times:
            LOG.warning("%s: no report: its cycles are not on the hour", self.path.name)

    def _append_hours(self, results: ResultsStore, hours: int) -> None:
        rows = results.pnl_rows[self._hours : hours]
        index = pd.DatetimeIndex(results.times[self._hours : hours], name="timestamp")
        frame = pd.DataFrame(rows, columns=list(PNL_COLUMNS), index=index)
        running = [self._cumulative_pnl]
        for pnl in frame["pnl"]:
            running.append(running[-1] + pnl)  # the order of `cumsum` over the whole run
        frame["cumulative_pnl"] = running[1:]
        self._append(HOURLY, frame, index=True)
        self._cumulative_pnl = running[-1]
        self._hours = hours

    def _append_events(self, results: ResultsStore, events: list[Event]) -> None:
        frame = results.event_frame(events[self._events :])
        self._append(EVENTS, frame, index=False)
        self._events = len(events)

    def _append(self, name: str, frame: pd.DataFrame, index: bool) -> None:
        path = self.path / name
        fresh = not path.exists()
        text = frame_csv(frame, index, header=fresh)
        with path.open("a", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()

    def _write_table(self, name: str, frame: pd.DataFrame, index: bool) -> None:
        text = frame_csv(frame, index)
        write_text_atomic(self.path / name, text)

    def _write_summary(self, results: ResultsStore) -> None:
        events = self.engine.parts.logger.events
        frames = results.frames(events)
        summary = results.summary(self.request_id, frames, self.engine.facts())
        text = strict_json.dumps(summary, indent=2, default=json_default)
        write_text_atomic(self.path / SUMMARY, text)
