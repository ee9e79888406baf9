"""Static configuration files of the data folder (risk parameters, gas units, margins).

Values copied from the real folder's files (`protocol_data/aave/risk_params/`,
`manual_sources/aave_params/` (four reserves only), `blockchain_data/gas_prices/*.json`,
`market_data/derivatives/risk_params/`).
"""

from __future__ import annotations

import json
from pathlib import Path

EMODE = {
    "emode": {
        "ltv_limits": {"weETH_WETH": 0.93, "wstETH_WETH": 0.93, "ETH_WETH": 0.93},
        "liquidation_thresholds": {"weETH_WETH": 0.95, "wstETH_WETH": 0.95, "ETH_WETH": 0.95},
        "liquidation_bonus": {"weETH_WETH": 0.01, "wstETH_WETH": 0.01, "ETH_WETH": 0.01},
    },
    "standard": {
        "ltv_limits": {"weETH_WETH": 0.80, "wstETH_WETH": 0.80, "ETH_WETH": 0.80},
        "liquidation_thresholds": {"weETH_WETH": 0.85, "wstETH_WETH": 0.85, "ETH_WETH": 0.85},
        "liquidation_bonus": {"weETH_WETH": 0.05, "wstETH_WETH": 0.05, "ETH_WETH": 0.05},
    },
    "reserve_factors": {"weETH": 0.10, "wstETH": 0.10, "WETH": 0.10, "USDT": 0.10},
}
RESERVE_TABLE = """\ufeff,WETH,wstETH,USDT,weETH
Frozen,FALSE,FALSE,FALSE,FALSE
Paused,FALSE,FALSE,FALSE,FALSE
Collateral Enabled,TRUE,TRUE,TRUE,TRUE
LTV,80.50%,78.50%,75%,77.50%
Liquidation Threshold,83%,81%,78%,80%
Liquidation Bonus,5%,6%,4.50%,7%
Reserve Factor,15%,35%,10%,45%
Borrowing Enabled,TRUE,TRUE,TRUE,TRUE
Optimal Utilization,92%,80%,92%,30%
Variable Borrow Rate,2.30%,0.22%,12.30%,1.02%
Isolated,FALSE,FALSE,FALSE,FALSE
Debt Ceiling,N/A,N/A,N/A,N/A
Supply Cap,0.0032B,0.0018B,9.5000B,0.0022B
Borrow Cap,0.0029B,0.0005B,8.8000B,0.0000B
Borrowable in Isolation,FALSE,FALSE,TRUE,FALSE
Flashloan Enabled,TRUE,TRUE,TRUE,TRUE
"""
GAS_UNITS = {
    "STAKE_DEPOSIT": 150000,
    "STAKE_WITHDRAWAL": 200000,
    "TOKEN_SWAP": 180000,
    "UNWRAP_KING_TOKEN": 150000,
    "COLLATERAL_SUPPLIED": 250000,
    "COLLATERAL_WITHDRAWN": 220000,
    "LOAN_CREATED": 300000,
    "LOAN_REPAID": 280000,
    "TRADE_EXECUTED": 180000,
    "ADD_LIQUIDITY_V3": 350000,
    "VENUE_TRANSFER": 100000,
    "CREATE_LST": 150000,
    "REDEEM_LST": 200000,
    "ATOMIC_ENTRY": 1250000,
    "ATOMIC_DELEVERAGE_ONE_SWAP": 850000,
    "ATOMIC_DELEVERAGE_TWO_SWAPS": 1100000,
    "APPROVAL_ONCE": 55000,
    "SET_EMODE_ONCE": 55000,
}
MARGIN = {
    "initial_margin_requirement": 0.05,
    "maintenance_margin_requirement": 0.1,
    "liquidation_threshold": 0.05,
    "max_leverage": 20,
    "margin_call_threshold": 0.15,
    "funding_rate_interval_hours": 8,
    "position_size_limits": {"max_position_usdt": 10000000, "min_position_usdt": 1},
}


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def write_static(out: Path, span: str, gas_stats: dict[str, object]) -> None:
    """The configuration files; `span` is the file-name date range, `gas_stats` the gas
    summary's `date_range` / `total_records` / `gas_price_stats`."""
    write_json(out / "protocol_data/aave/risk_params/aave_v3_risk_parameters.json", EMODE)
    table = out / "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(RESERVE_TABLE, encoding="utf-8")
    summary = {**gas_stats, "operation_costs": {k: {"gas_units": v} for k, v in GAS_UNITS.items()}}
    write_json(out / f"blockchain_data/gas_prices/operation_gas_costs_summary_{span}.json", summary)
    for venue in ("binance", "bybit", "okx"):
        name = f"market_data/derivatives/risk_params/{venue}_margin_requirements.json"
        write_json(out / name, MARGIN)
