"""Pure calculators: AAVE, perps, costs, leverage sizing, P&L attribution, metrics.

Plain functions of numbers and small frozen records. No file, network, clock, logging or
run mode in here (tests/unit/math/test_purity.py enforces the imports). Import from the
submodules, e.g. `from basis_strategy.math.aave import health_factor`.
"""
