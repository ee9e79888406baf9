"""The event log alone rebuilds the book and the P&L (domain 6 step 6, 12.1).

Only event_log.csv is used to rebuild: positions are the running sum of `amount` per
instrument, perp entries the last `after_entry`, equity at each `EquityMarked` event is
Σ qty × unit value over holdings + Σ perp size × (mark − entry) × price:USDT, and cumulative
P&L is the last equity minus the flows. balance_sheet.csv and summary.json are only compared.
"""

from __future__ import annotations

import math

import pytest
from tests.integration.rebuild import close_enough, is_perp, replay

RUNS = ["btc_basis_full", "pure_lending_full"]
REL = 1e-9


@pytest.fixture(scope="module", params=RUNS)
def replayed(request):
    run = request.getfixturevalue(request.param)
    return run, *replay(run)


def test_log_is_ordered_and_marked_every_hour(replayed):
    run, _, equities, _ = replayed
    events = run.events
    assert (events["seq"].diff().dropna() == 1).all()
    assert events["time"].is_monotonic_increasing
    assert len(equities) == run.summary["hours"]
    assert len(events) == run.summary["events"]
    marked = events[events["event_type"] == "EquityMarked"]
    # the EquityMarked event closes its hour: nothing of that hour comes after it
    assert (events.groupby("time")["event_type"].last() == "EquityMarked").all()
    assert list(marked["amount"]) == pytest.approx(list(run.hourly["equity"]), rel=1e-9)


def test_final_positions_match_balance_sheet(replayed):
    run, book, _, _ = replayed
    final = run.balance.iloc[-1]
    held = {c.removeprefix("qty:"): final[c] for c in run.balance.columns if c.startswith("qty:")}
    for key, qty in book.qty.items():
        reported = held.get(key, 0.0)
        reported = 0.0 if math.isnan(reported) else reported
        assert close_enough(qty, reported, book.scale[key]), (key, qty, reported)
    for key, reported in held.items():
        if not math.isnan(reported) and reported != 0.0:
            assert key in book.qty, f"{key} in the balance sheet but never in the log"


def test_final_values_use_rebuilt_entries_and_last_marks(replayed):
    run, book, _, _ = replayed
    final = run.balance.iloc[-1]
    marks = run.marks.iloc[-1]
    for key, qty in book.qty.items():
        if abs(qty) <= REL * book.scale[key]:
            continue
        if is_perp(key):
            expected = qty * (marks[key] - book.entry[key]) * marks["price:USDT"]
            scale = abs(qty) * marks[key] * REL
        else:
            expected = qty * marks[key]
            scale = abs(expected) * REL
        assert abs(final[f"value:{key}"] - expected) <= max(scale, 1e-9), (
            key,
            final[f"value:{key}"],
            expected,
        )
    if any(is_perp(k) for k in book.qty):
        assert book.entry, "a perp run must have entries"


def test_cumulative_pnl_rebuilt_from_log(replayed):
    run, _, equities, flows = replayed
    assert flows == pytest.approx(run.summary["net_flows"], rel=1e-12)
    assert equities[-1] - flows == pytest.approx(run.summary["cumulative_pnl"], rel=REL)
