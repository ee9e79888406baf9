"""Risk limits: strict validation with one-line errors; every limit breached at or over its
threshold and not under; drawdown from the peak; daily loss resets at 00:00 UTC; the order
rate is a sliding 60 s window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.log_codes import CODES
from basis_strategy.live.alerts import Alert, AlertLevel
from basis_strategy.live.limits import (
    NavMarks,
    RiskLimits,
    check_cycle,
    check_order,
    marks_from,
    orders_in_window,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = datetime(2025, 3, 2, tzinfo=UTC)  # 00:00 UTC
H = timedelta(hours=1)
LIMITS = RiskLimits(
    max_drawdown=0.10,
    max_daily_loss=0.04,
    max_position_usd={"ETH": 100_000.0, "*": 10_000.0},
    max_order_notional_usd=50_000.0,
    max_orders_per_minute=3,
    max_data_age_s=120.0,
)


def codes(breaches: tuple[object, ...]) -> list[str]:
    return [b.code for b in breaches]  # type: ignore[attr-defined]


# --- validation ------------------------------------------------------------------------------


def test_defaults_are_valid_and_documented() -> None:
    limits = RiskLimits()
    assert limits.heartbeat_limit_s == 300.0
    assert 0 < limits.max_drawdown < 1 and 0 < limits.max_daily_loss < 1


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"max_drawdown": 1.5}, "risk_limits.max_drawdown"),
        ({"max_drawdown": 0.0}, "risk_limits.max_drawdown"),
        ({"max_drawdown": float("nan")}, "risk_limits.max_drawdown"),
        ({"max_daily_loss": "0.05"}, "risk_limits.max_daily_loss"),
        ({"max_daily_loss": True}, "risk_limits.max_daily_loss"),
        ({"max_order_notional_usd": float("inf")}, "risk_limits.max_order_notional_usd"),
        ({"max_order_notional_usd": -1.0}, "risk_limits.max_order_notional_usd"),
        ({"max_orders_per_minute": 2.5}, "risk_limits.max_orders_per_minute"),
        ({"max_orders_per_minute": 0}, "risk_limits.max_orders_per_minute"),
        ({"heartbeat_limit_s": 0.0}, "risk_limits.heartbeat_limit_s"),
        ({"max_data_age_s": 1e9}, "risk_limits.max_data_age_s"),
        ({"max_position_usd": {"ETH": -5.0}}, "risk_limits.max_position_usd.ETH"),
        ({"max_position_usd": {"": 5.0}}, "risk_limits.max_position_usd"),
        ({"max_loss": 0.1}, "risk_limits.max_loss"),
    ],
)
def test_bad_values_are_refused_with_one_line_naming_the_field(
    raw: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RiskLimits.parse(raw)
    assert info.value.field.startswith(field)
    assert "\n" not in str(info.value)


def test_parse_accepts_good_values_and_ints_for_floats() -> None:
    limits = RiskLimits.parse({"max_drawdown": 0.2, "max_order_notional_usd": 1000})
    assert limits.max_drawdown == 0.2 and limits.max_order_notional_usd == 1000.0


def test_position_cap_own_then_star_then_none() -> None:
    assert LIMITS.position_cap_usd("ETH") == 100_000.0
    assert LIMITS.position_cap_usd("BTC") == 10_000.0
    assert RiskLimits(max_position_usd={"ETH": 1.0}).position_cap_usd("BTC") is None


# --- drawdown and daily loss -------------------------------------------------------------------


def test_drawdown_is_from_the_peak_not_the_start() -> None:
    # start 100, peak 120, now 108: 10 % below the peak but 8 % above the start
    marks = marks_from([(T0, 100.0), (T0 + H, 120.0), (T0 + 2 * H, 108.0)])
    assert marks.peak == 120.0
    assert marks.drawdown == pytest.approx(0.10)
    assert "RISK-002" in codes(check_cycle(LIMITS, marks, {}))


@pytest.mark.parametrize(("nav", "breached"), [(90.0, True), (89.0, True), (90.0001, False)])
def test_drawdown_breached_at_or_over_the_limit_only(nav: float, breached: bool) -> None:
    marks = marks_from([(T0, 100.0), (T0 + H, nav)])
    limits = RiskLimits(max_drawdown=0.10, max_daily_loss=1.0)
    assert ("RISK-002" in codes(check_cycle(limits, marks, {}))) is breached


@pytest.mark.parametrize(("nav", "breached"), [(96.0, True), (95.0, True), (96.0001, False)])
def test_daily_loss_breached_at_or_over_the_limit_only(nav: float, breached: bool) -> None:
    marks = marks_from([(DAY, 100.0), (DAY + H, nav)])
    limits = RiskLimits(max_drawdown=1.0, max_daily_loss=0.04)
    assert ("RISK-003" in codes(check_cycle(limits, marks, {}))) is breached


def test_daily_loss_resets_at_midnight_utc() -> None:
    before = [(DAY - 12 * H, 100.0), (DAY - H, 94.0)]
    assert "RISK-003" in codes(check_cycle(LIMITS, marks_from(before), {}))
    # the same loss, one hour later: it was yesterday's
    today = marks_from([*before, (DAY + H, 94.0)])
    assert today.day_open == 94.0 and today.daily_loss == 0.0
    assert "RISK-003" not in codes(check_cycle(LIMITS, today, {}))
    # a loss after midnight counts from the last mark at or before 00:00
    later = marks_from([*before, (DAY, 94.0), (DAY + 2 * H, 90.0)])
    assert later.day_open == 94.0
    assert later.daily_loss == pytest.approx(4 / 94)
    assert "RISK-003" in codes(check_cycle(LIMITS, later, {}))


def test_a_mark_exactly_at_midnight_opens_the_day() -> None:
    marks = marks_from([(DAY - H, 100.0), (DAY, 97.0)])
    assert marks.day_open == 97.0 and marks.daily_loss == 0.0


def test_a_new_day_with_a_non_utc_timezone_is_read_in_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    # 01:00 at +02:00 is 23:00 UTC the day before: still yesterday
    marks = marks_from([(DAY - 12 * H, 100.0), (datetime(2025, 3, 2, 1, tzinfo=plus2), 90.0)])
    assert marks.day_open == 100.0 and marks.daily_loss == pytest.approx(0.10)


def test_a_gain_is_no_daily_loss_and_marks_refuse_bad_input() -> None:
    assert marks_from([(DAY, 100.0), (DAY + H, 130.0)]).daily_loss == 0.0
    with pytest.raises(ValueError, match="before the last"):
        NavMarks.start(T0, 100.0).advance(T0 - H, 100.0)
    with pytest.raises(ValueError, match="finite and > 0"):
        NavMarks.start(T0, float("nan"))
    with pytest.raises(ValueError, match="timezone-aware"):
        NavMarks.start(datetime(2025, 3, 1), 100.0)
    with pytest.raises(ValueError, match="at least one point"):
        marks_from([])


# --- positions and data age --------------------------------------------------------------------

FLAT = marks_from([(T0, 100.0)])


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ({"ETH": 100_000.0}, ["ETH"]),
        ({"ETH": -100_000.0}, ["ETH"]),  # a short is a position too
        ({"ETH": 99_999.99}, []),
        ({"BTC": 10_000.0}, ["BTC"]),  # capped by "*"
        ({"BTC": 9_999.0, "ETH": 150_000.0, "SOL": 20_000.0}, ["ETH", "SOL"]),
        ({"ETH": float("nan")}, ["ETH"]),  # unknown is not safe
    ],
)
def test_position_breached_at_or_over_its_cap(
    positions: dict[str, float], expected: list[str]
) -> None:
    breaches = check_cycle(LIMITS, FLAT, positions)
    assert [b.subject for b in breaches if b.code == "RISK-004"] == expected


def test_uncapped_asset_is_not_breached() -> None:
    limits = RiskLimits(max_position_usd={"ETH": 1.0})
    assert check_cycle(limits, FLAT, {"BTC": 1e8}) == ()


@pytest.mark.parametrize(("age", "breached"), [(120.0, False), (120.5, True), (None, False)])
def test_data_age_breached_only_when_longer_than_the_limit(
    age: float | None, breached: bool
) -> None:
    assert ("RISK-007" in codes(check_cycle(LIMITS, FLAT, {}, age))) is breached


def test_no_breach_gives_empty_and_a_breach_names_figure_and_limit() -> None:
    assert check_cycle(LIMITS, FLAT, {"ETH": 1.0}, 1.0) == ()
    (breach,) = check_cycle(LIMITS, FLAT, {"ETH": 150_000.0})
    assert (breach.code, breach.name, breach.figure, breach.limit) == (
        "RISK-004",
        "max_position_usd",
        150_000.0,
        100_000.0,
    )
    alert = breach.alert("eth_basis", T0)
    assert isinstance(alert, Alert) and alert.level is AlertLevel.ERROR
    assert "ETH" in alert.message and alert.code in CODES


# --- orders ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notional", "breached"),
    [(50_000.0, True), (-50_000.0, True), (60_000.0, True), (49_999.0, False)],
)
def test_order_notional_breached_at_or_over_the_max(notional: float, breached: bool) -> None:
    assert ("RISK-005" in codes(check_order(LIMITS, notional, [], T0))) is breached


def test_order_rate_is_a_sliding_60_s_window() -> None:
    sent = [T0 - timedelta(seconds=s) for s in (59.0, 30.0, 1.0)]
    assert orders_in_window(sent, T0) == 3
    assert codes(check_order(LIMITS, 1.0, sent, T0)) == ["RISK-006"]  # 3 sent: the 4th waits
    assert codes(check_order(LIMITS, 1.0, sent[1:], T0)) == []  # 2 sent: the 3rd may go
    # one second later the oldest is exactly 60 s old: out of the window
    assert orders_in_window(sent, T0 + timedelta(seconds=1)) == 2
    assert codes(check_order(LIMITS, 1.0, sent, T0 + timedelta(seconds=1))) == []
    # an order sent 59.999 s ago still counts
    assert orders_in_window([T0 - timedelta(seconds=59.999)], T0) == 1
    assert orders_in_window([T0 - timedelta(seconds=60)], T0) == 0


def test_order_rate_breach_reports_count_and_limit() -> None:
    sent = [T0] * 5
    (breach,) = check_order(LIMITS, 1.0, sent, T0)
    assert (breach.figure, breach.limit) == (5, 3)
