"""Synthetic data folders calibrated to the real data's statistics (issue 6, scope 3)."""

from basis_strategy.data.synth.scenarios import SCENARIOS, ScenarioParams
from basis_strategy.data.synth.writer import write_scenario

__all__ = ["SCENARIOS", "ScenarioParams", "write_scenario"]
