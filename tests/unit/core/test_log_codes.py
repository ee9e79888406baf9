"""The one table of log codes: stable identifiers, so they must be unique, well-formed, used
only if listed, and documented in docs/error_codes.md exactly as the table says."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from basis_strategy.core import log_codes
from basis_strategy.core.log_codes import (
    CODE_IN_TEXT,
    CODE_PATTERN,
    CODES,
    COMPONENTS,
    LEVELS,
    lookup,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[3]
REQUIRED = {  # the conditions the live work logs now (issue 13): each needs a code
    "order ambiguous",
    "resent with the same client id",
    "order unresolved",
    "not booked twice",
    "(transient)",
    "(persistent): halt",
    "stale: this cycle is skipped",
    "rate limited",
    "unreachable",
    "REDUCING",
    "emergency stop: strategy HALTED",
    "heartbeat missed",
    "live store unwritable: halt",
    "pre-flight check failed",
    "not enabled",
    "credentials missing",
}


def table_source_codes() -> list[str]:
    """The codes as written in the table's source, duplicates included (a dict literal
    silently keeps the last of two equal keys, so uniqueness is checked on the text)."""
    text = Path(log_codes.__file__).read_text(encoding="utf-8")
    return re.findall(r'^\s+"([A-Z]+-\d{3})": \(', text, flags=re.MULTILINE)


def test_codes_are_unique_in_the_table_source() -> None:
    written = table_source_codes()
    assert len(written) == len(CODES) > 0
    assert len(set(written)) == len(written)


def test_codes_are_well_formed_and_belong_to_their_component() -> None:
    for code, entry in CODES.items():
        match = CODE_PATTERN.match(code)
        assert match, code
        assert match["component"] == entry.component, code
        assert entry.component in COMPONENTS, code
        assert entry.level in LEVELS, code
        assert entry.meaning and "\n" not in entry.meaning and "|" not in entry.meaning, code


def test_codes_of_a_component_are_numbered_from_001_without_gaps() -> None:
    for component in COMPONENTS:
        numbers = sorted(int(c.split("-")[1]) for c in CODES if c.startswith(component + "-"))
        assert numbers == list(range(1, len(numbers) + 1)), component


def test_every_component_has_a_code_and_the_live_conditions_are_covered() -> None:
    assert {entry.component for entry in CODES.values()} == set(COMPONENTS)
    meanings = " / ".join(entry.meaning for entry in CODES.values())
    missing = [condition for condition in REQUIRED if condition not in meanings]
    assert not missing


def test_levels_follow_what_the_condition_needs() -> None:
    """A halt must be CRITICAL (only CRITICAL calls the halt hook); a condition that is only
    retried must not count as an error."""
    for code, entry in CODES.items():
        if "halt" in entry.meaning.lower():
            assert entry.level == logging.CRITICAL, code
    assert lookup("EXE-001").level == logging.WARNING
    assert lookup("VEN-001").level == logging.WARNING
    assert lookup("RISK-001").level == logging.ERROR


def test_every_code_used_in_src_and_docs_is_in_the_table() -> None:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "docs").rglob("*.md")]
    assert len(files) > 50
    used = {
        (path.relative_to(ROOT).as_posix(), code)
        for path in files
        for code in CODE_IN_TEXT.findall(path.read_text(encoding="utf-8"))
    }
    assert any(code == "EXE-001" for _, code in used)  # the scan does see codes
    assert [(path, code) for path, code in sorted(used) if code not in CODES] == []


def test_the_scan_pattern_finds_codes_and_ignores_adr_numbers() -> None:
    text = 'log_event(log, "REC-002", "x") # ADR-037; EXE-1234 is not a code; ZZZ-001 neither'
    assert CODE_IN_TEXT.findall(text) == ["REC-002"]


def test_unknown_code_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'EXE-999' is not in core/log_codes\.py"):
        lookup("EXE-999")


def test_docs_table_is_generated_from_the_code_table() -> None:
    documented = (ROOT / "docs" / "error_codes.md").read_text(encoding="utf-8")
    assert documented == render_markdown()
    for code, entry in CODES.items():
        assert f"| {code} | {entry.level_name} | {entry.meaning} |" in documented
