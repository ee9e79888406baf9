"""Shared helpers for the data-file readers: table reading, UTC parsing, numbers, duplicates.

Every problem found in a file is raised as ``DataFileError(path, message, line)`` where ``line``
is the 1-based physical line number (the header is line 1 when there are no comment lines) and
the message names the column and the bad value. A reader's ``path`` is a `FileRef`: a file of a
data folder, or a file stored in a database (named ``URL#relative/path`` in messages).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from basis_strategy.core.errors import DataFileError, EmptyDataFileError
from basis_strategy.data.align import NS_PER_HOUR
from basis_strategy.data.stored import FileRef, StoredFile, StoredTable

FrameOrSeries = TypeVar("FrameOrSeries", pd.Series, pd.DataFrame)

# Unix seconds outside this range are almost certainly not unix seconds (e.g. milliseconds).
_UNIX_MIN = 1e8  # 1973-03-03
_UNIX_MAX = 1e11  # year 5138
_UNIX_TEXT = re.compile(r"\d+(?:\.\d*)?")
_OFFSET_THEN_Z = re.compile(r"(?<=[+-]\d\d:\d\d)Z$")
_PANDAS_LINE = re.compile(r"line (\d+)")
COMMENT = "#"  # the only comment marker of the data files (and of stored files)


def plain(value: object) -> object:
    """A numpy scalar as the Python value (so that messages show ``0.5``, not ``np.float64``)."""
    return value.item() if isinstance(value, np.generic) else value


def file_error(path: FileRef, message: str, line: int | None = None) -> DataFileError:
    """DataFileError naming a folder file by its path, a stored one as ``URL#relative/path``."""
    return DataFileError(path if isinstance(path, Path) else str(path), message, line=line)


def bad_cell(path: FileRef, column: str, problem: str, value: object, line: int) -> DataFileError:
    """Build the standard error for one bad cell: ``column 'x': <problem>: '<value>'``."""
    return file_error(path, f"column {column!r}: {problem}: {plain(value)!r}", line=line)


def try_parse_utc(values: pd.Series) -> tuple[pd.DatetimeIndex, int | None]:
    """Parse timestamps to UTC; return the index and the position of the first bad cell (or None).

    Accepts ISO 8601 with ``Z`` or ``+00:00`` (or any offset, converted to UTC), the malformed
    ``+00:00Z``, ``YYYY-MM-DD HH:MM:SS+00:00``, naive strings (taken as UTC), plain dates and
    unix seconds (ints or numeric strings). Bad cells come back as NaT.

    Cells dated ``YYYY-…`` are parsed as they are in one vectorised call (the files' usual
    case); the others, and any that call refuses, go through the cell-by-cell forms above.
    """
    text = values.astype(str).to_numpy(dtype=object)
    stamps = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    dated = _dated(text)
    if dated.any():
        iso = pd.to_datetime(text[dated], utc=True, format="ISO8601", errors="coerce")
        stamps[dated] = iso.tz_convert(None).as_unit("ns").to_numpy()
    rest = np.isnat(stamps)
    if rest.any():
        stamps[rest] = _parse_cells(text[rest])
    index = pd.DatetimeIndex(stamps).tz_localize("UTC")
    bad = np.flatnonzero(index.isna())
    return index, (int(bad[0]) if bad.size else None)


def _dated(text: np.ndarray) -> np.ndarray:
    """Which cells have ``-`` as their fifth character (``YYYY-``): never unix seconds."""
    if not text.size:
        return np.zeros(0, dtype=bool)
    chars = np.asarray(text, dtype=str)
    width = chars.dtype.itemsize // 4  # numpy's str is UTF-32
    if width < 5:
        return np.zeros(len(text), dtype=bool)
    return chars.view(np.uint32).reshape(len(text), width)[:, 4] == ord("-")


def _parse_cells(text: np.ndarray) -> np.ndarray:
    """The general forms of `try_parse_utc`, cell by cell (datetime64[ns], NaT when bad)."""
    cells = pd.Series(text, dtype=object).str.strip().str.replace(_OFFSET_THEN_Z, "", regex=True)
    is_unix = cells.str.fullmatch(_UNIX_TEXT).to_numpy(dtype=bool)
    text = cells.to_numpy(dtype=object)
    stamps = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    if is_unix.any():
        seconds = text[is_unix].astype(np.float64)
        seconds[(seconds < _UNIX_MIN) | (seconds >= _UNIX_MAX)] = np.nan
        stamps[is_unix] = pd.to_datetime(seconds, unit="s").as_unit("ns").to_numpy()
    if (~is_unix).any():
        iso = pd.to_datetime(text[~is_unix], utc=True, format="ISO8601", errors="coerce")
        stamps[~is_unix] = iso.tz_convert(None).as_unit("ns").to_numpy()
    return stamps


def parse_utc(values: pd.Series, path: FileRef, column: str, first_line: int) -> pd.DatetimeIndex:
    """Parse a column of timestamps to a UTC DatetimeIndex (same order as the input).

    ``first_line`` is the physical line number of the first value; an unparseable cell raises
    DataFileError naming the column, the value and its line.
    """
    index, bad = try_parse_utc(values)
    if bad is not None:
        raise bad_cell(path, column, "not a timestamp", values.iloc[bad], first_line + bad)
    return index


def try_to_float(values: pd.Series) -> tuple[np.ndarray, int | None]:
    """Convert to float64; return the array and the position of the first non-finite cell."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(numbers))
    return numbers, (int(bad[0]) if bad.size else None)


def to_float(values: pd.Series, path: FileRef, column: str, first_line: int) -> np.ndarray:
    """Convert a column to a float64 array; empty, NaN, infinite or text cells raise."""
    numbers, bad = try_to_float(values)
    if bad is not None:
        raise bad_cell(path, column, "not a number", values.iloc[bad], first_line + bad)
    return numbers


def count_comment_lines(path: Path, comment: str, encoding: str) -> int:
    """Number of leading lines that start with ``comment`` (the header follows them)."""
    count = 0
    with path.open(encoding=encoding) as handle:
        for line in handle:
            if not line.startswith(comment):
                break
            count += 1
    return count


class CsvProblem(Exception):
    """Why pandas cannot read a CSV file (and the line, when it says), before a path is named."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def parse_csv_strings(path: Path, skip: int, encoding: str) -> pd.DataFrame:
    """Every cell as text (blank lines kept as rows of ``""``); CsvProblem when pandas cannot
    parse the file, UnicodeDecodeError when it is not ``encoding`` text."""
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skiprows=skip,
            skip_blank_lines=False,
            encoding=encoding,
        )
    except pd.errors.EmptyDataError as err:
        raise CsvProblem("empty file (no header)") from err
    except pd.errors.ParserError as err:
        match = _PANDAS_LINE.search(str(err))
        raise CsvProblem(f"malformed CSV: {err}", int(match.group(1)) if match else None) from err
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first column as an index
        raise CsvProblem("malformed CSV: every row has more fields than the header", skip + 2)
    return frame


def read_csv_strings(path: Path, skip: int, encoding: str) -> pd.DataFrame:
    """Read every cell as text, converting pandas' parser failures to DataFileError."""
    try:
        return parse_csv_strings(path, skip, encoding)
    except CsvProblem as problem:
        raise DataFileError(path, problem.message, line=problem.line) from problem.__cause__


def read_table(
    path: FileRef, columns: list[str], comment: str | None = None, encoding: str = "utf-8"
) -> tuple[pd.DataFrame, int]:
    """Read a CSV with every cell as a string; return the frame and the first data line number.

    Leading lines starting with ``comment`` are skipped (a ``#`` inside a data row is kept as
    text). Empty cells stay ``""``. Blank lines at the end are dropped; blank lines inside the
    data are kept as empty rows so that line numbers stay exact. Raises DataFileError when the
    file is missing, unreadable, has no data rows, or lacks one of ``columns``. A stored file
    (database source) gives the same frame from its loaded cells.
    """
    if isinstance(path, StoredFile):
        frame, skip, fields = _stored_strings(path, comment)
    else:
        path = Path(path)
        frame, skip = _file_strings(path, comment, encoding)
        fields = file_fields(path, skip, encoding)
    for column in columns:
        if column not in frame.columns:
            raise file_error(path, f"missing column {column!r}")
    require_full_rows(path, fields, len(frame.columns))
    frame = frame.fillna("")
    if len(frame) and (frame.iloc[-1] != "").any():  # the usual case: nothing to trim
        return frame, skip + 2
    filled = np.flatnonzero((frame != "").any(axis=1).to_numpy())
    if not filled.size:
        raise EmptyDataFileError(path if isinstance(path, Path) else str(path))
    return frame.iloc[: int(filled[-1]) + 1], skip + 2


def _file_strings(path: Path, comment: str | None, encoding: str) -> tuple[pd.DataFrame, int]:
    """A folder file's cells as text and the number of comment lines skipped."""
    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        skip = count_comment_lines(path, comment, encoding) if comment else 0
        return read_csv_strings(path, skip, encoding), skip
    except UnicodeDecodeError as err:
        raise DataFileError(path, f"not valid {encoding} text: {err.reason}") from err


def stored_comment_lines(ref: StoredFile, table: StoredTable, comment: str | None) -> int:
    """Comment lines to skip in a stored file. The loader set apart the leading ``#`` lines;
    a reader that does not skip them (or skips another marker) cannot read the file."""
    if comment not in (None, COMMENT):
        raise file_error(ref, f"stored files only set apart {COMMENT!r} comment lines")
    if table.comment_lines and comment is None:
        raise file_error(
            ref, f"starts with {table.comment_lines} comment line(s) ('#'): not a header line"
        )
    return table.comment_lines


def _stored_strings(ref: StoredFile, comment: str | None) -> tuple[pd.DataFrame, int, Fields]:
    """A stored file's cells as the frame `read_csv_strings` gives for the source file, the
    comment lines skipped and each row's (line, field count)."""
    table = ref.backend.table(ref.relative)
    skip = stored_comment_lines(ref, table, comment)
    frame = pd.DataFrame(table.cells, columns=list(table.columns), dtype=str)
    rows = (np.asarray(table.lines, dtype=np.int64), np.asarray(table.fields, dtype=np.int64))
    return frame, skip, rows


Fields = tuple[np.ndarray, np.ndarray]  # (physical line, field count) of each data row


def file_fields(path: Path, skip: int, encoding: str) -> Fields:
    """(physical line, field count) of every row after the header, as the csv module splits
    them (the loader stores the same counts for a stored file). A file without quotes is
    counted by its commas with numpy (the csv module's split, without its per-row cost)."""
    data = path.read_bytes()
    if b'"' not in data and data.count(b"\r") == data.count(b"\r\n"):
        return _comma_counts(data, skip)
    lines: list[int] = []
    fields: list[int] = []
    with path.open(encoding=encoding, newline="") as handle:
        for _ in range(skip):
            handle.readline()
        reader = csv.reader(handle)
        try:
            next(reader, None)  # the header
            for row in reader:
                lines.append(skip + reader.line_num)
                fields.append(len(row))
        except csv.Error as err:
            raise DataFileError(path, f"malformed CSV: {err}", line=skip + reader.line_num) from err
    return np.array(lines, dtype=np.int64), np.array(fields, dtype=np.int64)


def _comma_counts(data: bytes, skip: int) -> Fields:
    """An unquoted file's rows after the header (lines end in \\n or \\r\\n): a row's
    commas + 1 (0 for an empty line); a final line break ends the last row."""
    text = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(text == ord("\n"))
    if text.size and text[-1] != ord("\n"):
        ends = np.append(ends, text.size)  # no final line break
    commas = np.flatnonzero(text == ord(","))
    starts = np.concatenate(([0], ends[:-1] + 1))
    crlf = (ends > starts) & (text[np.maximum(ends - 1, 0)] == ord("\r"))
    count = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    fields = np.where(ends - crlf > starts, count + 1, 0)
    first = skip + 1  # the header's position
    return np.arange(first + 1, len(fields) + 1, dtype=np.int64), fields[first:]


def field_count_problem(fields: int, width: int) -> str:
    """What is wrong with a row of ``fields`` fields under a header of ``width``."""
    why = " (a cut or truncated line)" if fields < width else ""
    return f"row has {fields} fields, the header {width}{why}"


def short_rows(rows: Fields, width: int) -> Fields:
    """The rows with fewer fields than the header; blank lines (no field) are left to the
    column checks."""
    lines, fields = rows
    short = (fields > 0) & (fields < width)
    return lines[short], fields[short]


def require_full_rows(path: FileRef, rows: Fields, width: int) -> None:
    """Raise DataFileError at the first row with fewer fields than the header."""
    lines, fields = short_rows(rows, width)
    if lines.size:
        raise file_error(path, field_count_problem(int(fields[0]), width), line=int(lines[0]))


def read_json(path: FileRef) -> Any:
    """Load a JSON file, turning a missing file or invalid JSON into DataFileError."""
    try:
        if isinstance(path, StoredFile):
            return json.loads(path.backend.text(path.relative))
        path = Path(path)
        if not path.is_file():
            raise DataFileError(path, "file not found")
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise file_error(path, f"invalid JSON: {err.msg}", line=err.lineno) from err


def json_object(value: Any, path: FileRef, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else DataFileError naming the dotted key ``where``."""
    if not isinstance(value, dict):
        raise file_error(path, f"key {where or '(top level)'!r}: not an object: {value!r}")
    return value


def json_key(mapping: dict[str, Any], key: str, path: FileRef, where: str = "") -> Any:
    """``mapping[key]``, raising DataFileError naming the dotted key when it is absent."""
    if key not in mapping:
        name = f"{where}.{key}" if where else key
        raise file_error(path, f"missing key {name!r}")
    return mapping[key]


def unique_sorted(data: FrameOrSeries, path: FileRef, lines: int | np.ndarray) -> FrameOrSeries:
    """Drop repeated rows that are identical; refuse conflicting ones, rows out of time order
    and timestamps off the whole hour.

    ``data`` must be in file order. ``lines`` is the line number of the first row (rows are
    contiguous) or an array with the line number of every row. A timestamp that appears twice
    with different values raises DataFileError naming the column, both values and both lines;
    a timestamp before the previous row's, or not on a whole hour (every series read through
    here is hourly or daily), names the line and the timestamp.
    """
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    duplicated = frame.index.duplicated(keep=False)
    conflict = find_conflict(frame) if duplicated.any() else None
    if conflict is not None:
        row, _, earlier = conflict
        message = conflict_message(frame, conflict, f"line {line_of(lines, earlier)}")
        raise file_error(path, message, line=line_of(lines, row))
    stamps = pd.DatetimeIndex(frame.index)
    _require_time_order(stamps, path, lines)
    off_hour = np.flatnonzero(stamps.as_unit("ns").asi8 % NS_PER_HOUR)
    if off_hour.size:
        row = int(off_hour[0])
        message = f"timestamp {stamps[row]} is not on a whole hour"
        raise file_error(path, message, line=line_of(lines, row))
    return data[~frame.index.duplicated(keep="first")]


def _require_time_order(stamps: pd.DatetimeIndex, path: FileRef, lines: int | np.ndarray) -> None:
    """Raise DataFileError at the first row stamped before the row above it."""
    back = np.flatnonzero(np.diff(stamps.as_unit("ns").asi8) < 0)
    if back.size:
        row = int(back[0]) + 1
        raise file_error(
            path,
            f"timestamp {stamps[row]} is before {stamps[row - 1]} on line "
            f"{line_of(lines, row - 1)}: rows must be in time order",
            line=line_of(lines, row),
        )


def line_of(lines: int | np.ndarray, position: int) -> int:
    """Line number of row ``position`` given a first line number or per-row line numbers."""
    return lines + position if isinstance(lines, int) else int(lines[position])


def find_conflict(frame: pd.DataFrame) -> tuple[int, int, int] | None:
    """First row whose values differ from an earlier row with the same index value.

    Returns ``(row, column, earlier_row)`` as positions, or None when every repeated index value
    carries identical values.
    """
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    first_of = positions.groupby(level=0, sort=False).transform("first").to_numpy()
    values = frame.to_numpy()
    differs = values != values[first_of]
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return None
    row = int(rows[0])
    return row, int(np.flatnonzero(differs[row])[0]), int(first_of[row])


def conflict_message(frame: pd.DataFrame, conflict: tuple[int, int, int], earlier: str) -> str:
    """Message for a repeated timestamp whose value differs from an earlier row's.

    ``earlier`` says where the earlier row is, e.g. ``"line 12"``.
    """
    row, col, first = conflict
    return (
        f"column {frame.columns[col]!r}: conflicting values for duplicated timestamp "
        f"{frame.index[row]}: {plain(frame.iat[row, col])!r} here, "
        f"{plain(frame.iat[first, col])!r} on {earlier}"
    )


def require_positive(
    numbers: np.ndarray,
    raw: pd.Series,
    path: FileRef,
    column: str,
    first_line: int,
    allow_zero: bool = False,
) -> None:
    """Raise DataFileError on the first negative value (or zero, unless ``allow_zero``)."""
    bad = np.flatnonzero(numbers < 0 if allow_zero else numbers <= 0)
    if bad.size:
        position = int(bad[0])
        problem = "negative" if allow_zero else "not positive"
        raise bad_cell(path, column, problem, raw.iloc[position], first_line + position)


def column_series(
    frame: pd.DataFrame,
    first_line: int,
    path: FileRef,
    columns: tuple[str, str],
    positive: bool = False,
) -> pd.Series:
    """Float column ``columns[1]`` indexed by the UTC times in ``columns[0]``, in file order.

    The series is named after the value column and its index ``timestamp``. With ``positive``,
    zero or negative values raise DataFileError.
    """
    time_column, value_column = columns
    index = parse_utc(frame[time_column], path, time_column, first_line)
    raw = frame[value_column]
    numbers = to_float(raw, path, value_column, first_line)
    if positive:
        require_positive(numbers, raw, path, value_column, first_line)
    return pd.Series(numbers, index=index.rename("timestamp"), name=value_column)


def read_time_series(path: FileRef, time_column: str, value_column: str) -> tuple[pd.Series, int]:
    """Read one value column indexed by one time column, in file order (not yet sorted).

    Returns the series (see :func:`column_series`) and the first data line number, so that
    callers can apply their own duplicate policy.
    """
    frame, first_line = read_table(path, [time_column, value_column])
    series = column_series(frame, first_line, path, (time_column, value_column))
    return series, first_line


def locate(data_dir: Path, pattern: str) -> Path:
    """Resolve a glob ``pattern`` relative to ``data_dir`` to exactly one file."""
    data_dir = Path(data_dir)
    matches = sorted(p for p in data_dir.glob(pattern) if p.is_file())
    if not matches:
        raise DataFileError(data_dir / pattern, "file not found")
    if len(matches) > 1:
        names = ", ".join(str(p.relative_to(data_dir)) for p in matches)
        raise DataFileError(data_dir / pattern, f"pattern matches {len(matches)} files: {names}")
    return matches[0]
