"""`write_scenario`: a complete synthetic data folder plus its `manifest.json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.synth.market_files import write_funding, write_gas, write_prices
from basis_strategy.data.synth.protocol_files import write_aave, write_base_yield, write_peg
from basis_strategy.data.synth.reward_files import write_benchmark, write_rewards
from basis_strategy.data.synth.scenarios import scenario_params, simulate
from basis_strategy.data.synth.static import write_static

MANIFEST = "manifest.json"


def _utc(value: datetime, field: str) -> pd.Timestamp:
    if value.tzinfo is None:
        raise ConfigError(field, f"must be timezone-aware UTC, was {value.isoformat()!r}")
    return pd.Timestamp(value).tz_convert("UTC")


def write_scenario(
    scenario: str,
    seed: int,
    start: datetime,
    end: datetime,
    out: Path,
    *,
    generated_at: datetime | None = None,
) -> Path:
    """Write scenario `scenario` (see `SCENARIOS`) for the hours from `start`'s day 00:00 to
    `end`'s next day 00:00 into `out` (created; must be empty or absent), in the real data
    folder's layout, and return `out`. The data files are byte-identical for the same
    arguments; `manifest.json` also records `generated_at` (default: now)."""
    params = scenario_params(scenario)
    first, last = _utc(start, "start"), _utc(end, "end")
    if last <= first:
        raise ConfigError("end", f"must be after start {first.isoformat()}, was {last.isoformat()}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError("out", f"must be an empty or new folder, was {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    paths = simulate(params, seed, first, last)
    span = f"{paths.days[0]:%Y-%m-%d}_{paths.days[-1]:%Y-%m-%d}"
    extra = np.random.default_rng([seed, 1])  # cosmetic noise, separate from the paths
    write_prices(out, paths, span, extra)
    write_funding(out, paths, span)
    write_static(out, span, write_gas(out, paths, span))
    write_aave(out, paths, span)
    write_peg(out, paths, span)
    write_base_yield(out, paths, span)
    write_rewards(out, paths, extra)
    write_benchmark(out, paths, span)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    manifest = {
        "synthetic": True,
        "scenario": scenario,
        "seed": seed,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out
