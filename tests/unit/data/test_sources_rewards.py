"""ether.fi reward readers: EIGEN distributions, ETHFI top-ups, season drops, eETH reward APY."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.sources.rewards import (
    parse_reward_text,
    read_eeth_reward_apy,
    read_eigen_distributions,
    read_ethfi_topups,
    read_seasonal_drops,
)

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]

ETHERFI = "manual_sources/etherfi_distributions"
DAY = pd.Timedelta(days=1)
SEASON_HEADER = "start_date,end_date,payout_date,event,reward_token,reward_per_eeth,notes\n"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_eigen_distributions(data_dir: Path) -> None:
    frame = read_eigen_distributions(data_dir / ETHERFI / "eigen_distributions_raw.csv")
    assert list(frame.columns) == ["period_start", "period_end", "eigen_per_eeth"]
    assert len(frame) == 44
    assert frame["period_start"].iloc[0] == utc("2024-08-15")
    assert frame["period_end"].iloc[0] == utc("2024-10-05")  # inclusive end, kept as the date
    assert frame["period_end"].iloc[-1] == utc("2025-08-02")
    assert frame["eigen_per_eeth"].iloc[0] == 0.205
    assert frame["period_start"].is_monotonic_increasing
    contiguous = frame["period_start"].iloc[1:].to_numpy() == (frame["period_end"] + DAY).iloc[:-1]
    assert contiguous.all()
    short = frame.set_index("period_start").loc[utc("2025-07-08")]
    assert short["period_end"] == utc("2025-07-12")
    assert short["eigen_per_eeth"] == 0.127
    assert str(frame["period_start"].dt.tz) == "UTC"


def test_ethfi_topups(data_dir: Path) -> None:
    frame = read_ethfi_topups(data_dir / ETHERFI / "ethfi_topups_raw.csv")
    assert list(frame.columns) == ["payout_date", "period_start", "period_end", "ethfi_per_eeth"]
    assert len(frame) == 7
    assert frame["payout_date"].iloc[0] == utc("2024-10-18")
    assert frame["payout_date"].iloc[-1] == utc("2024-12-19")
    assert frame["payout_date"].is_monotonic_increasing
    assert frame["ethfi_per_eeth"].tolist() == [0.248, 0.020, 0.013, 0.247, 0.188, 0.157, 0.141]


def test_seasonal_drops(data_dir: Path) -> None:
    frame = read_seasonal_drops(data_dir / ETHERFI / "seasonal_drops.csv")
    assert list(frame.columns) == [
        "start",
        "end",
        "payout",
        "event",
        "token",
        "reward_per_eeth_mid",
    ]
    assert len(frame) == 10
    assert frame["payout"].is_monotonic_increasing
    assert frame["payout"].iloc[0] == utc("2024-03-18")
    assert frame["payout"].iloc[-1] == utc("2025-06-15")
    mids = dict(zip(frame["event"], frame["reward_per_eeth_mid"], strict=True))
    assert mids["Season 1 (Launch Airdrop)"] == 10.0  # "~5–15"
    assert mids["Season 2"] == 5.5  # "~3–8"
    assert mids["Season 4 (Base)"] == 2.0
    assert mids["Top-Up #1"] == 0.248
    assert set(frame["token"]) == {"ETHFI"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.248", 0.248),
        ("~5–15", 10.0),
        ("5-15", 10.0),
        (" ~ 3 – 8 ", 5.5),
        ("~1–3", 2.0),
        ("12", 12.0),
    ],
)
def test_parse_reward_text(text: str, expected: float) -> None:
    assert parse_reward_text(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "15–5", "~5–", "5 to 15", "-3"])
def test_parse_reward_text_refuses_other_text(text: str) -> None:
    assert parse_reward_text(text) is None


def test_seasonal_drops_bad_reward_text(write: WriteFile, check_error: CheckError) -> None:
    text = SEASON_HEADER + (
        '2024-03-01,2024-03-15,2024-03-18,S1,ETHFI,"~5–15","a, b"\n'
        "2024-03-15,2024-06-30,2024-07-01,S2,ETHFI,lots,\n"
    )
    path = write("seasonal_drops.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_seasonal_drops(path)
    check_error(caught.value, path, 3, "column 'reward_per_eeth'", "'lots'")


def test_period_end_before_start_is_refused(write: WriteFile, check_error: CheckError) -> None:
    text = (
        "staking_period_start,staking_period_end,eigen_per_eeth_weekly\n"
        "2024-10-06,2024-10-12,0.179\n"
        "2024-10-13,2024-10-01,0.178\n"
    )
    path = write("eigen.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_eigen_distributions(path)
    check_error(caught.value, path, 3, "column 'staking_period_end'", "'2024-10-01'")


def test_reward_file_errors(write: WriteFile, check_error: CheckError) -> None:
    path = write("e.csv", "staking_period_start,staking_period_end\n")
    with pytest.raises(DataFileError) as caught:
        read_eigen_distributions(path)
    check_error(caught.value, path, None, "missing column 'eigen_per_eeth_weekly'")
    header = "top_up_date,staking_period_start,staking_period_end,ethfi_per_eeth_distributed\n"
    path = write("t.csv", header + "2024-10-18,2024-08-15,2024-10-05,-0.2\n")
    with pytest.raises(DataFileError) as caught:
        read_ethfi_topups(path)
    check_error(caught.value, path, 2, "column 'ethfi_per_eeth_distributed': negative: '-0.2'")
    path = write("u.csv", header + "18 Oct,2024-08-15,2024-10-05,0.2\n")
    with pytest.raises(DataFileError) as caught:
        read_ethfi_topups(path)
    check_error(caught.value, path, 2, "column 'top_up_date': not a timestamp: '18 Oct'")


def test_eeth_reward_apy(data_dir: Path) -> None:
    path = locate(data_dir, f"{ETHERFI}/bar-chart-supply-apy-*-eeth.csv")
    series = read_eeth_reward_apy(path)
    assert series.name == "reward_apy"
    assert len(series) == 292  # 482 rows, 190 with an empty Reward
    assert series.index[0] == utc("2024-11-22")
    assert series.index[-1] == utc("2025-09-29")
    # The README says Reward is empty only before 2024-11-22; 20 of the 190 empty cells are a
    # gap from 2025-06-26 to 2025-07-15.
    days = pd.date_range(utc("2024-11-22"), utc("2025-09-29"), freq="D")
    gap = pd.date_range(utc("2025-06-26"), utc("2025-07-15"), freq="D")
    assert series.index.equals(days.difference(gap))
    assert series.iloc[0] == pytest.approx(0.0065)  # 0.65 % in the file
    assert series.min() == pytest.approx(0.0017)
    assert series.max() == pytest.approx(0.0161)


def test_eeth_reward_apy_line_numbers_skip_nothing(
    write: WriteFile, check_error: CheckError
) -> None:
    text = (
        "Timestamp,Date,Base,Reward\n"
        "1717545600,2024-06-05,3.49,\n"
        "1717632000,2024-06-06,2.07,\n"
        "1717718400,2024-06-07,2.99,0.5\n"
        "1717804800,2024-06-08,2.25,n/a\n"
    )
    path = write("bar-chart-supply-apy-eeth.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_eeth_reward_apy(path)
    check_error(caught.value, path, 5, "column 'Reward': not a number: 'n/a'")


def test_eeth_reward_apy_refuses_intraday_and_conflicting_days(
    write: WriteFile, check_error: CheckError
) -> None:
    header = "Timestamp,Date,Base,Reward\n"
    path = write("a.csv", header + "1717545600,2024-06-05,3.49,\n1717632001,2024-06-06,2.07,0.4\n")
    with pytest.raises(DataFileError) as caught:
        read_eeth_reward_apy(path)
    check_error(caught.value, path, 3, "column 'Timestamp': not 00:00 UTC: '1717632001'")
    text = header + "1717632000,a,1,0.4\n1717545600,b,1,\n1717632000,c,1,0.5\n"
    path = write("b.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_eeth_reward_apy(path)
    check_error(caught.value, path, 4, "conflicting values", "on line 2")
