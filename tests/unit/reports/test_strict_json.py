"""Strict JSON (issue 11 item 5): non-finite floats are written as null, never NaN/Infinity."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basis_strategy import cli
from basis_strategy.data import check as data_check
from basis_strategy.data.check import FolderReport, ModeReport
from basis_strategy.reports import strict_json


def test_non_finite_floats_at_any_depth_become_null() -> None:
    value = {
        "nan": math.nan,
        "list": [1.5, np.float32("inf"), (np.float64("-inf"), 2)],
        "nested": {"ok": np.float64(0.25), "bad": -math.inf},
        "int": np.int64(3),
        "flag": True,
    }
    text = strict_json.dumps(value, default=lambda v: v.item())
    assert json.loads(text) == {
        "nan": None,
        "list": [1.5, None, [None, 2]],
        "nested": {"ok": 0.25, "bad": None},
        "int": 3,
        "flag": True,
    }


def test_a_non_finite_value_that_gets_through_fails_instead_of_being_written() -> None:
    # `default` runs after the conversion: allow_nan=False refuses what it returns
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        strict_json.dumps({"x": object()}, default=lambda _: math.nan)


def test_dumps_writes_with_allow_nan_false(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def spy(value: Any, **kwargs: Any) -> str:
        calls.append(kwargs)
        return json.dumps(value, **kwargs)

    monkeypatch.setattr(strict_json, "json", type("Json", (), {"dumps": staticmethod(spy)}))
    assert strict_json.dumps([math.nan], indent=2) == "[\n  null\n]"
    # the fast attempt refuses the NaN, the second writes the nulls: both with allow_nan off
    assert calls == [{"indent": 2, "default": None, "allow_nan": False}] * 2


def test_data_check_json_is_strict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bridge = {"series": "price:ETH", "gap_hours": math.nan, "ratio": math.inf}
    report = FolderReport(
        str(tmp_path),
        [],
        {},
        [ModeReport("pure_lending", "s", "e", can_run=True, bridges=[bridge])],
    )
    monkeypatch.setattr(data_check, "check_folder", lambda *_: report)  # the CLI imports
    monkeypatch.setattr(data_check, "render", lambda *_: None)  # them when the command runs
    out = tmp_path / "check.json"
    assert cli.main(["data", "check", "--json", str(out), str(tmp_path)]) == 0
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    written = json.loads(text)["modes"][0]["bridges"][0]
    assert written == {"series": "price:ETH", "gap_hours": None, "ratio": None}
