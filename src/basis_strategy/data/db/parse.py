"""A data folder's files as the loader stores them: CSV cells as text, other files as text.

A CSV file is read with the same pandas call as `read_table` (every cell as its exact source
text, blank lines kept as rows of ``""``), after its leading ``#`` comment lines; a pass of the
`csv` module gives each row's physical line and field count (what the OKX archive reader
checks). A file pandas cannot read is kept with its problem, raised when a reader asks for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from basis_strategy.data.sources._common import COMMENT, CsvProblem, parse_csv_strings

BOM = "\ufeff"


@dataclass
class ParsedFile:
    """One file of the folder, ready to store."""

    relative: str
    kind: str  # csv | json | text
    size: int
    sha256: str
    text: str | None = None  # a non-CSV file's text
    header: list[str] = field(default_factory=list)
    rows: list[tuple[object, ...]] = field(default_factory=list)  # (line, fields, *cells)
    comments: list[str] = field(default_factory=list)
    bom: bool = False
    problem: str | None = None
    problem_line: int | None = None


def parse_file(path: Path, relative: str) -> ParsedFile:
    """Read one file: a `.csv` into rows of text cells, any other file as UTF-8 text."""
    data = path.read_bytes()
    kind = "csv" if path.suffix == ".csv" else "json" if path.suffix == ".json" else "text"
    parsed = ParsedFile(relative, kind, len(data), hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        reason = _pandas_reason(path) if kind == "csv" else None
        parsed.problem = f"not valid utf-8 text: {reason or err.reason}"
        return parsed
    if kind != "csv":
        parsed.text = text
        return parsed
    _parse_csv(path, text, parsed)
    return parsed


def _pandas_reason(path: Path) -> str | None:
    """Why pandas cannot decode the file (it decodes in chunks: its reason is read_table's)."""
    try:
        parse_csv_strings(path, 0, "utf-8")
    except UnicodeDecodeError as err:
        return str(err.reason)
    except CsvProblem:
        return None
    return None


def _comment_lines(text: str) -> list[str]:
    """The leading lines starting with `#`, as `read_table` counts them (universal newlines)."""
    found: list[str] = []
    for line in io.StringIO(text, newline=None):
        if not line.startswith(COMMENT):
            break
        found.append(line.rstrip("\n"))
    return found


def _parse_csv(path: Path, text: str, parsed: ParsedFile) -> None:
    parsed.comments = _comment_lines(text)
    parsed.bom = text.startswith(BOM)
    skip = len(parsed.comments)
    try:
        frame = parse_csv_strings(path, skip, "utf-8")
    except CsvProblem as problem:
        parsed.problem, parsed.problem_line = problem.message, problem.line
        return
    if not isinstance(frame.index, pd.RangeIndex):
        parsed.problem = "rows have more fields than the header (pandas reads an index column)"
        return
    parsed.header = [str(name) for name in frame.columns]
    cells = frame.fillna("").to_numpy(dtype=object).tolist()  # read_table fills NaN with ""
    lines, fields = _lines_and_fields(text, skip, len(cells))
    if lines is None:  # the csv module splits the rows otherwise: number them as read_table
        lines = list(range(skip + 2, skip + 2 + len(cells)))
        fields = [len(parsed.header)] * len(cells)
    parsed.rows = [
        (line, count, *row) for line, count, row in zip(lines, fields, cells, strict=True)
    ]


def _lines_and_fields(text: str, skip: int, rows: int) -> tuple[list[int] | None, list[int]]:
    """Physical line and field count of each row after the header (csv module), or None when
    the csv module does not find the `rows` rows pandas found."""
    handle = io.StringIO(text, newline="")
    for _ in range(skip):
        handle.readline()
    reader = csv.reader(io.StringIO(handle.read(), newline=""))
    lines: list[int] = []
    fields: list[int] = []
    try:
        next(reader, None)  # the header
        for row in reader:
            lines.append(skip + reader.line_num)
            fields.append(len(row))
    except csv.Error:
        return None, []
    return (lines, fields) if len(lines) == rows else (None, [])
