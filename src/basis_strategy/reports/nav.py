"""The NAV-per-share points a run's return and risk figures are computed on (domain 5).

Hourly points: the 1.0 issue price at the start, stamped at the first hour and taken before
that hour's trades (so entry costs count), then the NAV per share recorded at each hour,
after that hour's trades (the hour's `hourly_pnl.csv` row), while shares are outstanding.

Full redemption: when no shares are outstanding after hour t, the last point is t's
redemption price, the NAV per share just before the payout, after the hour's unwind costs:
`(equity_t − net_flow_t) / shares_{t−1}` (the hour's equity before its flows over the shares
outstanding before them). NAV per share is undefined after t: no point follows, even if
shares are issued again later.

End-of-day points (`NavPoints.daily`): the issue price, then the hourly point recorded at each
00:00 UTC hour after the start (after that hour's trades), then the last hourly point (the
final hour's NAV, or the redemption price) when it is not at 00:00: the first and last
periods are shorter than a day when the window does not start or end at 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from basis_strategy.core.errors import DataError
from basis_strategy.math.metrics import period_end_positions

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class NavPoints:
    """NAV per share at points of a run, in time order.

    `hours`: each point's hour (whole hours since 1970-01-01 UTC; the issue price shares the
    first hour); `rows`: the hourly_pnl row it comes from (−1 for the issue price); `nav`: its
    value; `redeemed`: the last point is the redemption price of the last shares.
    """

    hours: Ints
    rows: Ints
    nav: Floats
    redeemed: bool

    @property
    def span_hours(self) -> int:
        """Hours from the first point to the last."""
        return int(self.hours[-1] - self.hours[0])

    def stamp(self, position: int | None) -> str | None:
        """ISO timestamp (UTC) of a point; None for None."""
        if position is None:
            return None
        seconds = int(self.hours[position]) * SECONDS_PER_HOUR
        return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()

    def daily(self) -> NavPoints:
        """The end-of-day points: the first point, each 00:00 UTC point after it, the last."""
        keep = np.concatenate(([0], period_end_positions(self.hours)))
        return NavPoints(self.hours[keep], self.rows[keep], self.nav[keep], self.redeemed)


def hour_stamps(index: pd.Index) -> Ints:
    """Whole hours since 1970-01-01 UTC of an hourly frame's timestamps."""
    times = pd.DatetimeIndex(pd.to_datetime(index, utc=True))
    return (times.as_unit("s").asi8 // SECONDS_PER_HOUR).astype(np.int64)


def nav_points(hourly: pd.DataFrame) -> NavPoints:
    """The hourly NAV points of an hourly_pnl frame (index: UTC timestamps; columns
    `equity`, `shares`, `nav_per_share`, `net_flow`).

    Raises DataError when no shares are outstanding after the first hour (nothing to measure).
    """
    shares = hourly["shares"].to_numpy(dtype=np.float64)
    nav = hourly["nav_per_share"].to_numpy(dtype=np.float64)
    hours = hour_stamps(hourly.index)
    gone = np.flatnonzero(~(shares > 0.0))
    if gone.size and gone[0] == 0:
        raise DataError(
            f"hourly_pnl: no shares outstanding after the first hour "
            f"({hourly.index[0]}): no NAV per share to measure returns on"
        )
    if not gone.size:
        last = len(nav) - 1
        values = np.concatenate(([1.0], nav))
    else:
        last = int(gone[0])
        equity = float(hourly["equity"].iloc[last]) - float(hourly["net_flow"].iloc[last])
        values = np.concatenate(([1.0], nav[:last], [equity / shares[last - 1]]))
    rows = np.arange(-1, last + 1, dtype=np.int64)
    point_hours = np.concatenate((hours[:1], hours[: last + 1]))
    return NavPoints(point_hours, rows, values, redeemed=bool(gone.size))
