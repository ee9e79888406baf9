"""Read a finished run's folder for the API: paged CSV rows and the files a report needs.

A CSV is scanned once per file version (path, size, mtime) into the byte offset of every
record; a page then seeks to its first record and parses only its own rows. Run folders are
written once and renamed into place, so the small index cache stays valid.
"""

from __future__ import annotations

import csv
import io
import math
import re
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from basis_strategy.core.errors import DataFileError
from basis_strategy.reports.build import PLOTLY_JS
from basis_strategy.reports.plots import PLOT_NAMES

Cell = str | int | float | None
EVENTS_CSV = "event_log.csv"
BALANCE_CSV = "balance_sheet.csv"
JSON = "application/json"
RUN_FILES = {  # files the report links to, by name, with their media types
    "summary.json": JSON,
    "hourly_pnl.csv": "text/csv; charset=utf-8",
    "balance_sheet.csv": "text/csv; charset=utf-8",
    "event_log.csv": "text/csv; charset=utf-8",
}
UNDEFINED = frozenset({"nan", "inf", "infinity"})
_INT = re.compile(r"-?\d{1,18}")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class CsvIndex:
    """The header of a CSV file and the byte offset of each record (plus the end of file)."""

    path: Path
    columns: tuple[str, ...]
    offsets: array[int]

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def page(self, offset: int, limit: int) -> list[list[Cell]]:
        """Records [offset, offset + limit), parsed; past the end is an empty page."""
        first, last = min(offset, self.rows), min(offset + limit, self.rows)
        if first >= last:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offsets[first])
            chunk = f.read(self.offsets[last] - self.offsets[first]).decode("utf-8")
        return [[cell(text) for text in row] for row in csv.reader(io.StringIO(chunk, newline=""))]


def cell(text: str) -> Cell:
    """A CSV field as JSON: integers and finite numbers as numbers; empty and undefined
    figures (`nan`, `inf`, as pandas writes them) null; else text."""
    if text == "" or text.lower().lstrip("+-") in UNDEFINED:
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return text


def scan(path: Path) -> CsvIndex:
    """Index a CSV file: a record ends at a line break outside quotes."""
    offsets: array[int] = array("q")
    with path.open("rb") as f:
        header = f.readline()
        columns = next(csv.reader([header.decode("utf-8")]), [])
        if not columns:
            raise DataFileError(path, "no header row")
        position, quotes = f.tell(), 0
        for line in f:
            if quotes % 2 == 0:
                offsets.append(position)
            quotes += line.count(b'"')
            position += len(line)
        offsets.append(position)
    return CsvIndex(path, tuple(columns), offsets)


@lru_cache(maxsize=64)
def _cached_scan(path: str, size: int, mtime_ns: int) -> CsvIndex:
    return scan(Path(path))


def csv_index(path: Path) -> CsvIndex:
    """The index of `path`, cached while the file is unchanged."""
    if not path.is_file():
        raise DataFileError(path, "not found")
    stat = path.stat()
    return _cached_scan(str(path), stat.st_size, stat.st_mtime_ns)


def plot_file(run_dir: Path, name: str) -> tuple[Path, str] | None:
    """The file behind `/plots/{name}` and its media type, or None if `name` is not a plot
    (`cumulative_pnl` or `cumulative_pnl.html`, ...) or Plotly's script. Names come only
    from the known set, so no request can reach outside `plots/`."""
    if name == PLOTLY_JS:
        return run_dir / "plots" / PLOTLY_JS, "text/javascript; charset=utf-8"
    stem = name.removesuffix(".html")
    if stem in PLOT_NAMES:
        return run_dir / "plots" / f"{stem}.html", "text/html; charset=utf-8"
    return None
