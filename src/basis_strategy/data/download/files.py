"""Resumable CSV files in the data-folder layout: merge new rows into what is on disk, name the
file after its coverage (`{stem}_{first}_{last}{suffix}.csv`, as the seed's files are named),
write atomically and record the fetched ranges in the manifest."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any, Self

import pandas as pd

from basis_strategy.core.errors import DataError
from basis_strategy.data.download.manifest import Manifest, Range, merge_ranges
from basis_strategy.data.sources._common import try_parse_utc

TIME = "_time"  # the key column the sink merges on (UTC Timestamps); not written


def iso_z(times: pd.Series) -> pd.Series:
    """`2024-01-01T00:00:00Z`, the format of the seed's CEX files."""
    return times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CsvLayout:
    """Where a series lives and what its rows hold."""

    folder: str  # relative to the data folder, e.g. "market_data/spot_prices/eth_usd"
    stem: str  # e.g. "bybit_ETHUSDT_spot_1h"
    time_column: str
    columns: tuple[str, ...]  # written in this order (the time column included)
    step: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=1))
    suffix: str = ""
    format_time: Callable[[pd.Series], pd.Series] = iso_z

    @property
    def pattern(self) -> str:
        """The glob the data provider locates the file with; the manifest key."""
        return f"{self.folder}/{self.stem}_*{self.suffix}.csv"

    def name(self, first: pd.Timestamp, last: pd.Timestamp) -> str:
        return f"{self.folder}/{self.stem}_{first:%Y-%m-%d}_{last:%Y-%m-%d}{self.suffix}.csv"


def coverage(times: pd.Series, step: pd.Timedelta) -> dict[str, Any]:
    """First and last stamp, row count and the holes (runs of missing steps) between them."""
    if times.empty:
        return {"first": None, "last": None, "rows": 0, "gaps": []}
    diffs = times.diff()
    holes = diffs[diffs > step]
    gaps = [
        [
            f"{times.iloc[i - 1] + step:%Y-%m-%dT%H:%M:%SZ}",
            f"{times.iloc[i] - step:%Y-%m-%dT%H:%M:%SZ}",
        ]
        for i in (times.index.get_loc(k) for k in holes.index)
    ]
    return {
        "first": f"{times.iloc[0]:%Y-%m-%dT%H:%M:%SZ}",
        "last": f"{times.iloc[-1]:%Y-%m-%dT%H:%M:%SZ}",
        "rows": len(times),
        "gaps": gaps,
    }


class PageSink:
    """Collects a series' pages and keeps its files and manifest entry current.

    Use as a context manager: `add()` each page as it arrives; `_write(new rows or None)`
    (a subclass's) runs at most every `flush_seconds` and always on exit (also when the download
    fails or is interrupted), so a resumed download keeps every page already fetched."""

    def __init__(
        self,
        manifest: Manifest,
        key: str,
        required: tuple[str, ...],
        source: str,
        flush_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.manifest, self.key, self.required, self.source = manifest, key, required, source
        self.flush_seconds, self.clock = flush_seconds, clock
        self.fetched: list[Range] = manifest.fetched(key)
        self._pending: list[pd.DataFrame] = []
        self._written = False  # once written, a flush with nothing new does nothing
        self._last_flush = clock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def add(self, rows: pd.DataFrame, fetched: Range) -> None:
        """Rows with a UTC `_time` column and the required columns (as text or numbers);
        `fetched` is the range these rows complete (a hole in it is the venue's own gap)."""
        missing = [c for c in (TIME, *self.required) if c not in rows.columns]
        if missing:
            raise DataError(f"{self.key}: rows lack columns {missing}")
        self._pending.append(rows)
        self.fetched = merge_ranges([*self.fetched, fetched])
        if self.clock() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if not self._pending and self._written:
            return
        new = pd.concat(self._pending, ignore_index=True) if self._pending else None
        self._pending = []
        self._write(new)
        self._written = True
        self._last_flush = self.clock()

    def _write(self, new: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _record(self, path: str, times: pd.Series, step: pd.Timedelta) -> None:
        coverage_now = coverage(times, step)
        self.manifest.record(
            self.key, path=path, source=self.source, fetched=self.fetched, coverage=coverage_now
        )


class CsvSink(PageSink):
    """The sink of one file named after its coverage. Rows whose time is already on disk are
    dropped (the file never holds a duplicate timestamp)."""

    def __init__(
        self,
        out: Path,
        layout: CsvLayout,
        manifest: Manifest,
        source: str,
        *,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        required = tuple(c for c in layout.columns if c != layout.time_column)
        super().__init__(manifest, layout.pattern, required, source, flush_seconds, clock)
        self.out, self.layout = Path(out), layout
        self.path: Path | None = self._existing_path()
        self.frame = self._read_existing()
        self._written = self.path is not None

    def _existing_path(self) -> Path | None:
        matches = sorted(self.out.glob(self.layout.pattern))
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            raise DataError(f"{self.out / self.layout.pattern}: {len(matches)} files: {names}")
        return matches[0] if matches else None

    def _read_existing(self) -> pd.DataFrame:
        if self.path is None:
            return pd.DataFrame(columns=[TIME, *self.layout.columns])
        with self.path.open(encoding="utf-8") as handle:  # the seed's oracle files start
            comments = sum(1 for _ in takewhile(lambda line: line.startswith("#"), handle))
        frame = pd.read_csv(self.path, dtype=str, keep_default_na=False, skiprows=comments)
        times, bad = try_parse_utc(frame[self.layout.time_column])
        if bad is not None:
            raise DataError(f"{self.path}: line {bad + 2}: not a timestamp")
        frame.insert(0, TIME, pd.Series(times, index=frame.index))
        return frame

    def _write(self, new: pd.DataFrame | None) -> None:
        if new is not None:
            new = new.copy()
            new[self.layout.time_column] = self.layout.format_time(new[TIME])
            new = new[[TIME, *self.layout.columns]].astype({c: str for c in self.layout.columns})
            self.frame = pd.concat([self.frame, new], ignore_index=True)
        frame = self.frame.drop_duplicates(TIME, keep="first").sort_values(TIME, kind="stable")
        self.frame = frame.reset_index(drop=True)
        times = self.frame[TIME]
        if times.empty:
            self._record("", times, self.layout.step)
            return
        target = self.out / self.layout.name(times.iloc[0], times.iloc[-1])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.partial")
        self.frame[list(self.layout.columns)].to_csv(tmp, index=False)
        os.replace(tmp, target)
        if self.path is not None and self.path != target:
            self.path.unlink(missing_ok=True)
        self.path = target
        self._record(str(target.relative_to(self.out)), times, self.layout.step)
