"""Defaults the command line shows before it imports anything heavy (issue 15: `basis --help`
imports no pandas, SQLAlchemy or engine). Each is defined here once and imported by the
module that uses it."""

from __future__ import annotations

DEFAULT_DATA_DB_URL = "sqlite:///basis_data.sqlite"  # `basis data load` (data/db/schema.py)
DEFAULT_MAX_QUEUED = 100  # runs that may wait for a worker (services/queue.py)
# the synthetic data scenarios (data/synth/scenarios.py SCENARIOS has exactly these keys)
SCENARIO_NAMES = ("base", "bear_negative_funding", "bull_squeeze", "lst_depeg", "rate_spike")
