"""Rebuild a run's book and equity from its event_log.csv alone (domain 6 step 6, 12.1)."""

from __future__ import annotations

import json
import math

import pytest

REL = 1e-9


def is_perp(key: str) -> bool:
    return key.split(":")[1] == "Perp"


def close_enough(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), scale)


class Book:
    """Positions rebuilt from the log, with the largest size seen per instrument (its scale)."""

    def __init__(self) -> None:
        self.qty: dict[str, float] = {}
        self.entry: dict[str, float] = {}
        self.scale: dict[str, float] = {}

    def apply(self, row) -> None:
        key = row.instrument
        qty = self.qty.get(key, 0.0) + row.amount
        self.qty[key] = qty
        self.scale[key] = max(self.scale.get(key, 0.0), abs(qty), abs(row.after_qty))
        assert close_enough(qty, row.after_qty, self.scale[key]), (row.seq, key, qty, row.after_qty)
        if is_perp(key):
            assert not math.isnan(row.after_entry), row
            self.entry[key] = row.after_entry
        else:
            assert math.isnan(row.after_entry), row

    def equity(self, marks: dict[str, float]) -> float:
        total = 0.0
        for key, qty in self.qty.items():
            if abs(qty) <= REL * self.scale[key]:
                continue  # closed (a dust of rounding), not marked
            assert key in marks, f"{key} held ({qty}) but not marked"
            if is_perp(key):
                total += qty * (marks[key] - self.entry[key]) * marks["price:USDT"]
            else:
                total += qty * marks[key]
        return total


def replay(run) -> tuple[Book, list[float], float]:
    """Replay the log; check every EquityMarked amount. Returns book, equities, net flows."""
    book = Book()
    equities: list[float] = []
    flows = 0.0
    for row in run.events.itertuples(index=False):
        if row.event_type == "EquityMarked":
            assert row.instrument == ""
            equity = book.equity(json.loads(row.marks))
            assert equity == pytest.approx(row.amount, rel=REL), (row.seq, row.timestamp)
            equities.append(row.amount)
            continue
        if row.event_type == "InstructionRejected" or row.venue == "fund":
            # a refused instruction, or a record of the fund's own books: nothing changed
            assert not isinstance(row.instrument, str) or row.instrument == "", row
            assert row.amount == 0.0, row
            continue
        book.apply(row)
        if row.pnl_component == "flow":
            assert row.event_type in ("Deposited", "WithdrawalPaid"), row
            assert (row.pnl_amount > 0) == (row.event_type == "Deposited"), row
            flows += row.pnl_amount
    return book, equities, flows
