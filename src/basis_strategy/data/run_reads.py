"""What every column of a run's data is read through (the base of the data provider).

One run's view of its data root: each source is located (its file recorded), read once per
process (`read_cached`), screened once per run for plausibility, and checked to cover the
run's window; bridges (forward fills, proxies, dropped implausible values) are recorded as
they are taken. Errors name the file, the source and the hours.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import DataError, EmptyDataFileError
from basis_strategy.data.align import Bridge, ns, runs
from basis_strategy.data.plausibility import Plausibility
from basis_strategy.data.requirements import Source
from basis_strategy.data.store import DataRoot, FolderData
from basis_strategy.data.stored import FileRef

SETTLEMENT_HOURS = (0, 8, 16)
_CACHE: dict[tuple[object, ...], object] = {}
_CACHE_LOCK = threading.Lock()


def stamp(ts: pd.Timestamp | datetime) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M UTC")


def read_cached(
    label: str, ref: FileRef, reader: Callable[[FileRef], Any], version: tuple[object, ...]
) -> Any:
    """Read a file once per process, keyed by `version` (`DataRoot.cache_key`: a folder file's
    path, size and mtime; a stored file's URL, path and load). Callers must not mutate."""
    key = (label, *version)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    value = reader(ref)
    with _CACHE_LOCK:
        _CACHE[key] = value
    return value


def no_rows() -> pd.Series:
    return pd.Series([], index=pd.DatetimeIndex([], tz=UTC), dtype=np.float64)


def data_origin(data_dir: Path) -> dict[str, object]:
    """What the folder's `manifest.json` says about it: synthetic (scenario, seed) or not."""
    return FolderData(data_dir).origin()


class RunReads:
    """The run's grid and its reads: sources located, read, screened and checked; bridges
    recorded. `data`: a data folder (a path), or any `DataRoot` (a database)."""

    def __init__(self, config: RunConfig, data: str | os.PathLike[str] | DataRoot) -> None:
        self.root: DataRoot = (
            FolderData(Path(data)) if isinstance(data, str | os.PathLike) else data
        )
        self.origin = self.root.origin()
        mode = config.mode
        self.start, self.end = mode.start, mode.end
        self.max_ffill_hours = mode.data.max_ffill_hours
        index = pd.date_range(self.start, self.end, freq="h")
        self.times: list[datetime] = list(index.to_pydatetime())
        self._grid_ns = ns(index)
        self.bridges: list[Bridge] = []
        self.files: dict[str, str] = {}
        self._plausible = Plausibility(mode.data, self.start, self.end, SETTLEMENT_HOURS)
        self._screened: dict[str, Any] = {}

    def _series(self, source: Source) -> Any:
        """What the source's reader returns (a series, a table or a mapping), read once and
        screened once per run (`data.plausibility`: dropped values are recorded bridges)."""
        ref = self._path(source)
        if source.label not in self._screened:
            value = read_cached(source.label, ref, source.read, self.root.cache_key(ref))
            value, bridges = self._plausible.screen(
                source.read, value, source.label, self._file(source)
            )
            self._screened[source.label] = value
            self.bridges.extend(bridges)
        return self._screened[source.label]

    def _file(self, source: Source) -> str:
        """The file a source was read from, relative to the data folder (else its pattern)."""
        return self.files.get(source.label, source.pattern)

    def _path(self, source: Source) -> FileRef:
        if source.is_folder:
            folder = self.root.folder(source.pattern)
            if folder is None:
                where = self.root.where(source.pattern)
                raise DataError(f"{where}: folder not found ({source.label})")
            ref = folder
        else:
            ref = self.root.locate(source.pattern)
        self.files[source.label] = self.root.relative(ref)
        return ref

    def _coverage_error(self, source: Source, first: object, last: object) -> DataError:
        return DataError(
            f"{self.files.get(source.label, source.pattern)} ({source.label}) covers "
            f"{stamp(first)} -> {stamp(last)}; the run needs "
            f"{stamp(self.start)} -> {stamp(self.end)}"
        )

    def _require_values(
        self, source: Source, values: np.ndarray, why: str, where: np.ndarray | None = None
    ) -> None:
        """DataError naming the file and the first stretch of NaN hours (within `where`)."""
        missing = np.isnan(values) if where is None else np.isnan(values) & where
        if missing.any():
            first, last = runs(missing)[0]
            raise DataError(
                f"{self._file(source)} ({source.label}): no data "
                f"{stamp(self.times[first])} -> {stamp(self.times[last])} and {why}"
            )

    def _optional_series(self, source: Source) -> Any:
        """A file that may hold no rows for this window (None): a perp mark file, whose proxies
        stand in (domain 3); the peg and reward-token files, bridged before their first row;
        the reward event lists (no payout yet)."""
        try:
            return self._series(source)
        except EmptyDataFileError:
            return None

    def _check_span(
        self, source: Source, series: pd.Series | pd.DataFrame, grace_hours: int
    ) -> None:
        """The run window must lie within the file's span (plus `grace_hours` at its end)."""
        grace = pd.Timedelta(hours=grace_hours)
        first, last = series.index[0], series.index[-1]
        if first > self.start or last + grace < self.end:
            raise self._coverage_error(source, first, last)

    def _record(
        self,
        name: str,
        source: str,
        take: np.ndarray,
        age: np.ndarray,
        as_proxy: bool,
        held_hours: int = 0,
    ) -> None:
        """Record the hours in `take` as bridges: all of them for a proxy, else those whose
        observation is older than `held_hours` (a daily snapshot is held 23 h by design)."""
        bridged = take if as_proxy else take & (age > held_hours)
        for first, last in runs(bridged):
            self.bridges.append(
                Bridge(
                    name,
                    "proxy" if as_proxy else "forward_fill",
                    source,
                    self.times[first],
                    self.times[last],
                    last - first + 1,
                    last - first + 1,
                )
            )
